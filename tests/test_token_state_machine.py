"""Every transition of the refresh state machine, against the fake over a real socket."""
import datetime
import logging

import pytest

from models import Connection, RefreshAttempt, utcnow
from portal.exact.crypto import encrypt_token
from portal.exact.client import ExactClient
from portal.exact.refresh_cycle import CircuitBreaker, due_connection_ids, run_refresh_cycle
from portal.exact.tokens import (
    RETRY_LADDER,
    TokenService,
    TokenUnavailable,
    get_access_token,
    is_due,
)
from tests.sidecar_helpers import (KEYS, fake, make_connection, new_token,  # noqa: F401
                                   refresh_token_of, reload, service_config)

M = datetime.timedelta(minutes=1)
H = datetime.timedelta(hours=1)


@pytest.fixture
def service(app, fake):  # noqa: F811
    return TokenService(service_config(fake.url), owner="test-sidecar")


def test_success_commits_both_tokens_and_clears_everything(app, fake, service):  # noqa: F811
    now = utcnow()
    c = make_connection(fake=fake, status="retry_pending", retry_count=3, next_retry_at=now,
                        failure_kind="transient")
    Connection.update(last_error="old trouble").where(Connection.id == c.id).execute()
    old_refresh = refresh_token_of(c.id)
    outcome = service.refresh_connection(c.id, now=now)
    assert outcome.counted == "refreshed"
    row = reload(c)
    assert row.status == "active" and row.retry_count == 0
    assert row.next_retry_at is None and row.last_error is None and row.failure_kind is None
    assert row.lease_owner is None and row.lease_expires_at is None
    assert row.token_expires_at == now + datetime.timedelta(seconds=600)
    assert row.refresh_expires_at == now + datetime.timedelta(days=30)
    assert row.last_refreshed_at == now
    new_refresh = refresh_token_of(c.id)
    assert new_refresh != old_refresh and fake.uses(old_refresh) == 1
    # Stored encrypted, never plaintext.
    assert new_refresh not in row.refresh_token and not row.access_token.startswith("at-")
    attempt = RefreshAttempt.get(RefreshAttempt.connection == c.id)
    assert (attempt.outcome, attempt.http_status) == ("success", 200)
    assert attempt.duration_ms is not None and attempt.sidecar == "test-sidecar"


def test_transient_ladder_exact_times_then_refresh_failed(app, fake, service):  # noqa: F811
    c = make_connection(fake=fake)
    original = reload(c)
    fake.inject("500", count=6)
    now = utcnow()
    expected = [5 * M, 15 * M, H, 6 * H, 24 * H]
    assert list(RETRY_LADDER) == expected
    for n, wait in enumerate(expected, start=1):
        assert service.refresh_connection(c.id, now=now).counted == "failed"
        row = reload(c)
        assert (row.status, row.retry_count) == ("retry_pending", n)
        assert row.next_retry_at == now + wait
        assert row.failure_kind == "transient"
        assert "Retry %d of 5" % n in row.last_error
        # Not due a moment before, due exactly at next_retry_at.
        assert not is_due(row, now + wait - datetime.timedelta(seconds=1), 29)
        now = row.next_retry_at
    assert service.refresh_connection(c.id, now=now).counted == "failed"
    row = reload(c)
    assert row.status == "refresh_failed" and row.next_retry_at is None
    assert "must reconnect" in row.last_error
    # Tokens were never touched by the failures.
    assert (row.refresh_token, row.access_token) == (original.refresh_token,
                                                      original.access_token)
    assert RefreshAttempt.select().where(RefreshAttempt.connection == c.id).count() == 6
    assert not is_due(row, now + 48 * H, 29)  # terminal


def test_429_uses_the_later_of_ladder_and_reset(app, fake, service):  # noqa: F811
    now = utcnow()
    late = make_connection(fake=fake)
    soon = make_connection(fake=fake)
    reset = now + 2 * H
    epoch_ms = int(reset.replace(tzinfo=datetime.timezone.utc).timestamp() * 1000)
    fake.inject("429", reset_ms=epoch_ms)
    service.refresh_connection(late.id, now=now)
    assert abs((reload(late).next_retry_at - reset).total_seconds()) < 1
    fake.inject("429", retry_after=60)
    service.refresh_connection(soon.id, now=now)
    assert reload(soon).next_retry_at == now + 5 * M
    assert reload(soon).retry_count == 1


def test_garbage_never_overwrites_tokens(app, fake, service):  # noqa: F811
    c = make_connection(fake=fake)
    before = reload(c)
    fake.inject("malformed")
    assert service.refresh_connection(c.id).counted == "failed"
    after = reload(c)
    assert (after.access_token, after.refresh_token, after.token_expires_at) == (
        before.access_token, before.refresh_token, before.token_expires_at)
    assert "not JSON" in after.last_error


