"""Issue 11 (hardening), `flask --app app import`: lines that used to end in a Python
traceback get `line N: reason` and nothing is imported; the bulk counters path of the
import moves every counter and rollup exactly as record_usage_rows (the API's path) does."""
import datetime
import json
import pathlib
import random
import subprocess
import sys

import pytest

import models
from models import (ApiUsage, Connection, UsageDaily, UsageDailyUser, UsageHourlyError,
                    UsageMonthly, User, database)
from portal.importer.records import BadLine, parse_time, utc_text
from portal.usage.counters import UsageRecorder, record_usage_rows
from tests.test_import import connection, customer, snapshot, usage

ROOT = pathlib.Path(__file__).parent.parent
DEEP = "[" * 100_000 + "]" * 100_000  # json.loads: RecursionError


def raw_customer(name_json):
    """A customer line with `name` written as raw JSON text (escapes kept as written)."""
    return ('{"type": "customer", "email": "bad@klant.nl", "plan": "free", "name": %s}'
            % name_json)


# (the bad line as it stands in the file, what its `line N:` message must say)
BAD_LINES = [
    (customer("bad@klant.nl", created_at="0001-01-01T00:00:00+14:00"),
     "created_at '0001-01-01T00:00:00+14:00' is outside the years 1 to 9999"),
    (customer("bad@klant.nl", created_at="9999-12-31T23:59:59-14:00"),
     "created_at '9999-12-31T23:59:59-14:00' is outside the years 1 to 9999"),
    (connection("ok@klant.nl", expires="0001-01-01T01:00:00+02:00"),
     "token_expires_at '0001-01-01T01:00:00+02:00' is outside the years 1 to 9999"),
    (raw_customer('"\\ud800"'), "name is not acceptable text"),                 # lone surrogate
    (raw_customer('"Jansen \\udfff B.V."'), "name is not acceptable text"),
    (DEEP, "not valid JSON (nested too deeply)"),
    ('{"type": "customer", "email": "bad@klant.nl", "plan": "free", "name": %s}' % DEEP,
     "not valid JSON (nested too deeply)"),
    (customer("bad@klant.nl", name="Bakkerij\u2028Jansen"), "name is not acceptable text"),
    (customer("bad@klant.nl", name="Bakkerij\u202eJansen"), "name is not acceptable text"),
    (customer("bad@klant.nl", name="Bakkerij\u0085Jansen"), "name is not acceptable text"),
    (raw_customer('"Bakkerij\\u2029Jansen"'), "name is not acceptable text"),
    (customer("bad\u0085x@klant.nl"), "email is not acceptable text"),
    (usage("ok@klant.nl", endpoint="tools/call\u2028get_invoices"),
     "endpoint is not acceptable text"),
    (connection("ok@klant.nl", access="token\u0085part"), "access_token is not acceptable text"),
    (connection("ok@klant.nl", last_error="invalid_grant\u2028retry"),
     "last_error is not acceptable text"),
    (customer("bad@klant.nl", plan=["free"]), 'plan ["free"] is not one of'),      # unhashable
    (connection("ok@klant.nl", status={"a": 1}), 'status {"a": 1} is not one of'),
]
GOOD = [customer("ok@klant.nl"), connection("ok@klant.nl"), usage("ok@klant.nl")]


def write(tmp_path, records, name="export.jsonl"):
    path = tmp_path / name
    # ensure_ascii=False: U+2028 and U+0085 stand in the file as the characters themselves
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r, ensure_ascii=False))
                            + "\n" for r in records), encoding="utf-8")
    return str(path)


def nothing_imported():
    return (User.select().count(), Connection.select().count(), ApiUsage.select().count(),
            UsageMonthly.select().count(), UsageDailyUser.select().count()) == (0, 0, 0, 0, 0)


