"""The customer list (search, filters, sorts, keyset pages, CSV) and the detail page."""
import csv
import datetime
import io
import random
import re
from urllib.parse import parse_qs, urlsplit

import pytest

from models import (ApiUsage, Connection, OutreachCampaign, OutreachCooldown, OutreachLog,
                    UsageMonthly, User)
from portal.customers import api_keys, listing as customer_list
from portal.customers.listing import CustomerFilters, customer_page
from portal.usage.counters import record_usage_rows

NOW = datetime.datetime(2026, 3, 15, 10, 0, 0)
MONTH = datetime.date(2026, 3, 1)


def ids(page):
    return [u.id for u in page.rows]


# --- keyset pagination -------------------------------------------------------------

def build_tied_customers(seed, n=23):
    """Customers whose sort values repeat a lot (ties) and are sometimes missing."""
    rng = random.Random(seed)
    signups = [datetime.datetime(2025, 1, d) for d in (1, 2, 3)]
    actives = [None, datetime.datetime(2026, 3, 1), datetime.datetime(2026, 3, 2),
               datetime.datetime(2026, 3, 3)]
    users = []
    for i in range(n):
        u = User.create(email="c%02d-%d@example.nl" % (i, seed), plan=rng.choice(["free", "pro"]),
                        created_at=rng.choice(signups), last_active_at=rng.choice(actives))
        calls = rng.choice([None, 0, 1, 2, 2])
        if calls is not None:
            UsageMonthly.create(user=u, month=MONTH, calls=calls)
        # last month's usage must not count
        UsageMonthly.create(user=u, month=datetime.date(2026, 2, 1), calls=rng.randint(1, 9))
        users.append((u, calls or 0))
    return users


def expected_order(users, sort, direction, plan=None):
    rows = [(u, c) for u, c in users if plan is None or u.plan == plan]
    desc = direction == "desc"

    def split(value_of):
        having = sorted([(value_of(u, c), u.id) for u, c in rows if value_of(u, c)],
                        reverse=desc)
        missing = sorted([u.id for u, c in rows if not value_of(u, c)], reverse=desc)
        return [i for _, i in having] + missing

    if sort == "signup":
        return [i for _, i in sorted([(u.created_at, u.id) for u, _ in rows], reverse=desc)]
    if sort == "activity":
        return split(lambda u, c: u.last_active_at)
    return split(lambda u, c: c)


@pytest.mark.parametrize("seed", [1, 2])
def test_keyset_never_skips_or_repeats_for_every_sort_direction_and_filter(app, seed):
    users = build_tied_customers(seed)
    for sort in customer_list.SORTS:
        for direction in customer_list.DIRECTIONS:
            for plan in (None, "pro"):
                filters = CustomerFilters(sort=sort, direction=direction, plan=plan or "")
                want = expected_order(users, sort, direction, plan)
                for limit in (1, 4, 7):
                    # forwards through every page
                    pages, cursor = [], None
                    while True:
                        page = customer_page(filters, after=cursor, limit=limit, now=NOW)
                        pages.append(page)
                        assert len(page.rows) <= limit
                        if not page.next_cursor:
                            break
                        cursor = page.next_cursor
                    seen = [i for p in pages for i in ids(p)]
                    assert seen == want, (sort, direction, plan, limit)
                    # and backwards from the last page, page by page
                    back = [ids(pages[-1])]
                    page = pages[-1]
                    while page.prev_cursor:
                        page = customer_page(filters, before=page.prev_cursor, limit=limit,
                                             now=NOW)
                        back.append(ids(page))
                    # Backward pages are full pages; only the first one can overlap the
                    # next (it is topped up to a full first page), never skip a row.
                    assert back[-1] == want[:limit]
                    merged = []
                    for p in reversed(back):
                        merged += [i for i in p if i not in merged]
                    assert merged == want, (sort, direction, plan, limit)


def test_prev_of_a_short_walk_back_returns_a_full_first_page(app):
    users = build_tied_customers(7, n=10)
    filters = CustomerFilters(sort="usage")
    want = expected_order(users, "usage", "desc")
    p1 = customer_page(filters, limit=4, now=NOW)
    p2 = customer_page(filters, after=p1.next_cursor, limit=4, now=NOW)
    back = customer_page(filters, before=p2.prev_cursor, limit=4, now=NOW)
    assert ids(back) == want[:4] and back.prev_cursor is None


def test_bad_cursors_raise_and_the_page_falls_back_to_page_one(admin_client):
    for cursor in ["garbage", "W10", "WzAsIjIwMjUiLCJ4Il0", "WzUsMSwxXQ", "WzAsInllcyIsMV0"]:
        for sort in customer_list.SORTS:
            with pytest.raises(customer_list.BadCursor):
                customer_page(CustomerFilters(sort=sort), after=cursor, now=NOW)
        r = admin_client.get("/customers/?sort=usage&plan=pro&after=" + cursor)
        assert r.status_code == 302
        assert parse_qs(urlsplit(r.headers["Location"]).query) == {"sort": ["usage"],
                                                                   "plan": ["pro"]}


