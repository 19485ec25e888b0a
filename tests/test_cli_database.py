"""`connections list [--json]` and `seed-demo [--if-empty]`."""
import collections
import datetime
import json
import os
import subprocess
import sys

from models import (ApiUsage, Connection, OutreachCampaign, RefreshAttempt, ResponseTemplate,
                    UsageMonthly, User)
from models.plans import PlanType
from portal.exact.crypto import decrypt_token
from tests.conftest import TEST_TOKEN_KEY

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
T = datetime.datetime(2026, 2, 1, 10, 0, 0, 123456)


def make_connections():
    a = User.create(email="anna@bakkerij.nl", plan="starter")
    b = User.create(email="bram@hovenier.nl", plan="pro")
    Connection.create(user=a, division=111, status="active", token_expires_at=T)
    Connection.create(user=b, division=222, status="retry_pending", retry_count=2,
                      next_retry_at=datetime.datetime(2026, 2, 1, 11, 0), token_expires_at=T,
                      last_error="Exact answered 503.\nRetry 2 of 5 is planned.")
    Connection.create(user=b, division=333, status="refresh_failed", token_expires_at=None,
                      last_error="The customer must reconnect Exact Online.")


def test_connections_list_json_is_only_a_json_array(runner):
    make_connections()
    result = runner.invoke(args=["connections", "list", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [r["division"] for r in rows] == [111, 222, 333]
    assert set(rows[0]) == {"id", "email", "division", "status", "retry_count", "next_retry_at",
                            "token_expires_at", "last_error"}
    assert rows[0]["email"] == "anna@bakkerij.nl"
    assert rows[0]["token_expires_at"] == "2026-02-01T10:00:00.123456Z"
    assert rows[0]["next_retry_at"] is None and rows[0]["last_error"] is None
    assert rows[1]["next_retry_at"] == "2026-02-01T11:00:00Z" and rows[1]["retry_count"] == 2
    assert rows[2]["status"] == "refresh_failed" and rows[2]["token_expires_at"] is None
    for row in rows:  # every time parses as ISO 8601 UTC
        for key in ("next_retry_at", "token_expires_at"):
            if row[key]:
                assert datetime.datetime.fromisoformat(row[key].replace("Z", "+00:00")).tzinfo


def test_connections_list_json_on_an_empty_database_is_an_empty_array(runner):
    result = runner.invoke(args=["connections", "list", "--json"])
    assert result.exit_code == 0 and json.loads(result.stdout) == []


def test_connections_list_pages_through_many_rows(app):
    from portal.connections.listing import iter_connection_rows
    user = User.create(email="many@klant.nl", plan="enterprise")
    Connection.insert_many([dict(user=user.id, division=d, status="active") for d in
                            range(1, 26)]).execute()
    rows = list(iter_connection_rows(page=7))
    assert [r["division"] for r in rows] == list(range(1, 26))
    assert len(list(iter_connection_rows(status="retry_pending", page=7))) == 0


def test_connections_list_table_for_people(runner):
    make_connections()
    result = runner.invoke(args=["connections", "list"])
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0].split()[:4] == ["id", "email", "division", "status"]
    assert "retry_pending" in lines[2] and "Exact answered 503. Retry 2" in lines[2]
    assert lines[-1] == "(3 connections)"
    only = runner.invoke(args=["connections", "list", "--status", "refresh_failed"])
    assert "333" in only.stdout and "111" not in only.stdout


def test_connections_list_json_from_a_real_process_has_logs_off_stdout(app, subprocess_env):
    make_connections()
    proc = subprocess.run([sys.executable, "-m", "flask", "--app", "app", "connections", "list",
                           "--json"], cwd=ROOT, env=subprocess_env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert len(json.loads(proc.stdout)) == 3


def test_seed_demo_fills_a_living_portal(runner):
    result = runner.invoke(args=["seed-demo", "--customers", "60"])
    assert result.exit_code == 0, result.output
    assert User.select().count() == 60
    assert {u.plan for u in User.select()} == set(PlanType.values())
    statuses = collections.Counter(c.status for c in Connection.select())
    assert set(statuses) == {"active", "retry_pending", "refresh_failed"}
    assert statuses["active"] > statuses["retry_pending"] + statuses["refresh_failed"]
    # Some customers never connected; failures carry an explanation in plain words.
    assert User.select().where(~User.id.in_(Connection.select(Connection.user))).exists()
    failed = Connection.select().where(Connection.status != "active")
    assert all(c.last_error and " " in c.last_error for c in failed)
    assert all(c.next_retry_at for c in failed if c.status == "retry_pending")
    # Tokens are encrypted random strings; most active ones are due for a keep-alive refresh.
    conn = Connection.get(Connection.status == "active")
    assert decrypt_token(TEST_TOKEN_KEY, conn.refresh_token).startswith("demo-rt-")
    from models import utcnow
    now = utcnow()
    active = list(Connection.select().where(Connection.status == "active"))
    due = [c for c in active if c.last_refreshed_at < now - datetime.timedelta(days=1)
           and c.refresh_expires_at < now + datetime.timedelta(days=29)]
    assert len(due) > len(active) / 2
    assert RefreshAttempt.select().count() > len(active)
    # 60 days of usage, recorded through the counters (monthly counter = raw rows).
    first = ApiUsage.select(ApiUsage.timestamp).order_by(ApiUsage.timestamp).first().timestamp
    assert (now - first).days >= 55
    assert sum(m.calls for m in UsageMonthly.select()) == ApiUsage.select().count()
    # The error loop: one customer with many 401s on one endpoint in the last hours.
    loop = (ApiUsage.select(ApiUsage.user, ApiUsage.endpoint)
            .where((ApiUsage.response_status == 401)
                   & (ApiUsage.timestamp > now - datetime.timedelta(hours=6)))
            .group_by(ApiUsage.user, ApiUsage.endpoint)
            .having(__import__("peewee").fn.COUNT(ApiUsage.id) > 100).tuples())
    assert len(list(loop)) == 1
    # Weekday peaks: an average weekday is far busier than an average Sunday.
    per_weekday = collections.Counter(ts.weekday() for (ts,) in
                                      ApiUsage.select(ApiUsage.timestamp).tuples())
    assert per_weekday[1] > 3 * per_weekday[6]
    # Over the monthly limit: the calls beyond it were answered 429.
    assert ApiUsage.select().where(ApiUsage.response_status == 429).count() > 0
    # Default templates and campaigns came from their seed modules.
    assert ResponseTemplate.select().exists() and OutreachCampaign.select().exists()
    # Feature flags with plan overrides and a customer exception, so the flags page lives.
    from models import FeatureFlag, FeatureFlagOverride
    assert FeatureFlag.select().count() == 3
    assert FeatureFlagOverride.select().where(FeatureFlagOverride.plan.is_null(False)).exists()
    assert FeatureFlagOverride.select().where(FeatureFlagOverride.user.is_null(False)).exists()


def test_seed_demo_refuses_a_non_empty_database(runner):
    User.create(email="real@klant.nl", plan="pro")
    result = runner.invoke(args=["seed-demo"])
    assert result.exit_code != 0
    assert "already has customers" in result.stderr
    assert User.select().count() == 1
    quiet = runner.invoke(args=["seed-demo", "--if-empty"])
    assert quiet.exit_code == 0 and quiet.output == ""
    assert User.select().count() == 1


def test_seed_demo_is_deterministic(app):
    from models import database
    from portal.demo.seed import seed_demo
    from tests.conftest import truncate_all
    seed_demo(TEST_TOKEN_KEY, seed=7, customers=25, now=T)
    first = sorted(User.select(User.email, User.plan).tuples())
    usage = ApiUsage.select().count()
    truncate_all()
    database.connect(reuse_if_open=True)
    seed_demo(TEST_TOKEN_KEY, seed=7, customers=25, now=T)
    assert sorted(User.select(User.email, User.plan).tuples()) == first
    assert ApiUsage.select().count() == usage
