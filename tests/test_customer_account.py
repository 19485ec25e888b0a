"""The customer's sign-in link and /account page (issue 12)."""
import datetime
import re

import pytest

from models import (ApiKey, AuditLog, Connection, CustomerSignInToken, DivisionLimit,
                    OutboxMessage, User, utcnow)
from portal.customers import api_keys
from portal.usage.counters import record_usage_rows
from tests.conftest import ADMIN_EMAIL, AuthActions, make_staff
from tests.connect_helpers import CUSTOMER_EMAIL, customer_client, make_sign_in_link

SAME_ANSWER = "If an account exists for that address, we have sent it a sign-in link."


def ask_link(client, email, **kw):
    return client.post("/account/sign-in", data={"email": email}, **kw)


def link_from_outbox(email):
    message = (OutboxMessage.select().where(OutboxMessage.to_addr == email)
               .order_by(OutboxMessage.id.desc()).first())
    assert message is not None and message.kind == "customer_sign_in"
    return re.search(r"http://portal\.test(/account/sign-in/[A-Za-z0-9_\-]+)",
                     message.text_body).group(1)


# --- sign-in links ---------------------------------------------------------------------

def test_a_known_customer_gets_a_single_use_link_through_the_outbox(app, client):
    User.create(email=CUSTOMER_EMAIL)
    r = ask_link(client, "Klant@Example.nl")
    assert r.status_code == 200 and SAME_ANSWER in r.get_data(as_text=True)
    path = link_from_outbox(CUSTOMER_EMAIL)
    token = path.rsplit("/", 1)[1]
    assert CustomerSignInToken.get().token_hash != token  # only the hash is stored
    # GET (a mail scanner) does not use the link up.
    assert client.get(path).status_code == 200
    assert client.get(path).status_code == 200
    r = client.post(path)
    assert r.status_code == 302 and r.headers["Location"] == "/account"
    assert client.get("/account").status_code == 200
    other = app.test_client()
    assert other.post(path).status_code == 400  # used once
    assert other.get("/account").status_code == 302
    assert AuditLog.get(AuditLog.action == "customer.sign_in").staff_email == \
        "customer:" + CUSTOMER_EMAIL


def test_an_unknown_email_gets_the_same_page_and_no_email(client):
    known = User.create(email=CUSTOMER_EMAIL)
    a = ask_link(client, "nobody@example.nl").get_data(as_text=True)
    b = ask_link(client, known.email).get_data(as_text=True)
    strip = lambda html: re.sub(r'name="csrf_token"[^>]*', "", html)  # noqa: E731
    assert strip(a) == strip(b) and SAME_ANSWER in a
    assert OutboxMessage.select().where(OutboxMessage.to_addr == "nobody@example.nl").count() == 0
    assert CustomerSignInToken.select().count() == 1


def test_an_expired_link_is_refused(app, client, clock):
    user = User.create(email=CUSTOMER_EMAIL)
    path = make_sign_in_link(user, now=clock.now)
    clock.advance(minutes=15, seconds=1)
    assert client.get(path).status_code == 400
    r = client.post(path)
    assert r.status_code == 400 and b"older than 15" in r.data
    assert client.get("/account").status_code == 302


def test_a_made_up_link_is_refused(client):
    assert client.post("/account/sign-in/not-a-real-token").status_code == 400


def test_sign_in_requests_are_throttled_per_email_and_per_address(app, client):
    User.create(email=CUSTOMER_EMAIL)
    for _ in range(3):
        assert ask_link(client, CUSTOMER_EMAIL).status_code == 200
    r = ask_link(client, CUSTOMER_EMAIL)
    assert r.status_code == 429 and b"Too many" in r.data
    assert OutboxMessage.select().count() == 3
    # An unknown address is throttled the same way, so the answer tells nothing.
    for _ in range(3):
        assert ask_link(client, "ghost@example.nl").status_code == 200
    assert ask_link(client, "ghost@example.nl").status_code == 429
    # Per client address: 10 requests for any addresses, then refused.
    other = {"REMOTE_ADDR": "10.0.0.7"}
    for i in range(10):
        assert ask_link(client, "y%d@example.nl" % i, environ_base=other).status_code == 200
    assert ask_link(client, "fresh@example.nl", environ_base=other).status_code == 429
    assert ask_link(client, "fresh@example.nl").status_code == 200  # another address is fine


def test_a_bad_email_gets_a_clear_error(client):
    r = ask_link(client, "not an email")
    assert r.status_code == 400 and b"valid email address" in r.data


def test_sign_in_rotates_the_session_and_ends_a_staff_login(app, admin):
    c = app.test_client()
    assert AuthActions(c).login(ADMIN_EMAIL).status_code == 302
    assert c.get("/").status_code == 200
    user = User.create(email=CUSTOMER_EMAIL)
    before = c.get_cookie("session").value
    assert c.post(make_sign_in_link(user)).status_code == 302
    assert c.get_cookie("session").value != before
    assert c.get("/").status_code == 302  # the staff login did not survive
    assert c.get("/account").status_code == 200


def test_sign_out_refuses_the_old_cookie_on_the_server(app):
    c, user = customer_client(app)
    stolen = c.get_cookie("session").value
    assert c.post("/account/sign-out").status_code == 303
    assert c.get("/account").status_code == 302
    thief = app.test_client()
    thief.set_cookie("session", stolen)
    assert thief.get("/account").status_code == 302


def test_the_customer_session_expires_when_idle(app, clock):
    c, _ = customer_client(app)
    clock.advance(minutes=31)
    assert c.get("/account").status_code == 302


# --- /account ------------------------------------------------------------------------

