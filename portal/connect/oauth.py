"""Exact Online's OAuth authorization-code flow, without Flask.

* `start_flow` makes a random `state` (sent to Exact) bound to a random browser
  id (kept in a cookie by the route); only SHA-256 hashes of both are stored,
  in `oauth_states`, with the requested division and a 10-minute expiry.
* `consume_state` uses a state exactly once: one conditional UPDATE that also
  checks the browser id and the expiry, so a replayed, tampered, expired or
  foreign (other browser) state is refused before anything else happens.
* `exchange_code`, `fetch_me`, `fetch_divisions` talk to Exact with `requests`
  (connect timeout + EXACT_TIMEOUT_SECONDS). Errors carry plain words and
  Exact's error fields only: never a code, state or token.
"""
import datetime
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from urllib.parse import urlencode

import requests

from models import OAuthState, utcnow

from portal.exact.client import CONNECT_TIMEOUT_SECONDS, SUCCESS, TOKEN_PATH, classify

STATE_LIFETIME = datetime.timedelta(minutes=10)
AUTHORIZE_PATH = "/api/oauth2/auth"
CALLBACK_PATH = "/connect/exact/callback"
MAX_DIVISION = 2 ** 31 - 1


class StateError(ValueError):
    """The state is unknown, used, expired or belongs to another browser."""


class ExactError(RuntimeError):
    """Exact did not give what the flow needs; the message is for the customer."""


def _hash(value):
    return hashlib.sha256((value or "").encode("utf-8")).hexdigest()


def redirect_uri(config):
    return (config.get("PUBLIC_BASE_URL") or "").rstrip("/") + CALLBACK_PATH


def new_browser_id():
    return secrets.token_urlsafe(32)


def start_flow(config, browser_id, now, division=None, mode=""):
    """Store a new state for this browser; returns the URL to send the browser to."""
    state = secrets.token_urlsafe(32)
    # Old rows are useless after their expiry; keep the table small.
    OAuthState.delete().where(OAuthState.expires_at < now - datetime.timedelta(days=1)).execute()
    OAuthState.create(state_hash=_hash(state), browser_hash=_hash(browser_id),
                      division=division, mode=mode or "", created_at=now,
                      expires_at=now + STATE_LIFETIME)
    return authorize_url(config, state)


def authorize_url(config, state):
    query = urlencode({"client_id": config.get("EXACT_CLIENT_ID", ""),
                       "redirect_uri": redirect_uri(config),
                       "response_type": "code", "state": state})
    return config["EXACT_BASE_URL"].rstrip("/") + AUTHORIZE_PATH + "?" + query


def consume_state(state, browser_id, now):
    """The OAuthState row for `state`, marked used; raises StateError if it may not be used."""
    if not state or not browser_id or len(state) > 200 or len(browser_id) > 200:
        raise StateError("missing")
    digest = _hash(state)
    row = OAuthState.get_or_none(OAuthState.state_hash == digest)
    if row is None or not hmac.compare_digest(row.browser_hash, _hash(browser_id)):
        raise StateError("unknown")
    used = (OAuthState.update(used_at=now)
            .where((OAuthState.id == row.id) & OAuthState.used_at.is_null()
                   & (OAuthState.expires_at > now)).execute())
    if used != 1:
        raise StateError("used or expired")
    return row


@dataclass
class TokenSet:
    access_token: str
    refresh_token: str
    expires_in: int

    def __repr__(self):  # never show tokens, even in a traceback
        return "TokenSet(expires_in=%r)" % self.expires_in


def _timeout(config):
    return (CONNECT_TIMEOUT_SECONDS, float(config.get("EXACT_TIMEOUT_SECONDS", 30)))


def exchange_code(config, code, now=None):
    """POST grant_type=authorization_code; a TokenSet or ExactError."""
    data = {"grant_type": "authorization_code", "code": code,
            "redirect_uri": redirect_uri(config),
            "client_id": config.get("EXACT_CLIENT_ID", ""),
            "client_secret": config.get("EXACT_CLIENT_SECRET", "")}
    try:
        response = requests.post(config["EXACT_BASE_URL"].rstrip("/") + TOKEN_PATH, data=data,
                                 timeout=_timeout(config), headers={"Accept": "application/json"})
    except requests.Timeout:
        raise ExactError("Exact Online did not answer in time.")
    except requests.RequestException as exc:
        raise ExactError("Exact Online could not be reached (%s)." % type(exc).__name__)
    result = classify(response, now or utcnow())
    if result.outcome != SUCCESS:
        raise ExactError("Exact Online did not accept the sign-in (%s)." % (
            result.error or "HTTP %s" % response.status_code))
    return TokenSet(result.access_token, result.refresh_token, result.expires_in)


def _get(config, path, access_token):
    try:
        response = requests.get(config["EXACT_BASE_URL"].rstrip("/") + path,
                                timeout=_timeout(config),
                                headers={"Accept": "application/json",
                                         "Authorization": "Bearer " + access_token})
    except requests.RequestException as exc:
        raise ExactError("Exact Online could not be reached (%s)." % type(exc).__name__)
    if response.status_code != 200:
        raise ExactError("Exact Online answered %d when we asked who you are."
                         % response.status_code)
    try:
        results = response.json()["d"]["results"]
    except (ValueError, KeyError, TypeError):
        raise ExactError("Exact Online gave an answer we could not read.")
    if not isinstance(results, list):
        raise ExactError("Exact Online gave an answer we could not read.")
    return results


def _division(value):
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if 0 < number <= MAX_DIVISION else None


@dataclass
class ExactUser:
    email: str
    full_name: str
    current_division: int
    user_id: str


def fetch_me(config, access_token):
    results = _get(config, "/api/v1/current/Me", access_token)
    me = results[0] if results and isinstance(results[0], dict) else {}
    email = str(me.get("Email") or "").strip()
    division = _division(me.get("CurrentDivision"))
    if "@" not in email or len(email) > 254 or division is None:
        raise ExactError("Exact Online did not tell us your email address and administration.")
    return ExactUser(email=email, full_name=str(me.get("FullName") or "")[:255],
                     current_division=division, user_id=str(me.get("UserID") or "")[:64])


def fetch_divisions(config, access_token, current_division):
    """[(code, description)] of the divisions this Exact user can open."""
    results = _get(config, "/api/v1/%d/system/Divisions" % current_division, access_token)
    found = []
    for item in results:
        if isinstance(item, dict) and _division(item.get("Code")) is not None:
            found.append((_division(item["Code"]), str(item.get("Description") or "")[:255]))
    return found