def test_too_early_is_not_a_failure(app, fake, service):  # noqa: F811
    now = utcnow()
    # Exact refuses: the token was issued 100 s ago (the fake knows better than our row).
    c = make_connection(fake=fake, status="retry_pending", retry_count=2, next_retry_at=now,
                        last_refreshed_at=now - 100 * datetime.timedelta(seconds=1),
                        issued_ago=100, failure_kind="transient")
    assert service.refresh_connection(c.id, now=now).counted == "too_early"
    row = reload(c)
    assert (row.status, row.retry_count) == ("retry_pending", 2)
    assert row.next_retry_at == row.last_refreshed_at + datetime.timedelta(seconds=570)
    # An active connection with unknown last refresh: wait the full 570 s.
    a = make_connection(fake=fake, issued_ago=10)
    Connection.update(last_refreshed_at=None).where(Connection.id == a.id).execute()
    assert service.refresh_connection(a.id, now=now).counted == "too_early"
    row = reload(a)
    assert (row.status, row.retry_count) == ("active", 0)
    assert row.next_retry_at == now + datetime.timedelta(seconds=570)
    assert not is_due(row, now + 500 * datetime.timedelta(seconds=1), 29)
    assert RefreshAttempt.get(RefreshAttempt.connection == a.id).outcome == "too_early"


def test_permanent_gets_one_confirmation_retry_then_fails(app, fake, service):  # noqa: F811
    now = utcnow()
    c = make_connection(fake=fake, retry_count=0)
    fake.inject("invalid_grant", count=2)
    assert service.refresh_connection(c.id, now=now).counted == "failed"
    row = reload(c)
    assert row.status == "retry_pending" and row.failure_kind == "permanent"
    assert row.next_retry_at == now + 5 * M
    assert "must reconnect" in row.last_error
    assert service.refresh_connection(c.id, now=now + 5 * M).counted == "failed"
    row = reload(c)
    assert row.status == "refresh_failed" and row.next_retry_at is None
    assert "The customer must reconnect Exact Online" in row.last_error


def test_permanent_then_spurious_answer_recovers(app, fake, service):  # noqa: F811
    now = utcnow()
    c = make_connection(fake=fake)
    fake.inject("old_token", count=1)  # Exact's spurious refusal
    service.refresh_connection(c.id, now=now)
    assert reload(c).failure_kind == "permanent"
    assert service.refresh_connection(c.id, now=now + 5 * M).counted == "refreshed"
    assert reload(c).status == "active"


def test_permanent_after_another_process_rotated_is_not_a_failure(app, fake):  # noqa: F811
    c = make_connection(fake=fake)
    rotated_elsewhere = encrypt_token(KEYS, "rt-rotated-by-someone-else")

    class RacingClient(ExactClient):
        def refresh(self, refresh_token, now=None):
            # Someone (e.g. a reconnect) stores a new token while we call Exact,
            # and Exact says our token is old.
            Connection.update(refresh_token=rotated_elsewhere).where(
                Connection.id == c.id).execute()
            fake.inject("old_token", token=refresh_token)
            return super().refresh(refresh_token, now)

    service = TokenService(service_config(fake.url), owner="me",
                           client=RacingClient(fake.url, "c", "s"))
    assert service.refresh_connection(c.id).counted == "skipped"
    row = reload(c)
    assert row.status == "active" and row.retry_count == 0 and row.lease_owner is None
    assert row.refresh_token == rotated_elsewhere


def test_lease_is_exclusive_until_it_expires(app, fake):  # noqa: F811
    now = utcnow()
    c = make_connection(fake=fake)
    a = TokenService(service_config(fake.url), owner="a")
    b = TokenService(service_config(fake.url), owner="b")
    assert a.claim(c.id, now)
    assert not b.claim(c.id, now)
    assert b.refresh_connection(c.id, now=now).counted == "skipped"
    assert fake.stats()["calls"] == 0
    assert b.claim(c.id, now + datetime.timedelta(seconds=121))  # a died; lease expired
    assert reload(c).lease_owner == "b"


def test_claimed_row_no_longer_due_is_skipped(app, fake, service):  # noqa: F811
    now = utcnow()
    fresh = make_connection(fake=fake, last_refreshed_at=now - 10 * M)
    assert service.refresh_connection(fresh.id, now=now).counted == "skipped"
    assert reload(fresh).lease_owner is None and fake.stats()["calls"] == 0


