"""The customer connect / reconnect flow (issue 12) through real HTTP against the fake Exact.

The portal side runs in Flask's test client (or a live server for the race);
every call from the portal to Exact is real HTTP to the fake on a socket.
"""
import datetime
import logging
import threading
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from models import (AuditLog, Connection, DivisionLimit, OAuthState, OutreachCampaign,
                    OutreachLog, RefreshAttempt, User, utcnow)
from portal.connect.routes import BROWSER_COOKIE
from portal.exact import fake_oauth
from portal.exact.crypto import decrypt_token, encrypt_token
from portal.exact.fake import FakeExact
from portal.exact.tokens import TokenService
from tests.conftest import TEST_TOKEN_KEY

CALLBACK = "http://portal.test/connect/exact/callback"
EMAIL = "anna@bakkerij.nl"


@pytest.fixture
def fake():
    server = FakeExact(mode="strict").start()
    yield server
    server.stop()


@pytest.fixture
def exact_app(app, fake):
    app.config.update(EXACT_BASE_URL=fake.url, EXACT_TIMEOUT_SECONDS=3)
    return app


def begin(client, **args):
    r = client.get("/connect/exact", query_string=args)
    assert r.status_code == 302, r.data[:300]
    return r.headers["Location"]


def consent(location, email=EMAIL, decision="allow"):
    """Press a button on the fake's authorize page; returns the callback path + query."""
    parts = urlsplit(location)
    q = {k: v[0] for k, v in parse_qs(parts.query).items()}
    page = requests.get(location, timeout=5)
    assert page.status_code == 200 and "Allow access" in page.text
    r = requests.post("%s://%s/api/oauth2/auth" % (parts.scheme, parts.netloc),
                      data={"client_id": q["client_id"], "redirect_uri": q["redirect_uri"],
                            "state": q["state"], "decision": decision, "email": email},
                      allow_redirects=False, timeout=5)
    assert r.status_code == 302
    target = urlsplit(r.headers["Location"])
    assert target.scheme + "://" + target.netloc + target.path == CALLBACK
    return target.path + "?" + target.query


def connect(client, email=EMAIL, **args):
    return client.get(consent(begin(client, **args), email))


def nothing_stored():
    return Connection.select().count() == 0 and User.select().count() == 0


def test_start_redirects_to_exact_with_a_fresh_state_bound_to_the_browser(exact_app, client, fake):
    location = begin(client, division=100002)
    parts = urlsplit(location)
    q = parse_qs(parts.query)
    assert location.startswith(fake.url + "/api/oauth2/auth?")
    assert q["client_id"] == ["test-client"] and q["response_type"] == ["code"]
    assert q["redirect_uri"] == [CALLBACK]
    state = OAuthState.get()
    assert state.division == 100002 and q["state"][0] not in (state.state_hash,)
    assert state.expires_at - state.created_at == datetime.timedelta(minutes=10)
    cookie = client.get_cookie(BROWSER_COOKIE, path="/connect/exact")
    assert cookie is not None and cookie.http_only
    assert begin(client) != location  # a new state every time


def test_connect_creates_the_customer_and_one_active_encrypted_connection(exact_app, client, fake):
    before = utcnow()
    r = connect(client)
    assert r.status_code == 302 and r.headers["Location"] == "/account"
    user = User.get()
    assert user.email == EMAIL and user.plan == "free"
    conn = Connection.get()
    assert (conn.user_id, conn.division, conn.status, conn.retry_count) == (user.id, 100001,
                                                                           "active", 0)
    assert conn.origin == "connected" and conn.origin_at >= before - datetime.timedelta(seconds=1)
    refresh = decrypt_token(TEST_TOKEN_KEY, conn.refresh_token)
    assert refresh.startswith("rt-") and refresh not in conn.refresh_token
    assert fake.is_valid(refresh)
    assert decrypt_token(TEST_TOKEN_KEY, conn.access_token) == fake.issued_pairs[refresh]
    assert abs((conn.token_expires_at - before).total_seconds() - 600) < 5
    assert abs((conn.refresh_expires_at - before) - datetime.timedelta(days=30)) < \
        datetime.timedelta(seconds=5)
    entry = AuditLog.get(AuditLog.action == "connection.connect")
    assert entry.staff_email == "customer:" + EMAIL and entry.staff_id is None
    assert RefreshAttempt.get().outcome == "connected"
    page = client.get("/account")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert EMAIL in html and "100001" in html and "Connected" in html
    assert refresh not in html


