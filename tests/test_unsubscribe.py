"""The signed unsubscribe link: works without login, GET changes nothing, tampering refused."""
import re

import pytest
from itsdangerous import URLSafeSerializer

from models import AuditLog, User
from portal.mail.sending import unsubscribe_url, verify_unsubscribe_token


@pytest.fixture
def customer(app):
    return User.create(email="sanne@bakkerij.example", name="Sanne", plan="starter")


@pytest.fixture
def csrf_client(app):
    app.config["WTF_CSRF_ENABLED"] = True
    return app.test_client()


def _path(app, user_id):
    url = unsubscribe_url(app.config, user_id)
    assert url.startswith("http://portal.test/u/unsubscribe/")
    return url[len("http://portal.test"):]


def _csrf(html):
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)


def _opted_out(user):
    return User.get_by_id(user.id).marketing_opt_out


def test_token_round_trip_and_tampering(app, customer):
    token = _path(app, customer.id).rsplit("/", 1)[1]
    assert verify_unsubscribe_token(app.config, token) == customer.id
    payload, signature = token.split(".")
    # Someone else's id with this signature, or a changed signature: refused.
    forged = URLSafeSerializer("x").dump_payload({"u": customer.id + 1}).decode()
    assert verify_unsubscribe_token(app.config, forged + "." + signature) is None
    middle = len(signature) // 2
    flipped = signature[:middle] + ("A" if signature[middle] != "A" else "B") + signature[middle + 1:]
    assert verify_unsubscribe_token(app.config, payload + "." + flipped) is None
    assert verify_unsubscribe_token(app.config, "") is None
    assert verify_unsubscribe_token(app.config, "x" * 600) is None
    other = dict(app.config, SECRET_KEY="another-secret")
    assert verify_unsubscribe_token(other, token) is None


def test_get_shows_a_confirmation_without_login_and_changes_nothing(app, client, customer):
    r = client.get(_path(app, customer.id))
    assert r.status_code == 200
    page = r.get_data(as_text=True)
    assert "Unsubscribe" in page and "s\u2022\u2022\u2022\u2022@bakkerij.example" in page
    assert "sanne@bakkerij.example" not in page  # the full address is not shown
    assert not _opted_out(customer)


def test_post_with_csrf_token_unsubscribes_without_login(app, csrf_client, customer):
    path = _path(app, customer.id)
    token = _csrf(csrf_client.get(path).get_data(as_text=True))
    r = csrf_client.post(path, data={"csrf_token": token})
    assert r.status_code == 200 and "You are unsubscribed" in r.get_data(as_text=True)
    assert _opted_out(customer)
    entry = AuditLog.get(AuditLog.action == "customer.unsubscribe")
    assert entry.target_id == str(customer.id) and '"via": "link"' in entry.after
    # Again: still fine, page says so.
    assert "already unsubscribed" in csrf_client.get(path).get_data(as_text=True)


def test_post_without_csrf_token_is_refused(app, csrf_client, customer):
    r = csrf_client.post(_path(app, customer.id), data={})
    assert r.status_code == 400
    assert not _opted_out(customer)


def test_rfc8058_one_click_post_needs_only_the_signed_link(app, csrf_client, customer):
    r = csrf_client.post(_path(app, customer.id), data={"List-Unsubscribe": "One-Click"})
    assert r.status_code == 200
    assert _opted_out(customer)
    assert '"via": "one-click"' in AuditLog.get(AuditLog.action == "customer.unsubscribe").after


@pytest.mark.parametrize("method", ["get", "post"])
def test_tampered_token_is_refused(app, csrf_client, customer, method):
    path = _path(app, customer.id)
    tampered = path[:-2] + ("xx" if not path.endswith("xx") else "yy")
    r = getattr(csrf_client, method)(tampered, data={"List-Unsubscribe": "One-Click"})
    assert r.status_code == 404
    assert "not valid" in r.get_data(as_text=True)
    assert not _opted_out(customer)


def test_token_of_a_deleted_customer_is_refused(app, client, customer):
    path = _path(app, customer.id)
    customer.delete_instance()
    assert client.get(path).status_code == 404


def test_other_outreach_public_urls_are_not_public(client):
    r = client.get("/u/")
    assert r.status_code in (302, 404)
