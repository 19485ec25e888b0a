"""Issue 11: no page of the portal is cut off or scrolls sideways at laptop widths.

Debian's chromium via Playwright, with long but realistic customer emails
and endpoint names, the data that widened the dashboard's tables.
"""
import datetime

from models import User, utcnow
from portal.usage.counters import record_usage_rows
from tests.conftest import ADMIN_EMAIL, browser_login

LONG_EMAIL = "accounts-payable.department@a-rather-long-company-name-holding.example.nl"
LONG_ENDPOINT = "tools/call get_sales_invoices_with_outstanding_amounts_by_division"

# Every element that sticks out of its card, or the page wider than the window.
OVERFLOW_JS = """() => {
  const problems = [];
  const doc = document.documentElement;
  if (doc.scrollWidth > window.innerWidth)
    problems.push('page ' + doc.scrollWidth + ' > ' + window.innerWidth);
  for (const card of document.querySelectorAll('.card, .tile')) {
    const box = card.getBoundingClientRect();
    for (const el of card.querySelectorAll('th, td, a, span, strong, small, h2, p, button')) {
      const r = el.getBoundingClientRect();
      if (r.width && r.right > box.right + 1)
        problems.push((card.querySelector('h2') || card).textContent.trim().slice(0, 40)
                      + ': ' + el.tagName + ' "' + el.textContent.trim().slice(0, 30)
                      + '" ends at ' + Math.round(r.right) + ' > ' + Math.round(box.right));
    }
  }
  return problems.slice(0, 10);
}"""


def seed():
    now = utcnow()
    rows = []
    for i in range(6):
        u = User.create(email=("%d." % i) + LONG_EMAIL, plan="enterprise")
        ts = now - datetime.timedelta(hours=i + 1)
        for j, endpoint in enumerate((LONG_ENDPOINT + str(i), "tools/call list_divisions")):
            rows += [dict(user=u.id, timestamp=ts, endpoint=endpoint,
                          response_status=200 if j else 500)] * (123_456 // 1000 + i)
    record_usage_rows(rows)
    big = User.create(email="big@" + LONG_EMAIL.split("@")[1], plan="enterprise")
    record_usage_rows([dict(user=big.id, timestamp=now - datetime.timedelta(minutes=5),
                            endpoint=LONG_ENDPOINT, response_status=200)] * 1500)


def test_dashboard_cards_keep_their_numbers_at_1400_px(admin, live_server, page):
    seed()
    page.set_viewport_size({"width": 1400, "height": 900})
    browser_login(page, live_server, ADMIN_EMAIL)
    page.wait_for_url(live_server + "/")
    page.goto(live_server + "/?days=30")
    for title in ("top-customers-title", "top-endpoints-title"):
        card = page.locator("section[aria-labelledby=%s]" % title)
        card.wait_for(state="visible")
        box = card.bounding_box()
        for cell in card.locator("td.num, th.num").all():
            cell_box = cell.bounding_box()
            assert cell_box["x"] + cell_box["width"] <= box["x"] + box["width"] + 1, title
    assert page.evaluate(OVERFLOW_JS) == []


def test_main_pages_do_not_overflow_at_1280_px(admin, live_server, page):
    seed()
    page.set_viewport_size({"width": 1280, "height": 900})
    browser_login(page, live_server, ADMIN_EMAIL)
    page.wait_for_url(live_server + "/")
    links = page.eval_on_selector_all("nav a[href^='/']",
                                      "els => els.map(e => e.getAttribute('href'))")
    pages = [href for href in dict.fromkeys(links) if href != "/logout"]
    assert len(pages) >= 10, pages
    customer = User.get(User.email == "0." + LONG_EMAIL)
    pages += ["/?days=30", "/customers/%d" % customer.id, "/connections/sidecar"]
    problems = {}
    for path in pages:
        response = page.goto(live_server + path)
        assert response.status == 200, path
        found = page.evaluate(OVERFLOW_JS)
        if found:
            problems[path] = found
    assert problems == {}
