"""Outreach engine: run the enabled campaigns, dry runs, previews (no Flask here).

The sidecar calls `run_outreach_cycle(config, now=None)` every
OUTREACH_INTERVAL_SECONDS. Per enabled campaign (in TRIGGER_ORDER, so service
mail and hard limits win the daily cap):

1. one query finds who the trigger fires for (portal.outreach.triggers);
2. a few set-based queries load the rule state, `decide` sorts candidates into
   send / skip (portal.outreach.rules); skips are logged in bulk, de-duplicated;
3. each send is rendered, claimed in its own transaction, sent, and recorded
   (portal.outreach.claims), so it happens exactly once even with two
   sidecars or a sidecar that dies halfway.

When the mail transport fails several times in a row the cycle stops sending
(the rest is tried next cycle) instead of waiting on a dead SMTP server for
every customer.

Nothing fails silently: an email that cannot be rendered (e.g. too large with
this customer's data) is counted as `failed` and logged as a `failed` row
with the reason (once per window, see portal.outreach.rules); it takes no
claim and starts no cooldown, so it is tried again next cycle and goes out
once the template is fixed. The cycle's result lists per campaign what
failed and why (`campaign_failures`); the sidecar stores it on its job run,
the sidecar page and the dashboard read it from there.
"""
import logging
import uuid
from dataclasses import dataclass, field

from models import (OutboxMessage, OutreachCampaign, OutreachCooldown, OutreachLog, ResponseTemplate,
                    User, database, utcnow)

from portal.mail import sending as mail, engine as template_engine
from portal.outreach.claims import claim_send, record_failed, record_sent
from portal.outreach.rules import (PLAN_EXCLUDED, REASON_LABELS, RENDER_FAILED, Decision, decide,
                                   load_rule_state, render_failed_reason)
from models.triggers import SERVICE_TRIGGERS, TRIGGER_ORDER
from portal.outreach.params import campaign_plans
from portal.outreach.triggers import Candidate, find_candidates, usage_this_month

log = logging.getLogger(__name__)

MAX_CONSECUTIVE_DELIVERY_FAILURES = 3


def cap_hours(config):
    return int(config.get("OUTREACH_DAILY_CAP_HOURS") or 24)


def lease_seconds(config):
    return int(config.get("OUTREACH_CLAIM_LEASE_SECONDS") or 600)


# --- rendering ------------------------------------------------------------------

def links_for(config, candidate):
    base = (config.get("PUBLIC_BASE_URL") or "").rstrip("/")
    reconnect = config.get("OUTREACH_RECONNECT_URL") or base + "/connect/exact"
    if candidate.connection and candidate.connection.get("division") is not None:
        sep = "&" if "?" in reconnect else "?"
        reconnect = "%s%sdivision=%s" % (reconnect, sep, candidate.connection["division"])
    return {
        "reconnect": reconnect,
        "upgrade": config.get("OUTREACH_UPGRADE_URL") or base + "/account/plan",
        "unsubscribe": mail.unsubscribe_url(config, candidate.user_id),
    }


def render_for(config, campaign, template, candidate, usage):
    """The email for this candidate exactly as it would be sent (raises TemplateError)."""
    context = template_engine.customer_context(
        candidate.user_dict(), usage=candidate.usage or usage,
        connection=candidate.connection, links=links_for(config, candidate),
        errors=candidate.errors)
    return template_engine.render_email(template.subject, template.body, context,
                                        template_engine.TRIGGER_VARIABLES[campaign.trigger])


# --- the cycle ---------------------------------------------------------------------

@dataclass
class CycleStats:
    sent: int = 0
    failed: int = 0
    skipped: int = 0
    recovered: int = 0
    campaigns: int = 0
    mail_down: bool = False
    errors: list = field(default_factory=list)
    by_campaign: dict = field(default_factory=dict)  # campaign id -> tally (see tally())

    def tally(self, campaign):
        return self.by_campaign.setdefault(campaign.id, {
            "id": campaign.id, "name": campaign.name, "sent": 0, "failed": 0, "reason": ""})

    def count_sent(self, campaign):
        self.sent += 1
        self.tally(campaign)["sent"] += 1

    def count_failed(self, campaign, reason, *, sends=1):
        """`sends` sends of the campaign failed (0: the campaign could not run at all)."""
        self.failed += sends
        t = self.tally(campaign)
        t["failed"] += sends
        t["reason"] = t["reason"] or reason[:500]  # the first reason names the cause
        t["broken"] = t.get("broken", False) or sends == 0

    def campaign_failures(self):
        """Campaigns with failures this cycle; `all_failed` when none of its sends went out."""
        return [dict(t, all_failed=t["sent"] == 0)
                for t in self.by_campaign.values() if t["failed"] or t.get("broken")]

    def as_dict(self):
        return {"sent": self.sent, "failed": self.failed, "skipped": self.skipped,
                "recovered": self.recovered, "campaigns": self.campaigns,
                "mail_down": self.mail_down, "errors": list(self.errors),
                "campaign_failures": self.campaign_failures()}


