"""The sidecar loop: job runs, heartbeats, failing jobs, signals, the CLI."""
import json
import os
import signal
import subprocess
import sys
import threading
import time

from models import Connection, JobRun, SidecarHeartbeat, database
from portal.sidecar.loop import Sidecar
from tests.sidecar_helpers import fake, make_connection, service_config  # noqa: F401
from tests.test_sidecar_concurrency import ROOT, pair_of, sidecar_env


def test_run_once_records_job_runs_and_heartbeat(app, fake):  # noqa: F811
    for i in range(3):
        make_connection(fake=fake, division=i)
    fake.inject("500", count=1)
    sidecar = Sidecar(service_config(fake.url), name="sc-1")
    assert sidecar.run_once() is True
    refresh = JobRun.get(JobRun.job == "token_refresh")
    assert (refresh.refreshed, refresh.failed, refresh.too_early) == (2, 1, 0)
    assert refresh.finished_at >= refresh.started_at and refresh.sidecar == "sc-1"
    assert not refresh.circuit_open and refresh.error is None
    outreach = JobRun.get(JobRun.job == "outreach")
    assert outreach.finished_at is not None and outreach.error is None
    beat = SidecarHeartbeat.get(SidecarHeartbeat.sidecar == "sc-1")
    assert beat.last_seen_at >= refresh.finished_at and beat.pid == os.getpid()


def test_a_failing_job_is_logged_and_the_loop_goes_on(app, fake, monkeypatch,  # noqa: F811
                                                      caplog):
    import portal.outreach.engine as outreach_service

    def broken(config, now=None):
        raise RuntimeError("outreach exploded")
    monkeypatch.setattr(outreach_service, "run_outreach_cycle", broken)
    make_connection(fake=fake)
    config = service_config(fake.url, REFRESH_INTERVAL_SECONDS=1, OUTREACH_INTERVAL_SECONDS=1)
    sidecar = Sidecar(config, name="sc-loop")
    thread = threading.Thread(target=sidecar.run_forever, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while JobRun.select().where(JobRun.job == "outreach").count() < 2:
        assert time.monotonic() < deadline, "the loop died after the first failure"
        time.sleep(0.1)
    sidecar.stop_event.set()
    thread.join(10)
    assert not thread.is_alive()
    failed = JobRun.select().where(JobRun.job == "outreach").first()
    assert "RuntimeError: outreach exploded" in failed.error
    assert "Traceback" in failed.error and "Traceback" in caplog.text
    assert JobRun.select().where(JobRun.job == "token_refresh").count() >= 2
    assert JobRun.get(JobRun.job == "token_refresh").refreshed == 1


def test_once_cli_exit_codes(app, fake, subprocess_env):  # noqa: F811
    make_connection(fake=fake)
    database.close()
    env = sidecar_env(subprocess_env, fake.url)
    done = subprocess.run([sys.executable, "-m", "flask", "--app", "app", "sidecar", "--once"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    assert {r.job for r in JobRun.select()} == {"token_refresh", "outreach", "housekeeping"}
    assert Connection.get().status == "active"
    bad = dict(env, EXACT_BASE_URL="not-a-url")
    done = subprocess.run([sys.executable, "-m", "flask", "--app", "app", "sidecar", "--once"],
                          cwd=ROOT, env=bad, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "EXACT_BASE_URL" in done.stderr


def test_sigterm_finishes_refreshes_in_flight_then_exits_0(app, fake,  # noqa: F811
                                                            subprocess_env):
    conns = [make_connection(fake=fake, division=i) for i in range(30)]
    originals = {c.id: pair_of(c) for c in conns}
    database.close()
    fake.latency_ms = 300
    env = sidecar_env(subprocess_env, fake.url, SIDECAR_WORKERS=2)
    proc = subprocess.Popen([sys.executable, "-m", "flask", "--app", "app", "sidecar"],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 60
    while fake.stats()["calls"] < 3:
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.01)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out[-3000:]
    assert "finishing refreshes in flight" in out
    refreshed = 0
    for row in Connection.select():
        assert row.lease_owner is None
        pair = pair_of(row)
        if pair == originals[row.id]:
            assert fake.uses(pair[1]) == 0  # never sent: nothing lost
        else:
            refreshed += 1
            assert fake.is_valid(pair[1]) and fake.issued_pairs[pair[1]] == pair[0]
    run = JobRun.get(JobRun.job == "token_refresh")
    assert run.finished_at is not None and run.refreshed == refreshed
    assert json.loads(run.details)["stopped_by_signal"] is True
    assert refreshed >= 1  # the ones in flight were finished and stored


def test_healthz_shows_the_last_cycle(app, client, fake):  # noqa: F811
    make_connection(fake=fake)
    Sidecar(service_config(fake.url), name="sc-h").run_once(only={"token_refresh"})
    body = client.get("/healthz").get_json()
    assert body["sidecar_last_seen"] is not None
    cycle = body["sidecar_last_cycle"]
    assert cycle["refreshed"] == 1 and cycle["circuit_open"] is False
    assert cycle["finished_at"].endswith("Z")
