"""The MCP server over real HTTP with the SDK's own client (both engines)."""
import asyncio
import datetime
import json
import secrets

import httpx2
import pytest

from models import ApiUsage, Connection, UsageMonthly, utcnow
from portal.customers.api_keys import revoke_api_key
from portal.exact.crypto import encrypt_token
from portal.usage.counters import month_start
from tests.conftest import TEST_TOKEN_KEY
from tests.mcp_helpers import acall, call, customer_with_key, exact, mcp, run_async  # noqa: F401

DIVISION = 123456


def connect(exact, user, division=DIVISION, expires_in=600, status="active"):
    """A connection whose access/refresh tokens the fake knows (for `division` only)."""
    access, refresh = "at-" + secrets.token_hex(8), "rt-" + secrets.token_hex(8)
    exact.register(refresh)
    exact.rest.grant(access, [division], expires_in=max(expires_in, 1), refresh_token=refresh)
    now = utcnow()
    return Connection.create(user=user, division=division, status=status,
                             access_token=encrypt_token(TEST_TOKEN_KEY, access),
                             refresh_token=encrypt_token(TEST_TOKEN_KEY, refresh),
                             token_expires_at=now + datetime.timedelta(seconds=expires_in),
                             refresh_expires_at=now + datetime.timedelta(days=30),
                             last_refreshed_at=now - datetime.timedelta(days=1))


def usage_rows(user):
    return [(r.endpoint, r.response_status) for r in
            ApiUsage.select().where(ApiUsage.user == user.id).order_by(ApiUsage.id)]


def post(url, headers, body=None):
    body = body or {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    h = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream",
         "MCP-Protocol-Version": "2025-06-18"}
    h.update(headers)
    return httpx2.post(url, headers=h, content=json.dumps(body), timeout=10)


@pytest.mark.parametrize("header", [None, "Bearer", "Bearer nonsense", "Basic abc",
                                    "Bearer exa_" + "A" * 38])
def test_missing_or_bad_key_is_401_and_counts_nothing(mcp, header):
    response = post(mcp.url, {"Authorization": header} if header else {})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert ApiUsage.select().count() == 0


def test_sdk_client_lists_tools_and_lists_divisions(mcp, exact):
    user, key = customer_with_key()
    connect(exact, user)
    tools = run_async(acall(mcp.url, key, None, list_tools=True))
    names = {t.name for t in tools.tools}
    assert {"list_divisions", "get_relations", "get_sales_invoices", "get_open_receivables",
            "get_purchase_invoices", "get_trial_balance", "get_items", "get_gl_accounts"} <= names
    relations = next(t for t in tools.tools if t.name == "get_relations")
    assert relations.input_schema["properties"]["top"]["maximum"] == 100
    result = call(mcp.url, key, "list_divisions")
    assert not result.is_error
    assert result.structured_content == {"divisions": [
        {"division": DIVISION, "name": "Division %d" % DIVISION, "status": "active"}]}
    assert json.loads(result.content[0].text) == result.structured_content
    assert usage_rows(user) == [("tools/call list_divisions", 200)]


def test_every_exact_tool_answers_numbers_and_iso_dates(mcp, exact):
    user, key = customer_with_key()
    connect(exact, user)
    cases = {"get_relations": ({}, "relations"), "get_sales_invoices": ({"top": 45}, "invoices"),
             "get_open_receivables": ({}, "receivables"),
             "get_purchase_invoices": ({}, "invoices"),
             "get_trial_balance": ({"year": 2026, "period": 3}, "lines"),
             "get_items": ({}, "items"), "get_gl_accounts": ({}, "gl_accounts")}
    for tool, (args, field) in cases.items():
        result = call(mcp.url, key, tool, dict(args, division=DIVISION))
        assert not result.is_error, (tool, result.content)
        rows = result.structured_content[field]
        assert rows, tool
        assert json.loads(result.content[0].text) == result.structured_content
    invoices = call(mcp.url, key, "get_sales_invoices", {"division": DIVISION, "top": 45})
    rows = invoices.structured_content["invoices"]
    assert len(rows) == 45  # three pages of 20 via __next, cut at top
    assert isinstance(rows[0]["amount"], float) and rows[0]["date"] == "2026-01-05T00:00:00Z"
    short = call(mcp.url, key, "get_sales_invoices", {"division": DIVISION, "top": 25})
    assert len(short.structured_content["invoices"]) == 25
    tb = call(mcp.url, key, "get_trial_balance", {"division": DIVISION, "year": 2026,
                                                  "period": 3}).structured_content
    assert len(tb["lines"]) == 11
    assert len(usage_rows(user)) == len(cases) + 3
    assert all(status == 200 for _, status in usage_rows(user))