@pytest.mark.parametrize("bad, reason", BAD_LINES, ids=[r for _, r in BAD_LINES])
def test_a_bad_line_gives_its_number_and_reason_and_nothing_is_imported(runner, tmp_path,
                                                                        bad, reason):
    result = runner.invoke(args=["import", write(tmp_path, GOOD + [bad])])
    # sys.exit(1) from the command, not an exception escaping it (a traceback)
    assert isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == 1
    errors = result.stderr.splitlines()
    assert any(line.startswith("line 4: ") and reason in line for line in errors), errors
    assert "1 bad line(s)" in result.stderr and "nothing was imported" in result.stderr
    assert nothing_imported()


def test_a_bad_line_leaves_a_database_with_data_unchanged(runner, tmp_path):
    assert runner.invoke(args=["import", write(tmp_path, GOOD)]).exit_code == 0
    before = snapshot()
    records = GOOD + [usage("ok@klant.nl", "2026-01-06T08:00:00Z")] + [b for b, _ in BAD_LINES]
    result = runner.invoke(args=["import", write(tmp_path, records, "second.jsonl")])
    assert isinstance(result.exception, SystemExit) and result.exit_code == 1
    assert "%d bad line(s)" % len(BAD_LINES) in result.stderr
    assert snapshot() == before


def test_the_real_command_reports_every_bad_line_without_a_traceback(subprocess_env, tmp_path):
    path = write(tmp_path, GOOD + [bad for bad, _ in BAD_LINES])
    proc = subprocess.run([sys.executable, "-m", "flask", "--app", "app", "import", path],
                          env=subprocess_env, capture_output=True, text=True, timeout=120,
                          cwd=str(ROOT))
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    lines = proc.stderr.splitlines()
    for offset, (_, reason) in enumerate(BAD_LINES):
        number = len(GOOD) + offset + 1
        assert any(line.startswith("line %d: " % number) and reason in line
                   for line in lines), (number, reason, lines)
    assert "%d bad line(s)" % len(BAD_LINES) in proc.stderr


def test_tabs_and_line_breaks_stay_allowed_in_last_error(app, tmp_path):
    from portal.importer.service import import_file
    from tests.conftest import TEST_TOKEN_KEY
    import_file(write(tmp_path, [customer("ok@klant.nl"),
                                 connection("ok@klant.nl", last_error="invalid_grant:\n\tgone")]),
                TEST_TOKEN_KEY)
    assert Connection.get().last_error == "invalid_grant:\n\tgone"


@pytest.mark.parametrize("value", [
    "2026-01-02T03:04:05Z", "2026-01-02T03:04:05z", "2026-01-02T03:04:05.5Z",
    "2026-01-02T03:04:05+01:00", "2026-01-02 03:04:05Z", "2026-01-02T03:04Z",
    "20260102T030405Z", "2026-01-02T03:04:05 Z", " 2026-01-02T03:04:05Z ",
    "0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "2024-02-29T12:00:00Z",
    "2026-02-29T12:00:00Z", "2026-13-01T00:00:00Z", "2026-01-02T24:00:00Z",
    "2026-01-02T03:04:60Z", "2026-01-02T03:04:05", "2026-01-02Z", "2026-01-02T0304:05.Z",
    "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00",
])
def test_the_fast_utc_text_is_the_text_of_parse_time(value):
    """The import keeps timestamps as naive-UTC text; its shortcut for the usual
    "...Z" form must agree with parse_time on every input, bad ones included."""
    try:
        expected = str(parse_time(value, "timestamp"))
    except BadLine as exc:
        with pytest.raises(BadLine) as info:
            utc_text(value)
        assert str(info.value) == str(exc)
    else:
        assert utc_text(value) == expected


def _usage_tables():
    def rows(model, *order):
        return [tuple(r) for r in model.select(*[f for f in model._meta.sorted_fields
                                                 if f.name != "id"]).tuples()]
    return {m.__name__: sorted(rows(m), key=repr)
            for m in (ApiUsage, UsageMonthly, UsageDaily, UsageDailyUser, UsageHourlyError,
                      models.UsageDailyActive)} | {
        "last_active": sorted(User.select(User.id, User.last_active_at).tuples())}


