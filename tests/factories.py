"""Test data factories shared by every test module: customers, connections, campaigns.

One `make_connection` for all of them (the sidecar, token, outreach and page
tests); outreach helpers build their rows at the fixed instant NOW.
"""
import datetime
import json
import secrets

from models import (Connection, OutreachCampaign, OutreachLog, ResponseTemplate, UsageMonthly,
                    User, utcnow)
from portal.exact.crypto import encrypt_token
from portal.usage.counters import record_usage_rows
from tests.conftest import TEST_TOKEN_KEY

KEYS = TEST_TOKEN_KEY
NOW = datetime.datetime(2026, 3, 15, 12, 0, 0)


def new_token():
    return "rt-test-" + secrets.token_urlsafe(12)


def make_connection(user=None, division=1, status="active", last_error=None, *, fake=None,
                    email=None, refresh_token=None, token_expires_at=None,
                    last_refreshed_at=None, retry_count=0, next_retry_at=None,
                    failure_kind=None, issued_ago=86400 * 2, updated_at=None, now=None):
    """THE test connection: encrypted tokens, due by default (last refreshed two days ago).

    `user` defaults to a customer with `email` (or a random one); with `fake`,
    the refresh token is registered at that fake Exact.
    """
    now = now or utcnow()
    refresh_token = refresh_token or new_token()
    if fake is not None:
        fake.register(refresh_token, issued_ago=issued_ago)
    if last_refreshed_at is None and token_expires_at is None:
        last_refreshed_at = now - datetime.timedelta(days=2)
    if token_expires_at is None:
        token_expires_at = last_refreshed_at + datetime.timedelta(seconds=600)
    if user is None:
        user, _ = User.get_or_create(email=email or "c%s@example.nl" % secrets.token_hex(4))
    return Connection.create(
        user=user, division=division, status=status, last_error=last_error,
        updated_at=updated_at or now,
        access_token=encrypt_token(KEYS, "at-old-" + secrets.token_hex(4)),
        refresh_token=encrypt_token(KEYS, refresh_token),
        token_expires_at=token_expires_at,
        refresh_expires_at=(last_refreshed_at + datetime.timedelta(days=30)
                            if last_refreshed_at else None),
        last_refreshed_at=last_refreshed_at, retry_count=retry_count,
        next_retry_at=next_retry_at, failure_kind=failure_kind)


def make_user(email, *, plan="free", created_at=None, opt_out=False, last_active_at=None,
              name="Test Customer"):
    return User.create(email=email, name=name, plan=plan, marketing_opt_out=opt_out,
                       created_at=created_at or NOW - datetime.timedelta(days=400),
                       last_active_at=last_active_at)


def make_template(trigger, subject=None, body=None):
    return ResponseTemplate.create(
        trigger=trigger, name="T " + trigger,
        subject=subject or "[%s] Hello {{ customer.name }}" % trigger,
        body=body or ("Dear {{ customer.first_name }},\n\ntrigger %s.\n"
                      "Reconnect: {{ links.reconnect }}\nUnsubscribe: {{ links.unsubscribe }}"
                      % trigger))


def make_campaign(trigger, *, enabled=True, cooldown_days=7, plans="", params=None,
                  template=True, name=None):
    tpl = make_template(trigger) if template is True else template
    return OutreachCampaign.create(
        name=name or "Campaign " + trigger, trigger=trigger, template=tpl, enabled=enabled,
        cooldown_days=cooldown_days, plans=plans, params=json.dumps(params or {}))


def set_monthly_calls(user, calls, when=NOW):
    (UsageMonthly.insert(user=user, month=datetime.date(when.year, when.month, 1), calls=calls)
     .on_conflict(conflict_target=[UsageMonthly.user, UsageMonthly.month],
                  update={UsageMonthly.calls: calls}).execute())


def add_calls(user, when, status=200, n=1, endpoint="tools/call get_invoices"):
    record_usage_rows([dict(user=user.id, timestamp=when + datetime.timedelta(seconds=i),
                            endpoint=endpoint, response_status=status) for i in range(n)])


def ids(candidates):
    return sorted(c.user_id for c in candidates)


def statuses(campaign=None, user=None):
    q = OutreachLog.select().order_by(OutreachLog.id)
    if campaign is not None:
        q = q.where(OutreachLog.campaign == campaign.id)
    if user is not None:
        q = q.where(OutreachLog.user == user.id)
    return [(r.user_id, r.status, r.reason.split(":")[0]) for r in q]
