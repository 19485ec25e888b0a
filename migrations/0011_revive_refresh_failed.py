"""Data migration: give connections the previous system killed another chance.

Its cron job set refresh_failed on the first error and never looked back, so
many of those connections are still alive at Exact. They become retry_pending
with retry_count 0 and next_retry_at now; the sidecar then walks them through
the real state machine. The import can call the same function (portal.exact.revival).
"""


def up(migrator, db):
    from portal.exact.revival import revive_refresh_failed
    revive_refresh_failed(db)


def down(migrator, db):
    pass  # the old verdicts were wrong; there is nothing to restore
