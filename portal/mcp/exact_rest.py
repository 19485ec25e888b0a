"""Exact Online's REST API (OData v2) for the MCP tools, over `requests`.

Every user string that goes into `$filter` passes through `odata_string`
(quoted with ', a ' inside doubled); `$top` is bounded to MAX_TOP; `__next`
is followed only until `top` rows are in hand. Answers are converted to plain
JSON: `/Date(ms)/` becomes ISO 8601, amounts stay numbers.
"""
import datetime
import re
import threading

import requests

from models import database

from portal.exact.tokens import TokenUnavailable, get_access_token

MAX_TOP = 100
DATE_PATTERN = re.compile(r"^/Date\((-?\d+)([+-]\d{4})?\)/$")


class ExactCallFailed(Exception):
    """Exact did not give an answer the tool can use; `status` is 429 or 502."""

    def __init__(self, status, message, retry_at=None, headers=None):
        super().__init__(message)
        self.status = status
        self.retry_at = retry_at
        self.headers = headers or {}


def odata_string(text):
    """An OData string literal: quoted with ', every ' inside doubled."""
    return "'" + str(text).replace("'", "''") + "'"


def bounded_top(top, default=20):
    if top is None:
        return default
    return max(1, min(MAX_TOP, int(top)))


def odata_date(value):
    """'/Date(1700000000000)/' -> '2023-11-14T22:13:20Z'; anything else unchanged."""
    if isinstance(value, str):
        m = DATE_PATTERN.match(value)
        if m:
            dt = datetime.datetime.fromtimestamp(int(m.group(1)) / 1000.0, datetime.timezone.utc)
            return dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    return value


def number(value):
    if value is None or isinstance(value, (int, float)):
        return value
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _reset_at(headers):
    for name in ("X-RateLimit-Minutely-Reset", "X-RateLimit-Reset"):
        value = headers.get(name)
        if value and str(value).isdigit():
            return datetime.datetime.fromtimestamp(int(value) / 1000.0, datetime.timezone.utc
                                                   ).replace(tzinfo=None)
    return None


class ExactRest:
    """GETs for one process; one requests.Session (connection pool) per thread."""

    def __init__(self, config, on_answer=None):
        self.config = config
        self.base_url = config["EXACT_BASE_URL"].rstrip("/")
        self.timeout = (5, float(config.get("EXACT_TIMEOUT_SECONDS", 30)))
        self.on_answer = on_answer  # (division, headers, is_error) after every answer
        self._local = threading.local()

    def _session(self):
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
        return session

    def _get(self, url, params, token, division):
        # Hand the database connection back to the pool while Exact answers: held
        # across the call, every call in flight would pin one of the pool's
        # connections and the rest would queue for them.
        if not database.is_closed() and not database.in_transaction():
            database.close()
        try:
            response = self._session().get(url, params=params, timeout=self.timeout,
                                           headers={"Authorization": "Bearer " + token,
                                                    "Accept": "application/json"})
        except requests.RequestException as exc:
            raise ExactCallFailed(502, "Exact Online could not be reached (%s)."
                                  % type(exc).__name__)
        if self.on_answer is not None:
            self.on_answer(division, response.headers, response.status_code >= 400
                           and response.status_code != 401)
        return response

    def fetch(self, connection_id, division, path, params, top):
        """Up to `top` rows of GET /api/v1/{division}/{path}, following __next within top."""
        top = bounded_top(top)
        query = dict(params or {})
        query["$top"] = str(top)
        url = "%s/api/v1/%d/%s" % (self.base_url, division, path)
        token = self._token(connection_id)
        rows, retried = [], False
        while url and len(rows) < top:
            response = self._get(url, query, token, division)
            if response.status_code == 401 and not retried:
                retried = True  # one refresh and one retry, never a loop
                token = self._token(connection_id, rejected=token)
                continue
            self._raise_for(response, division)
            try:
                d = response.json()["d"]
                page = d["results"] if isinstance(d, dict) and "results" in d else d
                next_url = d.get("__next") if isinstance(d, dict) else None
            except (ValueError, KeyError, TypeError, AttributeError):
                raise ExactCallFailed(502, "Exact Online sent an answer that is not OData JSON.")
            rows.extend(page)
            url, query = next_url, None  # __next carries the whole query
        return rows[:top]

    def _token(self, connection_id, rejected=None):
        try:
            return get_access_token(connection_id, config=self.config, rejected_token=rejected)
        except TokenUnavailable as exc:
            raise ExactCallFailed(502, "No valid Exact Online token for this connection: %s"
                                  % exc)

    @staticmethod
    def _raise_for(response, division):
        status = response.status_code
        if status == 200:
            return
        if status == 429:
            retry_at = _reset_at(response.headers)
            raise ExactCallFailed(429, "Exact Online's rate limit for division %d is reached; "
                                  "retry after %s UTC." % (division, retry_at.isoformat(
                                      timespec="seconds") if retry_at else "a minute"),
                                  retry_at=retry_at)
        if status == 401:
            raise ExactCallFailed(502, "Exact Online refused the connection's access token "
                                  "again after a refresh; the customer may need to reconnect.")
        if status == 403:
            raise ExactCallFailed(502, "Exact Online refused access to division %d for this "
                                  "connection." % division)
        raise ExactCallFailed(502, "Exact Online answered HTTP %d." % status)
