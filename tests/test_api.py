"""The JSON API: /me and /usage, their error answers, and the O(1) monthly counter."""
import datetime

import pytest

from models import (ApiKey, ApiUsage, DivisionLimit, FeatureFlag, UsageDaily, UsageDailyUser,
                    UsageMonthly, User)
from portal.customers import api_keys
from portal.usage.counters import record_usage_rows

NOW = datetime.datetime(2026, 3, 15, 10, 30, 0)
GOOD = {"endpoint": "tools/call get_invoices", "response_status": 200, "duration_ms": 42}


@pytest.fixture
def clock(clock):
    """The shared clock (tests/conftest.py), pinned to NOW."""
    clock.now = NOW
    return clock


def make_customer(plan="starter", email="anna@example.nl"):
    user = User.create(email=email, name="Anna", plan=plan)
    _, plaintext = api_keys.create_api_key(user, "test")
    return user, {"Authorization": "Bearer " + plaintext}


def nothing_recorded():
    return (ApiUsage.select().count() == 0 and UsageMonthly.select().count() == 0
            and UsageDaily.select().count() == 0 and UsageDailyUser.select().count() == 0)


def test_me_for_a_starter_customer(client, clock):
    """The previous system's bug: starter keys did not authenticate."""
    user, auth = make_customer("starter")
    r = client.get("/api/v1/me", headers=auth)
    assert r.status_code == 200 and r.is_json
    assert r.get_json() == {
        "email": "anna@example.nl", "plan": "starter",
        "limits": {"monthly_calls": 10_000, "max_divisions": 3},
        "usage": {"month": "2026-03", "used": 0, "remaining": 10_000},
        "allowed": True, "flags": {}}
    assert r.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("plan,calls,divisions", [
    ("free", 1_000, 1), ("starter", 10_000, 3), ("pro", 100_000, 10),
    ("enterprise", None, None)])
def test_me_answers_every_plans_limits(client, clock, plan, calls, divisions):
    _, auth = make_customer(plan)
    body = client.get("/api/v1/me", headers=auth).get_json()
    assert body["plan"] == plan
    assert body["limits"] == {"monthly_calls": calls, "max_divisions": divisions}


def test_unlimited_plan_has_null_limit_and_remaining_and_is_allowed(client, clock):
    user, auth = make_customer("enterprise")
    record_usage_rows([dict(user=user.id, timestamp=NOW, endpoint="x", response_status=200)] * 5)
    me = client.get("/api/v1/me", headers=auth).get_json()
    assert me["usage"] == {"month": "2026-03", "used": 5, "remaining": None}
    assert me["allowed"] is True
    r = client.post("/api/v1/usage", json=GOOD, headers=auth)
    assert r.status_code == 201
    assert r.get_json()["limit"] is None and r.get_json()["remaining"] is None
    assert r.get_json()["used"] == 6


def test_post_usage_records_and_counts(client, clock):
    user, auth = make_customer("free")
    for i in range(3):
        r = client.post("/api/v1/usage", json=dict(GOOD, response_status=200 if i else 503),
                        headers=auth)
        assert r.status_code == 201
        assert r.get_json()["used"] == i + 1
        assert r.get_json()["limit"] == 1_000 and r.get_json()["remaining"] == 1_000 - (i + 1)
    rows = list(ApiUsage.select().order_by(ApiUsage.id))
    assert [(r.user_id, r.endpoint, r.response_status, r.duration_ms, r.timestamp)
            for r in rows][0] == (user.id, GOOD["endpoint"], 503, 42, NOW)
    month = UsageMonthly.get((UsageMonthly.user == user.id)
                             & (UsageMonthly.month == datetime.date(2026, 3, 1)))
    assert (month.calls, month.error_calls) == (3, 1)
    me = client.get("/api/v1/me", headers=auth).get_json()
    assert me["usage"] == {"month": "2026-03", "used": 3, "remaining": 997}
    assert User.get_by_id(user.id).last_active_at == NOW


def test_usage_is_per_month_and_limit_reached_is_not_allowed(client, clock):
    user, auth = make_customer("free")
    last_month = datetime.datetime(2026, 2, 27, 9, 0)
    record_usage_rows([dict(user=user.id, timestamp=last_month, endpoint="x",
                            response_status=200)] * 999)
    me = client.get("/api/v1/me", headers=auth).get_json()
    assert me["usage"]["used"] == 0 and me["allowed"] is True
    record_usage_rows([dict(user=user.id, timestamp=NOW, endpoint="x", response_status=200)] * 999)
    r = client.post("/api/v1/usage", json=GOOD, headers=auth).get_json()
    assert r == {"used": 1000, "limit": 1000, "remaining": 0, "allowed": False}
    me = client.get("/api/v1/me", headers=auth).get_json()
    assert me["allowed"] is False and me["usage"]["remaining"] == 0


def test_usage_this_month_is_read_from_the_counter_not_the_raw_rows(client, clock):
    """O(1): the answer comes from usage_monthly; raw rows are never counted."""
    user, auth = make_customer("pro")
    UsageMonthly.create(user=user, month=datetime.date(2026, 3, 1), calls=54_321)
    assert ApiUsage.select().count() == 0
    me = client.get("/api/v1/me", headers=auth).get_json()
    assert me["usage"]["used"] == 54_321


def test_me_reflects_division_override_and_flags(client, clock):
    user, auth = make_customer("starter")
    DivisionLimit.create(user=user, max_divisions=7)
    FeatureFlag.create(key="beta_reports", enabled=True)
    FeatureFlag.create(key="new_tools", enabled=False)
    body = client.get("/api/v1/me", headers=auth).get_json()
    assert body["limits"]["max_divisions"] == 7
    assert body["flags"] == {"beta_reports": True, "new_tools": False}


