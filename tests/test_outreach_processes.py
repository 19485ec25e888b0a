"""Outreach against a real SMTP server on localhost and real processes (issue 6).

* Two sidecar processes run the outreach job at the same time against one
  database: the SMTP server receives exactly one email per customer and
  campaign.
* SMTP down, then up: one email in the end, and the log shows `failed`
  then `sent`.
"""
import collections
import datetime
import email
import subprocess
import sys
import threading
import time

import pytest
from aiosmtpd.controller import Controller

from models import OutreachLog
from models.db import utcnow
from portal.outreach.engine import run_outreach_cycle
from tests.conftest import free_port
from tests.factories import make_campaign, make_connection, make_user

CHILD = """
import json, os, sys
from portal.core.config import load_config
from models import init_database
config = load_config(os.environ["PORTAL_INSTANCE_PATH"])
init_database(config["DATABASE_URL"])
from portal.outreach.engine import run_outreach_cycle
print(json.dumps(run_outreach_cycle(config)))
"""


class Collector:
    """aiosmtpd handler that keeps every message (slowly, to widen any race)."""

    def __init__(self, delay=0.0):
        self.messages = []
        self.delay = delay
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        if self.delay:
            time.sleep(self.delay)
        msg = email.message_from_bytes(envelope.content)
        with self.lock:
            self.messages.append((envelope.rcpt_tos[0], msg["Subject"], msg["Message-ID"]))
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp_server():
    started = []

    def start(port=None, delay=0.0):
        handler = Collector(delay)
        controller = Controller(handler, hostname="127.0.0.1", port=port or free_port())
        controller.start()
        started.append(controller)
        return controller, handler

    yield start
    for controller in started:
        controller.stop()


def test_two_sidecars_at_once_send_exactly_one_email_per_customer_and_campaign(
        app, smtp_server, subprocess_env):
    controller, handler = smtp_server(delay=0.02)
    now = utcnow()
    failed = make_campaign("connection_failed", name="Reconnect")
    newbies = make_campaign("no_connection", name="Connect please")
    expected = set()
    for i in range(8):
        user = make_user("broken%d@example.nl" % i)
        make_connection(user, 100 + i, "refresh_failed")
        expected.add((user.email, failed.id))
        user = make_user("new%d@example.nl" % i, created_at=now - datetime.timedelta(days=5))
        expected.add((user.email, newbies.id))

    env = dict(subprocess_env, MAIL_URL="smtp://127.0.0.1:%d" % controller.port,
               MAIL_FROM="Exact MCP <support@example.com>", PUBLIC_BASE_URL="http://portal.test")
    procs = [subprocess.Popen([sys.executable, "-c", CHILD], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [p.communicate(timeout=120) for p in procs]
    for p, (out, err) in zip(procs, outputs):
        assert p.returncode == 0, err[-2000:]

    received = collections.Counter(to for to, _, _ in handler.messages)
    assert len(handler.messages) == len(expected) == 16
    assert set(received.values()) == {1}
    sent = list(OutreachLog.select().where(OutreachLog.status == "sent"))
    assert {(r.user.email, r.campaign_id) for r in sent} == expected
    assert len(sent) == 16
    assert {r.message_id for r in sent} == {mid for _, _, mid in handler.messages}
    assert OutreachLog.select().where(OutreachLog.status == "failed").count() == 0


def test_smtp_down_then_up_sends_one_email_and_logs_failed_then_sent(app, smtp_server):
    port = free_port()  # nothing listens here yet: SMTP is down
    user = make_user("broken@example.nl")
    make_connection(user, 1, "refresh_failed")
    campaign = make_campaign("connection_failed")
    config = dict(app.config, MAIL_URL="smtp://127.0.0.1:%d" % port, MAIL_TIMEOUT_SECONDS=5)
    now = utcnow()

    down = run_outreach_cycle(config, now=now)
    assert down["failed"] == 1 and down["sent"] == 0

    controller, handler = smtp_server(port=port)
    up = run_outreach_cycle(config, now=now + datetime.timedelta(minutes=15))
    assert up["sent"] == 1
    later = run_outreach_cycle(config, now=now + datetime.timedelta(minutes=30))
    assert later["sent"] == 0 and later["failed"] == 0

    assert [to for to, _, _ in handler.messages] == [user.email]
    rows = list(OutreachLog.select().where(OutreachLog.campaign == campaign.id)
                .order_by(OutreachLog.id))
    assert [r.status for r in rows] == ["failed", "sent", "skipped"]
    assert "127.0.0.1:%d" % port in rows[0].reason
    assert rows[1].message_id == handler.messages[0][2]
