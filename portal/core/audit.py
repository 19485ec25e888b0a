"""The audit log: every write by staff, and every login attempt.

Services call `record(actor, ...)` inside the same transaction as the change it
describes, so the change and its audit row land together or not at all. A row
says who (staff id + email), what (action, e.g. "customer.plan_change"), which
record (target type + id), a before/after summary, when (naive UTC) and from
which address. `search(...)` is what the admin audit page reads.

No Flask here: the web layer builds the `Actor` (portal.core.web.current_actor)
and hands it to the service; commands use `Actor.cli()`.
"""
import getpass
import json
from dataclasses import dataclass

from models import AuditLog, utcnow
from portal.core.pagination import day_range

MAX_SUMMARY = 20_000  # a before/after summary, not a copy of huge bodies
PAGE_SIZE = 50


def _summary(value):
    if value is None:
        return ""
    if not isinstance(value, str):
        value = json.dumps(value, default=str, sort_keys=True, ensure_ascii=False)
    if len(value) > MAX_SUMMARY:
        value = value[:MAX_SUMMARY] + "… (%d characters cut)" % (len(value) - MAX_SUMMARY)
    return value


def _short(value):
    return ("" if value is None else str(value))[:255]


@dataclass(frozen=True)
class Actor:
    """Who did it: a staff member (a Staff row) or nobody signed in, and from where.

    `email` is what the row shows: the staff member's email by default, the
    email typed at a failed login, or "cli" for operator commands.
    """
    staff: object = None
    email: str = ""
    ip: str = ""

    @classmethod
    def cli(cls):
        """An operator command: "cli:<login name>" where the system has one."""
        try:
            return cls(email="cli:" + getpass.getuser())
        except Exception:  # no login name in some containers
            return cls(email="cli")

    def as_email(self, email):
        """The same address, shown under another email (a refused login)."""
        return Actor(staff=None, email=email, ip=self.ip)

    @property
    def shown_email(self):
        return self.email or (self.staff.email if self.staff is not None else "")


def record(actor, action, target_type="", target_id="", before=None, after=None):
    """Add one audit row for `actor` (an Actor)."""
    staff = actor.staff
    return AuditLog.create(
        staff=staff.id if staff is not None else None,
        staff_email=_short(actor.shown_email),
        action=_short(action),
        target_type=_short(target_type),
        target_id=_short(target_id),
        before=_summary(before),
        after=_summary(after),
        ip=_short(actor.ip),
        created_at=utcnow(),
    )


def search(person="", action="", date_from=None, date_to=None, before_id=None,
           limit=PAGE_SIZE):
    """Newest first, keyset-paginated on id. Returns (rows, next_before_id or None).

    person: part of the email (case-insensitive). action: an exact action or
    its prefix ("login" matches login.success, login.failure, ...).
    date_from/date_to: dates, both inclusive (UTC days).
    """
    query = AuditLog.select().order_by(AuditLog.id.desc())
    if person:
        query = query.where(AuditLog.staff_email.contains(person.strip().lower()))
    if action:
        action = action.strip()
        query = query.where((AuditLog.action == action)
                            | AuditLog.action.startswith(action.rstrip(".") + "."))
    start, end = day_range(date_from, date_to)
    if start:
        query = query.where(AuditLog.created_at >= start)
    if end:
        query = query.where(AuditLog.created_at < end)
    if before_id:
        query = query.where(AuditLog.id < before_id)
    rows = list(query.limit(limit + 1))
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (rows[-1].id if more and rows else None)


def known_actions():
    return [r.action for r in AuditLog.select(AuditLog.action).distinct()
            .order_by(AuditLog.action).limit(500)]
