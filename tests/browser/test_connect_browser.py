"""Connect → consent → account → create key, in a real browser (Debian chromium)."""
import os

import pytest

from models import ApiKey, Connection, User
from portal.exact.fake import FakeExact


@pytest.fixture
def fake():
    server = FakeExact(mode="strict").start()
    yield server
    server.stop()


def test_a_new_customer_connects_and_creates_a_key(app, fake, live_server, page, artifacts_dir):
    app.config.update(EXACT_BASE_URL=fake.url, PUBLIC_BASE_URL=live_server)
    page.goto(live_server + "/account")
    page.wait_for_url("**/account/sign-in?next=/account")
    page.click("#connect-exact")
    page.wait_for_selector("#allow")  # Exact's (fake) consent page
    assert "Demo Bakkerij BV" in page.content()
    page.fill("input[name=email]", "browser.klant@example.nl")
    page.click("#allow")
    page.wait_for_url(live_server + "/account")
    assert page.locator("#customer-email").inner_text() == "browser.klant@example.nl"
    assert "100001" in page.locator("#connections").inner_text()
    assert "Connected" in page.locator("#connections").inner_text()
    assert "is connected" in page.locator(".flashes").inner_text()

    page.fill("#create-key input[name=name]", "Claude desktop")
    page.click("#create-key button[type=submit]")
    key = page.locator("#new-key-value").inner_text()
    assert key.startswith("exa_")
    assert "Claude desktop" in page.locator("#keys").inner_text()
    path = os.path.join(artifacts_dir, "customer_account.png")
    page.screenshot(path=path, full_page=True)
    assert os.path.getsize(path) > 10_000

    user = User.get(User.email == "browser.klant@example.nl")
    assert Connection.get().user_id == user.id and ApiKey.get().user_id == user.id
    # Reloading never shows the key again.
    page.goto(live_server + "/account")
    assert key not in page.content()
