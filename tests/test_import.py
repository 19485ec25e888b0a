"""`flask --app app import FILE`: validation, matching, idempotence, tokens, counters."""
import collections
import datetime
import json

import pytest

from models import (ApiUsage, Connection, UsageDaily, UsageDailyUser, UsageHourlyError,
                    UsageMonthly, User, database)
from portal.exact.crypto import decrypt_token
from portal.importer.service import InvalidImportFile, import_file, run_import, validate
from portal.usage.counters import record_usage_rows
from tests.conftest import TEST_TOKEN_KEY

T0 = "2026-01-05T10:00:00Z"


def customer(email, plan="starter", name="Bakkerij Jansen", created_at="2026-01-02T03:04:05Z"):
    return {"type": "customer", "email": email, "name": name, "plan": plan,
            "created_at": created_at}


def connection(email, division=123456, status="active", access="access-1", refresh="refresh-1",
               expires="2026-02-01T10:00:00Z", **extra):
    return dict({"type": "connection", "email": email, "division": division,
                 "access_token": access, "refresh_token": refresh,
                 "token_expires_at": expires, "status": status}, **extra)


def usage(email, timestamp=T0, endpoint="tools/call get_invoices", status=200):
    return {"type": "api_usage", "email": email, "timestamp": timestamp, "endpoint": endpoint,
            "response_status": status}


def write(tmp_path, records, name="export.jsonl"):
    path = tmp_path / name
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n"
                            for r in records))
    return str(path)


def sample(email="a@bakkerij.nl"):
    return [
        customer(email.upper()),  # matching is case-insensitive; stored lower-case
        customer("b@hovenier.nl", plan="free", name="Hovenier De Vries"),
        connection(email, division=1, status="active", access="plain-access-A",
                   refresh="plain-refresh-A", refresh_expires_at="2026-03-01T10:00:00+01:00"),
        connection(email, division=2, status="refresh_failed", access="plain-access-B",
                   refresh="plain-refresh-B", last_error="invalid_grant"),
        usage(email),
        usage(email),  # two identical calls in one second: both are real
        usage(email, "2026-01-05T10:20:00+01:00", status=401),
        usage("b@hovenier.nl", "2026-02-28T23:59:59Z", endpoint="tools/list", status=500),
        usage("b@hovenier.nl", "2026-03-01T00:00:00Z", endpoint="tools/list"),
    ]


def snapshot():
    """Every row the import can touch, as comparable tuples."""
    def rows(model):
        return sorted(tuple(str(v) for v in r) for r in model.select().tuples())
    import models
    tables = [User, Connection, ApiUsage, UsageMonthly, UsageDaily, UsageDailyUser,
              UsageHourlyError, getattr(models, "UsageDailyActive", User)]
    return {m.__name__: rows(m) for m in tables}