def test_last_used_at_through_the_api_is_throttled(client, clock):
    user, auth = make_customer()
    client.get("/api/v1/me", headers=auth)
    key = ApiKey.get(ApiKey.user == user.id)
    assert key.last_used_at == NOW
    clock.now = NOW + datetime.timedelta(seconds=30)
    client.post("/api/v1/usage", json=GOOD, headers=auth)
    assert ApiKey.get_by_id(key.id).last_used_at == NOW
    clock.now = NOW + datetime.timedelta(seconds=90)
    client.get("/api/v1/me", headers=auth)
    assert ApiKey.get_by_id(key.id).last_used_at == NOW + datetime.timedelta(seconds=90)


# --- error answers ---------------------------------------------------------------

def _assert_401(r):
    assert r.status_code == 401
    assert r.is_json and "error" in r.get_json()
    assert "Location" not in r.headers
    assert r.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("path,method", [("/api/v1/me", "get"), ("/api/v1/usage", "post")])
def test_missing_wrong_or_revoked_keys_get_401_json(client, clock, path, method):
    user, auth = make_customer()
    plaintext = auth["Authorization"].split(" ", 1)[1]
    other_key = api_keys.generate_plaintext()
    cases = [
        {},
        {"Authorization": ""},
        {"Authorization": "Basic " + plaintext},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer "},
        {"Authorization": "Bearer not-a-key"},
        {"Authorization": "Bearer " + plaintext[:-1] + ("0" if plaintext[-1] != "0" else "1")},
        {"Authorization": "Bearer " + other_key},  # well-formed, unknown
    ]
    for headers in cases:
        r = getattr(client, method)(path, headers=headers, json=GOOD)
        _assert_401(r)
    key = ApiKey.get(ApiKey.user == user.id)
    api_keys.revoke_api_key(key)
    _assert_401(getattr(client, method)(path, headers=auth, json=GOOD))
    assert nothing_recorded()


def test_lowercase_bearer_scheme_is_accepted(client, clock):
    _, auth = make_customer()
    token = auth["Authorization"].split(" ", 1)[1]
    assert client.get("/api/v1/me", headers={"Authorization": "bearer " + token}).status_code == 200


def test_bad_key_wins_over_bad_body(client, clock):
    make_customer()
    r = client.post("/api/v1/usage", data="{not json", headers={"Authorization": "Bearer x"})
    _assert_401(r)
    assert nothing_recorded()


MALFORMED = [
    ("{not json", "not valid JSON"),
    ("", "not valid JSON"),
    (b"\xff\xfe", "not valid JSON"),
    ("[1, 2]", "JSON object"),
    ('"text"', "JSON object"),
    ('{"response_status": 200, "duration_ms": 1}', "missing field(s): endpoint"),
    ('{"endpoint": "x", "duration_ms": 1}', "missing field(s): response_status"),
    ('{"endpoint": "x", "response_status": 200}', "missing field(s): duration_ms"),
    ('{}', "missing field(s): endpoint, response_status, duration_ms"),
    ('{"endpoint": "", "response_status": 200, "duration_ms": 1}', "endpoint"),
    ('{"endpoint": "   ", "response_status": 200, "duration_ms": 1}', "endpoint"),
    ('{"endpoint": 5, "response_status": 200, "duration_ms": 1}', "endpoint"),
    ('{"endpoint": "a\\u0000b", "response_status": 200, "duration_ms": 1}', "control"),
    ('{"endpoint": "%s", "response_status": 200, "duration_ms": 1}' % ("x" * 256), "at most"),
    ('{"endpoint": "x", "response_status": "200", "duration_ms": 1}', "integer"),
    ('{"endpoint": "x", "response_status": 200.5, "duration_ms": 1}', "integer"),
    ('{"endpoint": "x", "response_status": true, "duration_ms": 1}', "integer"),
    ('{"endpoint": "x", "response_status": null, "duration_ms": 1}', "integer"),
    ('{"endpoint": "x", "response_status": 99, "duration_ms": 1}', "between 100 and 599"),
    ('{"endpoint": "x", "response_status": 600, "duration_ms": 1}', "between 100 and 599"),
    ('{"endpoint": "x", "response_status": 200, "duration_ms": -1}', "duration_ms"),
    ('{"endpoint": "x", "response_status": 200, "duration_ms": "12"}', "duration_ms"),
    ('{"endpoint": "x", "response_status": 200, "duration_ms": false}', "duration_ms"),
    ('{"endpoint": "x", "response_status": 200, "duration_ms": 1e12}', "duration_ms"),
]


def test_malformed_bodies_get_400_with_the_reason_and_record_nothing(client, clock):
    _, auth = make_customer()
    for body, reason in MALFORMED:
        r = client.post("/api/v1/usage", data=body, headers=dict(auth, **{
            "Content-Type": "application/json"}))
        assert r.status_code == 400, body
        assert r.is_json and reason in r.get_json()["error"], (body, r.get_json())
    assert nothing_recorded()


def test_oversized_body_is_refused_with_json(client, clock):
    _, auth = make_customer()
    r = client.post("/api/v1/usage", data="{" + " " * 10_000 + "}", headers=dict(
        auth, **{"Content-Type": "application/json"}))
    assert r.status_code == 413 and r.is_json
    assert nothing_recorded()


def test_null_duration_is_accepted(client, clock):
    _, auth = make_customer()
    r = client.post("/api/v1/usage", json=dict(GOOD, duration_ms=None), headers=auth)
    assert r.status_code == 201
    assert ApiUsage.get().duration_ms is None


def test_wrong_method_answers_json(client, clock):
    _, auth = make_customer()
    r = client.get("/api/v1/usage", headers=auth)
    assert r.status_code == 405 and r.is_json
