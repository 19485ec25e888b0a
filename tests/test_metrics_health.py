"""/metrics (bearer token, figures from the database and from request hooks),
/healthz (sidecar late vs down, 503 without a database), and the real thing:
gunicorn with several workers, whose /metrics sums every worker."""
import datetime
import os
import socket
import subprocess
import sys
import time

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from models import (Connection, JobRun, OutreachCampaign, OutreachLog, RefreshAttempt,
                    SidecarHeartbeat, User, utcnow)
from portal.customers import api_keys
from portal.sidecar.loop import Sidecar
from tests.sidecar_helpers import fake, make_connection, service_config  # noqa: F401

TOKEN = "metrics-test-token-123"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def samples(text):
    """{(name, frozenset(labels)): value} of a Prometheus text answer."""
    found = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            found[(s.name, frozenset(s.labels.items()))] = s.value
    return found


def value(found, name, **labels):
    return found.get((name, frozenset(labels.items())))


@pytest.fixture
def metrics_client(app, client):
    app.config["METRICS_TOKEN"] = TOKEN
    return client


def scrape(client):
    r = client.get("/metrics", headers={"Authorization": "Bearer " + TOKEN})
    assert r.status_code == 200, r.data[:300]
    assert r.content_type.startswith("text/plain")
    return samples(r.get_data(as_text=True))


def test_metrics_need_the_configured_bearer_token(app, client, monkeypatch):
    monkeypatch.delenv("METRICS_TOKEN", raising=False)
    assert client.get("/metrics").status_code == 401  # unset: nobody gets in
    assert client.get("/metrics", headers={"Authorization": "Bearer "}).status_code == 401
    app.config["METRICS_TOKEN"] = TOKEN
    for header in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic " + TOKEN},
                   {"Authorization": "Bearer " + TOKEN + "x"}):
        r = client.get("/metrics", headers=header)
        assert r.status_code == 401 and r.is_json
        assert TOKEN not in r.get_data(as_text=True)
    assert client.get("/metrics", headers={"Authorization": "Bearer " + TOKEN}).status_code == 200


def test_sidecar_and_outreach_figures_come_from_the_database(app, metrics_client):
    now = utcnow()
    # Due: one retry_pending an hour overdue, one active whose keep-alive is due.
    make_connection(status="retry_pending", failure_kind="transient", retry_count=1,
                    next_retry_at=now - datetime.timedelta(hours=1), now=now)
    make_connection(now=now)
    # Not due: refreshed a minute ago. Leased: due but claimed by a sidecar.
    make_connection(last_refreshed_at=now - datetime.timedelta(minutes=1), now=now)
    leased = make_connection(now=now)
    Connection.update(lease_owner="sc-1", lease_expires_at=now + datetime.timedelta(minutes=2)) \
        .where(Connection.id == leased.id).execute()
    make_connection(status="refresh_failed", now=now)
    for outcome in ("success", "success", "transient"):
        RefreshAttempt.create(connection=leased, user=leased.user, outcome=outcome,
                              attempted_at=now - datetime.timedelta(hours=1))
    RefreshAttempt.create(connection=leased, user=leased.user, outcome="success",
                          attempted_at=now - datetime.timedelta(days=3))  # outside 24 h
    JobRun.create(job="token_refresh", started_at=now - datetime.timedelta(seconds=42),
                  finished_at=now - datetime.timedelta(seconds=30), circuit_open=True)
    campaign = OutreachCampaign.create(name="Reconnect", trigger="connection_failed")
    for status in ("sent", "sent", "failed"):
        OutreachLog.create(user=leased.user, campaign=campaign, status=status)

    found = scrape(metrics_client)
    assert value(found, "portal_database_up") == 1
    assert value(found, "portal_connections", status="active") == 3
    assert value(found, "portal_connections", status="retry_pending") == 1
    assert value(found, "portal_connections", status="refresh_failed") == 1
    assert value(found, "portal_sidecar_due_backlog", status="retry_pending") == 1
    assert value(found, "portal_sidecar_due_backlog", status="active") == 1
    assert value(found, "portal_sidecar_leases_held") == 1
    # the active one: its keep-alive became due a day ago (renew within 29 of 30 days)
    assert value(found, "portal_sidecar_oldest_overdue_seconds") == pytest.approx(86400, abs=60)
    assert value(found, "portal_sidecar_refresh_outcomes_24h", outcome="success") == 2
    assert value(found, "portal_sidecar_refresh_outcomes_24h", outcome="transient") == 1
    assert value(found, "portal_sidecar_last_cycle_seconds") == pytest.approx(12, abs=0.01)
    assert value(found, "portal_sidecar_circuit_open") == 1
    assert value(found, "portal_outreach_messages_total", campaign="Reconnect",
                 status="sent") == 2
    assert value(found, "portal_outreach_messages_total", campaign="Reconnect",
                 status="failed") == 1


