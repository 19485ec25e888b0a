"""The MCP server: the official SDK's MCPServer over Streamable HTTP (stateless, JSON).

Every request to /mcp passes BearerAuth (an API key, same hashing and
revocation as /api/v1; 401 + WWW-Authenticate otherwise, nothing counted),
then the SDK's transport security (Host/Origin from the configuration). Every
tools/call goes through `run_tool`: division check, monthly limit reserved
atomically, Exact's per-division limits, the call, one api_usage row through
the usage counters, one structured log line and the Prometheus figures
(portal.metrics.collectors: latency and status by tool; rejected keys).
"""
import json
import logging
import threading
import time
from dataclasses import dataclass
from typing import Annotated

import anyio
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.transport_security import TransportSecuritySettings
from mcp_types import CallToolResult, TextContent
from pydantic import Field

from models import Connection, database, utcnow

from portal.connect.oauth import MAX_DIVISION
from portal.customers.api_keys import authenticate, hash_key
from portal.mcp import tools
from portal.mcp.exact_rest import ExactCallFailed, ExactRest
from portal.mcp.limits import (ExactBusy, record_exact_answer, reserve_monthly_call,
                               take_exact_slot)
from portal.metrics.collectors import observe_mcp_call, observe_mcp_rejected_key
from portal.usage.counters import record_api_call

log = logging.getLogger("portal.mcp")
KEY_CACHE_SECONDS = 2.0  # a revoked key stops working within this


@dataclass
class Caller:
    user_id: int
    plan: str
    connection_id: int | None = None


class KeyCache:
    def __init__(self, ttl=KEY_CACHE_SECONDS):
        self.ttl, self._lock, self._entries = ttl, threading.Lock(), {}

    def lookup(self, plaintext):
        digest = hash_key(plaintext)
        now = time.monotonic()
        with self._lock:
            hit = self._entries.get(digest)
            if hit and hit[1] > now:
                return hit[0]
        try:
            key = authenticate(plaintext)
            caller = None if key is None else Caller(key.user.id, key.user.plan)
        finally:
            if not database.is_closed():
                database.close()  # back to the pool
        with self._lock:
            if len(self._entries) > 10000:
                self._entries.clear()
            self._entries[digest] = (caller, now + self.ttl)
        return caller


class BearerAuth:
    """ASGI middleware: a valid API key or 401 with WWW-Authenticate: Bearer."""

    def __init__(self, app, cache):
        self.app, self.cache = app, cache

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        header = dict(scope["headers"]).get(b"authorization", b"").decode("latin-1")
        scheme, _, token = header.partition(" ")
        caller = None
        if scheme.lower() == "bearer" and token.strip():
            caller = await anyio.to_thread.run_sync(self.cache.lookup, token.strip())
        if caller is None:
            observe_mcp_rejected_key()
            body = json.dumps({"error": "invalid_token",
                               "error_description": "send 'Authorization: Bearer <API key>' "
                                                    "with a valid, unrevoked key"}).encode()
            await send({"type": "http.response.start", "status": 401, "headers": [
                (b"content-type", b"application/json"), (b"www-authenticate", b'Bearer realm="mcp"'),
                (b"content-length", str(len(body)).encode())]})
            return await send({"type": "http.response.body", "body": body})
        scope.setdefault("state", {})["mcp_caller"] = caller
        return await self.app(scope, receive, send)


def _result(payload, is_error=False):
    text = payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False)
    return CallToolResult(content=[TextContent(type="text", text=text)],
                          structured_content=None if is_error else payload, is_error=is_error)


class ToolRunner:
    def __init__(self, config, clock=None):
        self.config = config
        self.clock = clock or utcnow
        self.rest = ExactRest(config, on_answer=self._on_answer)

    def _on_answer(self, division, headers, is_error):
        record_exact_answer(division, headers, self.clock(), is_error)

    def run(self, caller, name, fn, division, kwargs):
        started = time.monotonic()
        status, reserved = 200, False
        try:
            if division is not None:
                conn = (Connection.select(Connection.id).where(
                    (Connection.user == caller.user_id) & (Connection.division == division)
                    & (Connection.status == "active")).first())
                if conn is None:
                    status = 403
                    return _result("Division %d has no active Exact Online connection for "
                                   "this customer; call list_divisions to see the ones that "
                                   "do." % division, True)
                caller = Caller(caller.user_id, caller.plan, conn.id)
            allowed, limit = reserve_monthly_call(caller.user_id, caller.plan, self.clock())
            reserved = limit is not None and allowed
            if not allowed:
                status = 403
                return _result("The %s plan's limit of %d calls this month is reached; "
                               "upgrade the plan or wait for next month." % (caller.plan, limit),
                               True)
            if division is not None:
                try:
                    take_exact_slot(division, self.clock())
                except ExactBusy as busy:
                    status = 429
                    return _result("%s Retry after %s UTC." % (
                        busy, busy.retry_at.isoformat(timespec="seconds")), True)
            try:
                args = dict(kwargs)
                if division is not None:
                    args["division"] = division
                return _result(fn(caller, self.rest, **args))
            except ExactCallFailed as failed:
                status = failed.status
                return _result(str(failed), True)
            except Exception:
                status = 502
                log.exception("mcp tool=%s crashed", name)
                return _result("The tool failed unexpectedly; the error is logged.", True)
        finally:
            seconds = time.monotonic() - started
            duration_ms = int(seconds * 1000)
            observe_mcp_call(name, status, seconds)
            try:
                record_api_call(caller.user_id, self.clock(), "tools/call %s" % name, status,
                                duration_ms=duration_ms, reserved=reserved)
            finally:
                log.info("mcp_call customer=%s tool=%s division=%s status=%s duration_ms=%d",
                         caller.user_id, name, division, status, duration_ms)
                if not database.is_closed():
                    database.close()


