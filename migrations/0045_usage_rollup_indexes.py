"""Request log and dashboard: keyset indexes on api_usage, top-customer index,
and the per-day active-customer rollup (issue 7).

The request log pages newest first by (timestamp, id); each filter gets an
index whose trailing columns are (timestamp, id) so a page (and a deep page)
is an index range read: no filter, endpoint, status class (expression
response_status / 100, matched verbatim by the query on both engines). The
customer filter reuses the contract index idx_api_usage_user_month.
"""
from peewee import DateField, IntegerField, Model


def up(migrator, db):
    class UsageDailyActive(Model):
        day = DateField(primary_key=True)
        active_users = IntegerField(default=0)

        class Meta:
            database = db
            table_name = 'usage_daily_active'
    db.create_tables([UsageDailyActive])
    db.execute_sql('CREATE INDEX idx_api_usage_time_id ON api_usage ("timestamp", id)')
    db.execute_sql('CREATE INDEX idx_api_usage_endpoint_time ON api_usage (endpoint, "timestamp", id)')
    db.execute_sql('CREATE INDEX idx_api_usage_class_time ON api_usage '
                   '((response_status / 100), "timestamp", id)')
    db.execute_sql('CREATE INDEX idx_usage_monthly_month_calls ON usage_monthly (month, calls)')
    # Existing raw rows (e.g. an imported database) count from the start.
    db.execute_sql('INSERT INTO usage_daily_active (day, active_users) '
                   'SELECT day, COUNT(*) FROM usage_daily_users GROUP BY day')


def down(migrator, db):
    for name in ('idx_api_usage_time_id', 'idx_api_usage_endpoint_time',
                 'idx_api_usage_class_time', 'idx_usage_monthly_month_calls'):
        db.execute_sql('DROP INDEX IF EXISTS %s' % name)
    db.execute_sql('DROP TABLE IF EXISTS usage_daily_active')
