"""Feature flags: precedence customer > plan > global, the page, audit, and the API."""
import pytest

from models import AuditLog, FeatureFlag, FeatureFlagOverride, User
from portal.core.audit import Actor
from portal.customers import api_keys
from portal.flags import service as flags_service


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
    flags_service.update_flag(flag, flag.description, True, Actor.cli())
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
                      ("/flags/%d/toggle" % flag.id, {"state": "on", "confirm": "yes"}),
                      ("/flags/%d/plans" % flag.id, {"plan_pro": "on"}),
                      ("/flags/%d/plans" % flag.id, {"plan_pro": "on", "confirm": "yes"}),
                      ("/flags/%d/edit" % flag.id, {"enabled": "y", "confirm": "yes"}),
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

    assert admin_client.post("/flags/%d/toggle" % flag.id).status_code == 200  # preview
    assert FeatureFlag.get_by_id(flag.id).enabled is True
    assert admin_client.post("/flags/%d/toggle" % flag.id,
                             data={"state": "off", "confirm": "yes"}).status_code == 302
    assert FeatureFlag.get_by_id(flag.id).enabled is False

    plan_data = {"plan_free": "", "plan_starter": "on", "plan_pro": "off",
                 "plan_enterprise": ""}
    r = admin_client.post("/flags/%d/plans" % flag.id, data=plan_data)
    assert r.status_code == 200 and b"Confirm" in r.data  # preview
    assert FeatureFlagOverride.select().count() == 0
    r = admin_client.post("/flags/%d/plans" % flag.id, data=dict(plan_data, confirm="yes"))
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
    r = admin_client.post("/flags/%d/edit" % flag.id, data={"description": "Monthly reports"})
    assert r.status_code == 200 and FeatureFlag.get_by_id(flag.id).description == "Reports"
    admin_client.post("/flags/%d/edit" % flag.id, data={"description": "Monthly reports",
                                                        "confirm": "yes"})
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


# --- preview before saving: global state and plan overrides ---------------------------

def impacts(flag, **change):
    """{plan: (customers, on->off, off->on, pinned)} from the service."""
    return {i.plan: (i.customers, i.on_to_off, i.off_to_on, i.pinned)
            for i in flags_service.preview_change(flag, **change)}


@pytest.fixture
def population(app):
    """free: 3 customers, starter: 2, pro: 2, enterprise: 0; one starter and one pro
    customer have their own override of the flag."""
    flag = FeatureFlag.create(key="beta", enabled=False)
    users = {}
    for email, plan in [("f1@x.nl", "free"), ("f2@x.nl", "free"), ("f3@x.nl", "free"),
                        ("s1@x.nl", "starter"), ("s2@x.nl", "starter"),
                        ("p1@x.nl", "pro"), ("p2@x.nl", "pro")]:
        users[email] = User.create(email=email, plan=plan)
    flags_service.set_plan_override(flag, "pro", True)
    flags_service.set_customer_override(flag, users["s1@x.nl"], True)
    flags_service.set_customer_override(flag, users["p1@x.nl"], False)
    other = FeatureFlag.create(key="other", enabled=True)  # its overrides must not count
    flags_service.set_customer_override(other, users["f1@x.nl"], False)
    return FeatureFlag.get_by_id(flag.id), users


def test_preview_counts_respect_customer_plan_and_global(population):
    flag, users = population
    # global off -> on: free (3) and starter (2, one pinned) flip; pro keeps its plan override
    assert impacts(flag, enabled=True) == {
        "free": (3, 0, 3, 0), "starter": (2, 0, 1, 1), "pro": (2, 0, 0, 1),
        "enterprise": (0, 0, 0, 0)}
    # pro override removed while global stays off: the unpinned pro customer goes on -> off
    assert impacts(flag, plans={"free": None, "starter": None, "pro": None,
                                "enterprise": None}) == {
        "free": (3, 0, 0, 0), "starter": (2, 0, 0, 1), "pro": (2, 1, 0, 1),
        "enterprise": (0, 0, 0, 0)}
    # starter forced off (already off via global), free forced on
    assert impacts(flag, plans={"free": True, "starter": False, "pro": True,
                                "enterprise": None}) == {
        "free": (3, 0, 3, 0), "starter": (2, 0, 0, 1), "pro": (2, 0, 0, 1),
        "enterprise": (0, 0, 0, 0)}
    # the counts agree with effective_flags, customer by customer
    before = {e: state(u, "beta")[0] for e, u in users.items()}
    flags_service.update_flag(flag, "", True, Actor.cli())
    flipped = sum(before[e] != state(u, "beta")[0] for e, u in users.items())
    assert flipped == 3 + 1


