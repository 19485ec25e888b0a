"""Plans, defined once.

Every place that needs the list of plans (forms, validation, the CHECK
constraint's migration, the API) takes it from here. The previous system had a
hard-coded list that forgot `starter`, and starter customers could not
authenticate; keeping one definition makes that impossible.
"""
from dataclasses import dataclass
from enum import Enum


class PlanType(str, Enum):
    FREE = "free"
    STARTER = "starter"
    PRO = "pro"
    ENTERPRISE = "enterprise"

    def __str__(self):  # so f-strings and templates show "starter", not "PlanType.STARTER"
        return self.value

    @classmethod
    def values(cls):
        return [p.value for p in cls]

    @classmethod
    def choices(cls):
        """(value, label) pairs for WTForms SelectField."""
        return [(p.value, p.value.capitalize()) for p in cls]


@dataclass(frozen=True)
class PlanLimits:
    monthly_calls: int | None  # None means unlimited
    max_divisions: int | None  # None means unlimited

    def as_dict(self):
        return {"monthly_calls": self.monthly_calls, "max_divisions": self.max_divisions}


PLAN_LIMITS = {
    PlanType.FREE: PlanLimits(monthly_calls=1_000, max_divisions=1),
    PlanType.STARTER: PlanLimits(monthly_calls=10_000, max_divisions=3),
    PlanType.PRO: PlanLimits(monthly_calls=100_000, max_divisions=10),
    PlanType.ENTERPRISE: PlanLimits(monthly_calls=None, max_divisions=None),
}


def limits_for(plan):
    """Limits for a plan given as PlanType or its string value."""
    return PLAN_LIMITS[PlanType(plan)]


def plan_check_sql(column="plan"):
    """SQL for the CHECK constraint on users.plan, built from PlanType."""
    allowed = ", ".join("'%s'" % v for v in PlanType.values())
    return "%s IN (%s)" % (column, allowed)
