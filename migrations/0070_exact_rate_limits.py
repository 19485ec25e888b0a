"""MCP server (issue 13): Exact's per-division rate-limit figures, shared across processes."""


def up(migrator, db):
    from models.mcp import ExactRateLimit
    db.create_tables([ExactRateLimit])


def down(migrator, db):
    db.execute_sql('DROP TABLE IF EXISTS exact_rate_limits')
