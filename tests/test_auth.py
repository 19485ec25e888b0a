"""Login, logout, throttling, `next`, create-user and the password hash."""
import re

import pytest

from models import AuditLog, LoginAttempt, Staff
from portal.core.access import is_safe_next
from portal.auth.service import GENERIC_LOGIN_ERROR
from portal.auth.passwords import PASSWORD_HASH_METHOD, hash_password, verify_password
from tests.conftest import ADMIN_EMAIL, PASSWORD, SUPPORT_EMAIL, AuthActions, make_staff


def test_login_page_has_the_contract_fields(app, client):
    app.config["WTF_CSRF_ENABLED"] = True
    html = client.get("/login").get_data(as_text=True)
    for name in ("email", "password", "csrf_token"):
        assert 'name="%s"' % name in html


def test_login_success_goes_to_dashboard_and_is_recorded(client, auth, admin):
    r = auth.login()
    assert r.status_code == 302 and r.headers["Location"] == "/"
    assert client.get("/").status_code == 200
    assert Staff.get_by_id(admin.id).last_login_at is not None
    row = AuditLog.get(AuditLog.action == "login.success")
    assert row.staff_id == admin.id and row.staff_email == ADMIN_EMAIL and row.ip == "127.0.0.1"
    assert LoginAttempt.get().success is True


@pytest.mark.parametrize("email,password", [
    (ADMIN_EMAIL, "wrong password"),          # wrong password
    ("nobody@example.com", PASSWORD),         # unknown account
    ("inactive@example.com", PASSWORD),       # deactivated account
])
def test_every_failed_login_gets_the_same_generic_message(client, auth, admin, email, password):
    make_staff("inactive@example.com", active=False)
    r = auth.login(email, password)
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert GENERIC_LOGIN_ERROR in html
    flashes = re.findall(r'<p class="flash flash-(\w+)">(.*?)</p>', html)
    assert flashes == [("error", GENERIC_LOGIN_ERROR)]
    assert client.get("/").status_code == 302  # still anonymous
    row = AuditLog.get(AuditLog.action == "login.failure")
    assert row.staff_id is None and row.staff_email == email and row.ip == "127.0.0.1"


def test_email_is_case_insensitive(client, auth, admin):
    assert auth.login("  Admin@Example.COM ").status_code == 302


@pytest.mark.parametrize("data", [
    {"email": "", "password": ""},
    {"email": "not-an-email", "password": "x"},
    {"email": "a\x00b@example.com", "password": "x"},
    {"email": "a@example.com", "password": "x" * 20000},
])
def test_bad_login_input_is_a_clear_400_not_a_500(client, data):
    r = client.post("/login", data=data)
    assert r.status_code == 400
    assert b'class="error"' in r.data


@pytest.mark.parametrize("target,ok", [
    ("/customers/?q=a", True), ("/", True),
    ("//evil.example", False), ("https://evil.example/", False), ("/\\evil.example", False),
    ("javascript:alert(1)", False), ("evil.example", False), ("", False), (None, False),
    ("/\x00x", False), ("///evil.example", False),
])
def test_is_safe_next(target, ok):
    assert is_safe_next(target) is ok


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example", "/\\evil.example"])
def test_login_never_redirects_off_site(client, admin, target):
    r = client.post("/login", query_string={"next": target},
                    data={"email": ADMIN_EMAIL, "password": PASSWORD})
    assert r.status_code == 302 and r.headers["Location"] == "/"


def test_login_follows_a_local_next(client, admin):
    r = client.get("/admin/staff?x=1")
    assert r.status_code == 302
    assert r.headers["Location"].startswith("/login?next=")
    r = client.post(r.headers["Location"], data={"email": ADMIN_EMAIL, "password": PASSWORD})
    assert r.headers["Location"] == "/admin/staff?x=1"


def test_logged_in_user_visiting_login_goes_to_dashboard(admin_client):
    r = admin_client.get("/login")
    assert r.status_code == 302 and r.headers["Location"] == "/"


# --- throttling -------------------------------------------------------------

def test_five_failures_lock_the_account_from_that_address_for_15_minutes(app, client, auth,
                                                                         admin, clock):
    for _ in range(5):
        assert GENERIC_LOGIN_ERROR.encode() in auth.login(password="guess").data
    r = auth.login()  # the right password, but locked from this address
    assert r.status_code == 429
    assert b"locked" in r.data and b"even with the right password" in r.data
    assert client.get("/").status_code == 302
    # Not from everywhere: the owner elsewhere still gets in (issue 11, lockout abuse).
    elsewhere = app.test_client().post("/login", data={"email": ADMIN_EMAIL, "password": PASSWORD},
                                       environ_base={"REMOTE_ADDR": "198.51.100.7"})
    assert elsewhere.status_code == 302
    assert AuditLog.select().where(AuditLog.action == "login.refused").count() == 1
    clock.advance(minutes=14)
    assert auth.login().status_code == 429  # refused attempts do not extend the lock
    clock.advance(minutes=1, seconds=1)
    assert auth.login().status_code == 302
    assert client.get("/").status_code == 200


def test_four_failures_then_success_resets_the_count(auth, admin, clock):
    for _ in range(4):
        auth.login(password="guess")
    assert auth.login().status_code == 302
    auth.logout()
    for _ in range(4):
        auth.login(password="guess")
    assert auth.login().status_code == 302


