"""Real sidecar processes on one database: one refresh per token, and crash safety.

Runs on SQLite and PostgreSQL (TEST_DATABASE_URL). The fake Exact runs in
this process on a real socket; the sidecars are `flask --app app sidecar
--once` child processes.
"""
import datetime
import os
import signal
import subprocess
import sys
import time

from models import Connection, JobRun, database, utcnow
from portal.exact.crypto import decrypt_token
from tests.sidecar_helpers import KEYS, fake, make_connection  # noqa: F401

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def start_sidecar(env, *args):
    return subprocess.Popen([sys.executable, "-m", "flask", "--app", "app", "sidecar",
                             "--once", "--job", "token_refresh", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def finish(proc, timeout=90):
    out, _ = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, out[-3000:]
    return out


def sidecar_env(subprocess_env, fake_url, **extra):  # noqa: F811
    env = dict(subprocess_env, EXACT_BASE_URL=fake_url, EXACT_TIMEOUT_SECONDS="10")
    env.update({k: str(v) for k, v in extra.items()})
    return env


def pair_of(row):
    return decrypt_token(KEYS, row.access_token), decrypt_token(KEYS, row.refresh_token)


def test_four_sidecars_share_300_connections_each_token_used_once(app, fake,  # noqa: F811
                                                                  subprocess_env):
    conns = [make_connection(fake=fake, division=i) for i in range(300)]
    originals = [pair_of(c)[1] for c in conns]
    database.close()  # nothing of ours stays open while the children write
    fake.latency_ms = 15  # enough for the four processes to overlap
    env = sidecar_env(subprocess_env, fake.url, SIDECAR_WORKERS=4)
    procs = [start_sidecar(env) for _ in range(4)]
    outputs = [finish(p) for p in procs]
    assert all("refresh connection=" in out for out in outputs)

    for token in originals:
        assert fake.uses(token) == 1
    assert fake.stats()["reused_tokens"] == 0
    rows = list(Connection.select())
    assert len(rows) == 300
    for row in rows:
        assert row.status == "active" and row.retry_count == 0 and row.lease_owner is None
        access, refresh = pair_of(row)
        assert fake.is_valid(refresh) and fake.issued_pairs[refresh] == access
        assert not any(refresh in out or access in out for out in outputs)
    assert not any(t in out for t in originals for out in outputs)  # never a token in logs
    runs = list(JobRun.select().where(JobRun.job == "token_refresh"))
    assert len(runs) == 4 and all(r.finished_at for r in runs)
    assert sum(r.refreshed for r in runs) == 300
    assert sum(r.failed for r in runs) == 0


def test_kill_9_mid_cycle_then_rerun_after_lease_expiry(app, fake,  # noqa: F811
                                                        subprocess_env):
    conns = [make_connection(fake=fake, division=i) for i in range(40)]
    originals = {c.id: pair_of(c) for c in conns}
    database.close()
    fake.latency_ms = 300  # the fake rotates, then answers 300 ms later
    env = sidecar_env(subprocess_env, fake.url, SIDECAR_WORKERS=4, SIDECAR_LEASE_SECONDS=2)
    proc = start_sidecar(env)
    deadline = time.monotonic() + 60
    while fake.stats()["calls"] < 6:
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=10)
    assert proc.returncode == -signal.SIGKILL

    # Right after the crash: every row is either untouched or a whole new pair.
    lost = set()
    for row in Connection.select():
        pair = pair_of(row)
        if pair == originals[row.id]:
            assert row.status == "active" and row.last_refreshed_at < utcnow() - \
                datetime.timedelta(days=1)
            if fake.uses(pair[1]) == 1:
                lost.add(row.id)  # Exact rotated it, the answer died with the process
        else:
            assert fake.issued_pairs[pair[1]] == pair[0]
            assert row.token_expires_at == row.last_refreshed_at + datetime.timedelta(
                seconds=600)
    assert lost, "the kill should have caught refreshes in flight"

    time.sleep(2.2)  # the dead sidecar's leases expire
    fake.latency_ms = 0
    finish(start_sidecar(env))
    for cid in lost:  # permanent path: one confirmation retry planned
        row = Connection.get_by_id(cid)
        assert row.status == "retry_pending" and row.failure_kind == "permanent"
    # Five minutes later (moved in the database, not waited for), the confirmation fails.
    Connection.update(next_retry_at=utcnow() - datetime.timedelta(seconds=1)).where(
        Connection.status == "retry_pending").execute()
    database.close()
    finish(start_sidecar(env))

    for row in Connection.select():
        assert row.lease_owner is None
        if row.id in lost:
            assert row.status == "refresh_failed"
            assert "must reconnect" in row.last_error
            assert fake.uses(originals[row.id][1]) == 3
        else:
            assert row.status == "active", row.last_error
            access, refresh = pair_of(row)
            assert fake.is_valid(refresh) and fake.issued_pairs[refresh] == access
            assert fake.uses(originals[row.id][1]) == 1