def _random_rows(users, count, seed):
    rng = random.Random(seed)
    start = datetime.datetime(2026, 1, 30, 22, 0, 0)
    rows = []
    for _ in range(count):
        ts = start + datetime.timedelta(seconds=rng.randrange(4 * 86400),
                                        microseconds=rng.choice((0, 0, 0, 250000)))
        rows.append(dict(user=rng.choice(users), timestamp=ts,
                         endpoint=rng.choice(("tools/call get_invoices", "tools/list")),
                         response_status=rng.choice((200, 200, 200, 201, 302, 401, 404, 500)),
                         duration_ms=rng.choice((None, 12))))
    return rows


@pytest.mark.parametrize("in_time_order", [True, False])
def test_the_bulk_recorder_moves_counters_exactly_as_record_usage_rows(app, in_time_order):
    users = [User.create(email="u%d@klant.nl" % n, plan="pro").id for n in range(4)]
    # Rollups that exist already: days, months and (day, customer) pairs the rows hit again.
    record_usage_rows(_random_rows(users[:2], 30, seed=1))
    rows = _random_rows(users, 400, seed=2)
    if in_time_order:
        rows.sort(key=lambda r: r["timestamp"])

    with database.atomic() as txn:
        for i in range(0, len(rows), 37):
            record_usage_rows(rows[i:i + 37])
        expected = _usage_tables()
        txn.rollback()
    with database.atomic() as txn:
        recorder = UsageRecorder(max_keys=25)  # several applies along the way
        for i in range(0, len(rows), 37):
            recorder.add([(r["user"], str(r["timestamp"]), r["endpoint"], r["response_status"],
                           r["duration_ms"]) for r in rows[i:i + 37]])
        assert recorder.finish() == len(rows)
        actual = _usage_tables()
        txn.rollback()
    assert actual == expected
    assert len(expected["UsageDailyActive"]) >= 4 and expected["UsageHourlyError"]


def _usage_line_variants(count, seed):
    """Usage lines, most valid, some bad in one of many ways, as an export could hold."""
    rng = random.Random(seed)
    values = {
        "email": ["a@klant.nl", "A@Klant.NL", " b@klant.nl ", "geen-email", "", 5, None,
                  "é@klant.nl", "x\u2028y@klant.nl"],
        "timestamp": ["2026-01-02T03:04:05Z", "2026-01-02T03:04:05.25Z", "2026-02-30T00:00:00Z",
                      "2026-01-02T03:04:05+01:00", "2026-01-02T03:04:05", "2026-01-02 03:04:05Z",
                      "2026-W01-2T03:04:05Z", "2026-01-02T030405.1Z", 1767225600, None],
        "endpoint": ["tools/call get_invoices", " tools/list ", "", "x" * 300, 7, "a\u0085b"],
        "response_status": [200, 404, 599, 600, 99, True, 200.0, "200", None],
        "duration_ms": [None, 0, 15, -1, 2**31, False, "5"],
    }
    for _ in range(count):
        obj = {"type": "api_usage"}
        for key, choices in values.items():
            value = rng.choice(choices) if rng.random() < 0.3 else choices[0]
            if value is not None or key == "duration_ms" and rng.random() < 0.5:
                obj[key] = value
        line = json.dumps(obj, ensure_ascii=rng.random() < 0.5)
        line += rng.choice(["\n", "\n", "", "\r\n", " \n", "x\n"])
        yield line.encode("utf-8")


def test_the_import_parser_agrees_with_parse_line_on_usage_lines():
    """The import's shortcut for the usual usage line must give what parse_line gives
    (its timestamp as utc text), and for a bad line the same reason."""
    from portal.importer.records import parse_line, parse_line_for_import

    def outcome(parse, raw):
        try:
            return parse(raw)
        except BadLine as exc:
            return "bad: %s" % exc
    for raw in _usage_line_variants(3000, seed=11):
        expected = outcome(parse_line, raw)
        if not isinstance(expected, str):
            kind, rec = expected
            expected = (kind, (rec.email, str(rec.timestamp), rec.endpoint, rec.response_status,
                               rec.duration_ms))
        assert outcome(parse_line_for_import, raw) == expected, raw
