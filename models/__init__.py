"""Peewee models for the whole schema.

Models know nothing of Flask. Table, column and index names in the contract
(../shared/DESIGN.md) are kept exactly. Every timestamp is naive UTC.
Migrations in migrations/ create exactly this schema; a test compares them.
"""
from peewee import (SQL, BigAutoField, BooleanField, CharField,
                    Check, CompositeKey, DateField, DateTimeField,
                    ForeignKeyField, IntegerField, TextField, fn)

from .db import BaseModel, database, init_database, utcnow  # noqa: F401
from .plans import PLAN_LIMITS, PlanType, plan_check_sql  # noqa: F401
from .triggers import OUTREACH_TRIGGERS  # noqa: F401

CONNECTION_STATUSES = ("active", "retry_pending", "refresh_failed")
OUTREACH_STATUSES = ("sent", "failed", "skipped")


def _in(column, values):
    return "%s IN (%s)" % (column, ", ".join("'%s'" % v for v in values))


# --- customers and staff -------------------------------------------------

class User(BaseModel):
    """A customer of the MCP service (table `users`)."""
    email = CharField(unique=True)
    name = CharField(default="")
    plan = CharField(default=PlanType.FREE.value,
                     constraints=[Check(plan_check_sql("plan"))])
    marketing_opt_out = BooleanField(default=False)
    created_at = DateTimeField(default=utcnow)
    # Maintained as usage is recorded so the customer list can sort by it.
    last_active_at = DateTimeField(null=True, index=True)

    class Meta:
        table_name = "users"


# Customer list keyset pagination: (sort value, id) per sort (migration 0040).
# Migration 0040 also adds per-engine prefix-search indexes on email and name
# (NOCASE on SQLite, lower(...) text_pattern_ops on PostgreSQL).
User.add_index(User.index(User.created_at, User.id, name="idx_users_created_at_id"))
User.add_index(User.index(User.last_active_at, User.id, name="idx_users_last_active_id"))


class Staff(BaseModel):
    """A staff account that logs into the portal. Role comes from ADMIN_EMAILS."""
    email = CharField(unique=True)
    name = CharField(default="")
    password_hash = CharField(max_length=512)
    active = BooleanField(default=True)
    # Bumped on logout/deactivation: a session cookie carrying an older
    # version is refused, so logout is real on the server.
    session_version = IntegerField(default=1)
    created_at = DateTimeField(default=utcnow)
    last_login_at = DateTimeField(null=True)

    class Meta:
        table_name = "staff"


class LoginAttempt(BaseModel):
    """Every login attempt, for throttling password guessing per account and per address."""
    email = CharField(index=True)
    ip = CharField(default="")
    success = BooleanField(default=False)
    created_at = DateTimeField(default=utcnow, index=True)

    class Meta:
        table_name = "login_attempts"


class ApiKey(BaseModel):
    """An API key; only its SHA-256 hash is stored, plus a short prefix to recognise it."""
    user = ForeignKeyField(User, backref="api_keys", on_delete="CASCADE")
    name = CharField(default="")
    prefix = CharField(max_length=32, index=True)
    key_hash = CharField(max_length=64, unique=True)
    created_at = DateTimeField(default=utcnow)
    last_used_at = DateTimeField(null=True)
    revoked_at = DateTimeField(null=True)

    class Meta:
        table_name = "api_keys"


class DivisionLimit(BaseModel):
    """A per-customer override of the plan's maximum number of Exact divisions."""
    user = ForeignKeyField(User, backref="division_limits", unique=True, on_delete="CASCADE")
    max_divisions = IntegerField(null=True)  # NULL = unlimited
    reason = TextField(default="")
    updated_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "division_limits"


class FeatureFlag(BaseModel):
    """A feature flag with its global state; plan and customer overrides live beside it."""
    key = CharField(unique=True)
    description = TextField(default="")
    enabled = BooleanField(default=False)
    updated_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "feature_flags"


class FeatureFlagOverride(BaseModel):
    """A flag turned on/off for one plan or one customer (customer beats plan beats global)."""
    flag = ForeignKeyField(FeatureFlag, backref="overrides", on_delete="CASCADE")
    plan = CharField(null=True, constraints=[Check("plan IS NULL OR " + plan_check_sql("plan"))])
    user = ForeignKeyField(User, null=True, backref="flag_overrides", on_delete="CASCADE")
    enabled = BooleanField()

    class Meta:
        table_name = "feature_flag_overrides"
        constraints = [SQL("CHECK ((plan IS NULL) <> (user_id IS NULL))")]
        indexes = ((("flag", "plan"), False), (("flag", "user"), False))