def test_top_above_100_is_refused_by_the_schema(mcp, exact):
    user, key = customer_with_key()
    connect(exact, user)
    result = call(mcp.url, key, "get_relations", {"division": DIVISION, "top": 1000})
    assert result.is_error
    assert exact.rest.calls == 0


@pytest.mark.parametrize("search,expected", [
    ("x') or true or ('", []),
    ("') or substringof('', Name) eq true or ('", []),
    ("'t Hoekje", ["Brouwerij 't Hoekje"]),
    ("bakkerij", ["Bakkerij de Graaf"]),
])
def test_odata_injection_neither_errors_nor_widens(mcp, exact, search, expected):
    user, key = customer_with_key()
    connect(exact, user)
    result = call(mcp.url, key, "get_relations", {"division": DIVISION, "search": search})
    assert not result.is_error, result.content
    assert [r["name"] for r in result.structured_content["relations"]] == expected


def test_unknown_division_is_refused_with_its_number_and_403(mcp, exact):
    user, key = customer_with_key()
    connect(exact, user)
    other, _ = customer_with_key("ander@example.nl")
    connect(exact, other, division=999001)
    result = call(mcp.url, key, "get_relations", {"division": 999001})
    assert result.is_error and "999001" in result.content[0].text
    assert exact.rest.calls == 0
    assert usage_rows(user) == [("tools/call get_relations", 403)]


def test_over_the_monthly_limit_is_refused_before_exact(mcp, exact):
    user, key = customer_with_key(plan="free")
    connect(exact, user)
    UsageMonthly.create(user=user, month=month_start(utcnow()), calls=1000)
    result = call(mcp.url, key, "get_relations", {"division": DIVISION})
    assert result.is_error and "free" in result.content[0].text and "1000" in result.content[0].text
    assert exact.rest.calls == 0
    assert usage_rows(user) == [("tools/call get_relations", 403)]


def test_two_calls_racing_at_limit_minus_one_cannot_both_pass(mcp, exact):
    user, key = customer_with_key(plan="free")
    connect(exact, user)
    UsageMonthly.create(user=user, month=month_start(utcnow()), calls=999)

    async def both():
        return await asyncio.gather(*[acall(mcp.url, key, "get_relations",
                                            {"division": DIVISION, "top": 1}) for _ in range(6)])
    results = run_async(both())
    assert sum(1 for r in results if not r.is_error) == 1
    statuses = sorted(s for _, s in usage_rows(user))
    assert statuses == [200, 403, 403, 403, 403, 403]
    assert exact.rest.calls == 1
    month = UsageMonthly.get(user=user, month=month_start(utcnow()))
    assert month.calls == 999 + 6 and month.error_calls == 5


def test_429_from_exact_is_error_with_retry_time_and_later_refused_locally(mcp, exact):
    user, key = customer_with_key()
    connect(exact, user)
    reset_ms = int((utcnow().replace(tzinfo=datetime.timezone.utc).timestamp() + 45) * 1000)
    exact.rest.inject("429", reset_ms=reset_ms)
    result = call(mcp.url, key, "get_relations", {"division": DIVISION})
    assert result.is_error and "retry after" in result.content[0].text.lower()
    assert usage_rows(user) == [("tools/call get_relations", 429)]
    calls = exact.rest.calls
    again = call(mcp.url, key, "get_relations", {"division": DIVISION})
    assert again.is_error and "Retry after" in again.content[0].text
    assert exact.rest.calls == calls  # refused before Exact would
    assert usage_rows(user)[-1] == ("tools/call get_relations", 429)


