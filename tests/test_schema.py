"""The migrated schema equals the models, and the contract's indexes exist and are used."""
import datetime

import pytest
from playhouse.schema_diff import diff_models

from models import ALL_MODELS, database
from models.db import is_postgres

CONTRACT_INDEXES = {
    "connections": "idx_connections_expiring",
    "api_usage": ("idx_api_usage_user_month", "idx_api_usage_date"),
}
T = datetime.datetime(2026, 1, 5, 10, 0, 0)


# Indexes that exist only in migrations because their definition differs per engine
# (migration 0040: `email COLLATE NOCASE` on SQLite, `lower(email) text_pattern_ops`
# on PostgreSQL); a model cannot declare them. Everything else must match.
ENGINE_SPECIFIC_INDEXES = {"idx_users_email_search", "idx_users_name_search"}


def test_migrated_schema_equals_the_models(app):
    diff = diff_models(database.obj, ALL_MODELS)
    diff = diff._replace(drop_indexes=[i for i in diff.drop_indexes
                                       if i.name not in ENGINE_SPECIFIC_INDEXES])
    assert not diff, "migrations and models differ:\n" + str(diff)


def test_nullability_of_every_column_matches_the_models(app):
    """schema_diff compares names only; NOT NULL is checked here."""
    mismatched = []
    for model in ALL_MODELS:
        table = model._meta.table_name
        columns = {c.name: c for c in database.get_columns(table)}
        for field in model._meta.sorted_fields:
            column = columns[field.column_name]
            if column.primary_key:
                continue
            if bool(column.null) != bool(field.null):
                mismatched.append("%s.%s: db null=%s, model null=%s"
                                  % (table, field.column_name, column.null, field.null))
    assert not mismatched


def test_the_contract_indexes_exist_on_the_right_columns(app):
    indexes = {i.name: i for t in ("connections", "api_usage") for i in database.get_indexes(t)}
    assert indexes["idx_connections_expiring"].columns == ["status", "token_expires_at"]
    assert indexes["idx_api_usage_user_month"].columns == ["user_id", "timestamp"]
    assert "date" in indexes["idx_api_usage_date"].sql.lower()
    assert indexes["idx_api_usage_date"].table == "api_usage"


QUERIES = [
    ("idx_connections_expiring",
     "SELECT id FROM connections WHERE status = 'active' AND token_expires_at <= {p}", (T,)),
    ("idx_api_usage_user_month",
     'SELECT COUNT(*) FROM api_usage WHERE user_id = {p} AND "timestamp" >= {p}', (1, T)),
    ("idx_api_usage_date",
     'SELECT COUNT(*) FROM api_usage WHERE date("timestamp") = {p}', (T.date(),)),
]


def query_plan(sql, params):
    if is_postgres():
        with database.atomic():
            # Tiny test tables: make the planner show what it does on real ones.
            database.execute_sql("SET LOCAL enable_seqscan = off")
            rows = database.execute_sql("EXPLAIN " + sql, params).fetchall()
        return "\n".join(r[0] for r in rows)
    rows = database.execute_sql("EXPLAIN QUERY PLAN " + sql, params).fetchall()
    return "\n".join(str(r[-1]) for r in rows)


@pytest.fixture
def some_rows(app):
    """A few hundred rows and fresh statistics, so the planner has real choices
    (connections has two indexes that start with status)."""
    from models import Connection, User
    from portal.usage.counters import record_usage_rows
    users = [User.create(email="u%d@klant.nl" % n, plan="free") for n in range(20)]
    statuses = ("active", "retry_pending", "refresh_failed")
    Connection.insert_many([dict(user=u.id, division=d, status=statuses[d % 3],
                                 token_expires_at=T + datetime.timedelta(hours=d + n),
                                 next_retry_at=T + datetime.timedelta(minutes=d))
                            for n, u in enumerate(users) for d in range(10)]).execute()
    record_usage_rows([dict(user=u.id, timestamp=T + datetime.timedelta(hours=h),
                            endpoint="tools/list", response_status=200)
                       for u in users for h in range(0, 24 * 40, 7)])
    if is_postgres():
        # SQLite plans these without statistics; its sqlite_stat1 would outlive the test.
        database.execute_sql("ANALYZE connections, api_usage")


@pytest.mark.parametrize("index,sql,params", QUERIES, ids=[q[0] for q in QUERIES])
def test_the_hot_queries_use_their_index(some_rows, index, sql, params):
    plan = query_plan(sql.format(p=database.param), params)
    assert index in plan, plan


def test_the_database_itself_refuses_an_unknown_connection_status(app):
    from peewee import IntegrityError
    from models import User
    user = User.create(email="c@klant.nl", plan="free")
    with pytest.raises(IntegrityError):
        with database.atomic():
            database.execute_sql(
                "INSERT INTO connections (user_id, division, status, access_token, refresh_token,"
                " retry_count, created_at, updated_at) VALUES (%s)"
                % ", ".join([database.param] * 8),
                (user.id, 1, "dead", "", "", 0, T, T))
