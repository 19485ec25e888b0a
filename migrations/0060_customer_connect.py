"""Customer connect flow and customer account (issue 12).

* connections.origin / origin_at: how a connection came to be (imported,
  connected, reconnected) and when. Existing rows came from the importer or
  seed-demo, so they are `imported`, at their created_at.
* oauth_states, customer_sign_in_tokens, customer_sign_in_requests,
  customer_accounts (see models/connect.py).
"""
from peewee import *


def up(migrator, db):
    migrator.migrate(
        migrator.add_column('connections', 'origin', CharField(default='imported')),
        migrator.add_column('connections', 'origin_at', DateTimeField(null=True)),
    )
    db.execute_sql("UPDATE connections SET origin_at = created_at WHERE origin_at IS NULL")

    class User(Model):
        class Meta:
            database = db
            table_name = 'users'

    class OAuthState(Model):
        state_hash = CharField(max_length=64, unique=True)
        browser_hash = CharField(max_length=64)
        division = IntegerField(null=True)
        mode = CharField(max_length=16, default='')
        created_at = DateTimeField()
        expires_at = DateTimeField(index=True)
        used_at = DateTimeField(null=True)

        class Meta:
            database = db
            table_name = 'oauth_states'

    class CustomerSignInToken(Model):
        user = ForeignKeyField(User, on_delete='CASCADE')
        token_hash = CharField(max_length=64, unique=True)
        created_at = DateTimeField()
        expires_at = DateTimeField()
        used_at = DateTimeField(null=True)

        class Meta:
            database = db
            table_name = 'customer_sign_in_tokens'

    class CustomerSignInRequest(Model):
        email = CharField(index=True)
        ip = CharField(default='', index=True)
        created_at = DateTimeField(index=True)

        class Meta:
            database = db
            table_name = 'customer_sign_in_requests'

    class CustomerAccount(Model):
        user = ForeignKeyField(User, unique=True, on_delete='CASCADE')
        session_version = IntegerField(default=1)
        last_sign_in_at = DateTimeField(null=True)

        class Meta:
            database = db
            table_name = 'customer_accounts'

    db.create_tables([OAuthState, CustomerSignInToken, CustomerSignInRequest, CustomerAccount])


def down(migrator, db):
    for table in ('customer_accounts', 'customer_sign_in_requests', 'customer_sign_in_tokens',
                  'oauth_states'):
        db.execute_sql('DROP TABLE IF EXISTS %s' % table)
    migrator.migrate(
        migrator.drop_column('connections', 'origin_at'),
        migrator.drop_column('connections', 'origin'),
    )
