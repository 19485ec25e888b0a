"""Pieces of the MCP server without HTTP: tokens under the lease, OData quoting, limits."""
import datetime

from models import ApiUsage, UsageDaily, UsageMonthly, utcnow
from portal.exact.fake_rest import FilterError, parse_filter
from portal.exact.tokens import SKIPPED, TokenService, get_access_token
from portal.mcp.exact_rest import bounded_top, odata_date, odata_string
from portal.mcp.limits import (ExactBusy, record_exact_answer, reserve_monthly_call,
                               take_exact_slot)
from portal.usage.counters import month_start, record_api_call
from tests.sidecar_helpers import fake, make_connection, service_config  # noqa: F401

import pytest


def test_a_caller_that_read_the_row_before_another_refreshed_does_not_refresh_again(app, fake):
    conn = make_connection(fake=fake, token_expires_at=utcnow() - datetime.timedelta(seconds=5))
    config = service_config(fake.url)
    first = get_access_token(conn.id, config=config)  # refreshes and stores
    assert fake.stats()["calls"] == 1
    # The second caller read the old row (expired) before the first stored: it
    # claims the lease with force and must see the stored token instead.
    outcome = TokenService(config).refresh_connection(
        conn.id, force=True, still_needed=lambda row: row.token_expires_at <= utcnow())
    assert outcome.counted == SKIPPED and outcome.already_fresh
    assert fake.stats()["calls"] == 1
    assert get_access_token(conn.id, config=config) == first


def test_a_rejected_token_is_refreshed_even_if_its_expiry_says_valid(app, fake):
    conn = make_connection(fake=fake, token_expires_at=utcnow() + datetime.timedelta(minutes=5))
    config = service_config(fake.url)
    old = get_access_token(conn.id, config=config)
    assert fake.stats()["calls"] == 0
    new = get_access_token(conn.id, config=config, rejected_token=old)
    assert new != old and fake.stats()["calls"] == 1
    assert get_access_token(conn.id, config=config) == new  # stored, no second refresh
    assert fake.stats()["calls"] == 1


def test_odata_quoting_and_conversions():
    assert odata_string("x') or true or ('") == "'x'') or true or ('''"
    assert odata_string("'t Hoekje") == "'''t Hoekje'"
    assert bounded_top(1000) == 100 and bounded_top(0) == 1 and bounded_top(None) == 20
    assert odata_date("/Date(1700000000000)/") == "2023-11-14T22:13:20Z"
    assert odata_date("gewoon tekst") == "gewoon tekst"
    rows = [{"Name": "x') or true or ('"}, {"Name": "Bakkerij"}]
    pred = parse_filter("substringof(%s,Name) eq true" % odata_string("x') or true or ('"))
    assert [r for r in rows if pred(r)] == [rows[0]]
    with pytest.raises(FilterError):
        parse_filter("substringof('x') or true or ('',Name) eq true and")


def test_reserved_call_counts_once_in_the_month_and_everywhere_else(app):
    from models import User
    user = User.create(email="r@example.nl", plan="free")
    now = utcnow()
    assert reserve_monthly_call(user.id, "free", now) == (True, 1000)
    record_api_call(user.id, now, "tools/call get_items", 200, duration_ms=3, reserved=True)
    record_api_call(user.id, now, "tools/call get_items", 403)
    month = UsageMonthly.get(user=user, month=month_start(now))
    assert (month.calls, month.error_calls) == (2, 1)
    assert ApiUsage.select().count() == 2
    assert sum(d.calls for d in UsageDaily.select()) == 2
    UsageMonthly.update(calls=1000).execute()
    assert reserve_monthly_call(user.id, "free", now) == (False, 1000)
    assert reserve_monthly_call(user.id, "enterprise", now) == (True, None)


def test_exact_limits_are_shared_through_the_database(app):
    now = utcnow()
    reset = int((now.replace(tzinfo=datetime.timezone.utc).timestamp() + 30) * 1000)
    record_exact_answer(42, {"X-RateLimit-Minutely-Remaining": "5",
                             "X-RateLimit-Minutely-Reset": str(reset)}, now, False)
    take_exact_slot(42, now)
    record_exact_answer(42, {"X-RateLimit-Minutely-Remaining": "2",
                             "X-RateLimit-Minutely-Reset": str(reset)}, now, False)
    with pytest.raises(ExactBusy) as busy:
        take_exact_slot(42, now)
    assert "per-minute" in str(busy.value) and busy.value.retry_at > now
    take_exact_slot(42, now + datetime.timedelta(seconds=31))  # after the reset
    for _ in range(8):
        record_exact_answer(43, {}, now, True)
    with pytest.raises(ExactBusy, match="errors"):
        take_exact_slot(43, now)
