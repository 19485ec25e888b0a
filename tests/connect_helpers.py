"""Helpers for the customer-side tests: a signed-in customer client."""
import datetime
import secrets

from models import CustomerSignInToken, User, utcnow
from portal.connect.signin import _hash

CUSTOMER_EMAIL = "klant@example.nl"


def make_sign_in_link(user, now=None, minutes=15):
    token = secrets.token_urlsafe(32)
    now = now or utcnow()
    CustomerSignInToken.create(user=user.id, token_hash=_hash(token), created_at=now,
                               expires_at=now + datetime.timedelta(minutes=minutes))
    return "/account/sign-in/" + token


def customer_client(app, email=CUSTOMER_EMAIL, plan="free"):
    """(test client signed in as a customer, the User) through the real sign-in link."""
    user = User.get_or_none(User.email == email) or User.create(email=email, plan=plan)
    client = app.test_client()
    r = client.post(make_sign_in_link(user))
    assert r.status_code == 302 and r.headers["Location"] == "/account", r.data[:300]
    return client, user
