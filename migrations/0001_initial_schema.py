"""Initial schema: every table of the product.

Generated from a schema diff of models/ against an empty database
(playhouse.migrations.template), then completed by hand with the CHECK
constraints and the named/expression indexes the generator leaves out.
The plan CHECK is built from models.plans so the list of plans exists once.
"""
from models.plans import plan_check_sql
from peewee import *


def up(migrator, db):
    class AdminResponseTemplate(Model):
        category = CharField(index=True)
        name = CharField()
        subject = CharField(max_length=998)
        body = TextField()
        updated_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'admin_response_templates'
    db.create_tables([AdminResponseTemplate])

    class AdminResponseTemplateVersion(Model):
        template = ForeignKeyField(AdminResponseTemplate, on_delete='CASCADE')
        version = IntegerField()
        category = CharField()
        name = CharField()
        subject = CharField(max_length=998)
        body = TextField()
        saved_at = DateTimeField()
        saved_by = CharField(default='')
        class Meta:
            database = db
            table_name = 'admin_response_template_versions'
            indexes = ((('template', 'version'), True),)
    db.create_tables([AdminResponseTemplateVersion])

    class User(Model):
        email = CharField(unique=True)
        name = CharField(default='')
        plan = CharField(default='free', constraints=[Check(plan_check_sql('plan'))])
        marketing_opt_out = BooleanField(default=False)
        created_at = DateTimeField()
        last_active_at = DateTimeField(index=True, null=True)
        class Meta:
            database = db
            table_name = 'users'
    db.create_tables([User])

    class ApiKey(Model):
        user = ForeignKeyField(User, on_delete='CASCADE')
        name = CharField(default='')
        prefix = CharField(index=True, max_length=32)
        key_hash = CharField(unique=True, max_length=64)
        created_at = DateTimeField()
        last_used_at = DateTimeField(null=True)
        revoked_at = DateTimeField(null=True)
        class Meta:
            database = db
            table_name = 'api_keys'
    db.create_tables([ApiKey])

    class ApiUsage(Model):
        id = BigAutoField()
        user = ForeignKeyField(User, on_delete='CASCADE', index=False)
        timestamp = DateTimeField()
        endpoint = CharField()
        response_status = IntegerField()
        duration_ms = IntegerField(null=True)
        class Meta:
            database = db
            table_name = 'api_usage'
    db.create_tables([ApiUsage])

    class Staff(Model):
        email = CharField(unique=True)
        name = CharField(default='')
        password_hash = CharField(max_length=512)
        active = BooleanField(default=True)
        session_version = IntegerField(default=1)
        created_at = DateTimeField()
        last_login_at = DateTimeField(null=True)
        class Meta:
            database = db
            table_name = 'staff'
    db.create_tables([Staff])

    class AuditLog(Model):
        staff = ForeignKeyField(Staff, null=True, on_delete='SET NULL')
        staff_email = CharField(default='')
        action = CharField(index=True)
        target_type = CharField(default='')
        target_id = CharField(default='')
        before = TextField(default='')
        after = TextField(default='')
        ip = CharField(default='')
        created_at = DateTimeField(index=True)
        class Meta:
            database = db
            table_name = 'audit_log'
    db.create_tables([AuditLog])

    class Connection(Model):
        user = ForeignKeyField(User, on_delete='CASCADE')
        division = IntegerField()
        status = CharField(default='active', constraints=[Check("status IN ('active', 'retry_pending', 'refresh_failed')")])
        access_token = TextField(default='')
        refresh_token = TextField(default='')
        token_expires_at = DateTimeField(null=True)
        refresh_expires_at = DateTimeField(null=True)
        last_refreshed_at = DateTimeField(null=True)
        retry_count = IntegerField(default=0)
        next_retry_at = DateTimeField(null=True)
        last_error = TextField(null=True)
        lease_owner = CharField(null=True)
        lease_expires_at = DateTimeField(null=True)
        created_at = DateTimeField()
        updated_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'connections'
            indexes = ((('user', 'division'), True),)
    db.create_tables([Connection])

    class DivisionLimit(Model):
        user = ForeignKeyField(User, unique=True, on_delete='CASCADE')
        max_divisions = IntegerField(null=True)
        reason = TextField(default='')
        updated_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'division_limits'
    db.create_tables([DivisionLimit])

    class FeatureFlag(Model):
        key = CharField(unique=True)
        description = TextField(default='')
        enabled = BooleanField(default=False)
        updated_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'feature_flags'
    db.create_tables([FeatureFlag])

    class FeatureFlagOverride(Model):
        flag = ForeignKeyField(FeatureFlag, on_delete='CASCADE')
        plan = CharField(null=True, constraints=[Check('plan IS NULL OR ' + plan_check_sql('plan'))])
        user = ForeignKeyField(User, null=True, on_delete='CASCADE')
        enabled = BooleanField()
        class Meta:
            database = db
            table_name = 'feature_flag_overrides'
            constraints = [SQL('CHECK ((plan IS NULL) <> (user_id IS NULL))')]
            indexes = ((('flag', 'plan'), False), (('flag', 'user'), False))
    db.create_tables([FeatureFlagOverride])

    class JobRun(Model):
        job = CharField(index=True)
        sidecar = CharField(default='')
        started_at = DateTimeField(index=True)
        finished_at = DateTimeField(null=True)
        refreshed = IntegerField(default=0)
        failed = IntegerField(default=0)
        skipped = IntegerField(default=0)
        too_early = IntegerField(default=0)
        circuit_open = BooleanField(default=False)
        error = TextField(null=True)
        details = TextField(default='')
        class Meta:
            database = db
            table_name = 'job_runs'
    db.create_tables([JobRun])

    class LoginAttempt(Model):
        email = CharField(index=True)
        ip = CharField(default='')
        success = BooleanField(default=False)
        created_at = DateTimeField(index=True)
        class Meta:
            database = db
            table_name = 'login_attempts'
    db.create_tables([LoginAttempt])

    class OutboxMessage(Model):
        to_addr = CharField()
        from_addr = CharField(default='')
        subject = CharField(max_length=998)
        text_body = TextField()
        html_body = TextField()
        headers = TextField(default='{}')
        message_id = CharField(index=True)
        kind = CharField(default='')
        created_at = DateTimeField(index=True)
        class Meta:
            database = db
            table_name = 'outbox_messages'
    db.create_tables([OutboxMessage])

    class ResponseTemplate(Model):
        trigger = CharField(index=True, constraints=[Check("trigger IN ('connection_failed', 'no_connection', 'usage_near_limit', 'usage_limit_reached', 'inactive', 'error_loop')")])
        name = CharField()
        subject = CharField(max_length=998)
        body = TextField()
        updated_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'response_templates'
    db.create_tables([ResponseTemplate])

    class OutreachCampaign(Model):
        name = CharField()
        trigger = CharField(constraints=[Check("trigger IN ('connection_failed', 'no_connection', 'usage_near_limit', 'usage_limit_reached', 'inactive', 'error_loop')")])
        template = ForeignKeyField(ResponseTemplate, null=True, on_delete='SET NULL')
        enabled = BooleanField(default=False)
        cooldown_days = IntegerField(default=7)
        plans = TextField(default='')
        params = TextField(default='{}')
        updated_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'outreach_campaigns'
    db.create_tables([OutreachCampaign])

    class OutreachCooldown(Model):
        user = ForeignKeyField(User, on_delete='CASCADE')
        campaign = ForeignKeyField(OutreachCampaign, on_delete='CASCADE')
        until = DateTimeField()
        class Meta:
            database = db
            table_name = 'outreach_cooldowns'
            primary_key = CompositeKey('user', 'campaign')
    db.create_tables([OutreachCooldown])

    class OutreachLog(Model):
        user = ForeignKeyField(User, on_delete='CASCADE')
        campaign = ForeignKeyField(OutreachCampaign, on_delete='CASCADE')
        status = CharField(constraints=[Check("status IN ('sent', 'failed', 'skipped')")])
        reason = TextField(default='')
        subject = CharField(max_length=998, default='')
        text_body = TextField(default='')
        html_body = TextField(default='')
        message_id = CharField(null=True)
        created_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'outreach_log'
            indexes = ((('campaign', 'created_at'), False), (('user', 'created_at'), False), (('created_at',), False))
    db.create_tables([OutreachLog])

    class RefreshAttempt(Model):
        connection = ForeignKeyField(Connection, on_delete='CASCADE')
        user = ForeignKeyField(User, on_delete='CASCADE')
        attempted_at = DateTimeField(index=True)
        outcome = CharField()
        http_status = IntegerField(null=True)
        duration_ms = IntegerField(null=True)
        error = TextField(null=True)
        sidecar = CharField(default='')
        class Meta:
            database = db
            table_name = 'refresh_attempts'
            indexes = ((('connection', 'attempted_at'), False), (('user', 'attempted_at'), False))
    db.create_tables([RefreshAttempt])

    class ResponseTemplateVersion(Model):
        template = ForeignKeyField(ResponseTemplate, on_delete='CASCADE')
        version = IntegerField()
        trigger = CharField()
        name = CharField()
        subject = CharField(max_length=998)
        body = TextField()
        saved_at = DateTimeField()
        saved_by = CharField(default='')
        class Meta:
            database = db
            table_name = 'response_template_versions'
            indexes = ((('template', 'version'), True),)
    db.create_tables([ResponseTemplateVersion])

    class SidecarHeartbeat(Model):
        sidecar = CharField(unique=True)
        hostname = CharField(default='')
        pid = IntegerField(default=0)
        started_at = DateTimeField()
        last_seen_at = DateTimeField(index=True)
        class Meta:
            database = db
            table_name = 'sidecar_heartbeats'
    db.create_tables([SidecarHeartbeat])

    class SupportReply(Model):
        user = ForeignKeyField(User, on_delete='CASCADE')
        staff = ForeignKeyField(Staff, null=True, on_delete='SET NULL')
        template = ForeignKeyField(AdminResponseTemplate, null=True, on_delete='SET NULL')
        subject = CharField(max_length=998)
        body = TextField()
        channel = CharField(default='email')
        message_id = CharField(null=True)
        created_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'support_replies'
    db.create_tables([SupportReply])

    class UsageDaily(Model):
        day = DateField()
        endpoint = CharField()
        status_class = IntegerField()
        calls = IntegerField(default=0)
        class Meta:
            database = db
            table_name = 'usage_daily'
            primary_key = CompositeKey('day', 'endpoint', 'status_class')
    db.create_tables([UsageDaily])

    class UsageDailyUser(Model):
        day = DateField()
        user = ForeignKeyField(User, on_delete='CASCADE')
        calls = IntegerField(default=0)
        error_calls = IntegerField(default=0)
        class Meta:
            database = db
            table_name = 'usage_daily_users'
            primary_key = CompositeKey('day', 'user')
    db.create_tables([UsageDailyUser])

    class UsageHourlyError(Model):
        hour = DateTimeField()
        endpoint = CharField()
        response_status = IntegerField()
        calls = IntegerField(default=0)
        class Meta:
            database = db
            table_name = 'usage_hourly_errors'
            primary_key = CompositeKey('hour', 'endpoint', 'response_status')
    db.create_tables([UsageHourlyError])

    class UsageMonthly(Model):
        user = ForeignKeyField(User, on_delete='CASCADE')
        month = DateField()
        calls = IntegerField(default=0)
        error_calls = IntegerField(default=0)
        class Meta:
            database = db
            table_name = 'usage_monthly'
            primary_key = CompositeKey('user', 'month')
    db.create_tables([UsageMonthly])

    # Named indexes the contract fixes. idx_api_usage_date indexes the day of
    # `timestamp`; date() exists on SQLite and PostgreSQL alike.
    db.execute_sql('CREATE INDEX idx_connections_expiring ON connections (status, token_expires_at)')
    db.execute_sql('CREATE INDEX idx_connections_retry_due ON connections (status, next_retry_at)')
    db.execute_sql('CREATE INDEX idx_api_usage_user_month ON api_usage (user_id, "timestamp")')
    db.execute_sql('CREATE INDEX idx_api_usage_date ON api_usage (date("timestamp"))')

