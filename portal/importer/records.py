"""Parsing and validating one line of the previous system's JSON Lines export.

`parse_line(raw)` turns one line into a normalised record (a tuple, cheap to
make a million of) or raises `BadLine` with a reason in plain words. It never
touches the database: whether a referenced customer exists is the importer's
question (portal.importer.service), because the answer depends on the whole file.

Times: ISO 8601 with `Z` or an offset, converted to naive UTC (the contract
stores naive UTC). A time without a zone is refused: guessing the zone of the
old system would silently shift every timestamp by an hour or two.
"""
import datetime
import functools
import json
import re
from collections import namedtuple

from models import CONNECTION_STATUSES
from models.plans import PlanType

from portal.core.text import find_text_problem

KINDS = ("customer", "connection", "api_usage")
PLANS = frozenset(PlanType.values())
STATUSES = frozenset(CONNECTION_STATUSES)
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MAX_SHORT = 255          # CharField columns (varchar(255) on PostgreSQL)
MAX_TOKEN = 10_000       # an Exact token is ~1 KB; anything larger is not a token
MAX_INT32 = 2_147_483_647

Customer = namedtuple("Customer", "email name plan created_at")
ConnectionRecord = namedtuple(
    "ConnectionRecord",
    "email division access_token refresh_token token_expires_at status "
    "refresh_expires_at retry_count next_retry_at last_error")
Usage = namedtuple("Usage", "email timestamp endpoint response_status duration_ms")

_UTC = datetime.timezone.utc
_combine = datetime.datetime.combine
_fromisoformat = datetime.datetime.fromisoformat

# Optional connection fields: absent and null both mean "not given".
_UNSET = object()


class BadLine(ValueError):
    """This line cannot be imported; str() is the reason."""


def _shown(value, limit=80):
    """A bad value quoted for a message: repr escapes what a terminal cannot show
    (controls, lone surrogates), and a huge value is cut."""
    return repr(value[:limit]) if isinstance(value, str) else repr(value)


def _json_shown(value):
    try:
        return json.dumps(value)[:40]
    except (ValueError, RecursionError):  # deeply nested, or an int too long to print
        return type(value).__name__


def parse_time(value, field):
    if not isinstance(value, str) or not value.strip():
        raise BadLine("%s must be an ISO 8601 time such as 2026-01-02T03:04:05Z" % field)
    text = value.strip()
    if text[-1:] in ("Z", "z"):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.datetime.fromisoformat(text)
    except ValueError:
        raise BadLine("%s %s is not an ISO 8601 time (expected e.g. 2026-01-02T03:04:05Z)"
                      % (field, _shown(value)))
    if parsed.tzinfo is None:
        raise BadLine("%s %s has no time zone; add Z (UTC) or an offset such as +01:00"
                      % (field, _shown(value)))
    if parsed.tzinfo is _UTC:
        # Nearly every line of an export: nothing to convert; combine() drops the
        # zone several times faster than replace(tzinfo=None).
        return _combine(parsed.date(), parsed.time())
    try:
        return parsed.astimezone(_UTC).replace(tzinfo=None)
    except OverflowError:  # 0001-01-01T00:00:00+14:00 is in year 0 in UTC
        raise BadLine("%s %s is outside the years 1 to 9999 once converted to UTC"
                      % (field, _shown(value)))


def _optional_time(obj, field):
    value = obj.get(field)
    return None if value is None else parse_time(value, field)


def _int(value, field, low, high):
    # bool is an int in Python; true/false in the file is a mistake, not 1/0.
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadLine("%s must be a whole number, got %s" % (field, _json_shown(value)))
    if not low <= value <= high:
        raise BadLine("%s must be between %d and %d, got %d" % (field, low, high, value))
    return value


def text_problem(value, multiline=False):
    """portal.core.text.find_text_problem (what the forms refuse: control characters,
    U+2028/U+2029, lone surrogates, U+FFFD), with a C-speed shortcut for the common case:
    every character it refuses is one str.isprintable() rejects, except U+FFFD."""
    if value.isprintable() and "\ufffd" not in value:
        return None
    return find_text_problem(value, max_len=len(value), multiline=multiline)


def _text(obj, field, required=True, max_len=MAX_SHORT, multiline=False):
    return _checked_text(obj.get(field), field, required, max_len, multiline)