def enabled_campaigns():
    campaigns = list(OutreachCampaign.select().where(OutreachCampaign.enabled == True))  # noqa: E712
    return sorted(campaigns, key=lambda c: (TRIGGER_ORDER.index(c.trigger), c.id))


def _log_skips(campaign, decisions, now):
    rows = [dict(user=d.user_id, campaign=campaign.id, status="skipped", reason=d.reason,
                 created_at=now) for d in decisions]
    with database.atomic():
        for i in range(0, len(rows), 500):
            OutreachLog.insert_many(rows[i:i + 500]).execute()


def run_campaign(config, campaign, now, stats, *, failures=0):
    """Evaluate and send one campaign; returns the count of consecutive delivery failures."""
    template = campaign.template if campaign.template_id else None
    if template is None:
        stats.errors.append("campaign %d (%s) has no template" % (campaign.id, campaign.name))
        stats.count_failed(campaign, "the campaign has no email template", sends=0)
        return failures
    caps = cap_hours(config)
    candidates = find_candidates(campaign, now)
    state = load_rule_state(campaign, now, caps)
    to_log, to_send = [], []
    for candidate in candidates:
        d = decide(candidate, campaign, state)
        if d.action == "send":
            to_send.append(d)
        elif d.action == "skip" and state.should_log_skip(d.user_id, d.code):
            to_log.append(d)
    if to_log:
        _log_skips(campaign, to_log, now)
        stats.skipped += len(to_log)
    usage = usage_this_month([d.user_id for d in to_send], now)
    for d in to_send:
        if failures >= MAX_CONSECUTIVE_DELIVERY_FAILURES:
            stats.mail_down = True
            break
        failures = send_one(config, campaign, template, d.candidate, d.reason, now, stats,
                            state, usage.get(d.user_id), failures)
    return failures


def send_one(config, campaign, template, candidate, reason, now, stats, state, usage,
             failures=0):
    """Render, claim, send and record one email; returns consecutive delivery failures."""
    try:
        rendered = render_for(config, campaign, template, candidate, usage)
    except Exception as e:  # noqa: BLE001 - whatever broke, count it and say why
        if not isinstance(e, template_engine.TemplateError):
            log.exception("outreach render crashed for campaign %s", campaign.id)
            e = "unexpected error while rendering (%s)" % type(e).__name__
        record_render_failed(campaign, template, candidate, now, stats, state,
                             render_failed_reason(e))
        return failures
    token = uuid.uuid4().hex
    claim = claim_send(candidate, campaign, now, token, lease_seconds(config), cap_hours(config))
    if claim.status == "recovered":
        stats.recovered += 1
        return failures
    if claim.status == "busy":
        return failures
    if claim.status == "skip":
        if state.should_log_skip(candidate.user_id, claim.code):
            _log_skips(campaign, [Decision(candidate, "skip", claim.code, claim.reason)], now)
            stats.skipped += 1
        return failures
    marketing = campaign.trigger not in SERVICE_TRIGGERS
    try:
        message_id = mail.send_message(
            config, to=candidate.email, subject=rendered.subject, text=rendered.text,
            html=rendered.html, kind="outreach",
            unsubscribe_url=mail.unsubscribe_url(config, candidate.user_id) if marketing else None)
    except Exception as e:  # noqa: BLE001 - whatever broke, release the claim and log it
        if not isinstance(e, mail.MailDeliveryError):
            log.exception("outreach send crashed for campaign %s", campaign.id)
        row = record_failed(candidate, campaign, token, now, rendered, e)
        stats.count_failed(campaign, row.reason)
        return failures + 1
    record_sent(candidate, campaign, token, now, as_sent(rendered, message_id), message_id,
                reason)
    stats.count_sent(campaign)
    return 0


def record_render_failed(campaign, template, candidate, now, stats, state, reason):
    """Count a send that could not be rendered and log it as `failed` (de-duplicated).

    No claim is taken and no cooldown starts: nothing went out, so nothing
    blocks the next cycle's attempt, and nothing can be sent twice.
    """
    stats.count_failed(campaign, reason)
    if state.should_log_render_failure(candidate.user_id, template.updated_at):
        OutreachLog.create(user=candidate.user_id, campaign=campaign.id, status="failed",
                           reason=reason[:2000], created_at=now)


def as_sent(rendered, message_id):
    """The email exactly as handed to the transport (mail.py's copy; MIME normalises
    line endings), falling back to the rendering if the copy could not be stored."""
    copy = OutboxMessage.get_or_none(OutboxMessage.message_id == message_id)
    if copy is None:
        return rendered
    return template_engine.RenderedEmail(copy.subject, copy.text_body, copy.html_body)


def run_outreach_cycle(config, now=None):
    """Evaluate every enabled campaign once; returns counts by status."""
    now = now or utcnow()
    stats = CycleStats()
    opened = database.is_closed()
    if opened:
        database.connect()
    try:
        failures = 0
        for campaign in enabled_campaigns():
            stats.campaigns += 1
            try:
                failures = run_campaign(config, campaign, now, stats, failures=failures)
            except Exception as e:  # one broken campaign must not stop the others
                log.exception("outreach campaign %s failed", campaign.id)
                stats.errors.append("campaign %d: %s" % (campaign.id, type(e).__name__))
                stats.count_failed(campaign, "the campaign stopped with an error (%s); see "
                                   "the sidecar's log" % type(e).__name__, sends=0)
            if stats.mail_down:
                log.warning("outreach: mail transport keeps failing; the rest waits for "
                            "the next cycle")
                break
    finally:
        if opened:
            database.close()
    return stats.as_dict()


