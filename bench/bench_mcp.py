#!/usr/bin/env python3
"""Benchmark the MCP server as production runs it: `flask mcp-server` (uvicorn) and the
fake Exact (50 ms a call) each in a process of their own, SDK clients in others.

Each client opens its own SDK session (Streamable HTTP, real sockets) and makes
CALLS tool calls (get_relations, top 5) on its own customer's connection (one
division each: Exact allows 60 calls a minute per division, which the server
enforces). Half the connections start with an access token that has just
expired, so the run also refreshes under load: one refresh each, no reuse.

Two runs: one client calling in sequence (the server's own overhead, nothing
queued) and CLIENTS concurrent clients spread over client processes (calls/s
and the latency under load). Reports tool-call p50/p99, the overhead above
the fake's latency and calls/s. Targets: overhead <= 5 ms p50 for the single
client, 0 errors, 0 refresh-token reuse. Run by hand; asserts nothing.

    .venv/bin/python bench/bench_mcp.py [--engine sqlite|postgres] [--clients 50] [--calls 20]
"""
import argparse
import asyncio
import datetime
import logging
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from bench.load_test import HOST, PY, free_port, wait_http  # noqa: E402


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100.0 * (len(values) - 1))))]


def seed(url, keys, fake_url, clients):
    """Customers, keys and connections in the database; their grants at the fake."""
    import requests

    from models import Connection, User, init_database, utcnow
    from portal.core.migrations_runner import make_runner
    from portal.customers.api_keys import create_api_key
    from portal.exact.crypto import encrypt_token
    db = init_database(url)
    make_runner(db, os.path.join(ROOT, "migrations")).up()
    now = utcnow()
    work, grants, tokens = [], [], []
    for c in range(clients):
        user = User.create(email="bench%d@example.nl" % c, plan="enterprise")
        division = 100000 + c
        access, refresh = "at-bench-%d" % c, "rt-bench-%d" % c
        tokens.append(refresh)
        grants.append({"access_token": access, "divisions": [division], "expires_in": 3600,
                       "refresh_token": refresh})
        expires = now + (datetime.timedelta(seconds=-5) if c % 2 == 0
                         else datetime.timedelta(hours=1))
        Connection.create(user=user, division=division, status="active",
                          access_token=encrypt_token(keys, access),
                          refresh_token=encrypt_token(keys, refresh),
                          token_expires_at=expires,
                          refresh_expires_at=now + datetime.timedelta(days=30),
                          last_refreshed_at=now - datetime.timedelta(days=1))
        work.append((create_api_key(user)[1], division))
    db.close()
    requests.post(fake_url + "/_control/register", json={"tokens": tokens}, timeout=30)
    requests.post(fake_url + "/_control/grant", json={"grants": grants}, timeout=30)
    return work


def client_process(mcp_url, work, calls, out):
    """Some clients, each its own SDK session, in one process (one event loop)."""
    import httpx2
    from mcp.client.session import ClientSession
    from mcp.client.streamable_http import streamable_http_client
    samples, errors = [], []

    async def client(key, division):
        async with httpx2.AsyncClient(headers={"Authorization": "Bearer " + key},
                                      timeout=60) as http:
            async with streamable_http_client(mcp_url, http_client=http,
                                              terminate_on_close=False) as (read, write):
                async with ClientSession(read, write) as session:
                    await session.initialize()
                    for _ in range(calls):
                        t = time.perf_counter()
                        result = await session.call_tool("get_relations",
                                                         {"division": division, "top": 5})
                        samples.append((time.perf_counter() - t) * 1000)
                        if result.is_error:
                            errors.append(result.content[0].text)

    async def run():
        await asyncio.gather(*[client(k, d) for k, d in work])

    asyncio.run(run())
    out.put((samples, errors))


def measure(mcp_url, work, calls, processes):
    out = multiprocessing.Queue()
    chunks = [work[i::processes] for i in range(processes)]
    procs = [multiprocessing.Process(target=client_process, args=(mcp_url, c, calls, out))
             for c in chunks if c]
    started = time.perf_counter()
    for p in procs:
        p.start()
    samples, errors = [], []
    for _ in procs:
        s, e = out.get(timeout=900)
        samples += s
        errors += e
    elapsed = time.perf_counter() - started
    for p in procs:
        p.join(30)
    return samples, errors, elapsed


