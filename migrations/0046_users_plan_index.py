"""Dashboard "customers per plan" (issue 7): an index on users(plan).

The per-plan GROUP BY then reads only this narrow index instead of every
users row (100,000 customers: a table scan was most of the dashboard's time).
"""


def up(migrator, db):
    db.execute_sql('CREATE INDEX idx_users_plan ON users (plan)')


def down(migrator, db):
    db.execute_sql('DROP INDEX IF EXISTS idx_users_plan')