# --- dry run and preview -----------------------------------------------------------

@dataclass
class DryRun:
    would_send: list
    skipped: list
    counts: dict
    template_missing: bool
    would_fail: list = field(default_factory=list)  # Decisions whose email cannot be rendered


def dry_run(config, campaign, now=None):
    """Who would get the campaign now and who would be skipped and why. Sends nothing.

    Works for disabled and unsaved campaigns too (the edit page previews new settings).
    Unlike a real run, every skip is listed (no de-duplication) and customers of
    plans the campaign leaves out are shown as such. Every email that would be
    sent is rendered exactly as the sender would; one that cannot be is listed
    in `would_fail` with the reason instead of being promised.
    """
    now = now or utcnow()
    plans = campaign_plans(campaign)
    state = load_rule_state(campaign, now, cap_hours(config))
    would_send, skipped, counts = [], [], {}
    for candidate in find_candidates(campaign, now, apply_plan_filter=False):
        if plans and candidate.plan not in plans:
            d = Decision(candidate, "skip", PLAN_EXCLUDED,
                         "%s: plan %s is not one of %s" % (PLAN_EXCLUDED, candidate.plan,
                                                          ", ".join(plans)))
        else:
            d = decide(candidate, campaign, state)
        if d.action == "send":
            would_send.append(d)
        else:
            skipped.append(d)
        key = "send" if d.action == "send" else d.code
        counts[key] = counts.get(key, 0) + 1
    template_missing = campaign.template_id is None
    would_send, would_fail = _renderable(config, campaign, would_send, now)
    if would_fail:
        counts["send"] -= len(would_fail)
        if not counts["send"]:
            del counts["send"]
        counts[RENDER_FAILED] = len(would_fail)
    return DryRun(would_send, skipped, counts, template_missing, would_fail)


def _renderable(config, campaign, decisions, now):
    """(would_send, would_fail): the decisions split by whether their email renders."""
    template = (ResponseTemplate.get_or_none(ResponseTemplate.id == campaign.template_id)
                if campaign.template_id else None)
    if template is None or not decisions:
        return decisions, []
    usage = usage_this_month([d.user_id for d in decisions], now)
    ok, failing = [], []
    for d in decisions:
        try:
            render_for(config, campaign, template, d.candidate, usage.get(d.user_id))
        except template_engine.TemplateError as e:
            failing.append(Decision(d.candidate, "fail", RENDER_FAILED,
                                    render_failed_reason(e)))
        else:
            ok.append(d)
    return ok, failing


def skip_label(code):
    return REASON_LABELS.get(code, code or "")


def preview_for(config, campaign, user_id, now=None):
    """(candidate, RenderedEmail or None, problem) for one customer of the campaign."""
    now = now or utcnow()
    user = User.get_or_none(User.id == user_id)
    if user is None:
        return None, None, "no such customer"
    found = [c for c in find_candidates(campaign, now, apply_plan_filter=False)
             if c.user_id == user.id]
    problem = ""
    if found:
        candidate = found[0]
    else:
        candidate = Candidate(user.id, user.email, user.name, user.plan,
                              bool(user.marketing_opt_out), user.created_at,
                              user.last_active_at, "")
        problem = "The trigger does not fire for this customer right now."
    if campaign.template_id is None:
        return candidate, None, "The campaign has no template."
    template = ResponseTemplate.get_by_id(campaign.template_id)
    usage = usage_this_month([user.id], now).get(user.id)
    try:
        return candidate, render_for(config, campaign, template, candidate, usage), problem
    except template_engine.TemplateError as e:
        return candidate, None, "The template cannot be rendered: %s" % e


# --- for the customer page ----------------------------------------------------------

def customer_outreach(user_id, limit=20, now=None):
    """(log_rows, cooldown_rows) for one customer: latest decisions and live cooldowns.

    log_rows: OutreachLog with .campaign joined, newest first, at most `limit`.
    cooldown_rows: OutreachCooldown with .campaign joined whose cooldown or claim is
    still running, soonest-ending first. `.claim` set means a send is in flight.
    """
    now = now or utcnow()
    log_rows = list(OutreachLog.select(OutreachLog, OutreachCampaign)
                    .join(OutreachCampaign)
                    .where(OutreachLog.user == user_id)
                    .order_by(OutreachLog.created_at.desc(), OutreachLog.id.desc())
                    .limit(limit))
    cooldown_rows = list(OutreachCooldown.select(OutreachCooldown, OutreachCampaign)
                         .join(OutreachCampaign)
                         .where((OutreachCooldown.user == user_id)
                                & (OutreachCooldown.until > now))
                         .order_by(OutreachCooldown.until))
    return log_rows, cooldown_rows

