#!/usr/bin/env python3
"""Soak: the sidecar for 30 simulated days against a flaky fake Exact, in minutes.

The real Sidecar (portal.sidecar.loop) runs its token_refresh job every 5
simulated minutes and housekeeping every simulated hour. Time is the code's
injected clock (`Sidecar.now`, the fake's clock offset): nothing sleeps. The
fake Exact is a real HTTP server on 127.0.0.1 that, on a seeded schedule,
answers 500s (single ones and bursts that open the circuit breaker), 429s with
a reset time, and malformed JSON; three connections are scripted: one fails
transiently six times in a row (walks the whole retry ladder to
refresh_failed), one gets invalid_grant twice (confirmation retry, then
refresh_failed), one gets a 429 with a reset an hour away.

Checked at the end (run_soak returns them; main prints them, exits 1 on a miss):
* no memory growth: RSS and live Python objects after day 1 vs at the end;
* no stuck lease: no connection leased after the last cycle;
* every connection in a defined state, and every active one holds a refresh
  token the fake Exact still accepts (no lost rotation, no reused token);
* the retry ladder followed: checked after every cycle, no retry_pending row
  was tried before its next_retry_at, and each transient retry is planned
  exactly its ladder step (or later, for a 429) after the failure;
* housekeeping kept the log tables bounded: no row older than its retention,
  and the 90-day-old history planted at the start is gone.

    .venv/bin/python bench/soak.py                      # SQLite, 30 days, 200 connections
    .venv/bin/python bench/soak.py --engine postgresql --days 30 --connections 200
tests/test_soak.py runs the same code for 3 days with 20 connections.
"""
import argparse
import datetime
import gc
import json
import os
import random
import secrets
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

STEP = datetime.timedelta(minutes=5)


def rss_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return 0.0


def plant_connections(keys, fake, count, start, rnd):
    """`count` active connections, last refreshed at random moments of the past day."""
    from models import Connection, User, database
    from portal.exact.crypto import encrypt_token
    tokens = {}
    with database.atomic():
        for i in range(count):
            token = "rt-soak-" + secrets.token_urlsafe(12)
            last = start - datetime.timedelta(seconds=rnd.randint(600, 86400))
            fake.register(token, issued_ago=(start - last).total_seconds()
                          + fake.clock_offset * 0)
            user = User.create(email="soak%05d@example.nl" % i)
            conn = Connection.create(
                user=user, division=1000 + i, status="active",
                access_token=encrypt_token(keys, "at-" + secrets.token_hex(6)),
                refresh_token=encrypt_token(keys, token),
                token_expires_at=last + datetime.timedelta(seconds=600),
                refresh_expires_at=last + datetime.timedelta(days=30),
                last_refreshed_at=last, created_at=last, updated_at=last)
            tokens[conn.id] = token
    return tokens


def plant_old_history(start, conn_id, user_id):
    """Log rows far older than their retention: housekeeping must remove them."""
    from models import JobRun, LoginAttempt, RefreshAttempt
    old = start - datetime.timedelta(days=90)
    for day in range(5):
        at = old - datetime.timedelta(days=day)
        RefreshAttempt.create(connection=conn_id, user=user_id, attempted_at=at,
                              outcome="success")
        LoginAttempt.create(email="old@example.com", created_at=at, success=False)
        JobRun.create(job="token_refresh", started_at=at, finished_at=at)


def _retry_snapshot():
    from models import Connection
    return {c.id: c.next_retry_at for c in Connection.select(
        Connection.id, Connection.next_retry_at).where(Connection.status == "retry_pending")}


def check_ladder(before, now, problems):
    """Nothing tried early; each transient retry planned exactly its ladder step (or later)."""
    from models import Connection, RefreshAttempt
    from portal.exact.tokens import RETRY_LADDER
    tried = {a.connection_id for a in RefreshAttempt.select(RefreshAttempt.connection)
             .where(RefreshAttempt.attempted_at == now)}
    for conn_id in tried & set(before):
        due = before[conn_id]
        if due is not None and due > now:
            problems.append("connection %s tried at %s before its retry time %s"
                            % (conn_id, now, due))
    pending = (Connection.select().where((Connection.status == "retry_pending")
                                         & (Connection.failure_kind == "transient")
                                         & (Connection.updated_at == now)))
    steps = 0
    for c in pending:
        if not 1 <= c.retry_count <= len(RETRY_LADDER):
            problems.append("connection %s retry_count %s off the ladder" % (c.id, c.retry_count))
            continue
        planned = c.next_retry_at - now
        if planned < RETRY_LADDER[c.retry_count - 1]:
            problems.append("connection %s retry %d planned after %s, ladder says %s"
                            % (c.id, c.retry_count, planned, RETRY_LADDER[c.retry_count - 1]))
        steps += 1
    return steps