def test_an_existing_customer_is_matched_by_email_case_insensitively(exact_app, client):
    User.create(email="Anna@Bakkerij.NL", plan="starter")
    assert connect(client, email="ANNA@bakkerij.nl").status_code == 302
    assert User.select().count() == 1
    assert Connection.get().user.plan == "starter"


def test_reconnecting_a_refresh_failed_row_updates_it_and_cancels_pending_outreach(
        exact_app, client, fake, admin_client):
    now = utcnow()
    user = User.create(email=EMAIL)
    dead = Connection.create(user=user, division=100001, status="refresh_failed", retry_count=5,
                             access_token=encrypt_token(TEST_TOKEN_KEY, "at-old"),
                             refresh_token=encrypt_token(TEST_TOKEN_KEY, "rt-old"),
                             last_error="Exact no longer accepts this connection",
                             failure_kind="permanent", lease_owner="sidecar-x",
                             lease_expires_at=now + datetime.timedelta(minutes=1),
                             created_at=now - datetime.timedelta(days=90))
    campaign = OutreachCampaign.create(name="Reconnect", trigger="connection_failed",
                                       enabled=True)
    OutreachLog.create(user=user, campaign=campaign, status="failed",
                       reason="delivery_failed: smtp down; will be tried again next run",
                       created_at=now - datetime.timedelta(minutes=5))

    r = connect(client, division=100001)
    assert r.status_code == 302 and r.headers["Location"] == "/account"
    assert Connection.select().count() == 1
    row = Connection.get_by_id(dead.id)
    assert (row.status, row.retry_count, row.last_error, row.failure_kind, row.lease_owner) == (
        "active", 0, None, None, None)
    assert row.origin == "reconnected"
    assert fake.is_valid(decrypt_token(TEST_TOKEN_KEY, row.refresh_token))
    attempt = RefreshAttempt.get(RefreshAttempt.connection == row.id)
    assert attempt.outcome == "reconnected" and "reconnected by the customer" in attempt.error.lower()
    cancel = OutreachLog.select().order_by(OutreachLog.id.desc()).first()
    assert cancel.status == "skipped" and cancel.reason.startswith("cancelled")
    assert AuditLog.get(AuditLog.action == "connection.reconnect").before == \
        '{"status": "refresh_failed"}'

    # Support sees it come back.
    detail = admin_client.get("/connections/%d" % row.id).get_data(as_text=True)
    assert "Reconnected by the customer" in detail
    assert 'id="connection-origin">reconnected by the customer' in detail
    customer_page = admin_client.get("/customers/%d" % user.id).get_data(as_text=True)
    assert '<td class="connection-origin">reconnected ' in customer_page
    dash = admin_client.get("/").get_data(as_text=True)
    assert 'id="reconnected-7d">1<' in dash

    # ... and the sidecar takes it from there with the new token pair.
    fake.advance(600)
    service = TokenService({"TOKEN_ENCRYPTION_KEYS": TEST_TOKEN_KEY, "EXACT_BASE_URL": fake.url,
                            "EXACT_CLIENT_ID": "test-client", "EXACT_CLIENT_SECRET": "s"})
    outcome = service.refresh_connection(row.id, now=utcnow() + datetime.timedelta(minutes=10),
                                         force=True)
    assert outcome.exact_outcome == "success"


def test_a_tampered_state_is_refused_and_nothing_is_stored(exact_app, client):
    path = consent(begin(client))
    tampered = path.replace("state=", "state=x")
    r = client.get(tampered)
    assert r.status_code == 400 and b"Please start again" in r.data
    assert nothing_stored()


def test_a_replayed_callback_is_refused(exact_app, client):
    path = consent(begin(client))
    assert client.get(path).status_code == 302
    r = client.get(path)
    assert r.status_code == 400
    assert Connection.select().count() == 1


def test_a_state_from_another_browser_is_refused(exact_app, client, app):
    path = consent(begin(client))
    other = app.test_client()
    assert other.get(path).status_code == 400
    assert nothing_stored()


def test_an_expired_state_is_refused(exact_app, client, clock):
    path = consent(begin(client))
    clock.advance(minutes=10, seconds=1)
    assert client.get(path).status_code == 400
    assert nothing_stored()


