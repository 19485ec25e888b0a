"""connections.failure_kind: why a connection is retry_pending.

"transient" means it is on the retry ladder; "permanent" means Exact refused
the refresh token once and the one confirmation retry is pending (a second
refusal makes it refresh_failed). Without it the state machine could not tell
the two apart.
"""
from peewee import CharField


def up(migrator, db):
    migrator.migrate(migrator.add_column('connections', 'failure_kind', CharField(null=True)))


def down(migrator, db):
    migrator.migrate(migrator.drop_column('connections', 'failure_kind'))