class AuditLog(BaseModel):
    """Every write by staff, and every login attempt: who, what, which record, before/after."""
    staff = ForeignKeyField(Staff, null=True, backref="audit_entries", on_delete="SET NULL")
    staff_email = CharField(default="")
    action = CharField(index=True)
    target_type = CharField(default="")
    target_id = CharField(default="")
    before = TextField(default="")
    after = TextField(default="")
    ip = CharField(default="")
    created_at = DateTimeField(default=utcnow, index=True)

    class Meta:
        table_name = "audit_log"


# --- Exact connections ----------------------------------------------------

class Connection(BaseModel):
    """One customer's OAuth connection to one Exact division.

    access_token/refresh_token hold Fernet tokens (MultiFernet over
    TOKEN_ENCRYPTION_KEYS), never plaintext. lease_owner/lease_expires_at make
    sure only one process refreshes a connection at a time.
    """
    user = ForeignKeyField(User, backref="connections", on_delete="CASCADE")
    division = IntegerField()
    status = CharField(default="active",
                       constraints=[Check(_in("status", CONNECTION_STATUSES))])
    access_token = TextField(default="")
    refresh_token = TextField(default="")
    token_expires_at = DateTimeField(null=True)
    refresh_expires_at = DateTimeField(null=True)
    last_refreshed_at = DateTimeField(null=True)
    retry_count = IntegerField(default=0)
    next_retry_at = DateTimeField(null=True)
    last_error = TextField(null=True)
    # Why a connection is retry_pending: "transient" (retry ladder) or
    # "permanent" (waiting for the one confirmation retry); NULL when active.
    failure_kind = CharField(null=True)
    lease_owner = CharField(null=True)
    lease_expires_at = DateTimeField(null=True)
    created_at = DateTimeField(default=utcnow)
    updated_at = DateTimeField(default=utcnow)
    # How the connection came to be: imported / connected / reconnected (by the
    # customer, through /connect/exact), and when (migration 0060).
    origin = CharField(default="imported")
    origin_at = DateTimeField(null=True)

    class Meta:
        table_name = "connections"
        indexes = ((("user", "division"), True),)


Connection.add_index(Connection.index(Connection.status, Connection.token_expires_at,
                                      name="idx_connections_expiring"))
Connection.add_index(Connection.index(Connection.status, Connection.next_retry_at,
                                      name="idx_connections_retry_due"))
Connection.add_index(Connection.index(Connection.status, Connection.refresh_expires_at,
                                      name="idx_connections_refresh_expiring"))


class RefreshAttempt(BaseModel):
    """One call to Exact's token endpoint for a connection (the refresh attempt log)."""
    connection = ForeignKeyField(Connection, backref="attempts", on_delete="CASCADE")
    user = ForeignKeyField(User, backref="refresh_attempts", on_delete="CASCADE")
    attempted_at = DateTimeField(default=utcnow, index=True)
    outcome = CharField()  # success, too_early, transient, permanent, skipped
    http_status = IntegerField(null=True)
    duration_ms = IntegerField(null=True)
    error = TextField(null=True)
    sidecar = CharField(default="")

    class Meta:
        table_name = "refresh_attempts"
        indexes = ((("connection", "attempted_at"), False),
                   (("user", "attempted_at"), False))


class SidecarHeartbeat(BaseModel):
    """Last sign of life of each sidecar process."""
    sidecar = CharField(unique=True)  # hostname:pid:random
    hostname = CharField(default="")
    pid = IntegerField(default=0)
    started_at = DateTimeField(default=utcnow)
    last_seen_at = DateTimeField(default=utcnow, index=True)

    class Meta:
        table_name = "sidecar_heartbeats"


class JobRun(BaseModel):
    """One run of one sidecar job, with its counts."""
    job = CharField(index=True)  # token_refresh, outreach, ...
    sidecar = CharField(default="")
    started_at = DateTimeField(default=utcnow, index=True)
    finished_at = DateTimeField(null=True)
    refreshed = IntegerField(default=0)
    failed = IntegerField(default=0)
    skipped = IntegerField(default=0)
    too_early = IntegerField(default=0)
    circuit_open = BooleanField(default=False)
    error = TextField(null=True)
    details = TextField(default="")

    class Meta:
        table_name = "job_runs"


# --- API usage and its rollups -------------------------------------------

class ApiUsage(BaseModel):
    """One call through the MCP API (raw rows; dashboards read the rollups)."""
    id = BigAutoField()
    user = ForeignKeyField(User, backref="usage", on_delete="CASCADE", index=False)
    timestamp = DateTimeField(default=utcnow)
    endpoint = CharField()
    response_status = IntegerField()
    duration_ms = IntegerField(null=True)

    class Meta:
        table_name = "api_usage"


