"""Issue 11: lockout is no denial of service.

Password guessing is throttled per (account, address) and per address, with a
slower global back-off per account that never refuses the right password from
a new address (OWASP, "lockout abuse").
"""
import pytest

from models import AuditLog, LoginAttempt
from portal.auth import passwords, throttle
from portal.auth.service import GENERIC_LOGIN_ERROR
from tests.conftest import ADMIN_EMAIL, PASSWORD, TEST_HASH_METHOD

GHOST = "ghost@example.com"


def login(app, ip, email=ADMIN_EMAIL, password=PASSWORD):
    return app.test_client().post("/login", data={"email": email, "password": password},
                                  environ_base={"REMOTE_ADDR": ip})


def test_a_locked_account_still_opens_from_another_address(app, admin, clock):
    for _ in range(5):
        assert GENERIC_LOGIN_ERROR.encode() in login(app, "203.0.113.9", password="guess").data
    r = login(app, "203.0.113.9")
    assert r.status_code == 429 and b"locked" in r.data
    assert login(app, "198.51.100.7").status_code == 302  # the admin, elsewhere
    assert login(app, "203.0.113.9", password="guess").status_code == 429  # still locked there
    clock.advance(minutes=15, seconds=1)
    assert login(app, "203.0.113.9").status_code == 302


def test_an_attacker_cannot_keep_an_admin_out(app, admin, clock):
    """25 addresses guess five times each, again and again: the admin still gets in."""
    for _ in range(2):
        for n in range(25):
            for _ in range(5):
                login(app, "203.0.113.%d" % n, password="guess")
        clock.advance(minutes=5)
    assert LoginAttempt.select().where(LoginAttempt.success == False).count() >= 25  # noqa: E712
    assert login(app, "198.51.100.7").status_code == 302


def test_the_account_back_off_slows_every_address_that_failed(app, admin, clock):
    limits = throttle.Limits()
    for n in range(limits.backoff_after):  # ten addresses, one failure each: no lock yet
        assert login(app, "203.0.113.%d" % n, password="guess").status_code == 200
    clock.advance(seconds=1)
    r = login(app, "203.0.113.0", password="guess")
    assert r.status_code == 429 and b"wait" in r.data and b"second" in r.data
    assert login(app, "203.0.113.0").status_code == 429  # even the right password, from here
    assert AuditLog.select().where(AuditLog.action == "login.refused").count() == 2
    clock.advance(seconds=2)
    assert login(app, "203.0.113.0", password="guess").status_code == 200  # 11th failure
    # 11 failures: the wait doubles (4 s) after this address's last failure.
    clock.advance(seconds=3)
    assert login(app, "203.0.113.0", password="guess").status_code == 429
    clock.advance(seconds=1)
    assert login(app, "203.0.113.0", password="guess").status_code == 200
    # A new address is never slowed by the account back-off.
    assert login(app, "198.51.100.7").status_code == 302


def test_the_account_back_off_is_capped(app, clock):
    limits = throttle.Limits()
    for n in range(limits.backoff_after + 40):
        throttle.record_attempt(ADMIN_EMAIL, "203.0.113.%d" % (n % 200), False, clock())
    refusal = throttle.check(ADMIN_EMAIL, "203.0.113.1", clock(), limits)
    assert refusal.scope == throttle.ACCOUNT_BACKOFF
    assert refusal.until - clock() == limits.backoff_max
    assert throttle.check(ADMIN_EMAIL, "198.51.100.7", clock(), limits) is None
    clock.advance(hours=1, seconds=1)  # the back-off window slides on
    assert throttle.check(ADMIN_EMAIL, "203.0.113.1", clock(), limits) is None


def test_a_success_clears_only_its_own_address(app, admin, clock):
    for n in range(throttle.Limits().backoff_after):
        login(app, "203.0.113.%d" % n, password="guess")
    assert login(app, "203.0.113.0").status_code == 429
    assert login(app, "198.51.100.7").status_code == 302  # the owner, elsewhere...
    # ...hands the guessing addresses no fresh attempts:
    assert login(app, "203.0.113.0", password="guess").status_code == 429
    # A success from an address clears that address's own count only.
    clock.advance(seconds=5)
    assert login(app, "203.0.113.1").status_code == 302
    clock.advance(seconds=1)
    assert login(app, "203.0.113.1", password="typo").status_code == 200
    clock.advance(seconds=1)
    assert login(app, "203.0.113.1").status_code == 429  # back-off after its own failure
    assert login(app, "203.0.113.2").status_code == 302  # its last failure is old enough


def test_the_per_address_limit_still_holds(app, admin, clock):
    app.config["LOGIN_MAX_FAILURES_PER_ADDRESS"] = 6
    for i in range(6):
        login(app, "203.0.113.5", email="user%d@example.com" % i, password="guess")
    r = login(app, "203.0.113.5")
    assert r.status_code == 429 and b"network address" in r.data


def responses(app, email):
    """What an outsider sees for a fixed sequence of attempts on `email`."""
    seen = []
    for n in range(12):
        r = login(app, "203.0.113.%d" % (n % 3), email=email, password="guess")
        seen.append((r.status_code, r.data.count(b"locked"), r.data.count(b"wait")))
    return seen


def test_unknown_and_known_emails_answer_the_same(app, admin, clock):
    known = responses(app, ADMIN_EMAIL)
    clock.advance(hours=2)
    assert responses(app, GHOST) == known
    assert {status for status, _, _ in known} == {200, 429}


@pytest.mark.parametrize("email, password", [
    (ADMIN_EMAIL, "guess"), (GHOST, "guess"), ("inactive@example.com", PASSWORD)])
def test_unknown_and_known_emails_cost_the_same_hash(app, admin, clock, monkeypatch, email,
                                                     password):
    """Equal timing: one password check with the same scrypt parameters either way."""
    from tests.conftest import make_staff
    make_staff("inactive@example.com", active=False)
    app.config["PASSWORD_HASH_METHOD"] = TEST_HASH_METHOD
    calls = []
    real = passwords.check_password_hash

    def spy(pwhash, candidate):
        calls.append(pwhash.split("$")[0])
        return real(pwhash, candidate)
    monkeypatch.setattr(passwords, "check_password_hash", spy)
    assert login(app, "203.0.113.1", email=email, password=password).status_code == 200
    assert calls == [TEST_HASH_METHOD]
    for _ in range(5):
        login(app, "203.0.113.1", email=email, password="guess")
    calls.clear()
    assert login(app, "203.0.113.1", email=email, password="guess").status_code == 429
    assert calls == []  # a refusal checks no password, for any email
