"""Outreach triggers: each one against data built in the test (issue 6).

Shared factories live in tests/factories.py.
"""
import datetime
import json

import pytest

from models import (OutreachCampaign, ResponseTemplate)
from portal.outreach.params import campaign_params, validate_params
from portal.outreach.triggers import find_candidates

from tests.factories import (NOW, add_calls, make_campaign, make_connection,  # noqa: F401
                             make_template, make_user, set_monthly_calls, ids, statuses)


# --- triggers ------------------------------------------------------------------------

def test_connection_failed_fires_once_per_customer_with_latest_failed_connection(app):
    broken = make_user("broken@example.nl")
    make_connection(broken, 1, "refresh_failed", "Old refresh token used.")
    twice = make_user("twice@example.nl")
    make_connection(twice, 1, "refresh_failed", "old", updated_at=NOW - datetime.timedelta(days=2))
    make_connection(twice, 2, "refresh_failed", "newest", updated_at=NOW)
    fine = make_user("fine@example.nl")
    make_connection(fine, 1, "active")
    make_connection(make_user("retrying@example.nl"), 1, "retry_pending")
    campaign = make_campaign("connection_failed")

    found = {c.user_id: c for c in find_candidates(campaign, NOW)}
    assert sorted(found) == sorted([broken.id, twice.id])
    assert found[twice.id].connection["division"] == 2
    assert found[twice.id].connection["last_error"] == "newest"
    assert found[broken.id].connection["status"] == "refresh_failed"


def test_no_connection_between_min_and_max_days_after_signup(app):
    due = make_user("due@example.nl", created_at=NOW - datetime.timedelta(days=5))
    make_user("fresh@example.nl", created_at=NOW - datetime.timedelta(days=1))
    connected = make_user("connected@example.nl", created_at=NOW - datetime.timedelta(days=5))
    make_connection(connected)
    failed_conn = make_user("failedconn@example.nl", created_at=NOW - datetime.timedelta(days=5))
    make_connection(failed_conn, status="refresh_failed")
    make_user("ancient@example.nl", created_at=NOW - datetime.timedelta(days=60))
    campaign = make_campaign("no_connection",
                             params={"days_after_signup": 3, "max_days_after_signup": 30})
    assert ids(find_candidates(campaign, NOW)) == [due.id]


def test_usage_near_limit_uses_plan_limits_and_excludes_reached_and_unlimited(app):
    near_free = make_user("nearfree@example.nl", plan="free")
    set_monthly_calls(near_free, 850)            # 85 % of 1,000
    set_monthly_calls(make_user("low@example.nl", plan="free"), 700)
    set_monthly_calls(make_user("reached@example.nl", plan="free"), 1_000)
    near_starter = make_user("nearstarter@example.nl", plan="starter")
    set_monthly_calls(near_starter, 8_000)       # 80 % of 10,000
    set_monthly_calls(make_user("pro@example.nl", plan="pro"), 8_000)  # 8 % of 100,000
    set_monthly_calls(make_user("ent@example.nl", plan="enterprise"), 5_000_000)
    last_month = make_user("lastmonth@example.nl", plan="free")
    set_monthly_calls(last_month, 900, when=NOW - datetime.timedelta(days=31))
    campaign = make_campaign("usage_near_limit", params={"percent": 80})

    found = {c.user_id: c for c in find_candidates(campaign, NOW)}
    assert sorted(found) == sorted([near_free.id, near_starter.id])
    assert found[near_free.id].usage["used"] == 850
    assert found[near_free.id].usage["limit"] == 1_000


def test_usage_limit_reached_never_for_unlimited_plans(app):
    at_limit = make_user("atlimit@example.nl", plan="free")
    set_monthly_calls(at_limit, 1_000)
    over = make_user("over@example.nl", plan="pro")
    set_monthly_calls(over, 150_000)
    set_monthly_calls(make_user("almost@example.nl", plan="pro"), 99_999)
    set_monthly_calls(make_user("ent@example.nl", plan="enterprise"), 50_000_000)
    campaign = make_campaign("usage_limit_reached")
    assert ids(find_candidates(campaign, NOW)) == sorted([at_limit.id, over.id])


def test_usage_trigger_reads_the_counter_fed_by_real_usage(app):
    user = make_user("real@example.nl", plan="free")
    add_calls(user, NOW - datetime.timedelta(hours=3), n=1_000)
    campaign = make_campaign("usage_limit_reached")
    assert ids(find_candidates(campaign, NOW)) == [user.id]


def test_inactive_only_customers_who_used_the_api_before(app):
    quiet = make_user("quiet@example.nl", last_active_at=NOW - datetime.timedelta(days=20))
    make_user("busy@example.nl", last_active_at=NOW - datetime.timedelta(days=2))
    make_user("never@example.nl", last_active_at=None)
    make_user("gone@example.nl", last_active_at=NOW - datetime.timedelta(days=400))
    campaign = make_campaign("inactive", params={"days_inactive": 14, "max_days_inactive": 90})
    assert ids(find_candidates(campaign, NOW)) == [quiet.id]


