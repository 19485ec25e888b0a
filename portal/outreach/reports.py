"""Reading the outreach log for the portal: counts, filtered keyset pages, export.

No Flask here. The log is shown newest first, ordered by (created_at, id);
a page is read with LIMIT page_size + 1 after the cursor (no OFFSET, no
COUNT), using the (created_at), (campaign_id, created_at) and
(user_id, created_at) indexes of outreach_log.
"""
import datetime
from dataclasses import dataclass

from peewee import SQL, NodeList, fn

from models import OutreachCampaign, OutreachLog, User
from portal.core.pagination import decode_cursor, encode_cursor, older_than

PAGE_SIZE = 50
EXPORT_BATCH = 1000
STATUSES = ("sent", "failed", "skipped")


def campaign_counts(since):
    """{campaign_id: {"sent": n, "failed": n, "skipped": n}} for rows since `since`."""
    counts = {}
    for cid, status, n in (OutreachLog.select(OutreachLog.campaign, OutreachLog.status,
                                              fn.COUNT(OutreachLog.id))
                           .where(OutreachLog.created_at >= since)
                           .group_by(OutreachLog.campaign, OutreachLog.status).tuples()):
        counts.setdefault(cid, dict.fromkeys(STATUSES, 0))[status] = n
    return counts


def latest_failure(campaign_id, since):
    """The newest `failed` row of the campaign since `since`, or None."""
    return (OutreachLog.select(OutreachLog.id, OutreachLog.created_at, OutreachLog.reason)
            .where((OutreachLog.campaign == campaign_id) & (OutreachLog.status == "failed")
                   & (OutreachLog.created_at >= since))
            .order_by(OutreachLog.created_at.desc(), OutreachLog.id.desc()).first())


@dataclass(frozen=True)
class LogFilter:
    campaign_id: int | None = None
    status: str | None = None
    email: str | None = None     # case-insensitive part of the customer's email
    start: datetime.datetime | None = None  # inclusive
    end: datetime.datetime | None = None    # exclusive


def _escape_like(text):
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def filtered(log_filter):
    query = (OutreachLog.select(OutreachLog.id, OutreachLog.created_at, OutreachLog.status,
                                OutreachLog.reason, OutreachLog.subject, OutreachLog.message_id,
                                OutreachLog.user, OutreachLog.campaign,
                                User.email.alias("email"),
                                OutreachCampaign.name.alias("campaign_name"),
                                OutreachCampaign.trigger.alias("trigger"))
             .join(User, on=(OutreachLog.user == User.id))
             .switch(OutreachLog)
             .join(OutreachCampaign, on=(OutreachLog.campaign == OutreachCampaign.id)))
    f = log_filter
    if f.campaign_id:
        query = query.where(OutreachLog.campaign == f.campaign_id)
    if f.status:
        query = query.where(OutreachLog.status == f.status)
    if f.email:
        pattern = "%" + _escape_like(f.email.strip().lower()) + "%"
        query = query.where(NodeList([fn.LOWER(User.email), SQL("LIKE"), pattern,
                                      SQL("ESCAPE '\\'")]))
    if f.start:
        query = query.where(OutreachLog.created_at >= f.start)
    if f.end:
        query = query.where(OutreachLog.created_at < f.end)
    return query


@dataclass
class LogPage:
    rows: list
    older: str | None  # cursor for the next (older) page


def fetch_page(log_filter, before=None, page_size=PAGE_SIZE):
    query = filtered(log_filter)
    if before:
        query = query.where(older_than(OutreachLog.created_at, OutreachLog.id,
                                       decode_cursor(before)))
    rows = list(query.order_by(OutreachLog.created_at.desc(), OutreachLog.id.desc())
                .limit(page_size + 1).dicts())
    older = None
    if len(rows) > page_size:
        rows = rows[:page_size]
        older = encode_cursor(rows[-1]["created_at"], rows[-1]["id"])
    return LogPage(rows, older)


def iter_rows(log_filter, batch=EXPORT_BATCH):
    """Every matching row, newest first, in keyset batches (for streaming CSV)."""
    cursor = None
    while True:
        page = fetch_page(log_filter, before=cursor, page_size=batch)
        yield from page.rows
        if not page.older:
            return
        cursor = page.older


def log_entry(entry_id):
    """One log row with its customer and campaign, or None."""
    return (OutreachLog.select(OutreachLog, User, OutreachCampaign)
            .join(User).switch(OutreachLog).join(OutreachCampaign)
            .where(OutreachLog.id == entry_id).first())
