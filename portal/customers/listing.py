"""The customer list: search, filters, sorts and keyset pagination (no OFFSET, no COUNT).

A page is found by seeking in an index from a cursor, so page 1,000 costs what
page 1 costs. The cursor is (segment, sort value, id): `id` breaks ties in the
sort value, and `segment` handles customers that have no sort value (never
active, no usage this month). Those come after the others, ordered by id, as a
second range scan instead of a NULL-aware expression no index can serve.

Indexes behind it (migration 0040): users (created_at, id),
users (last_active_at, id), usage_monthly (month, calls, user_id), and a
case-insensitive prefix index on users.email and users.name (NOCASE on SQLite,
lower(...) text_pattern_ops on PostgreSQL, which works under any collation).

"Has errors in the last 24 h" is answered from the per-customer daily rollup
(usage_daily_users.error_calls for today and yesterday, a primary-key probe)
and then confirmed on the raw rows through idx_api_usage_user_month, so it is
exact for the last 24 hours and cheap for the customers without errors.
"""
import base64
import datetime
import json
from dataclasses import dataclass, field

from peewee import SQL, NodeList, Value, fn

from models import (CONNECTION_STATUSES, ApiUsage, Connection, PlanType, UsageDailyUser,
                    UsageMonthly, User, utcnow)
from models.db import is_postgres
from portal.core.ids import MAX_ID
from portal.core.pagination import BadCursor

PAGE_SIZE = 50
SORTS = {"signup": "Signup", "activity": "Last activity", "usage": "Usage this month"}
DIRECTIONS = ("desc", "asc")
CONNECTION_FILTERS = CONNECTION_STATUSES + ("none",)
MAX_SEARCH = 254


@dataclass
class CustomerFilters:
    q: str = ""
    plan: str = ""
    connection: str = ""
    errors: bool = False
    sort: str = "signup"
    direction: str = "desc"

    @classmethod
    def from_args(cls, args):
        """Lenient parsing of query arguments: unknown values fall back to 'no filter'."""
        q = (args.get("q") or "").strip()[:MAX_SEARCH]
        q = "".join(ch for ch in q if ch.isprintable())
        plan = args.get("plan") or ""
        connection = args.get("connection") or ""
        sort = args.get("sort") or "signup"
        direction = args.get("dir") or "desc"
        return cls(q=q,
                   plan=plan if plan in PlanType.values() else "",
                   connection=connection if connection in CONNECTION_FILTERS else "",
                   errors=args.get("errors") in ("1", "on", "true", "yes"),
                   sort=sort if sort in SORTS else "signup",
                   direction=direction if direction in DIRECTIONS else "desc")

    def as_args(self):
        """The non-default query arguments, for links that keep them."""
        args = {}
        if self.q:
            args["q"] = self.q
        if self.plan:
            args["plan"] = self.plan
        if self.connection:
            args["connection"] = self.connection
        if self.errors:
            args["errors"] = "1"
        if self.sort != "signup":
            args["sort"] = self.sort
        if self.direction != "desc":
            args["dir"] = self.direction
        return args


@dataclass
class Page:
    rows: list
    next_cursor: str | None = None
    prev_cursor: str | None = None
    usage: dict = field(default_factory=dict)
    connections: dict = field(default_factory=dict)


# --- cursors ------------------------------------------------------------------------