def test_access_denied_explains_and_stores_nothing(exact_app, client):
    r = client.get(consent(begin(client), decision="deny"))
    assert r.status_code == 400
    assert b"did not allow access" in r.data
    assert nothing_stored()


def test_a_failed_code_exchange_stores_nothing(exact_app, client, fake):
    path = consent(begin(client))
    fake.inject("500")
    r = client.get(path)
    assert r.status_code == 400 and b"could not finish connecting" in r.data
    assert nothing_stored()


def test_a_failing_current_me_stores_nothing(exact_app, client, fake):
    path = consent(begin(client))
    fake.oauth.fail_me = 1
    r = client.get(path)
    assert r.status_code == 400 and b"Nothing was stored" in r.data
    assert nothing_stored()


def test_the_fake_code_grant_is_single_use_and_bound_to_the_redirect_uri(fake):
    token_url = fake.url + "/api/oauth2/token"
    code = fake_oauth.issue_code(fake, "c", CALLBACK)
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK,
            "client_id": "c", "client_secret": "s"}
    wrong = dict(form, redirect_uri="http://evil.test/cb")
    assert requests.post(token_url, data=wrong, timeout=5).status_code == 400
    assert requests.post(token_url, data=form, timeout=5).status_code == 400  # burnt
    code = fake_oauth.issue_code(fake, "c", CALLBACK)
    form["code"] = code
    first = requests.post(token_url, data=form, timeout=5)
    assert first.status_code == 200 and first.json()["expires_in"] == "600"
    assert requests.post(token_url, data=form, timeout=5).status_code == 400
    access = first.json()["access_token"]
    me = requests.get(fake.url + "/api/v1/current/Me", timeout=5,
                      headers={"Authorization": "Bearer " + access}).json()["d"]["results"][0]
    assert me["CurrentDivision"] == 100001 and me["Email"] == fake_oauth.DEFAULT_EMAIL
    divisions = requests.get(fake.url + "/api/v1/100001/system/Divisions", timeout=5,
                             headers={"Authorization": "Bearer " + access}).json()
    assert [d["Code"] for d in divisions["d"]["results"]] == [100001, 100002, 100003]
    assert requests.get(fake.url + "/api/v1/current/Me", timeout=5,
                        headers={"Authorization": "Bearer nope"}).status_code == 401


def test_over_the_division_limit_nothing_is_stored_and_the_page_says_why(exact_app, client):
    assert connect(client).status_code == 302
    r = connect(client, another="1")
    assert r.status_code == 403
    text = r.get_data(as_text=True)
    assert "free plan allows 1" in text and "starter plan allows more" in text
    assert Connection.select().count() == 1
    assert AuditLog.select().where(AuditLog.action == "connection.connect").count() == 1


def test_the_per_customer_override_raises_the_limit(exact_app, client):
    assert connect(client).status_code == 302
    DivisionLimit.create(user=User.get(), max_divisions=2)
    assert connect(client, another="1").status_code == 302
    assert sorted(c.division for c in Connection.select()) == [100001, 100002]
    assert connect(client, another="1").status_code == 403


def test_a_division_the_exact_user_cannot_open_is_refused(exact_app, client):
    r = connect(client, division=424242)
    assert r.status_code == 400 and b"424242" in r.data
    assert nothing_stored()


def test_a_bad_division_argument_is_a_clear_400(exact_app, client):
    assert client.get("/connect/exact?division=abc").status_code == 400
    assert OAuthState.select().count() == 0


def test_two_tabs_racing_end_with_one_row_and_a_working_token_pair(exact_app, fake,
                                                                   live_server):
    browser = requests.Session()
    starts = [browser.get(live_server + "/connect/exact", allow_redirects=False)
              for _ in range(2)]
    cookie = browser.cookies.get(BROWSER_COOKIE)
    callbacks = [consent(s.headers["Location"]) for s in starts]
    answers = []

    def finish(path):
        answers.append(requests.get(live_server + path, cookies={BROWSER_COOKIE: cookie},
                                    allow_redirects=False, timeout=10))

    threads = [threading.Thread(target=finish, args=(p,)) for p in callbacks]
    [t.start() for t in threads]
    [t.join(20) for t in threads]
    assert sorted(a.status_code for a in answers) == [302, 302]
    assert all(a.headers["Location"].endswith("/account") for a in answers)
    assert User.select().count() == 1 and Connection.select().count() == 1
    conn = Connection.get()
    refresh = decrypt_token(TEST_TOKEN_KEY, conn.refresh_token)
    assert fake.is_valid(refresh)
    assert decrypt_token(TEST_TOKEN_KEY, conn.access_token) == fake.issued_pairs[refresh]
    assert fake.oauth.code_grants == 2


