"""Security headers on every response, no inline script/style, request hygiene."""
import os
import re

import pytest

from portal.core.security import BAD_ENCODING_MESSAGE

TEMPLATES = os.path.join(os.path.dirname(__file__), "..", "templates")
CSP_CORE = "default-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"


def _all_responses(client):
    return {
        "login page": client.get("/login"),
        "health JSON": client.get("/healthz"),
        "404": client.get("/no-such-page"),
        "static": client.get("/static/css/portal.css"),
        "redirect": client.get("/admin/staff"),
        "POST login": client.post("/login", data={"email": "", "password": ""}),
    }


def test_security_headers_on_every_response(client):
    for name, r in _all_responses(client).items():
        csp = r.headers.get("Content-Security-Policy", "")
        assert CSP_CORE in csp, name
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp, name
        assert "script-src 'self'" in csp and "style-src 'self'" in csp, name
        assert r.headers.get("X-Content-Type-Options") == "nosniff", name
        assert r.headers.get("Referrer-Policy"), name
        assert r.headers.get("X-Frame-Options") == "DENY", name
        assert "Strict-Transport-Security" not in r.headers, name  # only in production


def test_headers_on_logged_in_pages_and_no_caching(admin_client):
    r = admin_client.get("/")
    assert CSP_CORE in r.headers["Content-Security-Policy"]
    assert r.headers["Cache-Control"] == "no-store"


def test_hsts_in_production(app_config):
    from portal import create_app
    application = create_app(dict(app_config, PRODUCTION=True, PORTAL_ENV="production"))
    r = application.test_client().get("/login", base_url="https://portal.test")
    assert r.headers["Strict-Transport-Security"].startswith("max-age=31536000")
    assert CSP_CORE in r.headers["Content-Security-Policy"]


def _template_files():
    for root, _dirs, files in os.walk(TEMPLATES):
        for name in files:
            if name.endswith((".html", ".txt", ".j2", ".jinja")):
                yield os.path.join(root, name)


def test_no_inline_script_or_style_in_any_template():
    problems = []
    for path in _template_files():
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
        rel = os.path.relpath(path, TEMPLATES)
        for tag in re.findall(r"<script\b[^>]*>", text, re.I):
            if not re.search(r"\bsrc\s*=", tag, re.I):
                problems.append("%s: inline %s" % (rel, tag))
        if re.search(r"\bstyle\s*=", text, re.I):
            problems.append("%s: style= attribute" % rel)
        if re.search(r"<style\b", text, re.I):
            problems.append("%s: <style> element" % rel)
        if re.search(r"\son[a-z]+\s*=\s*[\"']", text, re.I):
            problems.append("%s: inline event handler" % rel)
        if re.search(r"javascript:", text, re.I):
            problems.append("%s: javascript: URL" % rel)
    assert not problems, "\n".join(problems)


def test_the_template_scan_catches_inline_script(tmp_path):
    # The scan above must not be vacuous: prove its patterns match.
    assert re.findall(r"<script\b[^>]*>", "<script>alert(1)</script>")
    assert not re.search(r"\bsrc\s*=", "<script>")
    assert re.search(r"\bstyle\s*=", '<p style="color:red">')
    assert len(list(_template_files())) >= 5


def test_vendored_assets_only():
    for path in _template_files():
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
        assert not re.search(r"(src|href)=[\"']https?://", text), path


@pytest.mark.parametrize("body", [b"email=%ff%fe&password=x", b"email=\xff\xfe&password=x"])
def test_form_bodies_that_are_not_utf8_get_a_clear_400(client, body):
    r = client.post("/login", data=body, content_type="application/x-www-form-urlencoded")
    assert r.status_code == 400
    assert BAD_ENCODING_MESSAGE.encode() in r.data


def test_query_strings_that_are_not_utf8_get_a_clear_400(admin_client):
    r = admin_client.get("/admin/audit?person=%ff")
    assert r.status_code == 400 and BAD_ENCODING_MESSAGE.encode() in r.data
    r = admin_client.get("/admin/audit?person=%ff", headers={"Accept": "application/json"})
    assert r.status_code == 400 and r.get_json() == {"error": BAD_ENCODING_MESSAGE}


def test_csrf_failure_page_matches_the_layout(app, client):
    app.config["WTF_CSRF_ENABLED"] = True
    r = client.post("/login", data={"email": "a@b.nl", "password": "x"})
    assert r.status_code == 400
    html = r.get_data(as_text=True)
    assert "CSRF" in html and 'class="topbar"' in html and "portal.css" in html


@pytest.mark.parametrize("code,url", [(404, "/nope"), (405, "/logout")])
def test_error_pages_match_the_layout(admin_client, code, url):
    r = admin_client.get(url)
    assert r.status_code == code
    html = r.get_data(as_text=True)
    assert 'class="topbar"' in html and 'class="error-code">%d<' % code in html


def test_500_page_matches_the_layout(app_config):
    from portal import create_app
    from tests.conftest import AuthActions, make_staff, truncate_all
    application = create_app(dict(app_config, PROPAGATE_EXCEPTIONS=False, TESTING=False))
    truncate_all()

    @application.get("/boom-probe")
    def boom():
        raise RuntimeError("secret detail")
    with application.app_context():
        make_staff("admin@example.com")
        c = application.test_client()
        assert AuthActions(c).login().status_code == 302
        r = c.get("/boom-probe")
    assert r.status_code == 500
    assert b'class="error-code">500<' in r.data and b'class="topbar"' in r.data
    assert b"secret detail" not in r.data


def test_confirm_dialogs_are_in_the_static_script(client):
    js = client.get("/static/js/portal.js").get_data(as_text=True)
    assert "data-confirm" in js and "confirm(" in js


def test_client_address_comes_from_the_proxy_only_when_trusted(app_config):
    """Behind PROXY_COUNT proxies the audit log and throttle see the real client."""
    from models import AuditLog
    from portal import create_app
    headers = {"X-Forwarded-For": "203.0.113.7"}
    for count, expected in ((0, "127.0.0.1"), (1, "203.0.113.7")):
        application = create_app(dict(app_config, PROXY_COUNT=count))
        client = application.test_client()
        client.post("/login", data={"email": "nobody@example.com", "password": "wrong-password"},
                    headers=headers, environ_base={"REMOTE_ADDR": "127.0.0.1"})
        entry = AuditLog.select().order_by(AuditLog.id.desc()).first()
        assert entry.action == "login.failure" and entry.ip == expected