ApiUsage.add_index(ApiUsage.index(ApiUsage.user, ApiUsage.timestamp,
                                  name="idx_api_usage_user_month"))
ApiUsage.add_index(ApiUsage.index(fn.date(ApiUsage.timestamp), name="idx_api_usage_date"))
# Request log keyset pagination (newest first, id breaks ties), one per filter;
# the customer filter uses idx_api_usage_user_month (migration 0045).
ApiUsage.add_index(ApiUsage.index(ApiUsage.timestamp, ApiUsage.id, name="idx_api_usage_time_id"))
ApiUsage.add_index(ApiUsage.index(ApiUsage.endpoint, ApiUsage.timestamp, ApiUsage.id,
                                  name="idx_api_usage_endpoint_time"))
ApiUsage.add_index(ApiUsage.index(ApiUsage.response_status / 100, ApiUsage.timestamp, ApiUsage.id,
                                  name="idx_api_usage_class_time"))


class UsageMonthly(BaseModel):
    """Calls per customer per month, updated in the same transaction as the api_usage insert."""
    user = ForeignKeyField(User, backref="monthly_usage", on_delete="CASCADE")
    month = DateField()  # first day of the month
    calls = IntegerField(default=0)
    error_calls = IntegerField(default=0)

    class Meta:
        table_name = "usage_monthly"
        primary_key = CompositeKey("user", "month")


# Top customers of a month without scanning the month (migration 0045).
UsageMonthly.add_index(UsageMonthly.index(UsageMonthly.month, UsageMonthly.calls,
                                          name="idx_usage_monthly_month_calls"))
# Dashboard customers per plan reads this index, not the users table (migration 0046).
User.add_index(User.index(User.plan, name="idx_users_plan"))


class UsageDaily(BaseModel):
    """Rollup: calls per day x endpoint x status class (2, 3, 4, 5)."""
    day = DateField()
    endpoint = CharField()
    status_class = IntegerField()
    calls = IntegerField(default=0)

    class Meta:
        table_name = "usage_daily"
        primary_key = CompositeKey("day", "endpoint", "status_class")


class UsageDailyUser(BaseModel):
    """Rollup: calls per day x customer (active customers per day, 30-day charts)."""
    day = DateField()
    user = ForeignKeyField(User, backref="daily_usage", on_delete="CASCADE")
    calls = IntegerField(default=0)
    error_calls = IntegerField(default=0)

    class Meta:
        table_name = "usage_daily_users"
        primary_key = CompositeKey("day", "user")


class UsageHourlyError(BaseModel):
    """Rollup: calls with status >= 400 per hour x endpoint x status (error loops)."""
    hour = DateTimeField()
    endpoint = CharField()
    response_status = IntegerField()
    calls = IntegerField(default=0)

    class Meta:
        table_name = "usage_hourly_errors"
        primary_key = CompositeKey("hour", "endpoint", "response_status")


class UsageDailyActive(BaseModel):
    """Rollup: distinct active customers per day, bumped when a usage_daily_users row is
    first created, so the dashboard does not count usage_daily_users (migration 0045)."""
    day = DateField(primary_key=True)
    active_users = IntegerField(default=0)

    class Meta:
        table_name = "usage_daily_active"


# --- templates and mail ----------------------------------------------------

class ResponseTemplate(BaseModel):
    """A proactive outreach email, chosen by trigger."""
    trigger = CharField(constraints=[Check(_in("trigger", OUTREACH_TRIGGERS))], index=True)
    name = CharField()
    subject = CharField(max_length=998)
    body = TextField()
    updated_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "response_templates"


class ResponseTemplateVersion(BaseModel):
    """A saved earlier version of a response template."""
    template = ForeignKeyField(ResponseTemplate, backref="versions", on_delete="CASCADE")
    version = IntegerField()
    trigger = CharField()
    name = CharField()
    subject = CharField(max_length=998)
    body = TextField()
    saved_at = DateTimeField(default=utcnow)
    saved_by = CharField(default="")

    class Meta:
        table_name = "response_template_versions"
        indexes = ((("template", "version"), True),)


class AdminResponseTemplate(BaseModel):
    """A support reply template, grouped by category."""
    category = CharField(index=True)
    name = CharField()
    subject = CharField(max_length=998)
    body = TextField()
    updated_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "admin_response_templates"


class AdminResponseTemplateVersion(BaseModel):
    """A saved earlier version of a support reply template."""
    template = ForeignKeyField(AdminResponseTemplate, backref="versions", on_delete="CASCADE")
    version = IntegerField()
    category = CharField()
    name = CharField()
    subject = CharField(max_length=998)
    body = TextField()
    saved_at = DateTimeField(default=utcnow)
    saved_by = CharField(default="")

    class Meta:
        table_name = "admin_response_template_versions"
        indexes = ((("template", "version"), True),)


