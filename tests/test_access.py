"""Central access control: walk every route in app.url_map.

Generic on purpose: other blueprints keep adding routes, and a route that
nobody protected makes these tests fail. Admin-only endpoints are computed
from portal.core.access (admin blueprints, admin_pages, and every write not listed
in support_actions), never listed by hand.
"""
import uuid

import pytest
from flask import Blueprint, jsonify
from werkzeug.routing import AnyConverter, FloatConverter, IntegerConverter, UUIDConverter

from portal.core import access
from tests.conftest import ADMIN_EMAIL, SUPPORT_EMAIL, AuthActions, make_staff, truncate_all

# Reachable without a staff login. Changing this list is a security decision.
PUBLIC_ALLOWLIST = {"auth.login", "health.healthz", "static", "outreach_public.unsubscribe"}
# The customer connect flow and the sign-in link pages (blueprint kind="public"):
# reachable by anyone. Changing this list is a security decision too.
CONNECT_PUBLIC = {"connect.start", "connect.callback", "connect.sign_in", "connect.use_link"}
API_PREFIX = "api."          # API-key routes: authenticated inside the blueprint
SKIPPED_METHODS = {"HEAD", "OPTIONS"}
CUSTOMER_SIGN_IN = "/account/sign-in"


def is_public(endpoint):
    return (endpoint in PUBLIC_ALLOWLIST or endpoint in CONNECT_PUBLIC
            or endpoint.startswith(API_PREFIX))


def is_customer_page(endpoint):
    return access.policy_for(endpoint).kind == "customer"


def is_staff_page(endpoint):
    return not is_public(endpoint) and not is_customer_page(endpoint)


def dummy_value(converter):
    if isinstance(converter, IntegerConverter):
        return 1
    if isinstance(converter, FloatConverter):
        return 1.0
    if isinstance(converter, UUIDConverter):
        return uuid.UUID(int=1)
    if isinstance(converter, AnyConverter):
        return sorted(converter.items)[0] if hasattr(converter, "items") else "x"
    return "x"


def build_url(rule):
    values = {name: dummy_value(conv) for name, conv in rule._converters.items()}
    return rule.build(values, append_unknown=False)[1]


def every_route(app):
    """(endpoint, method, url) for every rule and method in the url_map."""
    found = []
    for rule in app.url_map.iter_rules():
        for method in sorted(rule.methods - SKIPPED_METHODS):
            found.append((rule.endpoint, method, build_url(rule)))
    assert found, "url_map is empty?"
    return found


def assert_refuses_anonymous(response, endpoint, method, url):
    where = "%s %s (%s)" % (method, url, endpoint)
    if response.status_code == 401:
        assert response.is_json, where + ": 401 must be JSON"
        return
    assert response.status_code == 302, "%s let an anonymous user through: %s" % (
        where, response.status_code)
    assert not access.is_json_endpoint(endpoint, url), where + ": JSON route must not redirect"
    location = response.headers["Location"]
    login = CUSTOMER_SIGN_IN if is_customer_page(endpoint) else "/login"
    assert location.startswith(login), where + " redirected to " + location
    if method == "GET":
        assert location.startswith(login + "?next=/"), where + ": missing next"


def test_public_endpoints_are_exactly_the_allowlist(app):
    assert set(access.PUBLIC_ENDPOINTS) <= PUBLIC_ALLOWLIST
    public_kind = {e for e, _, _ in every_route(app) if access.policy_for(e).kind == "public"}
    assert public_kind == CONNECT_PUBLIC


def test_every_non_public_endpoint_refuses_anonymous_users(app, client):
    checked = 0
    for endpoint, method, url in every_route(app):
        if is_public(endpoint):
            continue
        r = client.open(url, method=method)
        assert_refuses_anonymous(r, endpoint, method, url)
        r = client.open(url, method=method, headers={"Accept": "application/json"})
        assert r.status_code == 401 and r.is_json, "%s %s: %s" % (method, url, r.status_code)
        assert r.get_json() == {"error": "authentication required"}
        checked += 1
    assert checked >= 4  # at least dashboard, logout, staff, audit