def test_account_shows_plan_usage_connections_and_keys(app):
    c, user = customer_client(app, plan="starter")
    now = utcnow()
    record_usage_rows([dict(user=user.id, timestamp=now, endpoint="tools/call x",
                            response_status=200)] * 7)
    Connection.create(user=user, division=111, status="active")
    Connection.create(user=user, division=222, status="refresh_failed", origin="connected",
                      origin_at=now)
    html = c.get("/account").get_data(as_text=True)
    assert "Starter" in html and "7 of\n    10,000 calls used" in html
    assert "Disconnected" in html and "Connected" in html
    assert html.count(">Reconnect</a>") == 1
    assert 'href="/connect/exact?division=222"' in html
    assert "Connect another division" in html and 'href="/connect/exact?another=1"' in html
    DivisionLimit.create(user=user, max_divisions=2)
    html = c.get("/account").get_data(as_text=True)
    assert "Connect another division" not in html and "allows 2 administrations" in html


def test_account_pages_are_not_cached_and_carry_the_security_headers(app):
    c, _ = customer_client(app)
    r = c.get("/account")
    assert r.headers["Cache-Control"] == "no-store"
    assert "frame-ancestors 'none'" in r.headers["Content-Security-Policy"]


def test_create_a_key_shows_it_once_and_stores_only_its_hash(app):
    c, user = customer_client(app)
    r = c.post("/account/keys", data={"name": "Claude desktop"})
    assert r.status_code == 201
    plaintext = re.search(r'id="new-key-value">(exa_[0-9A-Za-z]+)<', r.get_data(as_text=True)).group(1)
    key = ApiKey.get()
    assert key.user_id == user.id and key.name == "Claude desktop"
    assert key.key_hash == api_keys.hash_key(plaintext) and plaintext not in key.prefix
    assert api_keys.authenticate(plaintext).id == key.id
    again = c.get("/account").get_data(as_text=True)
    assert plaintext not in again and key.prefix in again and "never" in again
    entry = AuditLog.get(AuditLog.action == "api_key.create")
    assert entry.staff_email == "customer:" + CUSTOMER_EMAIL and plaintext not in entry.after


def test_a_too_long_key_name_is_refused_and_nothing_is_created(app):
    c, _ = customer_client(app)
    r = c.post("/account/keys", data={"name": "x" * 101})
    assert r.status_code == 400 and ApiKey.select().count() == 0


def test_revoke_own_key_but_never_another_customers(app):
    c, user = customer_client(app)
    mine, plaintext = api_keys.create_api_key(user, "mine")
    other_user = User.create(email="other@example.nl")
    theirs, _ = api_keys.create_api_key(other_user, "theirs")
    r = c.post("/account/keys/%d/revoke" % theirs.id)
    assert r.status_code == 303
    assert ApiKey.get_by_id(theirs.id).revoked_at is None
    assert c.post("/account/keys/%d/revoke" % mine.id).status_code == 303
    assert ApiKey.get_by_id(mine.id).revoked_at is not None
    assert api_keys.authenticate(plaintext) is None
    assert AuditLog.select().where(AuditLog.action == "api_key.revoke").count() == 1


def test_opt_out_and_back_in_is_audited(app):
    c, user = customer_client(app)
    assert c.post("/account/opt-out", data={"opted_out": "1"}).status_code == 303
    assert User.get_by_id(user.id).marketing_opt_out is True
    assert "Send me tips and reminders again" in c.get("/account").get_data(as_text=True)
    assert c.post("/account/opt-out", data={"opted_out": "0"}).status_code == 303
    assert User.get_by_id(user.id).marketing_opt_out is False
    actions = [a.action for a in AuditLog.select().where(AuditLog.action.startswith("customer.opt"))
               .order_by(AuditLog.id)]
    assert actions == ["customer.opt_out", "customer.opt_in"]
    assert c.post("/account/opt-out", data={"opted_out": "maybe"}).status_code == 400


@pytest.mark.parametrize("url", ["/account/keys", "/account/keys/1/revoke", "/account/opt-out",
                                 "/account/sign-out", "/account/sign-in"])
def test_every_customer_post_needs_the_csrf_token(app, url):
    c, user = customer_client(app)
    api_keys.create_api_key(user, "k")
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        r = c.post(url, data={"name": "x", "opted_out": "1", "email": CUSTOMER_EMAIL})
    finally:
        app.config["WTF_CSRF_ENABLED"] = False
    assert r.status_code == 400
    assert ApiKey.select().count() == 1 and ApiKey.get().revoked_at is None
    assert User.get_by_id(user.id).marketing_opt_out is False
    assert OutboxMessage.select().count() == 0


def test_staff_see_customer_actions_in_the_audit_log(app, admin_client):
    c, _ = customer_client(app)
    c.post("/account/keys", data={"name": "k"})
    html = admin_client.get("/admin/audit").get_data(as_text=True)
    assert "customer:" + CUSTOMER_EMAIL in html and "api_key.create" in html


def test_staff_cannot_open_the_account_page(app, admin):
    make_staff("s@example.com")
    staff = app.test_client()
    assert AuthActions(staff).login(ADMIN_EMAIL).status_code == 302
    r = staff.get("/account")
    assert r.status_code == 302 and r.headers["Location"].startswith("/account/sign-in")


def test_link_expiry_is_fifteen_minutes(app, client):
    User.create(email=CUSTOMER_EMAIL)
    ask_link(client, CUSTOMER_EMAIL)
    row = CustomerSignInToken.get()
    assert row.expires_at - row.created_at == datetime.timedelta(minutes=15)