class OutboxMessage(BaseModel):
    """A message delivered through MAIL_URL=outbox: (and a copy of every message sent)."""
    to_addr = CharField()
    from_addr = CharField(default="")
    subject = CharField(max_length=998)
    text_body = TextField()
    html_body = TextField()
    headers = TextField(default="{}")  # JSON
    message_id = CharField(index=True)
    kind = CharField(default="")  # outreach, support_reply
    created_at = DateTimeField(default=utcnow, index=True)

    class Meta:
        table_name = "outbox_messages"


class SupportReply(BaseModel):
    """A reply that support staff sent (or copied) to a customer."""
    user = ForeignKeyField(User, backref="support_replies", on_delete="CASCADE")
    staff = ForeignKeyField(Staff, null=True, backref="support_replies", on_delete="SET NULL")
    template = ForeignKeyField(AdminResponseTemplate, null=True, on_delete="SET NULL")
    subject = CharField(max_length=998)
    body = TextField()
    channel = CharField(default="email")  # email, copied
    message_id = CharField(null=True)
    created_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "support_replies"


# --- outreach ----------------------------------------------------------------

class OutreachCampaign(BaseModel):
    name = CharField()
    trigger = CharField(constraints=[Check(_in("trigger", OUTREACH_TRIGGERS))])
    template = ForeignKeyField(ResponseTemplate, null=True, column_name="template_id",
                               on_delete="SET NULL")
    enabled = BooleanField(default=False)
    cooldown_days = IntegerField(default=7)
    plans = TextField(default="")  # comma-separated PlanType values; empty = every plan
    params = TextField(default="{}")  # JSON trigger parameters
    updated_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "outreach_campaigns"


class OutreachLog(BaseModel):
    """Each outreach decision: sent, failed or skipped, with the reason and the email as sent."""
    user = ForeignKeyField(User, backref="outreach_log", on_delete="CASCADE")
    campaign = ForeignKeyField(OutreachCampaign, backref="log", on_delete="CASCADE")
    status = CharField(constraints=[Check(_in("status", OUTREACH_STATUSES))])
    reason = TextField(default="")
    subject = CharField(max_length=998, default="")
    text_body = TextField(default="")
    html_body = TextField(default="")
    message_id = CharField(null=True)
    created_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "outreach_log"
        indexes = ((("campaign", "created_at"), False),
                   (("user", "created_at"), False),
                   (("created_at",), False))


class OutreachCooldown(BaseModel):
    """Until when a campaign may not go to a customer again (claimed before sending)."""
    user = ForeignKeyField(User, backref="outreach_cooldowns", on_delete="CASCADE")
    campaign = ForeignKeyField(OutreachCampaign, backref="cooldowns", on_delete="CASCADE")
    until = DateTimeField()
    # While a send is in flight: a random token of the attempt and when it was
    # claimed (until = claim expiry). NULL once sent: then `until` is the cooldown.
    claim = CharField(max_length=64, null=True)
    claimed_at = DateTimeField(null=True)

    class Meta:
        table_name = "outreach_cooldowns"
        primary_key = CompositeKey("user", "campaign")
        indexes = ((("campaign", "until"), False),)


ALL_MODELS = [
    User, Staff, LoginAttempt, ApiKey, DivisionLimit, FeatureFlag, FeatureFlagOverride,
    AuditLog, Connection, RefreshAttempt, SidecarHeartbeat, JobRun, ApiUsage,
    UsageMonthly, UsageDaily, UsageDailyUser, UsageHourlyError, UsageDailyActive, ResponseTemplate,
    ResponseTemplateVersion, AdminResponseTemplate, AdminResponseTemplateVersion,
    OutboxMessage, SupportReply, OutreachCampaign, OutreachLog, OutreachCooldown,
]

from .connect import (CustomerAccount, CustomerSignInRequest,  # noqa: E402
                      CustomerSignInToken, OAuthState)
ALL_MODELS += [OAuthState, CustomerSignInToken, CustomerSignInRequest, CustomerAccount]
from .mcp import ExactRateLimit  # noqa: E402  (MCP server, issue 13)
ALL_MODELS.append(ExactRateLimit)


# Flask-Login needs these on the staff object; they are plain attributes, so
# the models still know nothing of Flask. get_id() carries the session
# version: bumping it (logout, deactivation) invalidates every old cookie.
Staff.is_authenticated = property(lambda self: True)
Staff.is_anonymous = property(lambda self: False)
Staff.is_active = property(lambda self: bool(self.active))
Staff.get_id = lambda self: "%d:%d" % (self.id, self.session_version)