# Bounded like a connect link's division: a number no division can have is refused
# by the schema, before it reaches the database (beyond 64 bits: OverflowError on SQLite).
Division = Annotated[int, Field(ge=1, le=MAX_DIVISION,
                                description="Exact Online division number (see list_divisions)")]
Top = Annotated[int, Field(ge=1, le=100, description="at most this many rows (1-100)")]
Search = Annotated[str, Field(max_length=100, description="part of the name to look for")]


def build_server(config, clock=None):
    runner = ToolRunner(config, clock)
    server = MCPServer(name="exact-mcp", instructions=(
        "Read-only access to the customer's Exact Online books. Start with list_divisions."))

    async def call(ctx, name, fn, division=None, **kwargs):
        caller = ctx.request_context.request.scope["state"]["mcp_caller"]
        kwargs = {k: v for k, v in kwargs.items() if v is not None}
        return await anyio.to_thread.run_sync(runner.run, caller, name, fn, division, kwargs)

    @server.tool(description="List the Exact Online divisions (companies) this customer has connected.")
    async def list_divisions(ctx: Context) -> CallToolResult:
        return await call(ctx, "list_divisions", tools.list_divisions)

    @server.tool(description="Find customers and suppliers (relations) in a division by name.")
    async def get_relations(division: Division, ctx: Context, search: Search | None = None,
                            top: Top = 20) -> CallToolResult:
        return await call(ctx, "get_relations", tools.get_relations, division, search=search, top=top)

    @server.tool(description="List sales invoices of a division: number, customer, date, amount, status.")
    async def get_sales_invoices(division: Division, ctx: Context, top: Top = 20,
                                 customer: Search | None = None) -> CallToolResult:
        return await call(ctx, "get_sales_invoices", tools.get_sales_invoices, division,
                          top=top, customer=customer)

    @server.tool(description="Open receivables (unpaid sales invoices) of a division, with the total.")
    async def get_open_receivables(division: Division, ctx: Context, top: Top = 100) -> CallToolResult:
        return await call(ctx, "get_open_receivables", tools.get_open_receivables, division, top=top)

    @server.tool(description="List purchase invoices (supplier bills) of a division.")
    async def get_purchase_invoices(division: Division, ctx: Context, top: Top = 20) -> CallToolResult:
        return await call(ctx, "get_purchase_invoices", tools.get_purchase_invoices, division, top=top)

    @server.tool(description="Trial balance of a division for one reporting year and period (month).")
    async def get_trial_balance(division: Division, ctx: Context,
                                year: Annotated[int, Field(ge=1990, le=2100)],
                                period: Annotated[int, Field(ge=1, le=12)]) -> CallToolResult:
        return await call(ctx, "get_trial_balance", tools.get_trial_balance, division,
                          year=year, period=period)

    @server.tool(description="List the items (products and services) of a division with sales prices.")
    async def get_items(division: Division, ctx: Context, search: Search | None = None,
                        top: Top = 20) -> CallToolResult:
        return await call(ctx, "get_items", tools.get_items, division, search=search, top=top)

    @server.tool(description="List the general ledger accounts (chart of accounts) of a division.")
    async def get_gl_accounts(division: Division, ctx: Context, top: Top = 100) -> CallToolResult:
        return await call(ctx, "get_gl_accounts", tools.get_gl_accounts, division, top=top)

    return server


def _split(value):
    return [v.strip() for v in (value or "").split(",") if v.strip()]


def create_asgi_app(config, clock=None):
    """The ASGI app: BearerAuth around the SDK's stateless, JSON Streamable HTTP app."""
    import os
    hosts = _split(config.get("MCP_ALLOWED_HOSTS") or os.environ.get("MCP_ALLOWED_HOSTS")
                   or "127.0.0.1:*,localhost:*,[::1]:*")
    origins = _split(config.get("MCP_ALLOWED_ORIGINS") or os.environ.get("MCP_ALLOWED_ORIGINS")
                     or "http://127.0.0.1:*,http://localhost:*,http://[::1]:*")
    security = TransportSecuritySettings(enable_dns_rebinding_protection=True,
                                         allowed_hosts=hosts, allowed_origins=origins)
    app = build_server(config, clock).streamable_http_app(
        stateless_http=True, json_response=True, transport_security=security)
    return BearerAuth(app, KeyCache())
