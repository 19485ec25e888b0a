"""Customer list (issue 7): keyset indexes and case-insensitive prefix search.

The list pages by (sort value, id), so each sort has an index ending in id:
signup (created_at, id) and last activity (last_active_at, id); "usage this
month" uses idx_usage_monthly_month_calls from migration 0045.

Search is a case-insensitive prefix match on email or name. The index that
can serve it differs per engine, so it is created per engine:
* SQLite: `col COLLATE NOCASE`; SQLite's LIKE is case-insensitive and uses
  such an index for a 'prefix%' pattern (the LIKE optimisation).
* PostgreSQL: `lower(col) text_pattern_ops`; plain btree indexes serve LIKE
  only under the C collation, text_pattern_ops does under every collation.
"""
from models.db import is_postgres

SEARCH_COLUMNS = ("email", "name")


def up(migrator, db):
    db.execute_sql('CREATE INDEX idx_users_created_at_id ON users (created_at, id)')
    db.execute_sql('CREATE INDEX idx_users_last_active_id ON users (last_active_at, id)')
    for column in SEARCH_COLUMNS:
        if is_postgres(db):
            db.execute_sql('CREATE INDEX idx_users_%s_search ON users (lower(%s) text_pattern_ops)'
                           % (column, column))
        else:
            db.execute_sql('CREATE INDEX idx_users_%s_search ON users (%s COLLATE NOCASE)'
                           % (column, column))


def down(migrator, db):
    for name in ('idx_users_created_at_id', 'idx_users_last_active_id',
                 'idx_users_email_search', 'idx_users_name_search'):
        db.execute_sql('DROP INDEX IF EXISTS %s' % name)
