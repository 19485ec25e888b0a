"""Helpers shared by the sidecar/token tests: a fake Exact and connection rows."""
import datetime
import secrets

import pytest

from models import Connection, User, utcnow
from portal.exact.crypto import decrypt_token, encrypt_token
from portal.exact.fake import FakeExact
from tests.conftest import TEST_TOKEN_KEY

KEYS = TEST_TOKEN_KEY


@pytest.fixture
def fake():
    """A strict fake Exact on a real localhost socket, running in this process."""
    server = FakeExact(mode="strict").start()
    yield server
    server.stop()


def service_config(fake_url, **extra):
    config = {"TOKEN_ENCRYPTION_KEYS": KEYS, "EXACT_BASE_URL": fake_url,
              "EXACT_CLIENT_ID": "test-client", "EXACT_CLIENT_SECRET": "test-secret",
              "EXACT_TIMEOUT_SECONDS": 2, "SIDECAR_WORKERS": 4, "SIDECAR_LEASE_SECONDS": 120,
              "REFRESH_RENEW_WITHIN_DAYS": 29, "REFRESH_INTERVAL_SECONDS": 300,
              "OUTREACH_INTERVAL_SECONDS": 900}
    config.update(extra)
    return config


def new_token():
    return "rt-test-" + secrets.token_urlsafe(12)


def make_connection(fake=None, email=None, division=1, status="active", refresh_token=None,
                    token_expires_at=None, last_refreshed_at=None, retry_count=0,
                    next_retry_at=None, failure_kind=None, issued_ago=86400 * 2, now=None):
    """A connection that is due by default (last refreshed two days ago)."""
    now = now or utcnow()
    refresh_token = refresh_token or new_token()
    if fake is not None:
        fake.register(refresh_token, issued_ago=issued_ago)
    if last_refreshed_at is None and token_expires_at is None:
        last_refreshed_at = now - datetime.timedelta(days=2)
    if token_expires_at is None:
        token_expires_at = last_refreshed_at + datetime.timedelta(seconds=600)
    user, _ = User.get_or_create(email=email or "c%s@example.nl" % secrets.token_hex(4))
    return Connection.create(
        user=user, division=division, status=status,
        access_token=encrypt_token(KEYS, "at-old-" + secrets.token_hex(4)),
        refresh_token=encrypt_token(KEYS, refresh_token),
        token_expires_at=token_expires_at,
        refresh_expires_at=(last_refreshed_at + datetime.timedelta(days=30)
                            if last_refreshed_at else None),
        last_refreshed_at=last_refreshed_at, retry_count=retry_count,
        next_retry_at=next_retry_at, failure_kind=failure_kind)


def refresh_token_of(connection_id):
    return decrypt_token(KEYS, Connection.get_by_id(connection_id).refresh_token)


def reload(connection):
    return Connection.get_by_id(getattr(connection, "id", connection))