def _checked_text(value, field, required=True, max_len=MAX_SHORT, multiline=False):
    if value is None:
        if required:
            raise BadLine("%s is missing" % field)
        return None
    if not isinstance(value, str):
        raise BadLine("%s must be a string" % field)
    value = value.strip()
    if required and not value:
        raise BadLine("%s is empty" % field)
    if len(value) > max_len:
        raise BadLine("%s is longer than %d characters" % (field, max_len))
    problem = text_problem(value, multiline)
    if problem:
        raise BadLine("%s is not acceptable text: %s" % (field, problem))
    return value


def _email(obj):
    value = obj.get("email")
    if isinstance(value, str):
        email, problem = _cached_email(value)
        if problem:
            raise BadLine(problem)
        return email
    return _checked_email(value)


def _checked_email(value):
    email = _checked_text(value, "email")
    if not EMAIL_RE.match(email):
        raise BadLine("email %s is not an email address" % _shown(email))
    # Customers are matched by email; case never makes two customers.
    return email.lower()


@functools.lru_cache(maxsize=1 << 16)
def _cached_email(value):
    """(email, None) or (None, reason): an export repeats each customer's email on
    every usage line, so each distinct one is checked once."""
    try:
        return _checked_email(value), None
    except BadLine as exc:
        return None, str(exc)


@functools.lru_cache(maxsize=1 << 12)
def _cached_endpoint(value):
    try:
        return _checked_text(value, "endpoint"), None
    except BadLine as exc:
        return None, str(exc)


def _customer(obj):
    plan = obj.get("plan")
    if plan is None:
        raise BadLine("plan is missing")
    if not isinstance(plan, str) or plan not in PLANS:
        raise BadLine("plan %s is not one of %s"
                      % (_json_shown(plan), ", ".join(PlanType.values())))
    created_at = obj.get("created_at")
    return Customer(
        email=_email(obj),
        name=_text(obj, "name", required=False),
        plan=plan,
        created_at=None if created_at is None else parse_time(created_at, "created_at"))


def _connection(obj):
    if "division" not in obj:
        raise BadLine("division is missing")
    status = obj.get("status")
    if status is None:
        raise BadLine("status is missing")
    if not isinstance(status, str) or status not in STATUSES:
        raise BadLine("status %s is not one of %s"
                      % (_json_shown(status), ", ".join(CONNECTION_STATUSES)))
    if "token_expires_at" not in obj or obj["token_expires_at"] is None:
        raise BadLine("token_expires_at is missing")
    retry_count = obj.get("retry_count")
    last_error = obj.get("last_error")
    if last_error is not None:
        # An error message from the old system: line breaks and tabs are fine here.
        last_error = _text(obj, "last_error", required=False, max_len=MAX_TOKEN, multiline=True)
    return ConnectionRecord(
        email=_email(obj),
        division=_int(obj["division"], "division", 1, MAX_INT32),
        access_token=_text(obj, "access_token", max_len=MAX_TOKEN),
        refresh_token=_text(obj, "refresh_token", max_len=MAX_TOKEN),
        token_expires_at=parse_time(obj["token_expires_at"], "token_expires_at"),
        status=status,
        refresh_expires_at=_optional_time(obj, "refresh_expires_at"),
        retry_count=None if retry_count is None else _int(retry_count, "retry_count", 0, 1000),
        next_retry_at=_optional_time(obj, "next_retry_at"),
        last_error=last_error)


def _usage_fields(obj, time_of):
    """The checks of a usage line, in the order of its messages; `time_of` turns the
    timestamp into what the caller keeps."""
    if "response_status" not in obj:
        raise BadLine("response_status is missing")
    if "timestamp" not in obj:
        raise BadLine("timestamp is missing")
    email = _email(obj)
    timestamp = time_of(obj["timestamp"])
    endpoint = obj.get("endpoint")
    if isinstance(endpoint, str):
        endpoint, problem = _cached_endpoint(endpoint)
        if problem:
            raise BadLine(problem)
    else:
        endpoint = _checked_text(endpoint, "endpoint")
    status = obj["response_status"]
    if type(status) is not int or not 100 <= status <= 599:
        status = _int(status, "response_status", 100, 599)
    duration = obj.get("duration_ms")
    if duration is not None:
        duration = _int(duration, "duration_ms", 0, MAX_INT32)
    return email, timestamp, endpoint, status, duration


def _usage_time(value):
    return parse_time(value, "timestamp")


def _usage(obj):
    return Usage._make(_usage_fields(obj, _usage_time))


