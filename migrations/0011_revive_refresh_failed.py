"""Data migration: give connections the previous system killed another chance.

Its cron job set refresh_failed on the first error and never looked back, so
many of those connections are still alive at Exact. They become retry_pending
with retry_count 0 and next_retry_at now; the sidecar then walks them through
the real state machine. Frozen: plain SQL, no import from portal/ (the
application code may change; this record of what ran may not).
"""
import datetime


def up(migrator, db):
    now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    db.execute_sql(
        "UPDATE connections SET status = 'retry_pending', retry_count = 0, "
        "next_retry_at = {p}, updated_at = {p} WHERE status = 'refresh_failed'"
        .format(p=db.param), (now, now))


def down(migrator, db):
    pass  # the old verdicts were wrong; there is nothing to restore
