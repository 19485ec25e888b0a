"""Feature flags: precedence customer > plan > global, the page, audit, and the API."""
import pytest

from models import AuditLog, FeatureFlag, FeatureFlagOverride, User
from portal import api_keys, flags_service


@pytest.fixture
def customer(app):
    return User.create(email="piet@example.nl", plan="starter")


def state(user, key):
    value = flags_service.effective_flags(User.get_by_id(user.id))[key]
    return value.enabled, value.source


def test_precedence_customer_over_plan_over_global(app, customer):
    flag = FeatureFlag.create(key="beta", description="Beta tools", enabled=False)
    assert state(customer, "beta") == (False, "global")
    flags_service.set_plan_override(flag, "starter", True)
    assert state(customer, "beta") == (True, "plan")
    flags_service.set_customer_override(flag, customer, False)
    assert state(customer, "beta") == (False, "customer")
    # the global state no longer matters once overridden
    flags_service.update_flag(flag, flag.description, True)
    assert state(customer, "beta") == (False, "customer")
    flags_service.set_customer_override(flag, customer, None)
    assert state(customer, "beta") == (True, "plan")
    flags_service.set_plan_override(flag, "starter", False)
    assert state(customer, "beta") == (False, "plan")
    flags_service.set_plan_override(flag, "starter", None)
    assert state(customer, "beta") == (True, "global")


def test_overrides_of_other_plans_and_customers_do_not_apply(app, customer):
    other = User.create(email="other@example.nl", plan="pro")
    flag = FeatureFlag.create(key="beta", enabled=False)
    flags_service.set_plan_override(flag, "pro", True)
    flags_service.set_customer_override(flag, other, True)
    assert state(customer, "beta") == (False, "global")
    assert state(other, "beta") == (True, "customer")


def test_plan_change_changes_the_flags_in_effect(app, customer):
    flag = FeatureFlag.create(key="pro_only", enabled=False)
    flags_service.set_plan_override(flag, "pro", True)
    assert state(customer, "pro_only") == (False, "global")
    User.update(plan="pro").where(User.id == customer.id).execute()
    assert state(customer, "pro_only") == (True, "plan")


def test_api_returns_flags_in_effect_for_the_key(app, client, customer):
    on = FeatureFlag.create(key="a_on", enabled=True)
    off = FeatureFlag.create(key="b_off", enabled=False)
    flags_service.set_plan_override(off, "starter", True)
    flags_service.set_customer_override(on, customer, False)
    _, plaintext = api_keys.create_api_key(customer)
    body = client.get("/api/v1/me", headers={"Authorization": "Bearer " + plaintext}).get_json()
    assert body["flags"] == {"a_on": False, "b_off": True}


def test_support_reads_the_page_but_cannot_change_anything(support_client, customer):
    flag = FeatureFlag.create(key="beta", description="Beta <b>tools</b>", enabled=False)
    r = support_client.get("/flags/")
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert "beta" in html and "Beta &lt;b&gt;tools&lt;/b&gt;" in html
    assert "Create flag" not in html
    for url, data in [("/flags/", {"key": "x"}), ("/flags/%d/toggle" % flag.id, {}),
                      ("/flags/%d/plans" % flag.id, {"plan_pro": "on"}),
                      ("/flags/%d/customers" % flag.id, {"email": customer.email,
                                                         "state": "on"}),
                      ("/flags/%d/edit" % flag.id, {"description": "y"}),
                      ("/flags/%d/delete" % flag.id, {})]:
        assert support_client.post(url, data=data).status_code == 403, url
    assert support_client.get("/flags/%d/edit" % flag.id).status_code == 403
    assert FeatureFlag.get_by_id(flag.id).enabled is False
    assert FeatureFlagOverride.select().count() == 0
    assert AuditLog.select().where(AuditLog.action.startswith("flag.")).count() == 0


def test_admin_creates_toggles_overrides_edits_and_deletes_audited(admin_client, customer):
    r = admin_client.post("/flags/", data={"key": "beta_reports", "description": "Reports",
                                           "enabled": "y"})
    assert r.status_code == 302
    flag = FeatureFlag.get(FeatureFlag.key == "beta_reports")
    assert flag.enabled is True and flag.description == "Reports"

    assert admin_client.post("/flags/%d/toggle" % flag.id).status_code == 302
    assert FeatureFlag.get_by_id(flag.id).enabled is False

    r = admin_client.post("/flags/%d/plans" % flag.id,
                          data={"plan_free": "", "plan_starter": "on", "plan_pro": "off",
                                "plan_enterprise": ""})
    assert r.status_code == 302
    plans = {o.plan: o.enabled for o in FeatureFlagOverride.select()}
    assert plans == {"starter": True, "pro": False}

    r = admin_client.post("/flags/%d/customers" % flag.id,
                          data={"email": "PIET@example.nl", "state": "off"})
    assert r.status_code == 302
    assert state(customer, "beta_reports") == (False, "customer")
    admin_client.post("/flags/%d/customers" % flag.id,
                      data={"email": "piet@example.nl", "state": "clear"})
    assert state(customer, "beta_reports") == (True, "plan")

    page = admin_client.get("/flags/%d/edit" % flag.id)
    assert page.status_code == 200
    admin_client.post("/flags/%d/edit" % flag.id, data={"description": "Monthly reports"})
    assert FeatureFlag.get_by_id(flag.id).description == "Monthly reports"

    assert admin_client.post("/flags/%d/delete" % flag.id).status_code == 302
    assert FeatureFlag.select().count() == 0 and FeatureFlagOverride.select().count() == 0

    actions = [a.action for a in AuditLog.select().where(AuditLog.action.startswith("flag."))
               .order_by(AuditLog.id)]
    assert actions == ["flag.create", "flag.toggle", "flag.plan_overrides",
                       "flag.customer_override", "flag.customer_override", "flag.update",
                       "flag.delete"]


def test_bad_flag_keys_are_refused_with_a_message(admin_client):
    for key in ["", "Bad Key", "1abc", "x" * 65, "a\x00b"]:
        r = admin_client.post("/flags/", data={"key": key, "description": "d"})
        assert r.status_code == 400, key
        assert b'class="error"' in r.data
    assert FeatureFlag.select().count() == 0


def test_duplicate_key_and_unknown_customer_are_refused(admin_client):
    FeatureFlag.create(key="beta")
    r = admin_client.post("/flags/", data={"key": "beta"})
    assert r.status_code == 400 and b"exists already" in r.data
    flag = FeatureFlag.get()
    r = admin_client.post("/flags/%d/customers" % flag.id,
                          data={"email": "ghost@example.nl", "state": "on"},
                          follow_redirects=True)
    assert b"No customer with email" in r.data
    assert FeatureFlagOverride.select().count() == 0