def test_error_loop_counts_failed_calls_in_the_last_24_hours(app):
    looping = make_user("loop@example.nl")
    add_calls(looping, NOW - datetime.timedelta(hours=2), status=401, n=40,
              endpoint="tools/call get_invoices")
    add_calls(looping, NOW - datetime.timedelta(hours=1), status=500, n=15,
              endpoint="tools/call get_ledgers")
    add_calls(looping, NOW - datetime.timedelta(hours=1), status=200, n=30)
    # 30 errors inside the window + 30 just outside: below the threshold of 50.
    straddling = make_user("straddle@example.nl")
    add_calls(straddling, NOW - datetime.timedelta(hours=30), status=500, n=30)
    add_calls(straddling, NOW - datetime.timedelta(hours=3), status=500, n=30)
    healthy = make_user("healthy@example.nl")
    add_calls(healthy, NOW - datetime.timedelta(hours=1), status=200, n=80)
    # Errors "in the future" of the injected clock do not count either.
    later = make_user("later@example.nl")
    add_calls(later, NOW + datetime.timedelta(hours=1), status=500, n=60)
    campaign = make_campaign("error_loop", params={"errors_in_24h": 50})

    found = {c.user_id: c for c in find_candidates(campaign, NOW)}
    assert list(found) == [looping.id]
    assert found[looping.id].errors == {"count": 55, "endpoint": "tools/call get_invoices",
                                        "status": 401}


def test_plan_filter_is_part_of_the_query(app):
    free = make_user("free@example.nl", plan="free", last_active_at=NOW - datetime.timedelta(days=20))
    pro = make_user("pro@example.nl", plan="pro", last_active_at=NOW - datetime.timedelta(days=20))
    campaign = make_campaign("inactive", plans="pro,enterprise")
    assert ids(find_candidates(campaign, NOW)) == [pro.id]
    assert ids(find_candidates(campaign, NOW, apply_plan_filter=False)) == sorted([free.id, pro.id])


# --- parameters and seed ------------------------------------------------------------------

def test_params_validation_and_defaults(app):
    assert validate_params("usage_near_limit", {"percent": 90}) == ({"percent": 90}, {})
    _, errors = validate_params("usage_near_limit", {"percent": 100})
    assert "percent" in errors
    _, errors = validate_params("usage_near_limit", {"percent": "80"})
    assert errors == {"percent": "must be a whole number"}
    _, errors = validate_params("inactive", {"days_inactive": 30, "max_days_inactive": 10})
    assert "max_days_inactive" in errors
    _, errors = validate_params("error_loop", {"bogus": 1})
    assert errors == {"bogus": "unknown parameter"}
    broken = OutreachCampaign(trigger="usage_near_limit", params="{not json")
    assert campaign_params(broken) == {"percent": 80}


def test_seed_default_campaigns_one_per_trigger_disabled_and_linked(app):
    from models import OUTREACH_TRIGGERS
    from portal.outreach.defaults import seed_default_campaigns
    from portal.mail.defaults import seed_default_templates
    seed_default_templates()
    assert seed_default_campaigns() == len(OUTREACH_TRIGGERS)
    campaigns = list(OutreachCampaign.select())
    assert sorted(c.trigger for c in campaigns) == sorted(OUTREACH_TRIGGERS)
    assert not any(c.enabled for c in campaigns)
    for c in campaigns:
        assert c.template is not None and c.template.trigger == c.trigger
        assert campaign_params(c) == json.loads(c.params)
        assert c.cooldown_days >= 1
    # Idempotent: an admin's edits survive a second seed.
    OutreachCampaign.update(cooldown_days=99).execute()
    assert seed_default_campaigns() == 0
    assert {c.cooldown_days for c in OutreachCampaign.select()} == {99}


@pytest.mark.parametrize("trigger", ["connection_failed", "no_connection", "usage_near_limit",
                                     "usage_limit_reached", "inactive", "error_loop"])
def test_every_default_template_renders_for_a_real_candidate(app, trigger):
    """The seeded template of each trigger renders with the engine's real context."""
    from portal.outreach.engine import render_for
    from portal.mail.defaults import seed_default_templates
    from portal.outreach.triggers import Candidate
    seed_default_templates()
    template = ResponseTemplate.get(ResponseTemplate.trigger == trigger)
    campaign = make_campaign(trigger, template=template)
    user = make_user("c@example.nl", name="Anna Jansen")
    candidate = Candidate(user.id, user.email, user.name, user.plan, False, user.created_at,
                          None, "why", connection={"division": 42, "status": "refresh_failed",
                                                   "last_error": "x", "retry_count": 1},
                          errors={"count": 60, "endpoint": "e", "status": 500})
    rendered = render_for(app.config, campaign, template, candidate,
                          {"used": 10, "limit": 1000, "month": NOW.date()})
    assert rendered.subject and "{{" not in rendered.text
    assert "Anna" in rendered.text