def inject_weather(fake, rnd, connections):
    """Random flakiness, scaled so about 10% of token calls fail transiently.

    Each connection is refreshed about once a simulated day (288 cycles), so a
    cycle makes about connections/288 calls. A fault waits in the fake's queue
    until a call takes it; none is added while one is waiting.
    """
    if fake.faults:
        return
    calls_per_cycle = connections / 288.0
    if connections >= 100 and rnd.random() < 1 / 1440.0:
        fake.inject("500", count=12)  # Exact down for a while: the circuit opens
        return
    roll = rnd.random() / max(calls_per_cycle, 1e-6)
    if roll < 0.06:
        fake.inject("500", count=1)
    elif roll < 0.08:
        fake.inject("429", count=1)
    elif roll < 0.10:
        fake.inject("malformed", count=1)


def run_soak(config, fake, days=30, connections=200, seed=14, start=None, progress=None):
    """Run the simulation on the bound database; returns a report dict (see module doc)."""
    from peewee import fn

    from models import (CONNECTION_STATUSES, Connection, JobRun, LoginAttempt, RefreshAttempt,
                        utcnow)
    from portal.exact.crypto import decrypt_token
    from portal.exact.tokens import RETRY_LADDER
    from portal.sidecar.housekeeping import RETENTION_DAYS
    from portal.sidecar.loop import Sidecar

    rnd = random.Random(seed)
    keys = config["TOKEN_ENCRYPTION_KEYS"]
    start = start or utcnow().replace(microsecond=0)
    real_start = utcnow()
    fake.clock_offset = (start - real_start).total_seconds()
    tokens = plant_connections(keys, fake, connections, start, rnd)
    ids = sorted(tokens)
    doomed_transient, doomed_permanent, rate_limited = ids[0], ids[1], ids[2]
    fake.inject("500", count=len(RETRY_LADDER) + 1, token=tokens[doomed_transient])
    fake.inject("invalid_grant", count=2, token=tokens[doomed_permanent])
    fake.inject("429", count=1, token=tokens[rate_limited],
                reset_ms=(fake.now() + 3600) * 1000)
    planted = Connection.get_by_id(ids[-1])
    plant_old_history(start, planted.id, planted.user_id)

    sidecar = Sidecar(dict(config, REFRESH_INTERVAL_SECONDS=300,
                           HOUSEKEEPING_INTERVAL_SECONDS=3600), name="soak-sidecar")
    problems = []
    ladder_steps = 0
    cycles = 0
    job_errors = 0
    memory = {}
    now = start
    end = start + datetime.timedelta(days=days)
    wall = time.monotonic()
    while now < end:
        sidecar.now = now
        fake.clock_offset = (now - utcnow()).total_seconds()
        inject_weather(fake, rnd, connections)
        before = _retry_snapshot()
        if not sidecar.run_job("token_refresh"):
            job_errors += 1
        cycles += 1
        ladder_steps += check_ladder(before, now, problems)
        if cycles % 12 == 0:  # every simulated hour
            if not sidecar.run_job("housekeeping"):
                job_errors += 1
        now += STEP
        if (now - start) == datetime.timedelta(days=1) or now >= end:
            gc.collect()
            memory["day1" if "day1" not in memory else "end"] = {
                "rss_mb": round(rss_mb(), 1), "objects": len(gc.get_objects())}
            if progress:
                progress("day %d of %d" % ((now - start).days, days))
    end = now - STEP  # the last cycle's clock

    # --- the end-of-run checks -------------------------------------------
    states = {}
    leased = Connection.select().where(Connection.lease_owner.is_null(False)).count()
    for c in Connection.select():
        states[c.status] = states.get(c.status, 0) + 1
        where = "connection %s (%s)" % (c.id, c.status)
        if c.status not in CONNECTION_STATUSES:
            problems.append(where + ": unknown status")
        elif c.status == "active":
            if c.retry_count != 0 or c.failure_kind is not None:
                problems.append(where + ": active with retry state left over")
            if not fake.is_valid(decrypt_token(keys, c.refresh_token)):
                problems.append(where + ": its refresh token is dead at Exact")
            if c.refresh_expires_at is None or c.refresh_expires_at <= end:
                problems.append(where + ": refresh token expired")
        elif c.status == "retry_pending":
            if c.next_retry_at is None or c.failure_kind not in ("transient", "permanent"):
                problems.append(where + ": retry_pending without a plan")
        elif c.status == "refresh_failed":
            if c.next_retry_at is not None or not c.last_error:
                problems.append(where + ": refresh_failed with a retry planned or no reason")
    if Connection.get_by_id(doomed_transient).status != "refresh_failed":
        problems.append("the connection failing six times did not end refresh_failed")
    if Connection.get_by_id(doomed_permanent).status != "refresh_failed":
        problems.append("the connection with invalid_grant did not end refresh_failed")
    if leased:
        problems.append("%d lease(s) still held after the last cycle" % leased)
    attempts = [a.attempted_at for a in RefreshAttempt.select(RefreshAttempt.attempted_at)
                .where((RefreshAttempt.connection == doomed_transient)
                       & (RefreshAttempt.attempted_at >= start))
                .order_by(RefreshAttempt.attempted_at)]
    gaps = [b - a for a, b in zip(attempts, attempts[1:])]
    if gaps[:len(RETRY_LADDER)] != list(RETRY_LADDER):
        problems.append("the doomed connection's retries came at %s, ladder is %s"
                        % ([str(g) for g in gaps], [str(s) for s in RETRY_LADDER]))

    oldest = {
        "refresh_attempts": RefreshAttempt.select(RefreshAttempt.attempted_at)
        .order_by(RefreshAttempt.attempted_at).first(),
        "login_attempts": LoginAttempt.select(LoginAttempt.created_at)
        .order_by(LoginAttempt.created_at).first(),
        "job_runs": JobRun.select(JobRun.started_at).order_by(JobRun.started_at).first(),
    }
    ages = {}
    for table, row in oldest.items():
        at = row and (getattr(row, "attempted_at", None) or getattr(row, "created_at", None)
                      or getattr(row, "started_at", None))
        ages[table] = round((end - at).total_seconds() / 86400, 2) if at else None
        if ages[table] is not None and ages[table] > RETENTION_DAYS[table] + 1 / 24:
            problems.append("%s keeps a row %.1f days old (retention %d)"
                            % (table, ages[table], RETENTION_DAYS[table]))
    growth = None
    if "day1" in memory and "end" in memory:
        growth = {"rss_mb": round(memory["end"]["rss_mb"] - memory["day1"]["rss_mb"], 1),
                  "objects": memory["end"]["objects"] - memory["day1"]["objects"]}
        # Thresholds far above noise (a few MB, a few hundred objects), far
        # below a leak of one object per cycle or per refresh over 30 days.
        if growth["rss_mb"] > 25 or growth["objects"] > memory["day1"]["objects"] * 0.1:
            problems.append("memory grew after day 1: %s" % growth)
    stats = fake.stats()
    if stats["answers"].get(401, 0):
        problems.append("Exact answered 'old refresh token used' %d times"
                        % stats["answers"][401])
    return {
        "days": days, "connections": connections, "cycles": cycles,
        "wall_seconds": round(time.monotonic() - wall, 1),
        "states": states, "leases_held": leased, "job_errors": job_errors,
        "ladder_steps_checked": ladder_steps,
        "refresh_attempts": RefreshAttempt.select().count(),
        "refresh_attempts_by_outcome": {o: n for o, n in RefreshAttempt.select(
            RefreshAttempt.outcome, fn.COUNT(RefreshAttempt.id)).group_by(
            RefreshAttempt.outcome).tuples()},
        "circuit_opened_cycles": JobRun.select().where(JobRun.circuit_open == True).count(),  # noqa: E712
        "oldest_row_days": ages, "exact_answers": stats["answers"], "exact_calls": stats["calls"],
        "memory": memory, "memory_growth": growth, "problems": problems,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--engine", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--connections", type=int, default=200)
    parser.add_argument("--seed", type=int, default=14)
    args = parser.parse_args()

    import logging
    logging.basicConfig(level=logging.WARNING)
    from cryptography.fernet import Fernet

    from models.db import init_database
    from models.scratch_db import create_scratch_database, drop_scratch_database
    from portal.core.migrations_runner import make_runner
    from portal.exact.fake import FakeExact

    workdir = tempfile.mkdtemp(prefix="soak-")
    created = None
    if args.engine == "sqlite":
        url = "sqlite:///" + os.path.join(workdir, "soak.db")
    else:
        base = os.environ.get("BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
        url, name = create_scratch_database(base, "soak")
        created = (base, name)
    db = init_database(url)
    make_runner(db, os.path.join(ROOT, "migrations")).up()
    fake = FakeExact(mode="strict").start()
    config = {"TOKEN_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
              "EXACT_BASE_URL": fake.url, "EXACT_CLIENT_ID": "soak", "EXACT_CLIENT_SECRET": "s",
              "EXACT_TIMEOUT_SECONDS": 5, "SIDECAR_WORKERS": 8, "SIDECAR_LEASE_SECONDS": 120,
              "REFRESH_RENEW_WITHIN_DAYS": 29, "OUTREACH_INTERVAL_SECONDS": 900}
    try:
        report = run_soak(config, fake, days=args.days, connections=args.connections,
                          seed=args.seed, progress=lambda m: print(m, file=sys.stderr,
                                                                   flush=True))
    finally:
        fake.stop()
        db.close()
        if created:
            drop_scratch_database(*created)
    report["engine"] = args.engine
    print(json.dumps(report, indent=2, default=str))
    sys.exit(1 if report["problems"] else 0)


if __name__ == "__main__":
    main()