def report(label, samples, errors, elapsed, latency_ms):
    p50, p99 = statistics.median(samples), pct(samples, 99)
    print("  %s: %d calls, p50 %.1f ms, p99 %.1f ms; overhead above the fake's %.0f ms: "
          "p50 %.1f ms, p99 %.1f ms; %.0f calls/s; %d errors" % (
              label, len(samples), p50, p99, latency_ms, p50 - latency_ms, p99 - latency_ms,
              len(samples) / elapsed, len(errors)), flush=True)
    if errors:
        print("    first error: %s" % errors[0])
    return p50 - latency_ms


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--engine", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--client-processes", type=int, default=4)
    parser.add_argument("--latency-ms", type=float, default=50)
    parser.add_argument("--workers", type=int, default=1, help="MCP server worker processes")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    import requests
    from cryptography.fernet import Fernet

    from models.scratch_db import create_scratch_database, drop_scratch_database

    tmp = tempfile.mkdtemp(prefix="bench-mcp-")
    created = None
    if args.engine == "postgres":
        url, created = create_scratch_database(args.pg, "bench_mcp")
    else:
        url = "sqlite:///" + os.path.join(tmp, "bench.db")
    keys = Fernet.generate_key().decode()
    fake_port, mcp_port = free_port(), free_port()
    fake_url = "http://%s:%d" % (HOST, fake_port)
    env = dict(os.environ, DATABASE_URL=url, TOKEN_ENCRYPTION_KEYS=keys,
               SECRET_KEY="bench-" + os.urandom(8).hex(), EXACT_BASE_URL=fake_url,
               EXACT_CLIENT_ID="bench", EXACT_CLIENT_SECRET="bench", MAIL_URL="outbox:",
               PORTAL_INSTANCE_PATH=os.path.join(tmp, "instance"))
    env.pop("PORTAL_ENV", None)
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    log = open(os.path.join(tmp, "servers.log"), "w")
    procs = []
    try:
        fake = subprocess.Popen([PY, "-m", "portal.exact.fake", "--host", HOST, "--port",
                                 str(fake_port), "--strict", "--latency-ms",
                                 str(args.latency_ms)], cwd=ROOT, env=env, stdout=log,
                                stderr=subprocess.STDOUT)
        procs.append(fake)
        wait_http(fake_url + "/_control/stats", fake)
        work = seed(url, keys, fake_url, args.clients + 1)
        mcp = subprocess.Popen([PY, "-m", "flask", "--app", "app", "mcp-server", "--host", HOST,
                                "--port", str(mcp_port), "--workers", str(args.workers)], cwd=ROOT, env=env, stdout=log,
                               stderr=subprocess.STDOUT)
        procs.append(mcp)
        mcp_url = "http://%s:%d/mcp" % (HOST, mcp_port)
        wait_http(mcp_url, mcp)
        print("engine %s, %d MCP worker(s), fake Exact latency %.0f ms, machine %d cores" % (
            args.engine, args.workers, args.latency_ms, os.cpu_count()), flush=True)
        # The last customer is kept for the single client (its token is still valid).
        samples, errors, elapsed = measure(mcp_url, work[-1:], min(50, args.calls * 2), 1)
        report("1 client in sequence", samples, errors, elapsed, args.latency_ms)
        samples, errors, elapsed = measure(mcp_url, work[:-1], args.calls,
                                           args.client_processes)
        report("%d concurrent clients x %d calls (%d client processes)" % (
            args.clients, args.calls, args.client_processes), samples, errors, elapsed,
            args.latency_ms)
        stats = requests.get(fake_url + "/_control/stats", timeout=30).json()
        print("  refreshes %d (expected %d), refresh-token reuse %d" % (
            stats["calls"], (args.clients + 2) // 2, stats["reused_tokens"]))
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
        log.close()
        if created:
            drop_scratch_database(args.pg, created)


if __name__ == "__main__":
    main()
