"""Plans are defined once (models.plans) and the database itself enforces them."""
import datetime
import json

import pytest
from peewee import IntegrityError

from models import User, database
from models.plans import PLAN_LIMITS, PlanType, limits_for, plan_check_sql
from tests.conftest import TEST_TOKEN_KEY

NOW = datetime.datetime(2026, 3, 15, 10, 30, 0)


def test_every_plan_has_limits_and_enterprise_is_unlimited():
    assert set(PLAN_LIMITS) == set(PlanType)
    assert PlanType.values() == ["free", "starter", "pro", "enterprise"]
    assert PLAN_LIMITS[PlanType.ENTERPRISE].monthly_calls is None
    assert PLAN_LIMITS[PlanType.ENTERPRISE].max_divisions is None
    finite = [PLAN_LIMITS[p] for p in (PlanType.FREE, PlanType.STARTER, PlanType.PRO)]
    assert [l.monthly_calls for l in finite] == sorted(l.monthly_calls for l in finite)
    assert limits_for("starter") is PLAN_LIMITS[PlanType.STARTER]


def test_the_check_constraint_is_built_from_plantype():
    sql = plan_check_sql("plan")
    for plan in PlanType.values():
        assert "'%s'" % plan in sql


def raw_insert_user(email, plan):
    with database.atomic():
        database.execute_sql(
            "INSERT INTO users (email, name, plan, marketing_opt_out, created_at) "
            "VALUES (%s)" % ", ".join([database.param] * 5), (email, "X", plan, False, NOW))


@pytest.mark.parametrize("plan", PlanType.values())
def test_the_database_accepts_every_plan(app, plan):
    raw_insert_user("%s@klant.nl" % plan, plan)
    assert User.get(User.email == "%s@klant.nl" % plan).plan == plan


@pytest.mark.parametrize("plan", ["premium", "Starter", ""])
def test_the_database_itself_refuses_an_unknown_plan(app, plan):
    with pytest.raises(IntegrityError):
        raw_insert_user("p@klant.nl", plan)
    user = User.create(email="ok@klant.nl", plan="starter")
    with pytest.raises(IntegrityError):
        with database.atomic():
            User.update(plan=plan).where(User.id == user.id).execute()
    assert User.get_by_id(user.id).plan == "starter"


def test_an_imported_starter_customer_works_end_to_end(app, client, tmp_path):
    """The previous system's bug: a list of plans without `starter` locked them out."""
    from portal.customers import api_keys
    from portal.importer.service import import_file
    path = tmp_path / "starter.jsonl"
    path.write_text(json.dumps({"type": "customer", "email": "start@klant.nl", "name": "S",
                                "plan": "starter", "created_at": "2026-01-02T03:04:05Z"}) + "\n")
    import_file(str(path), TEST_TOKEN_KEY)
    user = User.get(User.email == "start@klant.nl")
    _, key = api_keys.create_api_key(user, "mcp")
    app.config["API_CLOCK"] = lambda: NOW
    auth = {"Authorization": "Bearer " + key}
    me = client.get("/api/v1/me", headers=auth)
    assert me.status_code == 200, me.data
    body = me.get_json()
    assert body["plan"] == "starter" and body["allowed"] is True
    assert body["limits"]["monthly_calls"] == PLAN_LIMITS[PlanType.STARTER].monthly_calls
    recorded = client.post("/api/v1/usage", headers=auth, json={
        "endpoint": "tools/call get_invoices", "response_status": 200, "duration_ms": 12})
    assert recorded.status_code == 201
    assert client.get("/api/v1/me", headers=auth).get_json()["usage"]["used"] == 1
