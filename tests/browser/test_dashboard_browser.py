"""The dashboard in a real browser (Debian chromium via Playwright): the chart renders."""
import datetime
import os

from models import User, utcnow
from portal.usage.counters import record_usage_rows
from tests.conftest import SUPPORT_EMAIL, browser_login


def test_dashboard_chart_renders(support, live_server, page, artifacts_dir):
    now = utcnow()
    u = User.create(email="heavy@example.com", plan="pro")
    rows = []
    for days_ago in range(0, 30, 2):
        ts = now - datetime.timedelta(days=days_ago, minutes=1)
        for status, n in ((200, 20 + days_ago), (404, 4), (500, days_ago % 5)):
            rows += [dict(user=u.id, timestamp=ts, endpoint="tools/call get_invoices",
                          response_status=status)] * n
    record_usage_rows(rows)

    browser_login(page, live_server, SUPPORT_EMAIL)
    page.wait_for_url(live_server + "/")
    page.goto(live_server + "/?days=30")
    chart = page.locator("#requests-chart")
    chart.wait_for(state="visible")
    box = chart.bounding_box()
    assert box and box["width"] > 300 and box["height"] > 80
    # Every non-empty (day, status class) became a bar with a real size on screen.
    bars = page.locator("#requests-chart rect.bar")
    assert bars.count() == 15 * 2 + len([d for d in range(0, 30, 2) if d % 5])
    sizes = page.eval_on_selector_all(
        "#requests-chart rect.bar", "els => els.map(e => e.getBBox().height)")
    assert min(sizes) > 0 and max(sizes) > 50
    # Colours come from the stylesheet (CSP-safe classes), so the bars are drawn in colour.
    fill = page.eval_on_selector("#requests-chart rect.c2", "e => getComputedStyle(e).fill")
    assert fill.replace(" ", "") == "rgb(46,139,87)"
    assert page.locator("#active-chart circle.dot").count() == 30
    path = os.path.join(artifacts_dir, "dashboard.png")
    page.screenshot(path=path, full_page=True)
    assert os.path.getsize(path) > 10_000