def test_api_key_routes_never_redirect_to_login(app, client):
    for endpoint, method, url in every_route(app):
        if endpoint.startswith(API_PREFIX):
            r = client.open(url, method=method)
            assert r.status_code != 302, "%s %s redirected" % (method, url)
            assert r.status_code < 500


def test_every_admin_only_endpoint_refuses_support_staff(app, support_client):
    admin_only = [(e, m, u) for e, m, u in every_route(app)
                  if not is_public(e) and access.is_admin_only(e, m)]
    assert ("staff_admin.staff", "GET", "/admin/staff") in admin_only
    for endpoint, method, url in admin_only:
        r = support_client.open(url, method=method)
        assert r.status_code == 403, "support got %s on admin-only %s %s (%s)" % (
            r.status_code, method, url, endpoint)
        if not access.is_json_endpoint(endpoint, url):
            assert b"403" in r.data and b"Forbidden" in r.data
        r = support_client.open(url, method=method, headers={"Accept": "application/json"})
        assert r.status_code == 403 and r.get_json() == {"error": "forbidden"}


def test_admin_only_is_computed_from_policies():
    assert access.is_admin_only("staff_admin.staff", "GET")
    assert access.is_admin_only("customers.index", "POST")      # writes need admin ...
    assert not access.is_admin_only("customers.index", "GET")   # ... reads do not
    assert not access.is_admin_only("auth.logout", "POST")      # listed support action
    assert access.is_admin_only("nobody_registered_this.view", "GET")


def test_support_staff_can_read_staff_pages_and_log_out(support_client):
    assert support_client.get("/").status_code == 200
    assert support_client.post("/logout").status_code == 302


@pytest.fixture
def probe_app(app_config, monkeypatch):
    """A fresh app with extra blueprints registered before its first request."""
    from portal import create_app
    application = create_app(app_config)
    truncate_all()
    forgotten = Blueprint("forgotten_probe", __name__, url_prefix="/forgotten-probe")
    forgotten.add_url_rule("/", "page", lambda: "secret page")
    forgotten.add_url_rule("/write", "write", lambda: "written", methods=["POST"])
    application.register_blueprint(forgotten)

    probe = Blueprint("json_probe", __name__, url_prefix="/json-probe")
    probe.add_url_rule("/data", "data", lambda: jsonify(ok=True))
    probe.add_url_rule("/admin-data", "admin_data", lambda: jsonify(ok=True))
    monkeypatch.setitem(access.POLICIES, "json_probe", access.Policy(
        "staff", frozenset(), frozenset({"json_probe.admin_data"}),
        frozenset({"json_probe.data", "json_probe.admin_data"})))
    application.register_blueprint(probe)
    with application.app_context():
        yield application


def _login(application, email):
    c = application.test_client()
    assert AuthActions(c).login(email).status_code == 302
    return c


def test_blueprint_without_policy_is_admin_only(probe_app):
    make_staff(ADMIN_EMAIL)
    make_staff(SUPPORT_EMAIL)
    anonymous = probe_app.test_client()
    r = anonymous.get("/forgotten-probe/")
    assert r.status_code == 302 and r.headers["Location"].startswith("/login?next=")
    support = _login(probe_app, SUPPORT_EMAIL)
    assert support.get("/forgotten-probe/").status_code == 403
    assert support.post("/forgotten-probe/write").status_code == 403
    admin = _login(probe_app, ADMIN_EMAIL)
    assert admin.get("/forgotten-probe/").data == b"secret page"
    assert admin.post("/forgotten-probe/write").data == b"written"