def test_due_rules_and_streaming(app, fake):  # noqa: F811
    now = utcnow()
    due_active = [make_connection(fake=fake, last_refreshed_at=now - 25 * H) for _ in range(7)]
    make_connection(fake=fake, last_refreshed_at=now - 23 * H)  # refreshed today: not due
    make_connection(fake=fake, last_refreshed_at=now - 5 * M)
    due_retry = make_connection(fake=fake, status="retry_pending", next_retry_at=now - M)
    make_connection(fake=fake, status="retry_pending", next_retry_at=now + M)
    make_connection(fake=fake, status="refresh_failed")
    leased = make_connection(fake=fake, last_refreshed_at=now - 25 * H)
    Connection.update(lease_owner="other", lease_expires_at=now + M).where(
        Connection.id == leased.id).execute()
    ids = list(due_connection_ids(now, 29, batch_size=2))  # many small batches
    assert ids == [due_retry.id] + [c.id for c in due_active]
    # The active keep-alive range uses idx_connections_expiring.
    from peewee import SQL  # noqa: F401
    from models import database
    from models.db import is_sqlite
    if is_sqlite():
        plan = database.execute_sql(
            "EXPLAIN QUERY PLAN SELECT id FROM connections WHERE status = 'active' "
            "AND token_expires_at <= ? ORDER BY token_expires_at, id", (now,)).fetchall()
        assert "idx_connections_expiring" in str(plan)


def test_circuit_breaker_stops_the_cycle_and_charges_nobody_else(app, fake):  # noqa: F811
    conns = [make_connection(fake=fake) for _ in range(15)]
    fake.inject("500", count=100)
    config = service_config(fake.url, SIDECAR_WORKERS=1)
    report = run_refresh_cycle(config, owner="t")
    assert report.circuit_open and report.failed == 10
    rows = [reload(c) for c in conns]
    charged = [r for r in rows if r.status == "retry_pending"]
    untouched = [r for r in rows if r.status == "active" and r.retry_count == 0]
    assert len(charged) == 10 and len(untouched) == 5
    assert all(r.lease_owner is None for r in rows)


def test_circuit_breaker_needs_different_connections_in_a_row():
    b = CircuitBreaker(threshold=3)
    for _ in range(5):
        b.record(1, "transient")
    assert not b.is_open
    b.record(2, "transient")
    b.record(3, "success")  # a success breaks the streak
    b.record(4, "transient")
    b.record(5, "transient")
    assert not b.is_open
    assert b.record(6, "transient") is True and b.is_open
    assert b.record(7, "transient") is False  # after opening: not charged


def test_get_access_token(app, fake):  # noqa: F811
    now = utcnow()
    config = service_config(fake.url)
    valid = make_connection(fake=fake, last_refreshed_at=now - M)
    assert get_access_token(valid, config=config, now=now).startswith("at-old-")
    assert fake.stats()["calls"] == 0
    expiring = make_connection(fake=fake, last_refreshed_at=now - 580 * datetime.timedelta(
        seconds=1))  # expires in 20 s: refresh under the lease first
    token = get_access_token(expiring.id, config=config, now=now)
    assert token.startswith("at-") and not token.startswith("at-old-")
    assert reload(expiring).lease_owner is None and fake.stats()["calls"] == 1
    failed = make_connection(fake=fake, status="refresh_failed")
    Connection.update(last_error="The customer must reconnect.").where(
        Connection.id == failed.id).execute()
    with pytest.raises(TokenUnavailable, match="reconnect"):
        get_access_token(failed, config=config, now=now)


def test_no_token_in_logs_or_attempts(app, fake, caplog):  # noqa: F811
    caplog.set_level(logging.DEBUG)
    tokens = []
    for i in range(4):
        t = new_token()
        tokens.append(t)
        make_connection(fake=fake, refresh_token=t)
    fake.inject("500")
    fake.inject("invalid_grant")
    report = run_refresh_cycle(service_config(fake.url), owner="t")
    assert report.refreshed + report.failed == 4
    stored = [refresh_token_of(c.id) for c in Connection.select()]
    text = caplog.text + " ".join(a.error or "" for a in RefreshAttempt.select())
    assert "refresh connection=" in caplog.text
    for t in tokens + stored:
        assert t not in text


def test_revive_refresh_failed(app):
    from portal.exact.revival import revive_refresh_failed
    now = utcnow()
    dead = make_connection(status="refresh_failed", retry_count=5)
    alive = make_connection()
    assert revive_refresh_failed(now=now) == 1
    row = reload(dead)
    assert (row.status, row.retry_count, row.next_retry_at) == ("retry_pending", 0, now)
    assert reload(alive).status == "active"
