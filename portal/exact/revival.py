"""Revive connections that the previous system marked refresh_failed too early.

Used by migration 0011 and available to the import: every refresh_failed
connection becomes retry_pending with retry_count 0 and next_retry_at now, so
the sidecar tries it again through the real state machine.
"""
from models import utcnow


def revive_refresh_failed(db=None, now=None, where_ids=None):
    """Return how many connections were revived. `db` defaults to the bound database."""
    from models import Connection, database
    target = db or database.obj
    now = now or utcnow()
    with Connection.bind_ctx(target):
        query = (Connection.update(status="retry_pending", retry_count=0, next_retry_at=now,
                                   updated_at=now)
                 .where(Connection.status == "refresh_failed"))
        if where_ids is not None:
            query = query.where(Connection.id.in_(list(where_ids)))
        return query.execute()
