"""The rules every outreach send obeys, decided for a whole campaign at once.

`load_rule_state` reads, in a handful of set-based queries, everything the
rules need for one campaign (its cooldowns and claims, who got any outreach
email inside the daily-cap window, which skips were logged recently);
`decide` then answers per candidate without touching the database. The real
send re-checks cooldown and cap inside the claiming transaction
(portal.outreach.claims), so this pre-check only saves work; it is also
exactly what the dry run shows.

Order of the rules: marketing opt-out (except service mail), the campaign's
cooldown, a send in flight elsewhere, then the cross-campaign daily cap.

Skip logging (to keep outreach_log readable): a skip is written at most once
per (customer, campaign, reason) per window, where the window is the
campaign's cooldown (at least 24 h) and, for the daily cap, the cap window.
A trigger that keeps firing every 15 minutes for a customer in a 30-day
cooldown thus leaves one `skipped` row per cooldown, not 2,880.

Failures to render (status `failed`, code `render_failed`) are logged the
same way: at most once per (customer, campaign) per window, and again as soon
as the template changes. The send itself is tried again every cycle
(rendering costs nothing and sends nothing), so fixing the template or the
customer's data lets the email go out on the next run. (Two sidecars failing
the same render at the same moment may both write the row, as with skips;
no email is involved, so nothing is sent twice.)

Reasons are written "code: human explanation"; the code is what the skip
de-duplication and the log filters look at.
"""
import datetime
from dataclasses import dataclass, field

from peewee import fn

from models import OutreachCooldown, OutreachLog

from models.triggers import SERVICE_TRIGGERS

OPTED_OUT = "opted_out"
COOLDOWN = "cooldown"
DAILY_CAP = "daily_cap"
IN_FLIGHT = "in_flight"
PLAN_EXCLUDED = "plan_excluded"
INTERRUPTED = "interrupted"
SERVICE_MAIL = "service_mail"
RENDER_FAILED = "render_failed"

REASON_LABELS = {
    OPTED_OUT: "opted out of marketing email",
    COOLDOWN: "in the campaign's cooldown",
    DAILY_CAP: "another outreach email within the daily cap",
    IN_FLIGHT: "being sent by another sidecar right now",
    PLAN_EXCLUDED: "plan not targeted by the campaign",
    RENDER_FAILED: "the email cannot be rendered for the customer",
}


def reason_code(reason):
    return (reason or "").split(":", 1)[0].strip()


def fmt_time(ts):
    return ts.strftime("%Y-%m-%d %H:%M UTC") if ts else "?"


@dataclass(frozen=True)
class Decision:
    candidate: object
    action: str  # send | skip | busy
    code: str = ""
    reason: str = ""

    @property
    def user_id(self):
        return self.candidate.user_id


@dataclass
class RuleState:
    now: datetime.datetime
    cap_hours: int
    cooldown_days: int
    cooldowns: dict = field(default_factory=dict)   # user_id -> (until, claim)
    capped: dict = field(default_factory=dict)      # user_id -> last outreach sent at
    busy_elsewhere: set = field(default_factory=set)  # claims in flight, other campaigns
    logged_skips: dict = field(default_factory=dict)  # (user_id, code) -> last logged at
    logged_render_failures: dict = field(default_factory=dict)  # user_id -> last logged at

    def skip_window(self, code):
        if code == DAILY_CAP:
            return datetime.timedelta(hours=self.cap_hours)
        return datetime.timedelta(days=max(1, self.cooldown_days))

    def should_log_skip(self, user_id, code):
        """True once per (customer, campaign, reason) per window; remembers the answer."""
        last = self.logged_skips.get((user_id, code))
        if last is not None and last > self.now - self.skip_window(code):
            return False
        self.logged_skips[(user_id, code)] = self.now
        return True

    def should_log_render_failure(self, user_id, template_changed_at=None):
        """True once per (customer, campaign) per window, or when the template changed
        since the last `render_failed` row; remembers the answer."""
        last = self.logged_render_failures.get(user_id)
        if (last is not None and last > self.now - self.skip_window(COOLDOWN)
                and (template_changed_at is None or last >= template_changed_at
                     or template_changed_at > self.now)):
            return False
        self.logged_render_failures[user_id] = self.now
        return True


