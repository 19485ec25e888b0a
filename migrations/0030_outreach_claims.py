"""Outreach claims (issue 6): a send in flight is claimed on its cooldown row.

`claim` (a random token of the attempt) and `claimed_at` are set in the same
transaction that decides to send and cleared when the send is recorded, so two
sidecars never send the same campaign to the same customer, and a sidecar
that died halfway is recognised (until = claim expiry) and recovered.
The (campaign_id, until) index serves "who is in cooldown for this campaign".
"""
from peewee import CharField, DateTimeField


def up(migrator, db):
    migrator.migrate(
        migrator.add_column('outreach_cooldowns', 'claim', CharField(max_length=64, null=True)),
        migrator.add_column('outreach_cooldowns', 'claimed_at', DateTimeField(null=True)),
        migrator.add_index('outreach_cooldowns', ('campaign_id', 'until'), False),
    )


def down(migrator, db):
    migrator.migrate(
        migrator.drop_index('outreach_cooldowns', 'outreach_cooldowns_campaign_id_until'),
        migrator.drop_column('outreach_cooldowns', 'claimed_at'),
        migrator.drop_column('outreach_cooldowns', 'claim'),
    )
