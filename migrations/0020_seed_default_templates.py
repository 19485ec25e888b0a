"""Seed one default outreach email per trigger and a set of support replies.

The content lives in portal/template_defaults.py so tests (which start from
empty tables) can seed the same thing. Only missing templates are added.
"""


def up(migrator, db):
    from portal.mail.defaults import seed_default_templates
    seed_default_templates(db=db)
