"""Seed one outreach campaign per trigger, all DISABLED (issue 6).

A fresh deploy never emails real customers by surprise: an admin reviews and
enables each campaign. Runs after the 0020 template seed so each campaign
links to its trigger's oldest (default) template. Idempotent: a trigger that
has a campaign is left alone. Frozen: the campaign defaults are the copy in
frozen/0031_default_campaigns.json, not read from portal/ (tests and
seed-demo use portal.outreach.defaults, built from models/triggers.py).
"""
import datetime
import json
import os

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "frozen",
                    "0031_default_campaigns.json")


def up(migrator, db):
    with open(DATA, encoding="utf-8") as f:
        campaigns = json.load(f)
    now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    p = db.param
    existing = {row[0] for row in db.execute_sql("SELECT trigger FROM outreach_campaigns")}
    for c in campaigns:
        if c["trigger"] in existing:
            continue
        row = db.execute_sql("SELECT id FROM response_templates WHERE trigger = %s "
                             "ORDER BY id LIMIT 1" % p, (c["trigger"],)).fetchone()
        db.execute_sql("INSERT INTO outreach_campaigns (name, trigger, template_id, enabled, "
                       "cooldown_days, plans, params, updated_at) "
                       "VALUES (%s, %s, %s, %s, %s, %s, %s, %s)" % ((p,) * 8),
                       (c["name"], c["trigger"], row[0] if row else None, False,
                        c["cooldown_days"], "", c["params"], now))


def down(migrator, db):
    pass
