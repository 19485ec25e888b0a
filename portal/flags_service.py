"""Feature flags: which flags are on for a customer, and editing them.

Precedence: a customer override beats a plan override beats the global state.
Overrides live in `feature_flag_overrides`, one row per (flag, plan) or
(flag, customer). Staff writes are audited by the caller in the same
transaction (see portal/flags/routes.py).
"""
import re
from dataclasses import dataclass

from peewee import JOIN

from models import FeatureFlag, FeatureFlagOverride, PlanType, User, database, utcnow

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


def snapshot(flag):
    """A flag as plain data for the audit log."""
    return {"key": flag.key, "description": flag.description, "enabled": bool(flag.enabled)}


def create_flag(key, description, enabled, now=None):
    return FeatureFlag.create(key=key, description=description, enabled=bool(enabled),
                              updated_at=now or utcnow())


def update_flag(flag, description, enabled, now=None):
    flag.description = description
    flag.enabled = bool(enabled)
    flag.updated_at = now or utcnow()
    flag.save()
    return flag


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