def test_preview_changes_nothing(admin_client, population):
    flag, _ = population
    overrides = sorted(str((o.plan, o.user_id, o.enabled)) for o in FeatureFlagOverride.select())
    r = admin_client.post("/flags/%d/toggle" % flag.id)
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and "Turn beta on globally" in html
    assert "0 customers on → off, 4 customers off → on" in html
    assert 'name="state" value="on"' in html and 'name="confirm" value="yes"' in html
    r = admin_client.post("/flags/%d/plans" % flag.id,
                          data={"plan_free": "on", "plan_pro": "on"})
    assert r.status_code == 200 and "3 customers off → on" in r.get_data(as_text=True)
    r = admin_client.post("/flags/%d/edit" % flag.id, data={"description": "new", "enabled": "y"})
    assert r.status_code == 200 and "4 customers off → on" in r.get_data(as_text=True)
    saved = FeatureFlag.get_by_id(flag.id)
    assert (saved.enabled, saved.description) == (False, "")
    assert sorted(str((o.plan, o.user_id, o.enabled))
                  for o in FeatureFlagOverride.select()) == overrides
    assert AuditLog.select().where(AuditLog.action.startswith("flag.")).count() == 0


def test_confirm_saves_and_audits(admin_client, population):
    flag, users = population
    r = admin_client.post("/flags/%d/toggle" % flag.id, data={"state": "on", "confirm": "yes"})
    assert r.status_code == 302 and FeatureFlag.get_by_id(flag.id).enabled is True
    # a repeated confirm does not flip it back
    r = admin_client.post("/flags/%d/toggle" % flag.id, data={"state": "on", "confirm": "yes"},
                          follow_redirects=True)
    assert b"already on" in r.data and FeatureFlag.get_by_id(flag.id).enabled is True

    r = admin_client.post("/flags/%d/plans" % flag.id,
                          data={"plan_free": "off", "plan_pro": "", "confirm": "yes"})
    assert r.status_code == 302
    assert flags_service.plan_overrides(flag) == {"free": False}
    assert state(users["f2@x.nl"], "beta") == (False, "plan")
    assert state(users["p2@x.nl"], "beta") == (True, "global")

    r = admin_client.post("/flags/%d/edit" % flag.id,
                          data={"description": "Beta", "confirm": "yes"})
    assert r.status_code == 302
    saved = FeatureFlag.get_by_id(flag.id)
    assert (saved.enabled, saved.description) == (False, "Beta")

    rows = list(AuditLog.select().where(AuditLog.action.startswith("flag."))
                .order_by(AuditLog.id))
    assert [a.action for a in rows] == ["flag.toggle", "flag.plan_overrides", "flag.update"]
    assert all(a.target_id == str(flag.id) and a.staff_email for a in rows)
    assert '"free": false' in rows[1].after and '"pro": true' in rows[1].before


def test_unchanged_submissions_save_nothing(admin_client, population):
    flag, _ = population
    r = admin_client.post("/flags/%d/plans" % flag.id, data={"plan_pro": "on"},
                          follow_redirects=True)
    assert b"unchanged" in r.data
    r = admin_client.post("/flags/%d/edit" % flag.id, data={"description": ""},
                          follow_redirects=True)
    assert b"Nothing changed" in r.data
    assert AuditLog.select().where(AuditLog.action.startswith("flag.")).count() == 0


def test_preview_escapes_the_description(admin_client, population):
    flag, _ = population
    r = admin_client.post("/flags/%d/edit" % flag.id,
                          data={"description": '<script>x</script>"'})
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and "<script>x" not in html
    assert "&lt;script&gt;x&lt;/script&gt;" in html


def test_support_gets_403_on_preview_and_confirm(support_client, population):
    flag, _ = population
    for url, data in [("/flags/%d/toggle" % flag.id, {}),
                      ("/flags/%d/toggle" % flag.id, {"state": "on", "confirm": "yes"}),
                      ("/flags/%d/plans" % flag.id, {"plan_free": "on"}),
                      ("/flags/%d/plans" % flag.id, {"plan_free": "on", "confirm": "yes"}),
                      ("/flags/%d/edit" % flag.id, {"description": "x"}),
                      ("/flags/%d/edit" % flag.id, {"description": "x", "confirm": "yes"})]:
        assert support_client.post(url, data=data).status_code == 403, (url, data)
    assert FeatureFlag.get_by_id(flag.id).enabled is False
    assert flags_service.plan_overrides(flag) == {"pro": True}
    assert AuditLog.select().where(AuditLog.action.startswith("flag.")).count() == 0