def utc_text(value, field="timestamp"):
    """str(parse_time(value, field)): naive UTC as text, "YYYY-MM-DD HH:MM:SS[.ffffff]".

    An export writes nearly every time as "YYYY-MM-DDTHH:MM:SSZ", already that text
    but for the T; for it, fromisoformat() only checks the numbers (month 13, 30
    February), several times faster than making the datetime's text."""
    return _plain_utc_text(value) or str(parse_time(value, field))


def _plain_utc_text(value):
    """utc_text of a valid "YYYY-MM-DDTHH:MM:SSZ"; None for anything else (parse_time
    then says what is wrong, or converts the other forms)."""
    if (type(value) is str and len(value) == 20 and value[19] == "Z" and value[10] == "T"
            and value[4] == "-" and value[7] == "-" and value[13] == ":" and value[16] == ":"):
        try:
            _fromisoformat(value[:19])
        except ValueError:
            return None
        return value[:10] + " " + value[11:19]
    return None


def _usage_row(obj):
    """A usage line as the import spools it: (email, utc_text, endpoint, status, duration)."""
    return _usage_fields(obj, utc_text)


_PARSERS = {"customer": _customer, "connection": _connection, "api_usage": _usage}
_IMPORT_PARSERS = dict(_PARSERS, api_usage=_usage_row)


_scan = json.JSONDecoder().scan_once
_JSON_SPACE = " \t\n\r"


def _decode(raw):
    """json.loads(raw), and BadLine instead of its exceptions.

    The fast path is the decoder's own C scanner on the decoded line; anything it
    does not take as a whole (an error, leading space, a BOM, another encoding) goes
    through json.loads, so what is accepted and the messages stay json.loads's."""
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        obj, end = _scan(text, 0)
        if end == len(text) or not text[end:].strip(_JSON_SPACE):
            return obj
    except (ValueError, StopIteration, RecursionError):  # UnicodeDecodeError is a ValueError
        pass
    try:
        return json.loads(raw)
    except UnicodeDecodeError:
        raise BadLine("not UTF-8 text")
    except RecursionError:
        raise BadLine("not valid JSON (nested too deeply)")
    except ValueError as exc:
        raise BadLine("not valid JSON (%s)" % exc)


def parse_line(raw):
    """One line (bytes or str) -> (kind, record); None for a blank line; BadLine if bad."""
    return _parse(raw, _PARSERS)


def parse_line_for_import(raw):
    """parse_line, but an api_usage record is the plain tuple of _usage_row (a million
    of them are made and spooled by the import: no namedtuple, no datetime).

    The usual usage line is done here in one function: at a million lines each
    function call of the general path costs a tenth of a second. Whatever is not
    plainly valid takes the general path (_parse), which gives the same result and,
    for a bad line, its reason."""
    try:
        text = raw.decode("utf-8") if type(raw) is bytes else raw
        obj, end = _scan(text, 0)
        if ((end != len(text) and text[end:] != "\n") or type(obj) is not dict
                or obj.get("type") != "api_usage"):
            obj = None
    except Exception:  # noqa: BLE001 - anything unusual: the general path says what
        obj = None
    if obj is not None:
        email = obj.get("email")
        value = obj.get("timestamp")
        endpoint = obj.get("endpoint")
        status = obj.get("response_status")
        duration = obj.get("duration_ms")
        if (type(email) is str and type(endpoint) is str and type(status) is int
                and 100 <= status <= 599 and (duration is None or (
                    type(duration) is int and 0 <= duration <= MAX_INT32))):
            timestamp = _plain_utc_text(value)
            email, problem = _cached_email(email)
            endpoint, endpoint_problem = _cached_endpoint(endpoint)
            if timestamp is not None and problem is None and endpoint_problem is None:
                return "api_usage", (email, timestamp, endpoint, status, duration)
    return _parse(raw, _IMPORT_PARSERS)


def _parse(raw, parsers):
    if not raw or raw.isspace():
        return None
    obj = _decode(raw)
    if not isinstance(obj, dict):
        raise BadLine("expected a JSON object, got %s" % type(obj).__name__)
    kind = obj.get("type")
    parser = parsers.get(kind) if isinstance(kind, str) else None
    if parser is None:
        if kind is None:
            raise BadLine("type is missing (customer, connection or api_usage)")
        raise BadLine("type %s is not one of customer, connection, api_usage"
                      % _json_shown(kind))
    return kind, parser(obj)
