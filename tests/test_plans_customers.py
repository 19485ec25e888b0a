"""Plan changes (every plan, starter included) and the per-customer division limit."""
import json

import pytest

from models import PLAN_LIMITS, AuditLog, DivisionLimit, PlanType, User
from portal.core.audit import Actor
from portal.customers import api_keys, service as customer_service
from tests.conftest import ADMIN_EMAIL


@pytest.fixture
def customer(app):
    return User.create(email="jan@example.nl", name="Jan", plan="free")


def change(client, user, plan):
    preview = client.post("/customers/%d/plan" % user.id, data={"plan": plan})
    confirm = client.post("/customers/%d/plan" % user.id, data={"plan": plan, "confirm": "yes"})
    return preview, confirm


def test_the_plan_select_offers_every_plan_including_starter(admin_client, customer):
    html = admin_client.get("/customers/%d" % customer.id).get_data(as_text=True)
    for plan in PlanType.values():
        assert 'value="%s"' % plan in html


@pytest.mark.parametrize("target", ["starter", "pro", "enterprise"])
def test_admin_changes_plan_after_a_preview_audited(admin_client, customer, target):
    preview, confirm = change(admin_client, customer, target)
    assert preview.status_code == 200
    text = preview.get_data(as_text=True)
    assert "Confirm plan change" in text and target in text
    assert confirm.status_code == 302
    assert User.get_by_id(customer.id).plan == target
    entry = AuditLog.get(AuditLog.action == "customer.plan_change")
    assert entry.staff_email == ADMIN_EMAIL and entry.target_id == str(customer.id)
    assert json.loads(entry.before) == {"plan": "free"}
    assert json.loads(entry.after) == {"plan": target}


def test_preview_alone_changes_nothing(admin_client, customer):
    admin_client.post("/customers/%d/plan" % customer.id, data={"plan": "pro"})
    assert User.get_by_id(customer.id).plan == "free"
    assert AuditLog.select().where(AuditLog.action == "customer.plan_change").count() == 0


def test_starter_customer_authenticates_and_me_has_starter_limits(app, admin_client, customer):
    """The previous system forgot starter: its customers could not authenticate."""
    change(admin_client, customer, "starter")
    _, plaintext = api_keys.create_api_key(User.get_by_id(customer.id))
    r = app.test_client().get("/api/v1/me", headers={"Authorization": "Bearer " + plaintext})
    assert r.status_code == 200
    body = r.get_json()
    assert body["plan"] == "starter"
    assert body["limits"] == PLAN_LIMITS[PlanType.STARTER].as_dict()


def test_unknown_plan_or_same_plan_is_refused(admin_client, customer):
    r = admin_client.post("/customers/%d/plan" % customer.id,
                          data={"plan": "platinum", "confirm": "yes"})
    assert r.status_code == 400
    assert User.get_by_id(customer.id).plan == "free"
    r = admin_client.post("/customers/%d/plan" % customer.id, data={"plan": "free"},
                          follow_redirects=True)
    assert b"already on the free plan" in r.data
    with pytest.raises(customer_service.CustomerError):
        customer_service.change_plan(customer, "gold", Actor.cli())


def test_support_cannot_change_plan(support_client, customer):
    r = support_client.post("/customers/%d/plan" % customer.id,
                            data={"plan": "enterprise", "confirm": "yes"})
    assert r.status_code == 403
    assert User.get_by_id(customer.id).plan == "free"
    html = support_client.get("/customers/%d" % customer.id).get_data(as_text=True)
    assert "Preview change" not in html and "Set override" not in html


def test_division_limit_is_the_plan_default_until_overridden(app, customer):
    assert customer_service.division_limit(customer)[0] == 1
    customer_service.change_plan(customer, "starter", Actor.cli())
    assert customer_service.division_limit(customer)[0] == 3
    customer_service.set_division_limit(customer, 5, Actor.cli(), "big accountant")
    effective, default, override = customer_service.division_limit(customer)
    assert (effective, default, override.reason) == (5, 3, "big accountant")
    customer_service.change_plan(customer, "pro", Actor.cli())  # the override survives a plan change
    assert customer_service.division_limit(customer)[:2] == (5, 10)
    customer_service.set_division_limit(customer, None, Actor.cli())
    assert customer_service.division_limit(customer)[0] is None  # unlimited
    customer_service.clear_division_limit(customer, Actor.cli())
    assert customer_service.division_limit(customer) == (10, 10, None)


def test_admin_sets_and_clears_division_limit_audited(app, admin_client, customer):
    r = admin_client.post("/customers/%d/division-limit" % customer.id,
                          data={"max_divisions": "4", "reason": "pilot"})
    assert r.status_code == 302
    assert DivisionLimit.get(DivisionLimit.user == customer.id).max_divisions == 4
    _, plaintext = api_keys.create_api_key(customer)
    me = app.test_client().get("/api/v1/me",
                               headers={"Authorization": "Bearer " + plaintext}).get_json()
    assert me["limits"]["max_divisions"] == 4
    admin_client.post("/customers/%d/division-limit" % customer.id,
                      data={"unlimited": "y", "reason": "enterprise trial"})
    assert DivisionLimit.get(DivisionLimit.user == customer.id).max_divisions is None
    html = admin_client.get("/customers/%d" % customer.id).get_data(as_text=True)
    assert "enterprise trial" in html
    assert admin_client.post("/customers/%d/division-limit/clear" % customer.id).status_code == 302
    assert DivisionLimit.select().count() == 0
    actions = [(a.action, json.loads(a.after)) for a in AuditLog.select()
               .where(AuditLog.action.startswith("customer.division")).order_by(AuditLog.id)]
    assert actions == [
        ("customer.division_limit_set", {"override": True, "max_divisions": 4, "reason": "pilot"}),
        ("customer.division_limit_set", {"override": True, "max_divisions": None,
                                         "reason": "enterprise trial"}),
        ("customer.division_limit_clear", {"override": False})]


def test_bad_division_limits_are_refused_not_500(admin_client, customer):
    for data in [{"max_divisions": "-1"}, {"max_divisions": "abc"},
                 {"max_divisions": "100000"}, {},
                 {"max_divisions": "2", "reason": "x" * 501},
                 {"max_divisions": "2", "reason": "bad\x1b"}]:
        r = admin_client.post("/customers/%d/division-limit" % customer.id, data=data)
        assert r.status_code == 400, data
        assert b'class="error"' in r.data
    assert DivisionLimit.select().count() == 0


def test_support_cannot_change_division_limit(support_client, customer):
    r = support_client.post("/customers/%d/division-limit" % customer.id,
                            data={"max_divisions": "9"})
    assert r.status_code == 403
    assert support_client.post(
        "/customers/%d/division-limit/clear" % customer.id).status_code == 403
    assert DivisionLimit.select().count() == 0
