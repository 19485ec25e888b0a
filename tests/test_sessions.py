"""Sessions: fresh at login, real logout, deactivation, idle and absolute lifetime, cookies."""
from datetime import timedelta

import pytest

from models import Staff
from portal.core import sessions
from tests.conftest import ADMIN_EMAIL, PASSWORD, SUPPORT_EMAIL, AuthActions


def session_cookie(client, app):
    cookie = client.get_cookie(app.config["SESSION_COOKIE_NAME"])
    return cookie.value if cookie else None


def test_login_starts_a_fresh_session(app, client, admin):
    with client.session_transaction() as s:
        s["planted"] = "by an attacker"
    before = session_cookie(client, app)
    AuthActions(client).login()
    with client.session_transaction() as s:
        assert "planted" not in s
        assert s["_user_id"] == "%d:%d" % (admin.id, admin.session_version)
    assert session_cookie(client, app) != before


def test_cookie_replayed_after_logout_is_refused(app, admin_client):
    saved = session_cookie(admin_client, app)
    assert admin_client.get("/").status_code == 200
    r = admin_client.post("/logout")
    assert r.status_code == 302 and r.headers["Location"] == "/login"
    assert admin_client.get("/").status_code == 302
    replay = app.test_client()
    replay.set_cookie(app.config["SESSION_COOKIE_NAME"], saved)
    r = replay.get("/")
    assert r.status_code == 302 and r.headers["Location"].startswith("/login")
    r = replay.get("/admin/staff", headers={"Accept": "application/json"})
    assert r.status_code == 401 and r.get_json() == {"error": "authentication required"}


def test_a_new_login_after_logout_works(admin_client, auth):
    admin_client.post("/logout")
    assert AuthActions(admin_client).login().status_code == 302
    assert admin_client.get("/").status_code == 200


def test_deactivation_ends_that_persons_sessions_at_once(admin_client, support_client, support):
    assert support_client.get("/").status_code == 200
    r = admin_client.post("/admin/staff/%d/deactivate" % support.id)
    assert r.status_code == 302
    staff = Staff.get_by_id(support.id)
    assert staff.active is False and staff.session_version == support.session_version + 1
    r = support_client.get("/")
    assert r.status_code == 302 and r.headers["Location"].startswith("/login")
    # and the account cannot log in again (generic message)
    r = AuthActions(support_client).login(SUPPORT_EMAIL)
    assert r.status_code == 200 and b"Email or password is incorrect." in r.data
    # reactivated: logs in again, old cookies stay dead
    admin_client.post("/admin/staff/%d/reactivate" % support.id)
    assert AuthActions(support_client).login(SUPPORT_EMAIL).status_code == 302


def test_admin_cannot_deactivate_themselves(admin_client, admin):
    r = admin_client.post("/admin/staff/%d/deactivate" % admin.id, follow_redirects=True)
    assert b"cannot deactivate your own account" in r.data
    assert Staff.get_by_id(admin.id).active is True


def test_idle_timeout(app, client, admin, clock):
    AuthActions(client).login()
    clock.advance(minutes=29)
    assert client.get("/").status_code == 200   # activity renews the idle timer
    clock.advance(minutes=29)
    assert client.get("/").status_code == 200
    clock.advance(minutes=30)
    r = client.get("/")
    assert r.status_code == 302 and r.headers["Location"] == "/login?next=/"
    r = client.get(r.headers["Location"])
    assert b"session has expired" in r.data
    assert client.get("/").status_code == 302   # the session is gone for good


def test_idle_timeout_is_configurable(app, client, admin, clock):
    app.config["SESSION_IDLE_MINUTES"] = 5
    AuthActions(client).login()
    clock.advance(minutes=5, seconds=1)
    assert client.get("/").status_code == 302


def test_absolute_lifetime_even_when_active(app, client, admin, clock):
    AuthActions(client).login()
    for _ in range(int(12 * 60 / 20) - 1):     # busy all day, a request every 20 minutes
        clock.advance(minutes=20)
        assert client.get("/").status_code == 200
    clock.advance(minutes=20)                  # 12 h after login
    r = client.get("/")
    assert r.status_code == 302
    assert b"maximum length" in client.get("/login").data


def test_absolute_lifetime_by_editing_the_session_timestamps(app, admin_client):
    with admin_client.session_transaction() as s:
        s[sessions.LOGIN_AT] -= timedelta(hours=12, seconds=1).total_seconds()
    assert admin_client.get("/").status_code == 302


def test_session_without_timestamps_is_refused(app, admin_client):
    with admin_client.session_transaction() as s:
        del s[sessions.LOGIN_AT]
    assert admin_client.get("/").status_code == 302


def test_json_routes_answer_401_after_expiry(app, client, admin, clock):
    AuthActions(client).login()
    clock.advance(minutes=31)
    r = client.get("/admin/staff", headers={"Accept": "application/json"})
    assert r.status_code == 401 and r.is_json


def _set_cookie_header(response, name):
    headers = [h for h in response.headers.getlist("Set-Cookie") if h.startswith(name + "=")]
    assert headers, response.headers
    return headers[-1]


def test_session_cookie_flags_in_development(app, client, admin):
    r = AuthActions(client).login()
    header = _set_cookie_header(r, "session")
    assert "HttpOnly" in header and "SameSite=Lax" in header
    assert "Secure" not in header


@pytest.fixture
def production_app(app_config):
    from portal import create_app
    config = dict(app_config, PRODUCTION=True, PORTAL_ENV="production")
    application = create_app(config)
    with application.app_context():
        yield application


def test_session_cookie_in_production_is_secure_with_host_prefix(production_app, admin):
    client = production_app.test_client()
    r = client.post("/login", base_url="https://portal.test",
                    data={"email": ADMIN_EMAIL, "password": PASSWORD})
    assert r.status_code == 302
    header = _set_cookie_header(r, "__Host-session")
    for part in ("Secure", "HttpOnly", "SameSite=Lax", "Path=/"):
        assert part in header
    assert "Domain=" not in header
    assert client.get("/", base_url="https://portal.test").status_code == 200