def test_page_links_keep_the_other_query_args(admin_client, monkeypatch):
    monkeypatch.setattr(customer_list, "PAGE_SIZE", 3)
    now = datetime.datetime.utcnow()
    for i in range(8):
        User.create(email="p%d@example.nl" % i, plan="pro",
                    created_at=now - datetime.timedelta(days=i))
    User.create(email="free@example.nl", plan="free")
    r = admin_client.get("/customers/?plan=pro&sort=signup&dir=asc&q=p")
    html = r.get_data(as_text=True)
    nxt = re.search(r'href="([^"]+)" rel="next"', html).group(1).replace("&amp;", "&")
    args = parse_qs(urlsplit(nxt).query)
    assert args["plan"] == ["pro"] and args["dir"] == ["asc"] and args["q"] == ["p"]
    assert "after" in args and "offset" not in args and "page" not in args
    seen = re.findall(r"p\d@example\.nl", html)
    while nxt:
        page = admin_client.get(nxt).get_data(as_text=True)
        seen += re.findall(r"p\d@example\.nl", page)
        m = re.search(r'href="([^"]+)" rel="next"', page)
        nxt = m.group(1).replace("&amp;", "&") if m else None
        if nxt is None:
            prev = re.search(r'href="([^"]+)" rel="prev"', page).group(1).replace("&amp;", "&")
            assert parse_qs(urlsplit(prev).query)["plan"] == ["pro"]
    assert seen == ["p%d@example.nl" % i for i in range(7, -1, -1)]


# --- search and filters ---------------------------------------------------------------

def test_search_is_a_case_insensitive_prefix_on_email_or_name(app):
    User.create(email="anna.b@example.nl", name="Bakker")
    User.create(email="anneke@example.nl", name="Anneke")
    User.create(email="zz@example.nl", name="Annabel Zee")
    User.create(email="joanna@example.nl", name="Joanna")  # 'ann' inside, not a prefix
    User.create(email="anna_x@example.nl")
    User.create(email="annabx@example.nl")

    def emails(q):
        page = customer_page(CustomerFilters(q=q, sort="signup", direction="asc"), now=NOW)
        return sorted(u.email for u in page.rows)

    assert emails("ANN") == ["anna.b@example.nl", "anna_x@example.nl", "annabx@example.nl",
                             "anneke@example.nl", "zz@example.nl"]
    assert emails("anna_") == ["anna_x@example.nl"]  # '_' is not a wildcard
    assert emails("%") == []
    assert emails("annabel") == ["zz@example.nl"]
    assert emails("bakker") == ["anna.b@example.nl"]


def test_filters_by_plan_and_connection_status(app):
    a = User.create(email="a@example.nl", plan="starter")
    b = User.create(email="b@example.nl", plan="pro")
    User.create(email="c@example.nl", plan="starter")  # no connection at all
    Connection.create(user=a, division=1, status="active")
    Connection.create(user=a, division=2, status="refresh_failed")
    Connection.create(user=b, division=1, status="retry_pending")

    def found(**kw):
        return sorted(u.email[0] for u in customer_page(CustomerFilters(**kw), now=NOW).rows)

    assert found(plan="starter") == ["a", "c"]
    assert found(connection="refresh_failed") == ["a"]
    assert found(connection="active", plan="pro") == []
    assert found(connection="retry_pending") == ["b"]
    assert found(connection="none") == ["c"]
    assert CustomerFilters.from_args({"plan": "gold", "connection": "x", "sort": "y",
                                      "dir": "sideways"}) == CustomerFilters()


def test_errors_in_the_last_24_hours_filter(app):
    recent = User.create(email="recent@example.nl")
    stale = User.create(email="stale@example.nl")
    fine = User.create(email="fine@example.nl")
    record_usage_rows([
        dict(user=recent.id, timestamp=NOW - datetime.timedelta(hours=2), endpoint="x",
             response_status=500),
        # yesterday (so in the daily rollup) but 30 hours ago: not in the last 24 h
        dict(user=stale.id, timestamp=NOW - datetime.timedelta(hours=30), endpoint="x",
             response_status=401),
        dict(user=stale.id, timestamp=NOW - datetime.timedelta(hours=1), endpoint="x",
             response_status=200),
        dict(user=fine.id, timestamp=NOW - datetime.timedelta(hours=1), endpoint="x",
             response_status=200),
    ])
    page = customer_page(CustomerFilters(errors=True), now=NOW)
    assert [u.email for u in page.rows] == ["recent@example.nl"]


