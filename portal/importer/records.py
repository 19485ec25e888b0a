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
import json
import re
from collections import namedtuple

from models import CONNECTION_STATUSES
from models.plans import PlanType

KINDS = ("customer", "connection", "api_usage")
PLANS = frozenset(PlanType.values())
STATUSES = frozenset(CONNECTION_STATUSES)
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
MAX_SHORT = 255          # CharField columns (varchar(255) on PostgreSQL)
MAX_TOKEN = 10_000       # an Exact token is ~1 KB; anything larger is not a token
MAX_INT32 = 2_147_483_647

Customer = namedtuple("Customer", "email name plan created_at")
ConnectionRecord = namedtuple(
    "ConnectionRecord",
    "email division access_token refresh_token token_expires_at status "
    "refresh_expires_at retry_count next_retry_at last_error")
Usage = namedtuple("Usage", "email timestamp endpoint response_status duration_ms")

# Optional connection fields: absent and null both mean "not given".
_UNSET = object()


class BadLine(ValueError):
    """This line cannot be imported; str() is the reason."""


def parse_time(value, field):
    if not isinstance(value, str) or not value.strip():
        raise BadLine("%s must be an ISO 8601 time such as 2026-01-02T03:04:05Z" % field)
    text = value.strip()
    if text[-1:] in ("Z", "z"):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.datetime.fromisoformat(text)
    except ValueError:
        raise BadLine("%s %r is not an ISO 8601 time (expected e.g. 2026-01-02T03:04:05Z)"
                      % (field, value))
    if parsed.tzinfo is None:
        raise BadLine("%s %r has no time zone; add Z (UTC) or an offset such as +01:00"
                      % (field, value))
    return parsed.astimezone(datetime.timezone.utc).replace(tzinfo=None)


def _optional_time(obj, field):
    value = obj.get(field)
    return None if value is None else parse_time(value, field)


def _int(value, field, low, high):
    # bool is an int in Python; true/false in the file is a mistake, not 1/0.
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadLine("%s must be a whole number, got %s" % (field, json.dumps(value)[:40]))
    if not low <= value <= high:
        raise BadLine("%s must be between %d and %d, got %d" % (field, low, high, value))
    return value


def _text(obj, field, required=True, max_len=MAX_SHORT, control_ok=False):
    value = obj.get(field)
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
    if not control_ok and CONTROL_RE.search(value):
        raise BadLine("%s contains control characters" % field)
    return value


def _email(obj):
    email = _text(obj, "email")
    if not EMAIL_RE.match(email):
        raise BadLine("email %r is not an email address" % email[:80])
    # Customers are matched by email; case never makes two customers.
    return email.lower()


def _customer(obj):
    plan = obj.get("plan")
    if plan is None:
        raise BadLine("plan is missing")
    if plan not in PLANS:
        raise BadLine("plan %s is not one of %s"
                      % (json.dumps(plan)[:40], ", ".join(PlanType.values())))
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
    if status not in STATUSES:
        raise BadLine("status %s is not one of %s"
                      % (json.dumps(status)[:40], ", ".join(CONNECTION_STATUSES)))
    if "token_expires_at" not in obj or obj["token_expires_at"] is None:
        raise BadLine("token_expires_at is missing")
    retry_count = obj.get("retry_count")
    last_error = obj.get("last_error")
    if last_error is not None:
        last_error = _text(obj, "last_error", required=False, max_len=MAX_TOKEN, control_ok=True)
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


def _usage(obj):
    if "response_status" not in obj:
        raise BadLine("response_status is missing")
    if "timestamp" not in obj:
        raise BadLine("timestamp is missing")
    duration = obj.get("duration_ms")
    return Usage(
        email=_email(obj),
        timestamp=parse_time(obj["timestamp"], "timestamp"),
        endpoint=_text(obj, "endpoint"),
        response_status=_int(obj["response_status"], "response_status", 100, 599),
        duration_ms=None if duration is None else _int(duration, "duration_ms", 0, MAX_INT32))


_PARSERS = {"customer": _customer, "connection": _connection, "api_usage": _usage}


def parse_line(raw):
    """One line (bytes or str) -> (kind, record); None for a blank line; BadLine if bad."""
    if not raw.strip():
        return None
    try:
        obj = json.loads(raw)
    except UnicodeDecodeError:
        raise BadLine("not UTF-8 text")
    except ValueError as exc:
        raise BadLine("not valid JSON (%s)" % exc)
    if not isinstance(obj, dict):
        raise BadLine("expected a JSON object, got %s" % type(obj).__name__)
    kind = obj.get("type")
    parser = _PARSERS.get(kind) if isinstance(kind, str) else None
    if parser is None:
        if kind is None:
            raise BadLine("type is missing (customer, connection or api_usage)")
        raise BadLine("type %s is not one of customer, connection, api_usage"
                      % json.dumps(kind)[:40])
    return kind, parser(obj)