def test_api_requests_and_rejected_keys_are_counted(app, metrics_client):
    user = User.create(email="m@example.nl", plan="starter")
    _, key = api_keys.create_api_key(user, "t")
    before = scrape(metrics_client)

    def get(name, **labels):
        return value(scrape(metrics_client), name, **labels) or 0

    base_rejected = value(before, "portal_api_keys_rejected_total", surface="api") or 0
    base_201 = value(before, "portal_api_responses_total", endpoint="/api/v1/usage",
                     status="201") or 0
    body = {"endpoint": "tools/call x", "response_status": 200, "duration_ms": 3}
    for _ in range(3):
        r = metrics_client.post("/api/v1/usage", json=body,
                                headers={"Authorization": "Bearer " + key})
        assert r.status_code == 201
    assert metrics_client.get("/api/v1/me", headers={"Authorization": "Bearer nope"}
                              ).status_code == 401
    assert get("portal_api_responses_total", endpoint="/api/v1/usage", status="201") \
        == base_201 + 3
    assert get("portal_api_keys_rejected_total", surface="api") == base_rejected + 1
    found = scrape(metrics_client)
    assert value(found, "portal_api_request_duration_seconds_count",
                 endpoint="/api/v1/usage") >= 3
    assert value(found, "portal_request_duration_seconds_count", blueprint="api",
                 method="POST") >= 3


# --- /healthz ---------------------------------------------------------------

def test_healthz_says_down_without_any_sidecar(client, app):
    body = client.get("/healthz").get_json()
    assert body["sidecar"]["state"] == "down"
    assert body["database"] is True


def test_healthz_says_late_when_the_sidecar_beats_but_no_cycle_finishes(client, app, clock):
    SidecarHeartbeat.create(sidecar="sc-late", last_seen_at=clock.now)
    JobRun.create(job="token_refresh", started_at=clock.now - datetime.timedelta(hours=2),
                  finished_at=clock.now - datetime.timedelta(hours=2))
    r = client.get("/healthz")
    assert r.status_code == 200  # the portal itself still serves
    assert r.get_json()["sidecar"]["state"] == "late"
    clock.advance(minutes=10)  # and the heartbeat stops too: down
    assert client.get("/healthz").get_json()["sidecar"]["state"] == "down"


def test_healthz_says_ok_after_a_real_cycle(client, app, fake):  # noqa: F811
    make_connection(fake=fake)
    Sidecar(service_config(fake.url), name="sc-ok").run_once(only={"token_refresh"})
    assert client.get("/healthz").get_json()["sidecar"]["state"] == "ok"


def test_healthz_answers_503_when_the_database_is_unreachable(tmp_path, db_url):
    from portal import create_app
    from tests.conftest import TEST_TOKEN_KEY
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here
    down = create_app({"TESTING": True, "SECRET_KEY": "x", "TOKEN_ENCRYPTION_KEYS": TEST_TOKEN_KEY,
                       "INSTANCE_PATH": str(tmp_path),
                       "DATABASE_URL": "postgresql://nobody@127.0.0.1:%d/none" % port})
    try:
        r = down.test_client().get("/healthz")
        assert r.status_code == 503
        assert r.get_json()["database"] is False and r.get_json()["status"] == "degraded"
    finally:
        from models.db import init_database
        init_database(db_url)  # give the other tests their database back


# --- gunicorn, several workers -----------------------------------------------

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_gunicorn_workers_share_their_metrics_and_log_json(app, subprocess_env, tmp_path):
    import json
    user = User.create(email="g@example.nl", plan="pro")
    _, key = api_keys.create_api_key(user, "t")
    port = free_port()
    env = dict(subprocess_env, PORTAL_BIND="127.0.0.1:%d" % port, WEB_CONCURRENCY="3",
               GUNICORN_THREADS="2", METRICS_TOKEN=TOKEN,
               PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "prom"))
    log = open(tmp_path / "gunicorn.log", "w+")
    proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "deploy/gunicorn.conf.py",
                             "app:app"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = "http://127.0.0.1:%d" % port
    try:
        deadline = time.monotonic() + 90  # a busy CI machine
        while True:
            try:
                if requests.get(base + "/healthz", timeout=30).status_code in (200, 503):
                    break
            except requests.ConnectionError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, "gunicorn did not start"
            time.sleep(0.2)
        posts = 20
        with requests.Session() as s:
            for _ in range(posts):
                r = s.post(base + "/api/v1/usage", headers={"Authorization": "Bearer " + key},
                           json={"endpoint": "tools/call g", "response_status": 200,
                                 "duration_ms": 1}, timeout=60)
                assert r.status_code == 201
        pids = set()
        # New connections land on different workers; every scrape must see all of them.
        for _ in range(6):
            r = requests.get(base + "/metrics", headers={"Authorization": "Bearer " + TOKEN},
                             timeout=60)
            found = samples(r.text)
            assert value(found, "portal_api_responses_total", endpoint="/api/v1/usage",
                         status="201") == posts
        assert requests.get(base + "/metrics", timeout=60).status_code == 401
    finally:
        proc.terminate()
        proc.wait(60)
    log.seek(0)
    lines = [json.loads(line) for line in log if line.startswith("{")]
    usage_lines = [line for line in lines if line["path"] == "/api/v1/usage"]
    assert len(usage_lines) == posts
    assert {"time", "method", "status", "duration_ms", "remote"} <= set(usage_lines[0])
    pids = {line["pid"] for line in lines}
    assert len(pids) >= 1
    assert key not in "".join(json.dumps(line) for line in lines)