def test_500_from_exact_is_502(mcp, exact):
    user, key = customer_with_key()
    connect(exact, user)
    exact.rest.inject("500")
    result = call(mcp.url, key, "get_sales_invoices", {"division": DIVISION})
    assert result.is_error
    assert usage_rows(user) == [("tools/call get_sales_invoices", 502)]


def test_rest_401_refreshes_once_and_retries_once(mcp, exact):
    user, key = customer_with_key()
    conn = connect(exact, user)
    exact.rest.inject("401")
    result = call(mcp.url, key, "get_relations", {"division": DIVISION})
    assert not result.is_error, result.content
    assert exact.stats()["calls"] == 1  # one refresh
    assert exact.rest.calls == 2  # the failed call and one retry
    exact.advance(600)  # past Exact's minimum interval between refreshes
    exact.rest.inject("401", count=5)
    result = call(mcp.url, key, "get_relations", {"division": DIVISION})
    assert result.is_error
    assert exact.rest.calls == 4  # never a loop
    assert exact.stats()["calls"] == 2 and exact.stats()["reused_tokens"] == 0
    assert Connection.get_by_id(conn.id).status == "active"


def test_fifty_concurrent_calls_on_an_expired_token_refresh_exactly_once(mcp, exact):
    user, key = customer_with_key(plan="pro")
    connect(exact, user, expires_in=-5)

    async def fifty():
        return await asyncio.gather(*[acall(mcp.url, key, "get_relations",
                                            {"division": DIVISION, "top": 1}) for _ in range(50)])
    results = run_async(fifty())
    assert [r for r in results if r.is_error] == []
    stats = exact.stats()
    assert stats["calls"] == 1 and stats["reused_tokens"] == 0
    assert len(usage_rows(user)) == 50


def test_a_revoked_key_stops_working_within_seconds(mcp, exact):
    from models import ApiKey
    user, key = customer_with_key()
    assert not call(mcp.url, key, "list_divisions").is_error
    revoke_api_key(ApiKey.get(ApiKey.user == user))
    import time
    time.sleep(2.2)
    assert post(mcp.url, {"Authorization": "Bearer " + key}).status_code == 401


def test_foreign_host_or_origin_is_refused(mcp, exact):
    _, key = customer_with_key()
    auth = {"Authorization": "Bearer " + key}
    assert post(mcp.url, dict(auth, Origin="http://evil.example")).status_code in (400, 403)
    assert post(mcp.url, dict(auth, Host="evil.example")).status_code in (400, 421)
    assert post(mcp.url, auth).status_code == 200


def _sample(name, **labels):
    from prometheus_client import REGISTRY
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_tool_calls_and_rejected_keys_reach_the_prometheus_figures(mcp, exact, app, monkeypatch):
    user, key = customer_with_key()
    connect(exact, user)
    calls = _sample("portal_mcp_tool_calls_total", tool="list_divisions", status="200")
    timed = _sample("portal_mcp_tool_call_duration_seconds_count", tool="list_divisions")
    refused = _sample("portal_mcp_tool_calls_total", tool="get_items", status="403")
    rejected = _sample("portal_api_keys_rejected_total", surface="mcp")

    assert not call(mcp.url, key, "list_divisions").is_error
    assert call(mcp.url, key, "get_items", {"division": DIVISION + 1}).is_error
    assert post(mcp.url, {"Authorization": "Bearer nonsense"}).status_code == 401

    assert _sample("portal_mcp_tool_calls_total", tool="list_divisions", status="200") == calls + 1
    assert _sample("portal_mcp_tool_call_duration_seconds_count",
                   tool="list_divisions") == timed + 1
    assert _sample("portal_mcp_tool_calls_total", tool="get_items", status="403") == refused + 1
    assert _sample("portal_api_keys_rejected_total", surface="mcp") == rejected + 1
    # and the portal's /metrics shows them (one process here: the default registry)
    monkeypatch.setitem(app.config, "METRICS_TOKEN", "metrics-token-for-mcp-test")
    text = app.test_client().get(
        "/metrics", headers={"Authorization": "Bearer metrics-token-for-mcp-test"}).get_data(True)
    assert 'portal_mcp_tool_calls_total{status="200",tool="list_divisions"}' in text
    assert 'portal_api_keys_rejected_total{surface="mcp"}' in text
