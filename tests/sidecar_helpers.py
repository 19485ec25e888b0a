"""Helpers shared by the sidecar/token tests: a fake Exact and connection rows."""

import pytest

from models import Connection
from portal.exact.crypto import decrypt_token
from portal.exact.fake import FakeExact
from tests.conftest import TEST_TOKEN_KEY
from tests.factories import make_connection, new_token  # noqa: F401 (shared helpers)

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


def refresh_token_of(connection_id):
    return decrypt_token(KEYS, Connection.get_by_id(connection_id).refresh_token)


def reload(connection):
    return Connection.get_by_id(getattr(connection, "id", connection))