def test_failures_spread_over_more_than_15_minutes_do_not_lock(auth, admin, clock):
    for _ in range(5):
        auth.login(password="guess")
        clock.advance(minutes=4)
    assert auth.login().status_code == 302


def test_unknown_accounts_are_locked_the_same_way(auth, admin):
    for _ in range(5):
        auth.login("ghost@example.com", "guess")
    r = auth.login("ghost@example.com", "guess")
    assert r.status_code == 429 and b"locked" in r.data
    # another account from the same address is not affected by the account lock
    assert auth.login().status_code == 302


def test_per_address_limit(app, client, admin, clock):
    app.config["LOGIN_MAX_FAILURES_PER_ADDRESS"] = 6
    for i in range(6):
        client.post("/login", data={"email": "user%d@example.com" % i, "password": "guess"})
    r = client.post("/login", data={"email": ADMIN_EMAIL, "password": PASSWORD})
    assert r.status_code == 429 and b"network address" in r.data
    other = app.test_client()
    r = other.post("/login", data={"email": ADMIN_EMAIL, "password": PASSWORD},
                   environ_base={"REMOTE_ADDR": "10.0.0.2"})
    assert r.status_code == 302
    clock.advance(minutes=16)
    r = client.post("/login", data={"email": ADMIN_EMAIL, "password": PASSWORD})
    assert r.status_code == 302


# --- CSRF -------------------------------------------------------------------

def test_csrf_is_enforced_on_login_logout_and_admin_writes(app, admin, support):
    app.config["WTF_CSRF_ENABLED"] = True
    c = app.test_client()
    r = c.post("/login", data={"email": ADMIN_EMAIL, "password": PASSWORD})
    assert r.status_code == 400 and b"CSRF" in r.data
    assert AuditLog.select().count() == 0  # refused before anything was checked
    # log in properly, with the token from the form
    html = c.get("/login").get_data(as_text=True)
    token = html.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
    r = c.post("/login", data={"email": ADMIN_EMAIL, "password": PASSWORD, "csrf_token": token})
    assert r.status_code == 302
    r = c.post("/admin/staff/%d/deactivate" % support.id)
    assert r.status_code == 400
    assert Staff.get_by_id(support.id).active is True
    r = c.post("/logout")
    assert r.status_code == 400
    assert c.get("/").status_code == 200  # still logged in


# --- passwords and create-user ------------------------------------------------

def test_password_hash_uses_owasp_scrypt_parameters():
    assert PASSWORD_HASH_METHOD == "scrypt:131072:8:1"
    h = hash_password("a long enough password")
    assert h.startswith("scrypt:131072:8:1$")
    assert verify_password(h, "a long enough password")
    assert not verify_password(h, "another password")
    assert not verify_password("garbage", "x")


def test_create_user_from_stdin(app, runner, client):
    r = runner.invoke(args=["create-user", ADMIN_EMAIL.upper(), "--password-stdin"],
                      input=PASSWORD + "\n")
    assert r.exit_code == 0, r.output
    assert "(admin)" in r.output  # ADMIN_EMAILS decides the role, case-insensitively
    staff = Staff.get(Staff.email == ADMIN_EMAIL)
    assert staff.password_hash.startswith("scrypt:") and PASSWORD not in staff.password_hash
    assert AuditLog.get(AuditLog.action == "staff.create").target_id == str(staff.id)
    assert AuthActions(client).login(ADMIN_EMAIL).status_code == 302


def test_create_user_with_prompt(runner):
    r = runner.invoke(args=["create-user", SUPPORT_EMAIL], input=PASSWORD + "\n" + PASSWORD + "\n")
    assert r.exit_code == 0, r.output
    assert "(support)" in r.output
    assert Staff.get(Staff.email == SUPPORT_EMAIL).active


@pytest.mark.parametrize("args,stdin,code,message", [
    (["create-user", "x@example.com", "--password-stdin"], "short\n", 2, "at least 12"),
    (["create-user", "not-an-email", "--password-stdin"], PASSWORD + "\n", 2, "email"),
    (["create-user", "a\x1bb@example.com", "--password-stdin"], PASSWORD + "\n", 2, "control"),
    (["create-user", ADMIN_EMAIL, "--password-stdin"], PASSWORD + "\n", 1, "already exists"),
])
def test_create_user_refusals(runner, admin, args, stdin, code, message):
    before = Staff.select().count()
    r = runner.invoke(args=args, input=stdin)
    assert r.exit_code == code
    assert message in r.output.lower() or message in (r.stderr or "").lower()
    assert Staff.select().count() == before


def test_production_needs_secret_key_and_token_keys(monkeypatch, tmp_path):
    from portal import create_app
    from portal.core.config import ConfigError, load_config
    monkeypatch.setenv("PORTAL_ENV", "production")
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.delenv("TOKEN_ENCRYPTION_KEYS", raising=False)
    with pytest.raises(ConfigError, match="SECRET_KEY and TOKEN_ENCRYPTION_KEYS"):
        load_config(str(tmp_path))
    monkeypatch.setenv("SECRET_KEY", "s" * 40)
    with pytest.raises(ConfigError, match="TOKEN_ENCRYPTION_KEYS"):
        create_app({"INSTANCE_PATH": str(tmp_path)})
    assert not (tmp_path / "secret_key").exists()  # nothing generated in production
