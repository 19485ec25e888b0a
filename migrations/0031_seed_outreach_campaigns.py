"""Seed one outreach campaign per trigger, all DISABLED (issue 6).

A fresh deploy never emails real customers by surprise: an admin reviews and
enables each campaign. Runs after the 0020-range response-template seed so each
campaign links to its trigger's default template. Idempotent (see
portal.outreach.defaults.seed_default_campaigns).
"""


def up(migrator, db):
    from portal.outreach.defaults import seed_default_campaigns
    seed_default_campaigns()


def down(migrator, db):
    pass
