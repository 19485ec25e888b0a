"""Listing Exact connections for operators (`flask --app app connections list`).

Rows are read in keyset pages by id, so 100,000 connections never sit in
memory at once, and written as they come: a JSON array (only that on stdout,
for scripts) or a plain table for people. Times are ISO 8601 UTC with `Z`.
"""
import json

from models import Connection, User
from portal.core.timefmt import iso_utc

PAGE = 1000


def iter_connection_rows(status=None, page=PAGE):
    """Yield one dict per connection, in id order, with the contract's fields."""
    last_id = 0
    while True:
        query = (Connection.select(Connection.id, User.email, Connection.division,
                                   Connection.status, Connection.retry_count,
                                   Connection.next_retry_at, Connection.token_expires_at,
                                   Connection.last_error)
                 .join(User).where(Connection.id > last_id))
        if status:
            query = query.where(Connection.status == status)
        batch = list(query.order_by(Connection.id).limit(page).tuples())
        if not batch:
            return
        for cid, email, division, st, retries, next_retry, expires, error in batch:
            yield {"id": cid, "email": email, "division": division, "status": st,
                   "retry_count": retries, "next_retry_at": iso_utc(next_retry),
                   "token_expires_at": iso_utc(expires), "last_error": error}
        last_id = batch[-1][0]


def write_json_array(rows, out):
    """Stream `rows` as one JSON array (one object a line, for diffable output)."""
    out.write("[")
    first = True
    for row in rows:
        out.write("\n" if first else ",\n")
        out.write(json.dumps(row, ensure_ascii=False))
        first = False
    out.write("\n]\n" if not first else "]\n")


def _cell(value, width):
    text = "-" if value is None else str(value)
    text = " ".join(text.split())  # errors may hold newlines
    return text if len(text) <= width else text[:width - 1] + "…"


def write_table(rows, out):
    columns = (("id", 7), ("email", 32), ("division", 9), ("status", 14), ("retry_count", 5),
               ("next_retry_at", 21), ("token_expires_at", 21), ("last_error", 40))
    headers = {"retry_count": "tries", "next_retry_at": "next retry",
               "token_expires_at": "access token expires", "last_error": "last error"}
    out.write("  ".join(headers.get(n, n).ljust(w) for n, w in columns).rstrip() + "\n")
    count = 0
    for row in rows:
        out.write("  ".join(_cell(row[n], w).ljust(w) for n, w in columns).rstrip() + "\n")
        count += 1
    out.write("(%d connection%s)\n" % (count, "" if count == 1 else "s"))
