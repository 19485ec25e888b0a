"""HTTP client for Exact Online's OAuth token endpoint.

One `requests.Session` per thread (keep-alive to Exact, no shared mutable
session between worker threads), a connect timeout plus EXACT_TIMEOUT_SECONDS
as read timeout. Every answer becomes a `RefreshResult` with one of four
outcomes the state machine in portal/tokens.py understands:

* success   — valid token JSON: new access and refresh token, expires_in
* too_early — Exact's "access_token not expired" (400 or 401): not a failure
* transient — timeout, connection error, 5xx, 429, unknown 4xx, garbage answer
* permanent — "Old refresh token used", refresh token expired, invalid_grant

Tokens never leave this module in an error message or a log line: errors are
built from Exact's `error`/`error_description` fields and HTTP status only.
"""
import datetime
import email.utils
import threading
import time
from dataclasses import dataclass

import requests

SUCCESS, TOO_EARLY, TRANSIENT, PERMANENT = "success", "too_early", "transient", "permanent"
TOKEN_PATH = "/api/oauth2/token"
CONNECT_TIMEOUT_SECONDS = 5
# Exact refuses a refresh earlier than this many seconds after the last one.
MIN_SECONDS_BETWEEN_REFRESHES = 570
ACCESS_TOKEN_SECONDS = 600

_PERMANENT_MARKERS = ("old refresh token used", "refresh token expired",
                      "refresh token is expired", "refresh_token expired",
                      "refresh token has expired", "invalid refresh token")
_PERMANENT_ERRORS = ("invalid_grant",)


@dataclass
class RefreshResult:
    outcome: str
    http_status: int = None
    access_token: str = None
    refresh_token: str = None
    expires_in: int = None
    retry_at: datetime.datetime = None  # 429: when Exact says we may call again
    error: str = None  # plain words, never a token
    duration_ms: int = 0

    def __repr__(self):  # never print tokens, even in a debugger or traceback
        return "RefreshResult(outcome=%r, http_status=%r, error=%r)" % (
            self.outcome, self.http_status, self.error)


def _retry_at_from_headers(headers, now):
    """The later of Retry-After (seconds or HTTP date) and X-RateLimit-*Reset (epoch ms)."""
    candidates = []
    retry_after = headers.get("Retry-After")
    if retry_after:
        retry_after = retry_after.strip()
        if retry_after.isdigit():
            candidates.append(now + datetime.timedelta(seconds=int(retry_after)))
        else:
            try:
                parsed = email.utils.parsedate_to_datetime(retry_after)
                if parsed.tzinfo is not None:
                    parsed = parsed.astimezone(datetime.timezone.utc).replace(tzinfo=None)
                candidates.append(parsed)
            except (TypeError, ValueError):
                pass
    for name, value in headers.items():
        lower = name.lower()
        if lower.startswith("x-ratelimit") and lower.endswith("reset"):
            try:
                ms = int(str(value).strip())
            except ValueError:
                continue
            # Exact sends epoch milliseconds; tolerate seconds too.
            seconds = ms / 1000.0 if ms > 10_000_000_000 else float(ms)
            candidates.append(datetime.datetime.fromtimestamp(
                seconds, datetime.timezone.utc).replace(tzinfo=None))
    return max(candidates) if candidates else None


def _error_fields(response):
    try:
        body = response.json()
    except ValueError:
        return "", ""
    if not isinstance(body, dict):
        return "", ""
    return str(body.get("error") or "")[:100], str(body.get("error_description") or "")[:300]


def classify(response, now):
    """Turn an HTTP answer from the token endpoint into a RefreshResult."""
    status = response.status_code
    if status == 200:
        try:
            body = response.json()
        except ValueError:
            return RefreshResult(TRANSIENT, status, error="Exact answered with something "
                                 "that is not JSON; stored tokens were kept")
        access = body.get("access_token") if isinstance(body, dict) else None
        refresh = body.get("refresh_token") if isinstance(body, dict) else None
        try:
            expires_in = int(str(body.get("expires_in")).strip())
        except (AttributeError, TypeError, ValueError):
            expires_in = None
        if not (isinstance(access, str) and access and isinstance(refresh, str) and refresh
                and expires_in and expires_in > 0):
            return RefreshResult(TRANSIENT, status, error="Exact answered without a complete "
                                 "token; stored tokens were kept")
        return RefreshResult(SUCCESS, status, access_token=access, refresh_token=refresh,
                             expires_in=expires_in)
    error, description = _error_fields(response)
    said = ("%s: %s" % (error, description)).strip(": ") or "no details"
    if status == 429:
        return RefreshResult(TRANSIENT, status, retry_at=_retry_at_from_headers(
            response.headers, now), error="Exact's rate limit was reached (429)")
    if status >= 500:
        return RefreshResult(TRANSIENT, status, error="Exact had a server error (%d)" % status)
    text = description.lower()
    if status in (400, 401) and "not expired" in text:
        return RefreshResult(TOO_EARLY, status, error="Exact says the access token has not "
                             "expired yet (%s)" % said)
    if error.lower() in _PERMANENT_ERRORS or any(m in text for m in _PERMANENT_MARKERS):
        return RefreshResult(PERMANENT, status, error=said)
    # Unknown 4xx (also invalid_client: our configuration, not the customer's
    # connection): retry on the ladder rather than declare the connection dead.
    return RefreshResult(TRANSIENT, status, error="Exact refused the refresh (%d, %s)"
                         % (status, said))


class ExactClient:
    """Calls Exact's token endpoint; safe to share between worker threads."""

    def __init__(self, base_url, client_id, client_secret, timeout=30,
                 connect_timeout=CONNECT_TIMEOUT_SECONDS, pool_size=8):
        self.token_url = base_url.rstrip("/") + TOKEN_PATH
        self.client_id = client_id
        self.client_secret = client_secret
        self.timeout = (connect_timeout, timeout)
        self.pool_size = pool_size
        self._local = threading.local()

    @classmethod
    def from_config(cls, config):
        return cls(config["EXACT_BASE_URL"], config.get("EXACT_CLIENT_ID", ""),
                   config.get("EXACT_CLIENT_SECRET", ""),
                   timeout=float(config.get("EXACT_TIMEOUT_SECONDS", 30)),
                   connect_timeout=float(config.get("EXACT_CONNECT_TIMEOUT_SECONDS",
                                                    CONNECT_TIMEOUT_SECONDS)),
                   pool_size=int(config.get("SIDECAR_WORKERS", 8)))

    def _session(self):
        session = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            adapter = requests.adapters.HTTPAdapter(pool_connections=1,
                                                    pool_maxsize=2, max_retries=0)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            self._local.session = session
        return session

    def refresh(self, refresh_token, now=None):
        """POST grant_type=refresh_token; never raises for network trouble."""
        started = time.monotonic()
        data = {"grant_type": "refresh_token", "refresh_token": refresh_token,
                "client_id": self.client_id, "client_secret": self.client_secret}
        try:
            response = self._session().post(self.token_url, data=data, timeout=self.timeout,
                                            headers={"Accept": "application/json"})
        except requests.Timeout:
            result = RefreshResult(TRANSIENT, error="Exact did not answer within %ss"
                                   % self.timeout[1])
        except requests.RequestException as exc:
            result = RefreshResult(TRANSIENT, error="Could not reach Exact (%s)"
                                   % type(exc).__name__)
        else:
            from models import utcnow
            result = classify(response, now or utcnow())
        result.duration_ms = int((time.monotonic() - started) * 1000)
        return result
