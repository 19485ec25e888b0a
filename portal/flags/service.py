"""Feature flags: which flags are on for a customer, and editing them.

Precedence: a customer override beats a plan override beats the global state.
Overrides live in `feature_flag_overrides`, one row per (flag, plan) or
(flag, customer). Staff writes are audited by the caller in the same
transaction (see portal/flags/routes.py).
"""
import re
from dataclasses import dataclass

from peewee import JOIN, fn

from models import FeatureFlag, FeatureFlagOverride, PlanType, User, database, utcnow
from portal.core import audit

FLAG_KEY_PATTERN = re.compile(r"^[a-z][a-z0-9_.-]{0,63}$")
FLAG_KEY_RULE = ("lowercase letters, digits, '_', '.', '-'; starts with a letter; "
                 "at most 64 characters")


@dataclass(frozen=True)
class FlagValue:
    key: str
    enabled: bool
    source: str  # global | plan | customer
    description: str = ""


# Flags with the overrides that can apply to one customer, in one statement
# (the API asks this on every GET /me; written once, not rebuilt per request).
_EFFECTIVE_SQL = (
    'SELECT f.id, f.key, f.enabled, f.description, o.user_id, o.enabled '
    'FROM feature_flags f LEFT JOIN feature_flag_overrides o ON o.flag_id = f.id '
    'AND (o.plan = {p} OR o.user_id = {p}) ORDER BY f.key')


def effective_flags(user):
    """{key: FlagValue} for `user` (anything with .id and .plan). One query."""
    result = {}
    sql = _EFFECTIVE_SQL.format(p=database.param)
    for _, key, enabled, description, override_user, override_enabled in \
            database.execute_sql(sql, (str(user.plan), user.id)):
        current = result.get(key)
        if override_enabled is None:  # no override row joined
            if current is None:
                result[key] = FlagValue(key, bool(enabled), "global", description)
        elif override_user is not None:
            result[key] = FlagValue(key, bool(override_enabled), "customer", description)
        elif current is None or current.source == "global":
            result[key] = FlagValue(key, bool(override_enabled), "plan", description)
    return result


def flags_as_json(user):
    return {k: v.enabled for k, v in effective_flags(user).items()}


def flag_overview():
    """Every flag with its plan and customer overrides, for the flags page."""
    flags = list(FeatureFlag.select().order_by(FeatureFlag.key))
    rows = (FeatureFlagOverride.select(FeatureFlagOverride, User.id, User.email)
            .join(User, join_type=JOIN.LEFT_OUTER, on=(FeatureFlagOverride.user == User.id))
            .order_by(FeatureFlagOverride.plan, User.email))
    by_flag = {f.id: {"flag": f, "plans": {}, "customers": []} for f in flags}
    for o in rows:
        entry = by_flag.get(o.flag_id)
        if entry is None:
            continue
        if o.plan:
            entry["plans"][o.plan] = bool(o.enabled)
        else:
            entry["customers"].append(o)
    return [by_flag[f.id] for f in flags]


@dataclass(frozen=True)
class PlanImpact:
    """What a change of the global state / plan overrides does to one plan's customers."""
    plan: str
    before: bool
    after: bool
    before_source: str  # plan | global
    after_source: str
    customers: int      # customers on the plan
    pinned: int         # of those, with their own override: a customer override wins

    @property
    def changed(self):
        return self.customers - self.pinned if self.before != self.after else 0

    @property
    def on_to_off(self):
        return self.changed if self.before else 0

    @property
    def off_to_on(self):
        return self.changed if self.after else 0


def plan_overrides(flag):
    """{plan: enabled} of the flag's plan overrides."""
    return {o.plan: bool(o.enabled) for o in FeatureFlagOverride.select().where(
        (FeatureFlagOverride.flag == flag.id) & FeatureFlagOverride.plan.is_null(False))}


def customers_per_plan(flag):
    """{plan: (customers, with a customer override of `flag`)} in one grouped query."""
    own = FeatureFlagOverride.alias()
    query = (User.select(User.plan, fn.COUNT(fn.DISTINCT(User.id)),
                         fn.COUNT(fn.DISTINCT(own.user)))
             .join(own, JOIN.LEFT_OUTER, on=((own.user == User.id) & (own.flag == flag.id)))
             .group_by(User.plan).tuples())
    return {plan: (int(total), int(pinned)) for plan, total, pinned in query}


