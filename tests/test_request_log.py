"""The request log: filters, keyset pagination that never skips or repeats a row,
streamed CSV export, and that every filter has an index (EXPLAIN)."""
import csv
import datetime
import html
import io
import re

import pytest

from models import ApiUsage, User, database
from models.db import is_postgres
from portal.core.pagination import BadCursor
from portal.usage import request_log
from portal.usage.request_log import LogFilter
from portal.usage.counters import record_usage_rows

T0 = datetime.datetime(2026, 5, 10, 12, 0, 0)
ENDPOINTS = ["tools/call get_invoices", "tools/list", "=HYPERLINK(\"x\")"]
STATUSES = [200, 201, 302, 404, 429, 500]


@pytest.fixture
def usage(app):
    """~150 rows for two customers; many share a timestamp exactly."""
    a = User.create(email="anna@example.com", plan="pro")
    b = User.create(email="bert@example.com", plan="starter")
    rows = []
    for i in range(150):
        # Only 6 distinct timestamps across 3 days: page boundaries fall inside ties.
        ts = T0 + datetime.timedelta(days=(i // 2) % 3, seconds=(i % 2))
        rows.append(dict(user=(a if i % 4 else b).id, timestamp=ts,
                         endpoint=ENDPOINTS[i % 3], response_status=STATUSES[(i // 3) % 6],
                         duration_ms=i))
    # Insert in shuffled order so id order differs from time order.
    rows = rows[::2] + rows[1::2]
    record_usage_rows(rows)
    return a, b


def expected_ids(pred):
    rows = [r for r in ApiUsage.select() if pred(r)]
    rows.sort(key=lambda r: (r.timestamp, r.id), reverse=True)
    return [r.id for r in rows]


def _filters(a):
    day2 = T0 + datetime.timedelta(days=1)
    return [
        (LogFilter(), lambda r: True),
        (LogFilter(user_id=a.id), lambda r: r.user_id == a.id),
        (LogFilter(endpoint="tools/list"), lambda r: r.endpoint == "tools/list"),
        (LogFilter(status_class=4), lambda r: 400 <= r.response_status < 500),
        (LogFilter(start=day2, end=day2 + datetime.timedelta(days=1)),
         lambda r: r.timestamp.date() == day2.date()),
        (LogFilter(user_id=a.id, status_class=5, endpoint="tools/call get_invoices"),
         lambda r: r.user_id == a.id and r.response_status >= 500
         and r.endpoint == "tools/call get_invoices"),
    ]


@pytest.mark.parametrize("page_size", [1, 7, 50])
def test_keyset_pages_never_skip_or_repeat(usage, page_size):
    a, _ = usage
    for log_filter, pred in _filters(a):
        want = expected_ids(pred)
        assert want, log_filter
        seen, pages, cursor = [], [], None
        while True:
            page = request_log.fetch_page(log_filter, before=cursor, page_size=page_size)
            pages.append(page)
            seen.extend(r["id"] for r in page.rows)
            if not page.older:
                break
            cursor = page.older
        assert seen == want, log_filter
        # And back again with the "newer" links from the last page.
        back, page = [r["id"] for r in pages[-1].rows], pages[-1]
        while page.newer:
            page = request_log.fetch_page(log_filter, after=page.newer, page_size=page_size)
            back = [r["id"] for r in page.rows] + back
        assert back == want, log_filter
        assert pages[0].newer is None


def test_bad_cursor_is_refused(usage):
    with pytest.raises(BadCursor):
        request_log.fetch_page(LogFilter(), before="not-a-cursor")


def _links(body, rel):
    m = re.search(r'rel="%s" href="([^"]+)"' % rel, body)
    return html.unescape(m.group(1)) if m else None


def test_pages_over_http_keep_filters(usage, support_client, monkeypatch):
    a, _ = usage
    monkeypatch.setattr(request_log, "PAGE_SIZE", 10)
    url = "/usage/requests?customer=ANNA@example.com&status=4xx"
    want = expected_ids(lambda r: r.user_id == a.id and 400 <= r.response_status < 500)
    seen = []
    while url:
        r = support_client.get(url)
        assert r.status_code == 200
        body = r.get_data(as_text=True)
        seen += [int(x) for x in re.findall(r'<td class="num">(\d+)</td>\s*</tr>', body)]
        url = _links(body, "next")
        if url:
            assert "customer=ANNA%40example.com" in url and "status=4xx" in url
    assert seen == want
    assert len(want) > 10  # really several pages


def test_filters_validate_and_explain(usage, support_client):
    assert support_client.get("/usage/requests?status=9xx").status_code == 400
    assert support_client.get("/usage/requests?date_from=2026-05-12&date_to=2026-05-10"
                              ).status_code == 400
    r = support_client.get("/usage/requests?endpoint=a%00b")
    assert r.status_code == 400 and b"control characters" in r.data
    r = support_client.get("/usage/requests?customer=nobody@example.com")
    assert r.status_code == 200
    assert b"No customer has the email nobody@example.com" in r.data
    assert b"No API calls match" in r.data
    r = support_client.get("/usage/requests?before=garbage")
    assert r.status_code == 200 and b"no longer valid" in r.data


def test_request_log_needs_login(client, usage):
    r = client.get("/usage/requests")
    assert r.status_code == 302 and "/login" in r.headers["Location"]


def test_csv_export_streams_filtered_rows(usage, support_client, monkeypatch):
    a, _ = usage
    monkeypatch.setattr(request_log, "EXPORT_BATCH", 7)  # several keyset batches
    r = support_client.get("/usage/requests.csv?customer=anna@example.com&date_from=2026-05-10"
                           "&date_to=2026-05-11")
    assert r.status_code == 200
    assert r.mimetype == "text/csv"
    assert r.is_streamed
    rows = list(csv.DictReader(io.StringIO(r.get_data(as_text=True))))
    want = expected_ids(lambda r: r.user_id == a.id and r.timestamp.date() <= datetime.date(
        2026, 5, 11))
    assert [int(x["id"]) for x in rows] == want
    assert {x["email"] for x in rows} == {"anna@example.com"}
    # A customer-supplied endpoint that looks like a formula is neutralised.
    assert all(not x["endpoint"].startswith("=") for x in rows)
    assert any(x["endpoint"].startswith("'=HYPERLINK") for x in rows)


def _plan(query):
    sql, params = query.sql()
    if is_postgres():
        # With tiny test tables PostgreSQL rightly prefers a scan and a sort;
        # turning those off shows whether an index-ordered plan exists at all
        # (bench/bench_usage.py shows the planner choosing it at 5M rows).
        switches = ("enable_seqscan", "enable_sort", "enable_bitmapscan")
        for s in switches:
            database.execute_sql("SET %s = off" % s)
        try:
            return "\n".join(r[0] for r in database.execute_sql("EXPLAIN " + sql, params))
        finally:
            for s in switches:
                database.execute_sql("SET %s = on" % s)
    return "\n".join(str(r[-1]) for r in database.execute_sql("EXPLAIN QUERY PLAN " + sql, params))


@pytest.mark.parametrize("name,log_filter,index", [
    ("none", LogFilter(), "idx_api_usage_time_id"),
    ("customer", LogFilter(user_id=1), "idx_api_usage_user_month"),
    ("endpoint", LogFilter(endpoint="tools/list"), "idx_api_usage_endpoint_time"),
    ("status", LogFilter(status_class=5), "idx_api_usage_class_time"),
    ("endpoint+dates", LogFilter(endpoint="tools/list", start=T0, end=T0), "idx_api_usage_endpoint_time"),
    ("status+dates", LogFilter(status_class=4, start=T0, end=T0), "idx_api_usage_class_time"),
])
def test_every_filter_has_an_index_for_a_deep_page(app, name, log_filter, index):
    """A deep page is an index range read in (timestamp, id) order: no full sort."""
    q = request_log._newest_first(request_log.filtered(log_filter).where(
        request_log._older_than((T0, 10**9))), log_filter).limit(51)
    plan = _plan(q)
    assert index in plan, plan
    if is_postgres():
        assert not re.search(r"(?m)^\s*(->\s+)?Sort\s+\(", plan), plan  # Incremental Sort is fine
        assert "Seq Scan" not in plan, plan
    else:
        assert "TEMP B-TREE" not in plan, plan


def test_a_big_customer_who_stopped_calling_is_read_on_her_own_index(app):
    """Issue 11: PostgreSQL read a customer holding a large share of the rows on
    idx_api_usage_time_id with a filter, betting her rows were spread over time. For a
    customer who stopped calling months ago that reads everybody's newer rows first.
    Her pages must come from idx_api_usage_user_month, with the planner left alone."""
    old_timer = User.create(email="old-timer@example.com", plan="enterprise")
    others = [User.create(email="busy%d@example.com" % i, plan="pro") for i in range(20)]
    # In time order, as a live system writes them: her calls first, then everybody's.
    started = T0 - datetime.timedelta(days=120)
    rows = [dict(user=old_timer.id, timestamp=started + datetime.timedelta(seconds=i),
                 endpoint="tools/list", response_status=200) for i in range(12000)]
    rows += [dict(user=others[i % 20].id, timestamp=T0 + datetime.timedelta(seconds=i),
                  endpoint="tools/list", response_status=200) for i in range(18000)]
    with database.atomic():
        for start in range(0, len(rows), 2000):
            ApiUsage.insert_many(rows[start:start + 2000]).execute()
    if is_postgres():
        # SQLite plans this without statistics (it always reads a customer on her
        # index); its sqlite_stat1 would outlive the test and change other plans.
        database.execute_sql("ANALYZE api_usage")

    log_filter = LogFilter(user_id=old_timer.id)
    q = request_log._newest_first(request_log.filtered(log_filter), log_filter).limit(51)
    sql, params = q.sql()
    if is_postgres():
        plan = "\n".join(r[0] for r in database.execute_sql("EXPLAIN " + sql, params))
    else:
        plan = "\n".join(str(r[-1]) for r in database.execute_sql("EXPLAIN QUERY PLAN " + sql,
                                                                    params))
    assert "idx_api_usage_user_month" in plan, plan
    page = request_log.fetch_page(log_filter, page_size=50)
    assert [r["timestamp"] for r in page.rows] == [
        started + datetime.timedelta(seconds=11999 - i) for i in range(50)]
    assert {r["user_id"] for r in page.rows} == {old_timer.id}