def expected_rollups():
    """The rollups recomputed here, independently, from the raw rows (a GROUP BY in Python)."""
    monthly, daily, daily_user, hourly = (collections.Counter() for _ in range(4))
    for uid, ts, endpoint, status in ApiUsage.select(
            ApiUsage.user, ApiUsage.timestamp, ApiUsage.endpoint,
            ApiUsage.response_status).tuples():
        err = int(status >= 400)
        monthly[(uid, ts.date().replace(day=1))] += complex(1, err)
        daily[(ts.date(), endpoint, status // 100)] += 1
        daily_user[(ts.date(), uid)] += complex(1, err)
        if err:
            hourly[(ts.replace(minute=0, second=0, microsecond=0), endpoint, status)] += 1
    return monthly, daily, daily_user, hourly


def actual_rollups():
    monthly = {(r.user_id, r.month): complex(r.calls, r.error_calls) for r in UsageMonthly.select()}
    daily = {(r.day, r.endpoint, r.status_class): r.calls for r in UsageDaily.select()}
    daily_user = {(r.day, r.user_id): complex(r.calls, r.error_calls)
                  for r in UsageDailyUser.select()}
    hourly = {(r.hour, r.endpoint, r.response_status): r.calls for r in UsageHourlyError.select()}
    return monthly, daily, daily_user, hourly


def test_import_creates_customers_connections_and_usage(runner, tmp_path):
    path = write(tmp_path, sample())
    result = runner.invoke(args=["import", path])
    assert result.exit_code == 0, result.output
    assert "customers: 2 created" in result.stdout
    assert "connections: 2 created" in result.stdout
    assert "usage: 5 created, 0 skipped" in result.stdout

    a = User.get(User.email == "a@bakkerij.nl")
    assert (a.plan, a.name, a.created_at) == ("starter", "Bakkerij Jansen",
                                              datetime.datetime(2026, 1, 2, 3, 4, 5))
    assert ApiUsage.select().where(ApiUsage.user == a.id).count() == 3
    # +01:00 became naive UTC
    first = Connection.get(Connection.division == 1)
    assert first.refresh_expires_at == datetime.datetime(2026, 3, 1, 9, 0, 0)
    late = ApiUsage.get(ApiUsage.response_status == 401)
    assert late.timestamp == datetime.datetime(2026, 1, 5, 9, 20, 0)


def test_tokens_are_encrypted_before_they_reach_the_database(runner, tmp_path):
    assert runner.invoke(args=["import", write(tmp_path, sample())]).exit_code == 0
    conn = Connection.get(Connection.division == 1)
    assert "plain-access-A" not in conn.access_token
    assert "plain-refresh-A" not in conn.refresh_token
    assert decrypt_token(TEST_TOKEN_KEY, conn.access_token) == "plain-access-A"
    assert decrypt_token(TEST_TOKEN_KEY, conn.refresh_token) == "plain-refresh-A"
    # Nowhere in the table, in any column, is a plaintext token.
    dump = " ".join(str(v) for row in Connection.select().tuples() for v in row)
    for plain in ("plain-access-A", "plain-refresh-A", "plain-access-B", "plain-refresh-B"):
        assert plain not in dump


def test_refresh_failed_from_the_old_system_becomes_retry_pending_due_now(app, tmp_path):
    now = datetime.datetime(2026, 4, 1, 12, 0, 0)
    import_file(write(tmp_path, sample()), TEST_TOKEN_KEY, now=now)
    revived = Connection.get(Connection.division == 2)
    assert (revived.status, revived.retry_count, revived.next_retry_at) == (
        "retry_pending", 0, now)
    assert revived.last_error == "invalid_grant"
    assert Connection.get(Connection.division == 1).status == "active"
    assert not Connection.select().where(Connection.status == "refresh_failed").exists()


def test_reimporting_the_same_file_changes_nothing(runner, tmp_path):
    path = write(tmp_path, sample())
    assert runner.invoke(args=["import", path]).exit_code == 0
    before = snapshot()
    result = runner.invoke(args=["import", path])
    assert result.exit_code == 0, result.output
    assert "customers: 0 created, 0 updated, 2 unchanged" in result.stdout
    assert "connections: 0 created, 0 updated, 2 skipped" in result.stdout
    assert "usage: 0 created, 5 skipped" in result.stdout
    assert snapshot() == before


def test_counters_and_rollups_equal_a_group_by_of_the_raw_rows(app, tmp_path):
    user = User.create(email="a@bakkerij.nl", plan="pro")  # usage from the API beforehand
    record_usage_rows([dict(user=user.id, timestamp=datetime.datetime(2026, 1, 5, 10, 0, 0),
                            endpoint="tools/call get_invoices", response_status=200)])
    path = write(tmp_path, sample())
    import_file(path, TEST_TOKEN_KEY)
    import_file(path, TEST_TOKEN_KEY)
    assert ApiUsage.select().count() == 5  # the API's row is one of the file's two copies
    monthly, daily, daily_user, hourly = expected_rollups()
    assert actual_rollups() == (dict(monthly), dict(daily), dict(daily_user), dict(hourly))
    assert User.get_by_id(user.id).last_active_at == datetime.datetime(2026, 1, 5, 10, 0, 0)


def test_identical_rows_far_apart_in_the_file_are_counted_exactly(app, tmp_path):
    """Copies of one key spread over several batches, some already in the database."""
    user = User.create(email="a@bakkerij.nl", plan="pro")
    ts = datetime.datetime(2026, 1, 5, 10, 0, 0)
    record_usage_rows([dict(user=user.id, timestamp=ts, endpoint="tools/call get_invoices",
                            response_status=200)])
    records = [customer("a@bakkerij.nl")]
    for n in range(3):  # three copies of the present key, two copies of a new key
        records += [usage("a@bakkerij.nl"), usage("a@bakkerij.nl", "2026-01-06T08:00:00Z"),
                    usage("a@bakkerij.nl", "2026-01-07T08:00:%02dZ" % n)]
    records.append(usage("a@bakkerij.nl", "2026-01-06T08:00:00Z"))
    path = write(tmp_path, records)

    def copies(when):
        return ApiUsage.select().where(ApiUsage.timestamp == when).count()

    summary = run_import(path, validate(path), TEST_TOKEN_KEY, batch_lines=2)
    assert (summary.usage_created, summary.usage_skipped) == (2 + 4 + 3, 1)
    assert copies(ts) == 3
    assert copies(datetime.datetime(2026, 1, 6, 8)) == 4
    summary = run_import(path, validate(path), TEST_TOKEN_KEY, batch_lines=3)
    assert (summary.usage_created, summary.usage_skipped) == (0, 10)
    assert ApiUsage.select().count() == 10
    assert UsageMonthly.get(UsageMonthly.user == user.id).calls == 10


def test_a_changed_export_updates_by_natural_key(app, tmp_path):
    import_file(write(tmp_path, sample()), TEST_TOKEN_KEY)
    changed = [customer("a@bakkerij.nl", plan="pro", name="Bakkerij Jansen B.V."),
               connection("a@bakkerij.nl", division=1, access="new-access", refresh="new-refresh",
                          expires="2026-02-02T10:00:00Z")]
    summary = import_file(write(tmp_path, changed, "second.jsonl"), TEST_TOKEN_KEY)
    assert (summary.customers_updated, summary.connections_updated) == (1, 1)
    assert User.select().count() == 2 and Connection.select().count() == 2
    a = User.get(User.email == "a@bakkerij.nl")
    assert (a.plan, a.name) == ("pro", "Bakkerij Jansen B.V.")
    conn = Connection.get(Connection.division == 1)
    assert decrypt_token(TEST_TOKEN_KEY, conn.refresh_token) == "new-refresh"


def test_tokens_the_portal_refreshed_since_are_not_overwritten_by_a_stale_file(app, tmp_path):
    """The file's refresh token died when the sidecar rotated it; writing it back kills
    the connection."""
    path = write(tmp_path, sample())
    import_file(path, TEST_TOKEN_KEY)
    from portal.exact.crypto import encrypt_token
    live = dict(access_token=encrypt_token(TEST_TOKEN_KEY, "live-access"),
                refresh_token=encrypt_token(TEST_TOKEN_KEY, "live-refresh"),
                token_expires_at=datetime.datetime(2026, 5, 1, 10, 10))
    Connection.update(**live).where(Connection.division == 1).execute()
    summary = import_file(path, TEST_TOKEN_KEY)
    assert summary.connections_updated == 0
    conn = Connection.get(Connection.division == 1)
    assert decrypt_token(TEST_TOKEN_KEY, conn.refresh_token) == "live-refresh"


def test_a_usage_line_may_come_before_its_customer(runner, tmp_path):
    path = write(tmp_path, [usage("late@klant.nl"), connection("late@klant.nl"),
                            customer("late@klant.nl", plan="enterprise")])
    result = runner.invoke(args=["import", path])
    assert result.exit_code == 0, result.output
    user = User.get(User.email == "late@klant.nl")
    assert ApiUsage.get().user_id == user.id and Connection.get().user_id == user.id


def test_a_customer_already_in_the_database_needs_no_customer_line(runner, tmp_path):
    User.create(email="known@klant.nl", plan="free")
    result = runner.invoke(args=["import", write(tmp_path, [usage("Known@klant.nl")])])
    assert result.exit_code == 0, result.output
    assert ApiUsage.select().count() == 1


BAD_LINES = [
    ('{"type": "customer", "email": "x@y.nl", "plan": "free"', "not valid JSON"),
    ('["customer"]', "expected a JSON object"),
    ({"type": "invoice", "email": "x@y.nl"}, "type \"invoice\" is not one of"),
    ({"email": "x@y.nl"}, "type is missing"),
    (customer("not-an-email"), "is not an email address"),
    (customer("p@y.nl", plan="premium"), "plan \"premium\" is not one of free, starter, pro, "
                                          "enterprise"),
    (customer("p@y.nl", created_at="2026-01-02T03:04:05"), "has no time zone"),
    (customer("p@y.nl", created_at="yesterday"), "is not an ISO 8601 time"),
    (connection("ok@y.nl", status="dead"), "status \"dead\" is not one of active, "
                                           "retry_pending, refresh_failed"),
    (connection("ok@y.nl", division="abc"), "division must be a whole number"),
    (connection("ok@y.nl", access=""), "access_token is empty"),
    ({k: v for k, v in connection("ok@y.nl").items() if k != "token_expires_at"},
     "token_expires_at is missing"),
    (usage("ok@y.nl", status=600), "response_status must be between 100 and 599"),
    (usage("ok@y.nl", status=True), "response_status must be a whole number"),
    (usage("ok@y.nl", endpoint="x" * 300), "endpoint is longer than 255"),
    (usage("ghost@y.nl"), "customer ghost@y.nl is neither in this file nor in the database"),
]


def test_bad_lines_are_reported_by_number_and_nothing_is_imported(runner, tmp_path):
    records = [customer("ok@y.nl"), connection("ok@y.nl"), usage("ok@y.nl")]
    records += [bad for bad, _ in BAD_LINES]
    path = write(tmp_path, records)
    result = runner.invoke(args=["import", path])
    assert result.exit_code != 0
    for offset, (_, reason) in enumerate(BAD_LINES):
        line = len(records) - len(BAD_LINES) + offset + 1
        assert any(l.startswith("line %d: " % line) and reason in l
                   for l in result.stderr.splitlines()), (line, reason, result.stderr)
    assert "%d bad line(s)" % len(BAD_LINES) in result.stderr
    assert "nothing was imported" in result.stderr
    assert "line 1:" not in result.stderr and "line 3:" not in result.stderr
    assert User.select().count() == 0 and Connection.select().count() == 0
    assert ApiUsage.select().count() == 0 and UsageMonthly.select().count() == 0


def test_validation_errors_are_sorted_and_the_service_raises(app, tmp_path):
    path = write(tmp_path, [usage("ghost@y.nl"), "not json", customer("ok@y.nl"), "", "  "])
    with pytest.raises(InvalidImportFile) as info:
        import_file(path, TEST_TOKEN_KEY)
    assert [line for line, _ in info.value.validation.errors] == [1, 2]
    assert User.select().count() == 0


def test_blank_lines_are_ignored_and_progress_is_reported_in_bytes(app, tmp_path):
    path = write(tmp_path, [customer("ok@y.nl"), "", usage("ok@y.nl")])
    seen = []
    validation = validate(path, progress=seen.append)
    assert validation.ok and validation.records == 2 and validation.lines == 3
    import os
    assert sum(seen) == os.path.getsize(path)


def test_a_failure_during_the_import_rolls_everything_back(app, tmp_path, monkeypatch):
    import portal.usage.counters as counters
    path = write(tmp_path, sample())
    validation = validate(path)

    def broken(recorder):  # the last step: customers, connections and raw usage are written
        raise RuntimeError("disk full")
    monkeypatch.setattr(counters.UsageRecorder, "finish", broken)
    indexes = _api_usage_indexes()
    with pytest.raises(RuntimeError):
        run_import(path, validation, TEST_TOKEN_KEY)
    database.connect(reuse_if_open=True)
    assert User.select().count() == 0 and Connection.select().count() == 0
    assert ApiUsage.select().count() == 0
    # SQLite drops api_usage's indexes for a bulk load into an empty table: the
    # rollback brings them back with the rest.
    assert _api_usage_indexes() == indexes and len(indexes) >= 5


def _api_usage_indexes():
    from models.db import is_postgres
    if is_postgres():
        sql = "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'api_usage'"
    else:
        sql = ("SELECT name, sql FROM sqlite_master WHERE type = 'index' "
               "AND tbl_name = 'api_usage' AND sql IS NOT NULL")
    return sorted(database.execute_sql(sql).fetchall())


def test_a_bulk_load_into_an_empty_table_keeps_every_index(app, tmp_path):
    """The first import of the old system's usage (SQLite: indexes dropped and built
    again in the import's transaction) ends with the same indexes, used by the planner."""
    indexes = _api_usage_indexes()
    path = write(tmp_path, sample())
    run_import(path, validate(path), TEST_TOKEN_KEY)
    database.connect(reuse_if_open=True)
    assert ApiUsage.select().count() > 0
    assert _api_usage_indexes() == indexes
    from models.db import is_sqlite
    if is_sqlite():
        plan = database.execute_sql(
            'EXPLAIN QUERY PLAN SELECT id FROM api_usage WHERE user_id = 1 '
            'ORDER BY "timestamp" DESC LIMIT 5').fetchall()
        assert "idx_api_usage_user_month" in str(plan)


def test_import_from_a_real_process_keeps_stdout_clean(subprocess_env, tmp_path):
    import subprocess
    import sys
    path = write(tmp_path, sample())
    proc = subprocess.run([sys.executable, "-m", "flask", "--app", "app", "import", path],
                          env=subprocess_env, capture_output=True, text=True, timeout=120,
                          cwd=str(__import__("pathlib").Path(__file__).parent.parent))
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Imported ")  # no progress bar off a tty
    bad = write(tmp_path, [usage("ghost@y.nl")], "bad.jsonl")
    proc = subprocess.run([sys.executable, "-m", "flask", "--app", "app", "import", bad],
                          env=subprocess_env, capture_output=True, text=True, timeout=120,
                          cwd=str(__import__("pathlib").Path(__file__).parent.parent))
    assert proc.returncode == 1
    assert "line 1: customer ghost@y.nl is neither" in proc.stderr and proc.stdout == ""


def test_a_progress_bar_is_shown_on_a_terminal(runner, tmp_path, monkeypatch):
    import portal.cli.database_commands as commands
    monkeypatch.setattr(commands, "_on_terminal", lambda: True)
    result = runner.invoke(args=["import", write(tmp_path, sample())])
    assert result.exit_code == 0, result.output
    assert "Validating" in result.stdout and "Importing" in result.stdout
    assert User.select().count() == 2
