"""Seed one default outreach email per trigger and a set of support replies.

Frozen: the content is the copy in frozen/0020_default_templates.json, taken
when this migration was written, so later edits of portal/mail/defaults.py
(which tests and seed-demo use) never change what this migration did. Only
missing templates are added; only the contract columns are written.
"""
import datetime
import json
import os

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "frozen",
                    "0020_default_templates.json")


def _exists(db, sql, params):
    return db.execute_sql(sql, params).fetchone() is not None


def up(migrator, db):
    with open(DATA, encoding="utf-8") as f:
        data = json.load(f)
    now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    p = db.param
    for t in data["outreach"]:
        if not _exists(db, "SELECT 1 FROM response_templates WHERE trigger = %s" % p,
                       (t["trigger"],)):
            db.execute_sql("INSERT INTO response_templates (trigger, name, subject, body, "
                           "updated_at) VALUES (%s, %s, %s, %s, %s)" % ((p,) * 5),
                           (t["trigger"], t["name"], t["subject"], t["body"], now))
    for r in data["replies"]:
        if not _exists(db, "SELECT 1 FROM admin_response_templates WHERE category = %s "
                           "AND name = %s" % (p, p), (r["category"], r["name"])):
            db.execute_sql("INSERT INTO admin_response_templates (category, name, subject, "
                           "body, updated_at) VALUES (%s, %s, %s, %s, %s)" % ((p,) * 5),
                           (r["category"], r["name"], r["subject"], r["body"], now))


def down(migrator, db):
    pass