def encode_cursor(segment, value, row_id):
    if isinstance(value, datetime.datetime):
        value = value.isoformat()
    raw = json.dumps([segment, value, row_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(text, sort):
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        segment, value, row_id = json.loads(raw)
        # Numbers beyond 64 bits cannot be in an index and overflow SQLite.
        if not _is_bigint(segment) or segment not in (0, 1) or not _is_bigint(row_id) \
                or row_id < 0:
            raise BadCursor(text)
        if segment == 1 or value is None:
            return segment, None, row_id
        if sort == "usage":
            if not _is_bigint(value):
                raise BadCursor(text)
            return segment, value, row_id
        return segment, datetime.datetime.fromisoformat(value), row_id
    except (ValueError, TypeError, RecursionError) as exc:
        raise BadCursor(text) from exc


def _is_bigint(value):
    return (isinstance(value, int) and not isinstance(value, bool)
            and -MAX_ID - 1 <= value <= MAX_ID)


# --- the query ----------------------------------------------------------------------

def _prefix_match(column, prefix):
    escaped = prefix.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    pattern = escaped + "%"
    if is_postgres():
        left = fn.lower(column)  # matches idx_users_*_search (lower(...) text_pattern_ops)
    else:
        left = column  # SQLite LIKE is case-insensitive; uses the NOCASE index
    return NodeList((left, SQL("LIKE"), Value(pattern), SQL("ESCAPE '\\'")))


def _has_recent_errors(now):
    since = now - datetime.timedelta(hours=24)
    days = [now.date(), now.date() - datetime.timedelta(days=1)]
    # IN (not a correlated EXISTS) lets the planner start from the few customers
    # with errors instead of probing every customer in sort order.
    rollup = (UsageDailyUser.select(UsageDailyUser.user)
              .where(UsageDailyUser.day.in_(days) & (UsageDailyUser.error_calls > 0)))
    raw = (ApiUsage.select(SQL("1"))
           .where((ApiUsage.user == User.id) & (ApiUsage.timestamp >= since)
                  & (ApiUsage.response_status >= 400)))
    return User.id.in_(rollup) & fn.EXISTS(raw)


def filter_conditions(filters, now):
    conds = []
    if filters.q:
        conds.append(_prefix_match(User.email, filters.q) | _prefix_match(User.name, filters.q))
    if filters.plan:
        conds.append(User.plan == filters.plan)
    if filters.connection == "none":
        conds.append(~fn.EXISTS(Connection.select(SQL("1")).where(Connection.user == User.id)))
    elif filters.connection:
        conds.append(fn.EXISTS(Connection.select(SQL("1")).where(
            (Connection.user == User.id) & (Connection.status == filters.connection))))
    if filters.errors:
        conds.append(_has_recent_errors(now))
    return conds


def _segments(filters, now):
    """[(query, value column or None, id column)] in list order."""
    conds = filter_conditions(filters, now)

    def base():
        q = User.select(User)
        for c in conds:
            q = q.where(c)
        return q

    if filters.sort == "signup":
        return [(base(), User.created_at, User.id)]
    if filters.sort == "activity":
        return [(base().where(User.last_active_at.is_null(False)), User.last_active_at, User.id),
                (base().where(User.last_active_at.is_null()), None, User.id)]
    month = datetime.date(now.year, now.month, 1)
    active = (base().select_extend(UsageMonthly.calls.alias("month_calls"))
              .join(UsageMonthly, on=((UsageMonthly.user == User.id)
                                            & (UsageMonthly.month == month)))
              .where(UsageMonthly.calls > 0)
              .objects())  # month_calls lands on the User row itself
    idle = base().where(~fn.EXISTS(UsageMonthly.select(SQL("1")).where(
        (UsageMonthly.user == User.id) & (UsageMonthly.month == month)
        & (UsageMonthly.calls > 0))))
    return [(active, UsageMonthly.calls, UsageMonthly.user), (idle, None, User.id)]


def _seek(query, value, id_col, cursor_value, cursor_id, descending, after):
    """Rows strictly after (or before) the cursor in one segment, in list order
    (after) or reversed list order (before)."""
    forward_desc = descending == after  # True: walk towards smaller values
    if cursor_id is not None:
        if value is None:
            query = query.where(id_col < cursor_id if forward_desc else id_col > cursor_id)
        elif forward_desc:
            # `v <= c` gives the index range; the second term drops the ties already seen.
            query = query.where((value <= cursor_value)
                                & ((value < cursor_value) | (id_col < cursor_id)))
        else:
            query = query.where((value >= cursor_value)
                                & ((value > cursor_value) | (id_col > cursor_id)))
    order = [] if value is None else [value.desc() if forward_desc else value.asc()]
    order.append(id_col.desc() if forward_desc else id_col.asc())
    return query.order_by(*order)


def _row_value(row, sort, segment):
    if segment == 1:
        return None
    if sort == "signup":
        return row.created_at
    if sort == "activity":
        return row.last_active_at
    return row.month_calls


def customer_page(filters, after=None, before=None, limit=PAGE_SIZE, now=None):
    """One page of customers and cursors for the pages around it.

    `after`/`before` are cursors from a previous page (strings); a bad cursor
    raises BadCursor. Never runs OFFSET or COUNT.
    """
    now = now or utcnow()
    segments = _segments(filters, now)
    descending = filters.direction == "desc"
    going_back = before is not None and after is None
    cursor = decode_cursor(before if going_back else after, filters.sort) \
        if (after or before) else None
    found = []  # (segment, row)
    if not going_back:
        start = cursor[0] if cursor else 0
        for seg in range(start, len(segments)):
            query, value, id_col = segments[seg]
            cv, cid = (cursor[1], cursor[2]) if cursor and seg == start else (None, None)
            q = _seek(query, value, id_col, cv, cid, descending, after=True)
            found.extend((seg, r) for r in q.limit(limit + 1 - len(found)))
            if len(found) > limit:
                break
        has_more, found = len(found) > limit, found[:limit]
        has_prev = cursor is not None
    else:
        for seg in range(cursor[0], -1, -1):
            query, value, id_col = segments[seg]
            cv, cid = (cursor[1], cursor[2]) if seg == cursor[0] else (None, None)
            q = _seek(query, value, id_col, cv, cid, descending, after=False)
            found.extend((seg, r) for r in q.limit(limit + 1 - len(found)))
            if len(found) > limit:
                break
        has_prev, found = len(found) > limit, found[:limit]
        found.reverse()
        has_more = True
        if not has_prev and len(found) < limit:
            # Walked back to the start with a short page: show a full first page.
            return customer_page(filters, limit=limit, now=now)
    rows = [r for _, r in found]
    page = Page(rows=rows)
    if found and has_more:
        seg, last = found[-1]
        page.next_cursor = encode_cursor(seg, _row_value(last, filters.sort, seg), last.id)
    if found and has_prev:
        seg, first = found[0]
        page.prev_cursor = encode_cursor(seg, _row_value(first, filters.sort, seg), first.id)
    _annotate(page, now)
    return page


def _annotate(page, now):
    """This month's calls and connection statuses for the rows shown (two small IN queries)."""
    ids = [r.id for r in page.rows]
    if not ids:
        return
    month = datetime.date(now.year, now.month, 1)
    page.usage = dict(UsageMonthly.select(UsageMonthly.user, UsageMonthly.calls).where(
        UsageMonthly.user.in_(ids) & (UsageMonthly.month == month)).tuples())
    conns = {}
    for user_id, status in (Connection.select(Connection.user, Connection.status)
                            .where(Connection.user.in_(ids)).tuples()):
        conns.setdefault(user_id, []).append(status)
    page.connections = conns


def iter_customers(filters, batch_size=500, now=None):
    """Every customer matching `filters`, in list order, fetched by keyset batches (CSV)."""
    now = now or utcnow()
    cursor = None
    while True:
        page = customer_page(filters, after=cursor, limit=batch_size, now=now)
        for row in page.rows:
            yield row, page.usage.get(row.id, 0), page.connections.get(row.id, [])
        if not page.next_cursor:
            return
        cursor = page.next_cursor


CSV_HEADER = ["id", "email", "name", "plan", "created_at", "last_active_at",
              "calls_this_month", "connections", "connection_statuses"]


def csv_row(user, calls, statuses):
    def iso(ts):
        return ts.strftime("%Y-%m-%dT%H:%M:%SZ") if ts else ""
    return [user.id, user.email, user.name, str(user.plan), iso(user.created_at),
            iso(user.last_active_at), calls, len(statuses), " ".join(sorted(set(statuses)))]