def test_no_code_state_or_token_reaches_a_log_line(exact_app, client, fake, caplog):
    caplog.set_level(logging.DEBUG)  # peewee logs every statement with its parameters
    location = begin(client)
    portal_records = list(caplog.records)
    path = consent(location)  # the test's own calls to the fake log their URLs: not counted
    caplog.clear()
    assert client.get(path).status_code == 302
    assert client.get("/account").status_code == 200
    portal_records += caplog.records
    q = parse_qs(urlsplit(path).query)
    conn = Connection.get()
    secrets_seen = [q["code"][0], q["state"][0],
                    decrypt_token(TEST_TOKEN_KEY, conn.refresh_token),
                    decrypt_token(TEST_TOKEN_KEY, conn.access_token)]
    assert len(portal_records) > 10
    for record in portal_records:
        for secret in secrets_seen:
            assert secret not in record.getMessage()


def test_request_lines_of_the_callback_are_redacted():
    from portal.connect import RedactSecrets
    record = logging.LogRecord("werkzeug", logging.INFO, "", 0, '%s - "%s" %s',
                               ("127.0.0.1", "GET /connect/exact/callback?code=abc123&state=s3cr3t "
                                "HTTP/1.1", "302"), None)
    RedactSecrets().filter(record)
    assert "abc123" not in record.getMessage() and "s3cr3t" not in record.getMessage()
    record = logging.LogRecord("werkzeug", logging.INFO, "", 0, "GET /account/sign-in/tok3n",
                               (), None)
    RedactSecrets().filter(record)
    assert "tok3n" not in record.getMessage()


def test_the_default_reconnect_link_in_outreach_opens_the_connect_flow(exact_app, client,
                                                                        monkeypatch, tmp_path):
    """No configuration: PUBLIC_BASE_URL's default + /connect/exact?division=N, and it works."""
    from portal.core.config import load_config
    from portal.outreach.engine import links_for
    from portal.outreach.triggers import Candidate
    for name in ("PUBLIC_BASE_URL", "OUTREACH_RECONNECT_URL"):
        monkeypatch.delenv(name, raising=False)
    config = load_config(str(tmp_path / "instance"))
    config.update(SECRET_KEY="x")
    candidate = Candidate(1, EMAIL, "Anna", "free", False, utcnow(), None,
                          connection={"division": 100002})
    link = links_for(config, candidate)["reconnect"]
    assert link == config["PUBLIC_BASE_URL"] + "/connect/exact?division=100002"
    r = client.get(urlsplit(link).path + "?" + urlsplit(link).query)
    assert r.status_code == 302 and "/api/oauth2/auth?" in r.headers["Location"]
    assert OAuthState.get().division == 100002


def test_an_import_marks_its_connections_as_imported(exact_app, client, runner, tmp_path):
    """Connected by the customer first, then new tokens from an import: now `imported`."""
    import json
    assert connect(client).status_code == 302
    assert Connection.get().origin == "connected"
    path = tmp_path / "import.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in [
        {"type": "customer", "email": EMAIL, "name": "Anna", "plan": "free",
         "created_at": "2026-01-02T03:04:05Z"},
        {"type": "connection", "email": EMAIL, "division": 100001, "access_token": "at-imp",
         "refresh_token": "rt-imp", "token_expires_at": "2099-02-01T10:00:00Z",
         "status": "active"}]) + "\n")
    result = runner.invoke(args=["import", str(path)])
    assert result.exit_code == 0, result.output
    conn = Connection.get()
    assert conn.origin == "imported" and conn.origin_at is not None


def test_the_connected_customer_is_refused_on_staff_pages(exact_app, client):
    assert connect(client).status_code == 302
    assert client.get("/account").status_code == 200
    for url in ("/", "/customers/", "/connections/", "/admin/staff", "/admin/audit"):
        r = client.get(url)
        assert r.status_code == 302 and r.headers["Location"].startswith("/login"), url
    r = client.get("/customers/", headers={"Accept": "application/json"})
    assert r.status_code == 401
