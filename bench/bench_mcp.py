"""Benchmark the MCP server: fake Exact at 50 ms latency, 50 concurrent SDK clients.

Each client opens its own SDK session (Streamable HTTP, real sockets) and makes
CALLS tool calls (get_relations, top 5) on its own customer's connection (one
division each: Exact allows 60 calls a minute per division, which the server
enforces). Half the connections start with an access token that has just
expired, so the run also refreshes under load: one refresh each, no reuse.

Reports tool-call p50/p99, the overhead above the fake's latency and calls/s.
Targets: overhead <= 5 ms p50, 0 errors, 0 refresh-token reuse.

    .venv/bin/python bench/bench_mcp.py [--engine sqlite|postgres] [--clients 50] [--calls 20]
"""
import argparse
import asyncio
import datetime
import logging
import os
import statistics
import sys
import tempfile
import time
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100.0 * (len(values) - 1))))]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--engine", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--latency-ms", type=float, default=50)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    from cryptography.fernet import Fernet
    import httpx2
    from mcp.client.session import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    from models import Connection, User, init_database, utcnow
    from models.scratch_db import create_scratch_database, drop_scratch_database
    from portal import create_app
    from portal.core.migrations_runner import make_runner
    from portal.customers.api_keys import create_api_key
    from portal.exact.crypto import encrypt_token
    from portal.exact.fake import FakeExact
    from tests.mcp_helpers import McpServerThread

    tmp = tempfile.mkdtemp()
    created = None
    if args.engine == "postgres":
        url, created = create_scratch_database(args.pg, "bench_mcp")
    else:
        url = "sqlite:///" + os.path.join(tmp, "bench.db")
    db = init_database(url)
    make_runner(db, os.path.join(ROOT, "migrations")).up()
    db.close()
    keys = Fernet.generate_key().decode()
    fake = FakeExact(mode="strict", latency_ms=args.latency_ms).start()
    app = create_app({"TESTING": True, "DATABASE_URL": url, "INSTANCE_PATH": tmp,
                      "SECRET_KEY": uuid.uuid4().hex, "TOKEN_ENCRYPTION_KEYS": keys,
                      "MAIL_URL": "outbox:", "EXACT_BASE_URL": fake.url,
                      "EXACT_CLIENT_ID": "bench", "EXACT_CLIENT_SECRET": "bench"})
    logging.getLogger("portal").setLevel(logging.WARNING)
    if os.environ.get("BENCH_VERBOSE"):
        logging.getLogger("portal.mcp").setLevel(logging.INFO)
    with app.app_context():
        now = utcnow()
        api_keys, divisions = [], []
        for c in range(args.clients):
            user = User.create(email="bench%d@example.nl" % c, plan="enterprise")
            division = 100000 + c
            access, refresh = "at-bench-%d" % c, "rt-bench-%d" % c
            fake.register(refresh)
            expires = now + (datetime.timedelta(seconds=-5) if c % 2 == 0
                             else datetime.timedelta(hours=1))
            fake.rest.grant(access, [division], expires_in=3600, refresh_token=refresh)
            Connection.create(user=user, division=division, status="active",
                              access_token=encrypt_token(keys, access),
                              refresh_token=encrypt_token(keys, refresh),
                              token_expires_at=expires,
                              refresh_expires_at=now + datetime.timedelta(days=30),
                              last_refreshed_at=now - datetime.timedelta(days=1))
            api_keys.append(create_api_key(user)[1])
            divisions.append(division)
        config = dict(app.config)
    server = McpServerThread(config).start()

    samples, errors = [], []

    async def client(i):
        key, division = api_keys[i], divisions[i]
        async with httpx2.AsyncClient(headers={"Authorization": "Bearer " + key},
                                      timeout=60) as http:
            async with streamable_http_client(server.url, http_client=http,
                                              terminate_on_close=False) as (read, write):
                async with ClientSession(read, write) as session:
                    await session.initialize()
                    for _ in range(args.calls):
                        t = time.perf_counter()
                        result = await session.call_tool("get_relations",
                                                         {"division": division, "top": 5})
                        samples.append((time.perf_counter() - t) * 1000)
                        if result.is_error:
                            errors.append(result.content[0].text)

    async def run():
        await asyncio.gather(*[client(i) for i in range(args.clients)])

    started = time.perf_counter()
    asyncio.run(run())
    elapsed = time.perf_counter() - started
    server.stop()
    stats = fake.stats()
    fake.stop()
    p50, p99 = statistics.median(samples), pct(samples, 99)
    print("engine %s, %d clients x %d calls, fake latency %.0f ms" % (
        args.engine, args.clients, args.calls, args.latency_ms))
    print("  tool call p50 %.1f ms  p99 %.1f ms" % (p50, p99))
    print("  overhead above the fake's latency: p50 %.1f ms  p99 %.1f ms  (target p50 <= 5 ms: %s)"
          % (p50 - args.latency_ms, p99 - args.latency_ms,
             "ok" if p50 - args.latency_ms <= 5 else "MISSED"))
    print("  calls/s %.0f  errors %d  refreshes %d  refresh-token reuse %d" % (
        len(samples) / elapsed, len(errors), stats["calls"], stats["reused_tokens"]))
    if errors:
        print("  first error: %s" % errors[0])
    if created:
        drop_scratch_database(args.pg, created)


if __name__ == "__main__":
    main()
