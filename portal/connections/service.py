"""What staff see and do with Exact connections (no Flask here).

Listing with status filter, email search, sorting and pagination; the counts
per status; "Retry now" and "Reset to retry", each audited in the same
transaction as the change; the sidecar's heartbeats and recent job runs.
"""
from dataclasses import dataclass

from peewee import fn

from models import (CONNECTION_STATUSES, Connection, RefreshAttempt,
                    User, database, utcnow)

from portal.core import audit
from portal.exact.tokens import MIN_INTERVAL

PER_PAGE = 50
SORTS = {
    "next_retry_at": ("Next retry (soonest first)", Connection.next_retry_at),
    "token_expires_at": ("Token expiry (soonest first)", Connection.token_expires_at),
    "id": ("Newest first", None),
}


@dataclass
class ConnectionPage:
    rows: list
    total: int
    page: int
    pages: int


def status_counts():
    """{status: connections} for every connection status, in the schema's order."""
    counts = {s: 0 for s in CONNECTION_STATUSES}
    for status, n in (Connection.select(Connection.status, fn.COUNT(Connection.id))
                      .group_by(Connection.status).tuples()):
        counts[status] = n
    return counts


def list_connections(status=None, q=None, sort="next_retry_at", page=1, per_page=PER_PAGE):
    query = Connection.select(Connection, User).join(User)
    if status:
        query = query.where(Connection.status == status)
    if q:
        # Case-insensitive "contains" (ILIKE); peewee escapes the LIKE wildcards.
        query = query.where(User.email.contains(q.strip()))
    total = query.count()
    column = SORTS.get(sort, SORTS["next_retry_at"])[1]
    if column is None:
        query = query.order_by(Connection.id.desc())
    else:  # NULLs (nothing planned) last on both engines
        query = query.order_by(column.is_null(), column, Connection.id)
    pages = max(1, (total + per_page - 1) // per_page)
    page = min(max(1, page), pages)
    rows = list(query.paginate(page, per_page))
    return ConnectionPage(rows, total, page, pages)


def get_connection(connection_id):
    return (Connection.select(Connection, User).join(User)
            .where(Connection.id == connection_id).first())


def attempt_history(connection_id, limit=50):
    return list(RefreshAttempt.select().where(RefreshAttempt.connection == connection_id)
                .order_by(RefreshAttempt.attempted_at.desc(), RefreshAttempt.id.desc())
                .limit(limit))


def _snapshot(c):
    return {"status": c.status, "retry_count": c.retry_count,
            "next_retry_at": c.next_retry_at.isoformat() + "Z" if c.next_retry_at else None}


class ConnectionActionError(ValueError):
    """The action does not apply to this connection; the message says why."""


def retry_now(connection_id, actor, now=None):
    """Make a connection due immediately (the sidecar's next cycle refreshes it).

    An active connection becomes retry_pending with its retry count kept, so
    the retry_pending due rule picks it up; never before Exact's 570 s.
    """
    now = now or utcnow()
    with database.atomic():
        c = Connection.get_or_none(Connection.id == connection_id)
        if c is None:
            raise ConnectionActionError("This connection does not exist.")
        if c.status == "refresh_failed":
            raise ConnectionActionError("This connection has failed for good; an admin can "
                                        "use Reset to retry.")
        before = _snapshot(c)
        due = now
        if c.last_refreshed_at and c.last_refreshed_at + MIN_INTERVAL > now:
            due = c.last_refreshed_at + MIN_INTERVAL
        c.status, c.next_retry_at, c.updated_at = "retry_pending", due, now
        (Connection.update(status=c.status, next_retry_at=due, updated_at=now)
         .where(Connection.id == c.id).execute())
        audit.record(actor, "connection.retry_now", "connection", c.id, before=before,
                     after=_snapshot(c))
    return c


def reset_to_retry(connection_id, actor, now=None):
    """Admin: give a refresh_failed connection a fresh retry ladder, starting now."""
    now = now or utcnow()
    with database.atomic():
        c = Connection.get_or_none(Connection.id == connection_id)
        if c is None:
            raise ConnectionActionError("This connection does not exist.")
        if c.status != "refresh_failed":
            raise ConnectionActionError("Only a connection whose refresh failed can be reset.")
        before = _snapshot(c)
        c.status, c.retry_count, c.next_retry_at = "retry_pending", 0, now
        (Connection.update(status="retry_pending", retry_count=0, next_retry_at=now,
                           failure_kind=None, updated_at=now)
         .where(Connection.id == c.id).execute())
        audit.record(actor, "connection.reset_to_retry", "connection", c.id, before=before,
                     after=_snapshot(c))
    return c


