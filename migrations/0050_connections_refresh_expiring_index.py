"""Issue 11: the sidecar also honours a stored refresh_expires_at.

Imported rows may carry a refresh expiry earlier than the one inferred from
token_expires_at; the due query reads them on (status, refresh_expires_at).
"""


def up(migrator, db):
    db.execute_sql('CREATE INDEX idx_connections_refresh_expiring '
                   'ON connections (status, refresh_expires_at)')


def down(migrator, db):
    db.execute_sql('DROP INDEX IF EXISTS idx_connections_refresh_expiring')