def test_list_page_renders_filters_and_values(admin_client):
    now = datetime.datetime.utcnow()
    u = User.create(email="<b>x</b>@example.nl", name="Eve <script>", plan="starter")
    Connection.create(user=u, division=5, status="retry_pending")
    record_usage_rows([dict(user=u.id, timestamp=now, endpoint="e", response_status=200)] * 3)
    r = admin_client.get("/customers/?plan=starter")
    html = r.get_data(as_text=True)
    assert r.status_code == 200
    assert "&lt;b&gt;x&lt;/b&gt;@example.nl" in html and "<script>" not in html.split("</head>")[1]
    assert "retry pending" in html and ">3<" in html
    assert 'value="starter" selected' in html
    assert ' style="' not in html


# --- CSV export -----------------------------------------------------------------------

def test_csv_export_streams_the_filtered_list_in_order(admin_client, monkeypatch):
    now = datetime.datetime.utcnow()
    for i in range(7):
        User.create(email="x%d@example.nl" % i, plan="pro" if i % 2 else "free",
                    name="=HYPERLINK(\"evil\")" if i == 1 else "N%d" % i,
                    created_at=now - datetime.timedelta(days=i))
    original = customer_list.iter_customers
    monkeypatch.setattr(customer_list, "iter_customers",
                        lambda f, now=None: original(f, batch_size=2, now=now))
    r = admin_client.get("/customers/export.csv?plan=pro&sort=signup&dir=asc")
    assert r.status_code == 200 and r.mimetype == "text/csv"
    assert r.is_streamed
    assert "attachment" in r.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(r.get_data(as_text=True))))
    assert rows[0] == customer_list.CSV_HEADER
    assert [row[1] for row in rows[1:]] == ["x5@example.nl", "x3@example.nl", "x1@example.nl"]
    assert rows[3][2] == "'=HYPERLINK(\"evil\")"  # no formula injection
    assert all(row[3] == "pro" for row in rows[1:])


def test_support_can_read_list_detail_and_export(support_client):
    u = User.create(email="s@example.nl")
    assert support_client.get("/customers/").status_code == 200
    assert support_client.get("/customers/%d" % u.id).status_code == 200
    assert support_client.get("/customers/export.csv").status_code == 200


def test_anonymous_is_sent_to_login(client):
    r = client.get("/customers/")
    assert r.status_code == 302 and "/login" in r.headers["Location"]


# --- the detail page ------------------------------------------------------------------

def test_detail_page_shows_everything_support_needs(app, admin_client):
    now = datetime.datetime.utcnow()
    u = User.create(email="d@example.nl", name="Dirk", plan="starter")
    conn = Connection.create(user=u, division=4242, status="refresh_failed",
                             last_error="Old refresh token used.")
    key, plaintext = api_keys.create_api_key(u, "desktop")
    rows = []
    for day in range(40):
        ts = now - datetime.timedelta(days=day, minutes=5)
        rows.append(dict(user=u.id, timestamp=ts, endpoint="tools/call e%d" % day,
                         response_status=500 if day % 3 == 0 else 200))
    record_usage_rows(rows)
    campaign = OutreachCampaign.create(name="Reconnect", trigger="connection_failed")
    OutreachLog.create(user=u, campaign=campaign, status="sent", subject="Please reconnect")
    OutreachCooldown.create(user=u, campaign=campaign, until=now + datetime.timedelta(days=3))

    r = admin_client.get("/customers/%d" % u.id)
    html = r.get_data(as_text=True)
    assert r.status_code == 200
    assert "4242" in html and "Old refresh token used." in html
    if "connections.detail" in app.view_functions:
        assert "/connections/%d" % conn.id in html
    assert key.prefix in html and plaintext not in html and "desktop" in html
    this_month = sum(1 for x in rows if x["timestamp"].month == now.month
                     and x["timestamp"].year == now.year)
    assert "{:,}".format(this_month) in html and "10,000" in html
    assert html.count('class="day"') == 30 and 'class="bar"' in html
    assert "Reconnect" in html and "Please reconnect" in html and "until" in html
    assert ' style="' not in html and "<script>" not in html.split("</head>")[1]
    if "templates_admin.compose_reply" in app.view_functions:
        assert "Reply with a template" in html
    # latest errors: newest first, only status >= 400, at most 20
    errors = re.findall(r"tools/call e(\d+)</td>\s*<td class=\"num\">500", html)
    assert [int(e) for e in errors] == [d for d in range(40) if d % 3 == 0][:20]


def test_latest_errors_are_newest_first_and_limited(app):
    from portal.customers.service import latest_errors
    u = User.create(email="e@example.nl")
    base = datetime.datetime(2026, 3, 10)
    rows = [dict(user=u.id, timestamp=base + datetime.timedelta(hours=h), endpoint="e%d" % h,
                 response_status=404 if h % 2 else 200) for h in range(60)]
    record_usage_rows(rows)
    found = latest_errors(u.id)
    assert [r.endpoint for r in found] == ["e%d" % h for h in range(59, 0, -2)][:20]
    assert all(r.response_status >= 400 for r in found)
    assert ApiUsage.select().count() == 60


def test_unknown_customer_is_404(admin_client):
    assert admin_client.get("/customers/999999").status_code == 404
