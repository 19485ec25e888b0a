"""Customer sign-in with a one-time link sent by email (no Flask).

* `request_link` always answers the same way to the caller, known address or
  not; only for a known customer is a link made and mailed through MAIL_URL
  (portal.mail.sending, so `outbox:` works in development).
* Throttled per email (3 requests / 15 min) and per client address
  (10 / 15 min), counting every request, known address or not.
* The link holds 32 random bytes; only its SHA-256 hash is stored. It is
  valid for 15 minutes and used once: `redeem` is one conditional UPDATE.
"""
import datetime
import hashlib
import secrets
from dataclasses import dataclass


from models import CustomerAccount, CustomerSignInRequest, CustomerSignInToken, User, database

from portal.core import audit
from portal.customers.lookup import find_customer
from portal.connect.service import customer_actor
from portal.mail import sending

LINK_LIFETIME = datetime.timedelta(minutes=15)
THROTTLE_WINDOW = datetime.timedelta(minutes=15)
MAX_PER_EMAIL = 3
MAX_PER_ADDRESS = 10
LINK_PATH = "/account/sign-in/"


class Throttled(Exception):
    """Too many sign-in link requests; try again later."""


def _hash(token):
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def normalise(email):
    return (email or "").strip().lower()


def throttled(email, ip, now, config=None):
    config = config or {}
    since = now - THROTTLE_WINDOW
    recent = CustomerSignInRequest.select().where(CustomerSignInRequest.created_at > since)
    per_email = recent.where(CustomerSignInRequest.email == email).count()
    per_address = recent.where(CustomerSignInRequest.ip == ip).count() if ip else 0
    return (per_email >= int(config.get("SIGN_IN_MAX_PER_EMAIL", MAX_PER_EMAIL))
            or per_address >= int(config.get("SIGN_IN_MAX_PER_ADDRESS", MAX_PER_ADDRESS)))


def request_link(config, email, ip, now):
    """Record the request and, for a known customer, mail a link. Raises Throttled."""
    email = normalise(email)
    if throttled(email, ip, now, config):
        raise Throttled()
    token = None
    with database.atomic():
        CustomerSignInRequest.create(email=email[:255], ip=(ip or "")[:255], created_at=now)
        user = find_customer(email)
        if user is not None:
            token = secrets.token_urlsafe(32)
            CustomerSignInToken.create(user=user.id, token_hash=_hash(token), created_at=now,
                                       expires_at=now + LINK_LIFETIME)
            audit.record(customer_actor(user.email, ip), "customer.sign_in_link", "user",
                         user.id)
    if user is None:
        return False
    link = (config.get("PUBLIC_BASE_URL") or "").rstrip("/") + LINK_PATH + token
    text = ("Hello,\n\nSomeone (hopefully you) asked to sign in to your Exact MCP account.\n"
            "Open this link within 15 minutes to sign in; it works once:\n\n%s\n\n"
            "If you did not ask for this, ignore this email.\n" % link)
    html = ("<p>Hello,</p><p>Someone (hopefully you) asked to sign in to your Exact MCP "
            "account. Open this link within 15 minutes to sign in; it works once:</p>"
            '<p><a href="%s">Sign in to Exact MCP</a></p>'
            "<p>If you did not ask for this, ignore this email.</p>" % link)
    sending.send_message(config, to=user.email, subject="Your Exact MCP sign-in link",
                         text=text, html=html, kind="customer_sign_in", secrets=(token,))
    return True


@dataclass
class SignedIn:
    user: User
    session_version: int


def redeem(token, now, ip=""):
    """Use a link once: SignedIn, or None when it is unknown, used or expired."""
    if not token or len(token) > 200:
        return None
    digest = _hash(token)
    with database.atomic():
        row = CustomerSignInToken.get_or_none(CustomerSignInToken.token_hash == digest)
        if row is None:
            return None
        used = (CustomerSignInToken.update(used_at=now)
                .where((CustomerSignInToken.id == row.id)
                       & CustomerSignInToken.used_at.is_null()
                       & (CustomerSignInToken.expires_at > now)).execute())
        if used != 1:
            return None
        user = User.get_by_id(row.user_id)
        account = CustomerAccount.get_or_none(CustomerAccount.user == user.id)
        if account is None:
            account = CustomerAccount.create(user=user.id, session_version=1,
                                             last_sign_in_at=now)
        else:
            (CustomerAccount.update(last_sign_in_at=now)
             .where(CustomerAccount.id == account.id).execute())
        audit.record(customer_actor(user.email, ip), "customer.sign_in", "user", user.id)
    return SignedIn(user=user, session_version=account.session_version)


def link_is_usable(token, now):
    """For the GET page (a mail scanner's visit must not use the link up)."""
    if not token or len(token) > 200:
        return False
    row = CustomerSignInToken.get_or_none(CustomerSignInToken.token_hash == _hash(token))
    return row is not None and row.used_at is None and row.expires_at > now


def sign_out(user_id, actor, now=None):
    """Refuse every existing session cookie of this customer (bump the version)."""
    with database.atomic():
        (CustomerAccount.update(session_version=CustomerAccount.session_version + 1)
         .where(CustomerAccount.user == user_id).execute())
        audit.record(actor, "customer.sign_out", "user", user_id)


def session_version(user_id):
    return (CustomerAccount.select(CustomerAccount.session_version)
            .where(CustomerAccount.user == user_id).scalar())