def preview_change(flag, enabled=None, plans=None):
    """Per plan, how many customers' effective value the change flips. Changes nothing.

    `enabled`: the new global state (None: unchanged). `plans`: the complete new
    plan overrides {plan: True/False/None=inherit} (None: unchanged). Customer
    overrides are not touched by these edits, so their customers never flip.
    """
    old_plans = plan_overrides(flag)
    new_plans = old_plans if plans is None else {
        p: bool(v) for p, v in plans.items() if v is not None}
    old_global = bool(flag.enabled)
    new_global = old_global if enabled is None else bool(enabled)
    counts = customers_per_plan(flag)
    impacts = []
    for plan in PlanType.values():
        total, pinned = counts.get(plan, (0, 0))
        impacts.append(PlanImpact(
            plan, old_plans.get(plan, old_global), new_plans.get(plan, new_global),
            "plan" if plan in old_plans else "global", "plan" if plan in new_plans else "global",
            total, pinned))
    return impacts


def snapshot(flag):
    """A flag as plain data for the audit log."""
    return {"key": flag.key, "description": flag.description, "enabled": bool(flag.enabled)}


# --- admin writes: each one change and its audit row in one transaction -----------

def create_flag(key, description, enabled, actor, now=None):
    with database.atomic():
        flag = FeatureFlag.create(key=key, description=description, enabled=bool(enabled),
                                  updated_at=now or utcnow())
        audit.record(actor, "flag.create", "feature_flag", flag.id, after=snapshot(flag))
    return flag


def update_flag(flag, description, enabled, actor, action="flag.update", now=None):
    """Save description and global state; `action` names it in the audit log (flag.toggle)."""
    with database.atomic():
        before = snapshot(flag)
        flag.description = description
        flag.enabled = bool(enabled)
        flag.updated_at = now or utcnow()
        flag.save()
        audit.record(actor, action, "feature_flag", flag.id, before=before, after=snapshot(flag))
    return flag


def save_plan_overrides(flag, wanted, actor):
    """Set every plan's override ({plan: True/False/None}); returns the changes made."""
    changes = {}
    with database.atomic():
        for plan, value in wanted.items():
            before = set_plan_override(flag, plan, value)
            if before != value:
                changes[plan] = {"before": before, "after": value}
        if changes:
            audit.record(actor, "flag.plan_overrides", "feature_flag", flag.id,
                         before={p: c["before"] for p, c in changes.items()},
                         after={p: c["after"] for p, c in changes.items()})
    return changes


def save_customer_override(flag, user, enabled, actor):
    with database.atomic():
        before = set_customer_override(flag, user, enabled)
        audit.record(actor, "flag.customer_override", "feature_flag", flag.id,
                     before={"user_id": user.id, "enabled": before},
                     after={"user_id": user.id, "enabled": enabled})
    return before


def delete_flag(flag, actor):
    with database.atomic():
        audit.record(actor, "flag.delete", "feature_flag", flag.id, before=snapshot(flag))
        flag.delete_instance(recursive=True)


def set_plan_override(flag, plan, enabled):
    """enabled True/False sets the override; None removes it. Returns the previous value."""
    plan = PlanType(plan).value
    where = (FeatureFlagOverride.flag == flag.id) & (FeatureFlagOverride.plan == plan)
    return _set_override(flag, where, dict(plan=plan), enabled)


def set_customer_override(flag, user, enabled):
    where = (FeatureFlagOverride.flag == flag.id) & (FeatureFlagOverride.user == user.id)
    return _set_override(flag, where, dict(user=user.id), enabled)


def _set_override(flag, where, target, enabled):
    existing = FeatureFlagOverride.select().where(where).first()
    before = bool(existing.enabled) if existing else None
    if enabled is None:
        FeatureFlagOverride.delete().where(where).execute()
    elif existing:
        FeatureFlagOverride.update(enabled=bool(enabled)).where(where).execute()
    else:
        FeatureFlagOverride.create(flag=flag.id, enabled=bool(enabled), **target)
    flag.updated_at = utcnow()
    flag.save()
    return before
