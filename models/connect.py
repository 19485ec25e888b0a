"""Tables of the customer connect flow and the customer account (issue 12).

* `oauth_states`: one row per started OAuth flow. Only hashes are stored: the
  `state` sent to Exact and the browser-binding cookie. A row is used once
  (`used_at` set by one conditional UPDATE) and expires after 10 minutes.
* `customer_sign_in_tokens`: one-time sign-in links (hash only, 15 minutes).
* `customer_sign_in_requests`: every sign-in link request (known address or
  not), for throttling per email and per client address.
* `customer_accounts`: per customer, the session version (bumped at sign-out,
  so an older customer cookie is refused on the server) and the last sign-in.
"""
from peewee import CharField, DateTimeField, ForeignKeyField, IntegerField

from .db import BaseModel, utcnow

CONNECTION_ORIGINS = ("imported", "connected", "reconnected")


def _user_model():
    from . import User  # models/__init__ imports this module after User exists
    return User


class OAuthState(BaseModel):
    state_hash = CharField(max_length=64, unique=True)
    browser_hash = CharField(max_length=64)
    division = IntegerField(null=True)
    mode = CharField(max_length=16, default="")  # "" or "another"
    created_at = DateTimeField(default=utcnow)
    expires_at = DateTimeField(index=True)
    used_at = DateTimeField(null=True)

    class Meta:
        table_name = "oauth_states"


class CustomerSignInToken(BaseModel):
    user = ForeignKeyField(_user_model(), backref="sign_in_tokens", on_delete="CASCADE")
    token_hash = CharField(max_length=64, unique=True)
    created_at = DateTimeField(default=utcnow)
    expires_at = DateTimeField()
    used_at = DateTimeField(null=True)

    class Meta:
        table_name = "customer_sign_in_tokens"


class CustomerSignInRequest(BaseModel):
    email = CharField(index=True)
    ip = CharField(default="", index=True)
    created_at = DateTimeField(default=utcnow, index=True)

    class Meta:
        table_name = "customer_sign_in_requests"


class CustomerAccount(BaseModel):
    user = ForeignKeyField(_user_model(), backref="customer_account", unique=True,
                           on_delete="CASCADE")
    session_version = IntegerField(default=1)
    last_sign_in_at = DateTimeField(null=True)

    class Meta:
        table_name = "customer_accounts"
