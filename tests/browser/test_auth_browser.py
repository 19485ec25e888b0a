"""Login, logout and a 403, in Debian's Chromium through Playwright (CSRF on)."""
import os

from tests.conftest import ADMIN_EMAIL, SUPPORT_EMAIL, browser_login, make_staff


def shot(page, artifacts_dir, name):
    page.screenshot(path=os.path.join(artifacts_dir, name), full_page=True)


def test_login_dashboard_logout(live_server, page, artifacts_dir, app):
    make_staff(ADMIN_EMAIL, name="Ada Admin")
    page.goto(live_server + "/")
    assert page.url.startswith(live_server + "/login?next=")
    browser_login(page, live_server, ADMIN_EMAIL)
    page.wait_for_url(live_server + "/")
    assert page.locator("h1").inner_text() == "Dashboard"
    assert page.locator(".badge-admin").is_visible()
    assert page.locator("nav[aria-label=Main] a", has_text="Staff").count() == 1
    shot(page, artifacts_dir, "auth-dashboard.png")
    page.click(".whoami button[type=submit]")
    page.wait_for_url(live_server + "/login")
    assert "You are logged out." in page.locator(".flashes").inner_text()
    shot(page, artifacts_dir, "auth-logged-out.png")
    page.goto(live_server + "/")
    assert page.url.startswith(live_server + "/login")


def test_wrong_password_shows_the_generic_error(live_server, page, artifacts_dir, app):
    make_staff(ADMIN_EMAIL)
    browser_login(page, live_server, ADMIN_EMAIL, password="not the password")
    page.wait_for_selector(".flash-error")
    assert page.locator(".flash-error").inner_text() == "Email or password is incorrect."
    assert page.url.startswith(live_server + "/login")
    shot(page, artifacts_dir, "auth-wrong-password.png")


def test_support_user_meets_a_403_on_an_admin_page(live_server, page, artifacts_dir, app):
    make_staff(SUPPORT_EMAIL)
    browser_login(page, live_server, SUPPORT_EMAIL)
    page.wait_for_url(live_server + "/")
    assert page.locator("nav[aria-label=Main] a", has_text="Staff").count() == 0
    response = page.goto(live_server + "/admin/staff")
    assert response.status == 403
    assert "Forbidden" in page.locator("h1").inner_text()
    assert page.locator(".topbar").is_visible()  # the error page keeps the layout
    shot(page, artifacts_dir, "auth-support-403.png")


def test_admin_deactivates_with_a_confirm_dialog(live_server, page, artifacts_dir, app):
    make_staff(ADMIN_EMAIL)
    make_staff(SUPPORT_EMAIL)
    browser_login(page, live_server, ADMIN_EMAIL)
    page.wait_for_url(live_server + "/")
    page.goto(live_server + "/admin/staff")
    messages = []

    def dismiss(dialog):
        messages.append(dialog.message)
        dialog.dismiss()
    page.once("dialog", dismiss)
    page.click("button:has-text('Deactivate')")
    assert messages and SUPPORT_EMAIL in messages[0]
    assert page.locator("button:has-text('Deactivate')").count() == 1  # cancelled: unchanged
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("button:has-text('Deactivate')")
    page.wait_for_selector(".flash-success")
    assert "sessions have ended" in page.locator(".flash-success").inner_text()
    shot(page, artifacts_dir, "auth-staff-deactivated.png")