def test_json_routes_answer_json_never_a_redirect(probe_app):
    make_staff(ADMIN_EMAIL)
    make_staff(SUPPORT_EMAIL)
    r = probe_app.test_client().get("/json-probe/data")
    assert r.status_code == 401 and r.get_json() == {"error": "authentication required"}
    support = _login(probe_app, SUPPORT_EMAIL)
    assert support.get("/json-probe/data").get_json() == {"ok": True}
    r = support.get("/json-probe/admin-data")
    assert r.status_code == 403 and r.get_json() == {"error": "forbidden"}
    assert _login(probe_app, ADMIN_EMAIL).get("/json-probe/admin-data").status_code == 200


def test_unknown_policy_kind_fails_closed(monkeypatch):
    monkeypatch.setattr(access, "POLICIES", dict(access.POLICIES))
    access.register_policy("typo_probe", kind="supprt")
    assert access.policy_for("typo_probe.x").kind == "admin"


def test_anonymous_post_is_not_replayed_after_login(client):
    r = client.post("/logout")
    assert r.status_code == 302  # logout is harmless anonymously
    r = client.post("/admin/staff/1/deactivate")
    assert r.headers["Location"] == "/login"


# --- roles --------------------------------------------------------------------

def test_admin_emails_are_a_case_insensitive_list():
    assert access.get_admin_emails({"ADMIN_EMAILS": " Ada@X.nl, bob@y.nl ,,"}) == {
        "ada@x.nl", "bob@y.nl"}
    assert access.get_admin_emails({}) == set()


def test_is_admin(app, admin, support):
    assert access.is_admin(admin) and not access.is_admin(support)
    admin.active = False
    assert not access.is_admin(admin)
    assert not access.is_admin(None)
    app.config["ADMIN_EMAILS"] = "SUPPORT@example.com"
    assert access.is_admin(support)


def test_navigation_shows_each_role_only_what_it_may_use(admin_client, support_client):
    admin_html = admin_client.get("/").get_data(as_text=True)
    support_html = support_client.get("/").get_data(as_text=True)
    for link in ('href="/admin/staff"', 'href="/admin/audit"'):
        assert link in admin_html
        assert link not in support_html
    assert 'badge-admin' in admin_html and 'badge-support' in support_html
    # every link support staff are shown opens for them
    import re
    for href in set(re.findall(r'<nav aria-label="Main">.*?</nav>', support_html, re.S)[0]
                    .split('href="')[1:]):
        url = href.split('"')[0]
        assert support_client.get(url).status_code != 403, url


# --- the customer role (issue 12): anonymous / customer / support / admin ----------

def test_every_role_against_every_route(app, admin_client, support_client):
    """One table: which role may open what. Customers only their own pages; staff never
    customer pages; a customer session opens no staff page."""
    from tests.connect_helpers import customer_client
    customer, _ = customer_client(app)
    customer_pages = staff_pages = 0
    for endpoint, method, url in every_route(app):
        if is_customer_page(endpoint):
            customer_pages += 1
            for staff in (admin_client, support_client):  # a staff session is not a customer
                r = staff.open(url, method=method)
                assert r.status_code == 302, "%s %s: %s" % (method, url, r.status_code)
                assert r.headers["Location"].startswith(CUSTOMER_SIGN_IN)
        elif is_staff_page(endpoint):
            staff_pages += 1
            r = customer.open(url, method=method)
            assert_refuses_anonymous(r, endpoint, method, url)
            r = customer.open(url, method=method, headers={"Accept": "application/json"})
            assert r.status_code == 401, "customer got %s on %s %s" % (r.status_code, method, url)
    assert customer_pages >= 5 and staff_pages >= 20
    assert customer.get("/account").status_code == 200  # still signed in after all that
    assert not access.is_admin_only("account.index", "GET")
    assert not access.can_access("account.index")
    assert access.can_access("connect.start")


def test_customer_pages_answer_json_refusals_with_401(client):
    r = client.get("/account", headers={"Accept": "application/json"})
    assert r.status_code == 401 and r.get_json() == {"error": "authentication required"}
    r = client.post("/account/keys")
    assert r.status_code == 302 and r.headers["Location"] == CUSTOMER_SIGN_IN