def load_rule_state(campaign, now, cap_hours):
    """Everything `decide` needs for one campaign, in five queries."""
    state = RuleState(now=now, cap_hours=cap_hours, cooldown_days=campaign.cooldown_days)
    if campaign.id is None:  # an unsaved campaign (edit preview) has no history
        campaign_filter = OutreachCooldown.campaign.is_null()
    else:
        campaign_filter = OutreachCooldown.campaign == campaign.id
    for uid, until, claim in (OutreachCooldown
                              .select(OutreachCooldown.user, OutreachCooldown.until,
                                      OutreachCooldown.claim)
                              .where(campaign_filter & ((OutreachCooldown.until > now)
                                                        | OutreachCooldown.claim.is_null(False)))
                              .tuples()):
        state.cooldowns[uid] = (until, claim)
    cap_since = now - datetime.timedelta(hours=cap_hours)
    state.capped = dict(OutreachLog.select(OutreachLog.user, fn.MAX(OutreachLog.created_at))
                        .where((OutreachLog.status == "sent")
                               & (OutreachLog.created_at > cap_since)
                               & (OutreachLog.created_at <= now))
                        .group_by(OutreachLog.user).tuples())
    other = OutreachCooldown.select(OutreachCooldown.user).where(
        OutreachCooldown.claim.is_null(False) & (OutreachCooldown.until > now))
    if campaign.id is not None:
        other = other.where(OutreachCooldown.campaign != campaign.id)
    state.busy_elsewhere = {uid for (uid,) in other.tuples()}
    if campaign.id is not None:
        window = max(state.skip_window(COOLDOWN), state.skip_window(DAILY_CAP))
        for uid, reason, at in (OutreachLog
                                .select(OutreachLog.user, OutreachLog.reason,
                                        OutreachLog.created_at)
                                .where((OutreachLog.campaign == campaign.id)
                                       & (OutreachLog.status == "skipped")
                                       & (OutreachLog.created_at > now - window))
                                .tuples()):
            key = (uid, reason_code(reason))
            if key not in state.logged_skips or at > state.logged_skips[key]:
                state.logged_skips[key] = at
        state.logged_render_failures = dict(
            OutreachLog.select(OutreachLog.user, fn.MAX(OutreachLog.created_at))
            .where((OutreachLog.campaign == campaign.id) & (OutreachLog.status == "failed")
                   & OutreachLog.reason.startswith(RENDER_FAILED + ":")
                   & (OutreachLog.created_at > now - state.skip_window(COOLDOWN)))
            .group_by(OutreachLog.user).tuples())
    return state


def render_failed_reason(error):
    """The reason on a `failed` row for an email that could not be rendered."""
    return ("%s: the email cannot be rendered for this customer: %s; nothing was sent, it is "
            "tried again every run (fix the template)" % (RENDER_FAILED, error))


def opted_out_reason():
    return OPTED_OUT + ": the customer opted out of marketing email"


def cooldown_reason(until):
    return COOLDOWN + ": this campaign already went to the customer; cooldown until " \
        + fmt_time(until)


def daily_cap_reason(cap_hours, last_sent=None):
    when = (" (last one %s)" % fmt_time(last_sent)) if last_sent else ""
    return "%s: another outreach email went to the customer within %d h%s" % (
        DAILY_CAP, cap_hours, when)


def send_reason(campaign, candidate):
    """The reason written on a `sent` row: why the trigger fired (+ service mail note)."""
    if campaign.trigger in SERVICE_TRIGGERS:
        if candidate.marketing_opt_out:
            return ("%s: sent although the customer opted out of marketing email "
                    "(connection_failed is service mail); %s" % (SERVICE_MAIL, candidate.why))
        return "%s: %s" % (SERVICE_MAIL, candidate.why)
    return "trigger: " + candidate.why


def decide(candidate, campaign, state):
    """The Decision for one candidate under the campaign's rules (no database access)."""
    uid = candidate.user_id
    if candidate.marketing_opt_out and campaign.trigger not in SERVICE_TRIGGERS:
        return Decision(candidate, "skip", OPTED_OUT, opted_out_reason())
    held = state.cooldowns.get(uid)
    if held is not None:
        until, claim = held
        if claim is None and until > state.now:
            return Decision(candidate, "skip", COOLDOWN, cooldown_reason(until))
        if claim is not None and until > state.now:
            return Decision(candidate, "busy", IN_FLIGHT,
                            IN_FLIGHT + ": another sidecar is sending this right now")
        # An expired claim (its sidecar died): the claiming transaction recovers it.
    if uid in state.capped or uid in state.busy_elsewhere:
        return Decision(candidate, "skip", DAILY_CAP,
                        daily_cap_reason(state.cap_hours, state.capped.get(uid)))
    return Decision(candidate, "send", "", send_reason(campaign, candidate))
