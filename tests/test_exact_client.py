"""The Exact client against the fake over a real socket: every answer classified."""
import datetime
import logging
import time

import pytest

from models import utcnow
from portal.exact.client import PERMANENT, SUCCESS, TOO_EARLY, TRANSIENT, ExactClient
from portal.exact.fake import FakeExact
from tests.conftest import free_port
from tests.sidecar_helpers import fake  # noqa: F401


def client_for(server, timeout=2):
    return ExactClient(server.url, "test-client", "test-secret", timeout=timeout,
                       connect_timeout=1)


def test_success_rotates_and_parses_string_expires_in(fake):  # noqa: F811
    fake.register("rt-1")
    result = client_for(fake).refresh("rt-1")
    assert result.outcome == SUCCESS and result.http_status == 200
    assert result.expires_in == 600
    assert result.refresh_token != "rt-1" and result.access_token
    assert "rt-1" not in repr(result) and result.refresh_token not in repr(result)
    # The old token died: a reuse is "Old refresh token used." -> permanent.
    again = client_for(fake).refresh("rt-1")
    assert again.outcome == PERMANENT and again.http_status == 401
    assert "Old refresh token used" in again.error
    assert fake.uses("rt-1") == 2


def test_refresh_within_570_seconds_is_too_early_and_keeps_the_token(fake):  # noqa: F811
    fake.register("rt-young", issued_ago=100)
    result = client_for(fake).refresh("rt-young")
    assert result.outcome == TOO_EARLY and result.http_status == 400
    fake.advance(500)
    assert client_for(fake).refresh("rt-young").outcome == SUCCESS


@pytest.mark.parametrize("kind,outcome,status", [
    ("500", TRANSIENT, 500),
    ("malformed", TRANSIENT, 200),
    ("invalid_grant", PERMANENT, 400),
    ("refresh_expired", PERMANENT, 400),
    ("old_token", PERMANENT, 401),
    ("too_early", TOO_EARLY, 400),
])
def test_injected_faults_are_classified(fake, kind, outcome, status):  # noqa: F811
    fake.register("rt-x")
    fake.inject(kind)
    result = client_for(fake).refresh("rt-x")
    assert (result.outcome, result.http_status) == (outcome, status)
    assert result.access_token is None and result.refresh_token is None
    assert "rt-x" not in (result.error or "")


def test_401_access_token_not_expired_is_too_early(monkeypatch):
    from portal.exact.client import classify

    class Answer:
        status_code = 401
        headers = {}

        def json(self):
            return {"error": "unauthorized", "error_description": "Access Token not expired"}
    assert classify(Answer(), utcnow()).outcome == TOO_EARLY


def test_hang_longer_than_timeout_is_transient(fake):  # noqa: F811
    fake.register("rt-h")
    fake.inject("hang", seconds=3)
    started = time.monotonic()
    result = client_for(fake, timeout=0.5).refresh("rt-h")
    assert result.outcome == TRANSIENT and result.http_status is None
    assert "did not answer" in result.error
    assert time.monotonic() - started < 2.5


def test_connection_refused_is_transient():
    client = ExactClient("http://127.0.0.1:%d" % free_port(), "c", "s", timeout=1,
                         connect_timeout=1)
    result = client.refresh("rt-nowhere")
    assert result.outcome == TRANSIENT and "Could not reach Exact" in result.error


def test_429_carries_the_reset_time(fake):  # noqa: F811
    fake.register("rt-r")
    reset = utcnow() + datetime.timedelta(hours=2)
    epoch_ms = int(reset.replace(tzinfo=datetime.timezone.utc).timestamp() * 1000)
    fake.inject("429", reset_ms=epoch_ms)
    result = client_for(fake).refresh("rt-r")
    assert result.outcome == TRANSIENT and result.http_status == 429
    assert abs((result.retry_at - reset).total_seconds()) < 1
    fake.inject("429", retry_after=900)
    result = client_for(fake).refresh("rt-r")
    assert abs((result.retry_at - (utcnow() + datetime.timedelta(seconds=900)))
               .total_seconds()) < 5


def test_strict_mode_refuses_unknown_tokens_demo_mode_accepts_them_once():
    with FakeExact(mode="strict") as strict, FakeExact(mode="demo") as demo:
        assert client_for(strict).refresh("rt-unknown").outcome == PERMANENT
        assert client_for(demo).refresh("rt-unknown").outcome == SUCCESS
        assert client_for(demo).refresh("rt-unknown").outcome == PERMANENT


def test_control_api_over_http(fake):  # noqa: F811
    import requests
    base = fake.url + "/_control/"
    assert requests.post(base + "register", json={"tokens": ["rt-c"]}).ok
    assert requests.post(base + "inject", json={"kind": "500", "count": 1}).ok
    assert client_for(fake).refresh("rt-c").outcome == TRANSIENT
    assert client_for(fake).refresh("rt-c").outcome == SUCCESS
    assert requests.post(base + "uses", json={"tokens": ["rt-c"]}).json() == {"rt-c": 2}
    assert requests.get(base + "stats").json()["calls"] == 2


def test_client_never_logs_tokens(fake, caplog):  # noqa: F811
    caplog.set_level(logging.DEBUG)
    fake.register("rt-secret-value")
    result = client_for(fake).refresh("rt-secret-value")
    assert result.outcome == SUCCESS
    assert "rt-secret-value" not in caplog.text and result.refresh_token not in caplog.text