def down(migrator, db):
    migrator.migrate(migrator.drop_table('usage_monthly'))
    migrator.migrate(migrator.drop_table('usage_hourly_errors'))
    migrator.migrate(migrator.drop_table('usage_daily_users'))
    migrator.migrate(migrator.drop_table('usage_daily'))
    migrator.migrate(migrator.drop_table('support_replies'))
    migrator.migrate(migrator.drop_table('sidecar_heartbeats'))
    migrator.migrate(migrator.drop_table('response_template_versions'))
    migrator.migrate(migrator.drop_table('refresh_attempts'))
    migrator.migrate(migrator.drop_table('outreach_log'))
    migrator.migrate(migrator.drop_table('outreach_cooldowns'))
    migrator.migrate(migrator.drop_table('outreach_campaigns'))
    migrator.migrate(migrator.drop_table('response_templates'))
    migrator.migrate(migrator.drop_table('outbox_messages'))
    migrator.migrate(migrator.drop_table('login_attempts'))
    migrator.migrate(migrator.drop_table('job_runs'))
    migrator.migrate(migrator.drop_table('feature_flag_overrides'))
    migrator.migrate(migrator.drop_table('feature_flags'))
    migrator.migrate(migrator.drop_table('division_limits'))
    migrator.migrate(migrator.drop_table('connections'))
    migrator.migrate(migrator.drop_table('audit_log'))
    migrator.migrate(migrator.drop_table('staff'))
    migrator.migrate(migrator.drop_table('api_usage'))
    migrator.migrate(migrator.drop_table('api_keys'))
    migrator.migrate(migrator.drop_table('users'))
    migrator.migrate(migrator.drop_table('admin_response_template_versions'))
    migrator.migrate(migrator.drop_table('admin_response_templates'))
