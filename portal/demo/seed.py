"""`seed-demo`: fill an empty database with a living portal.

About 200 Dutch small businesses across every plan; Exact connections in every
state (most active ones due for a keep-alive refresh soon, so the sidecar has
work the moment it starts); refresh-attempt history; 60 days of usage with the
patterns support staff meet (portal.demo.usage); default templates and
campaigns when their seed modules exist and their tables are empty.

Deterministic: everything comes from random.Random(seed), except the Fernet
encryption of the tokens (Fernet adds its own random IV). Tokens are random
strings; the fake Exact server accepts an unknown refresh token the first time
it sees it. All usage goes through portal.usage.counters.
"""
import datetime
import random
import re
import unicodedata

from models import (Connection, FeatureFlag, FeatureFlagOverride, RefreshAttempt, User, database,
                    utcnow)
from models.plans import PlanType, limits_for

from portal.demo import usage as demo_usage
from portal.exact.crypto import encrypt_token
from portal.usage.counters import record_usage_rows

TRADES = ("Bakkerij", "Installatiebedrijf", "Administratiekantoor", "Transportbedrijf",
          "Bouwbedrijf", "Hoveniersbedrijf", "Accountantskantoor", "Schildersbedrijf",
          "Loodgietersbedrijf", "Kapsalon", "Fietsenwinkel", "Dakdekkersbedrijf", "Adviesbureau",
          "Autobedrijf", "Drukkerij", "Fysiotherapie", "Architectenbureau", "Slagerij",
          "Kinderopvang", "Elektrotechniek", "Makelaardij", "Groothandel", "Timmerbedrijf",
          "Cateringbedrijf", "Verhuisbedrijf")
SURNAMES = ("De Vries", "Jansen", "Bakker", "Visser", "Smit", "Meijer", "De Boer", "Mulder",
            "De Groot", "Bos", "Vos", "Peters", "Hendriks", "Van Leeuwen", "Dekker", "Brouwer",
            "De Wit", "Dijkstra", "Smits", "De Graaf", "Van der Meer", "Van den Berg", "Kok",
            "Jacobs", "Vermeulen", "Van Dijk", "Schouten", "Willems", "Hoekstra", "Koster",
            "Prins", "Huisman", "Kuipers", "Van der Linden", "Postma", "Van Beek", "Kramer",
            "Verhoeven", "Scholten", "Wouters")
PLACES = ("Amersfoort", "Zwolle", "Utrecht", "Deventer", "Haarlem", "Leiden", "Breda",
          "Tilburg", "Eindhoven", "Groningen", "Leeuwarden", "Alkmaar", "Apeldoorn", "Arnhem",
          "Nijmegen", "Den Bosch", "Delft", "Gouda", "Zeist", "Hilversum")
SUFFIXES = ("B.V.", "& Zn.", "Advies", "Groep", "Techniek", "Service", "Holding B.V.")
FIRST_NAMES = ("jan", "sanne", "pieter", "femke", "mark", "lotte", "bas", "anouk", "tim", "eva",
               "ruud", "inge", "joost", "marloes", "koen", "esther", "daan", "linda", "thijs",
               "mirjam")
MAILBOXES = ("info", "administratie", "finance", "boekhouding", "facturen")
PLAN_SHARE = ((PlanType.FREE, 40), (PlanType.STARTER, 30), (PlanType.PRO, 20),
              (PlanType.ENTERPRISE, 10))
FAILED_ERRORS = (
    "Exact no longer accepts this connection's refresh token (Old refresh token used.). "
    "The customer must reconnect Exact Online to restore access.",
    "The refresh token expired after 30 days without a refresh (Exact: The refresh token "
    "expired). The customer must reconnect Exact Online to restore access.",
    "Refreshing failed 6 times in a row over more than a day (last: Exact answered 503 "
    "Service Unavailable). The customer must reconnect Exact Online to restore access.",
    "The customer revoked the app's access in Exact Online (unauthorized_client). They must "
    "reconnect Exact Online to restore access.",
)
TRANSIENT_ERRORS = ("Exact answered 503 Service Unavailable", "the connection to Exact timed "
                    "out after 30 s", "Exact answered 502 Bad Gateway",
                    "Exact answered 429 Too Many Requests")
SIDECAR = "demo-sidecar:0:seed"
DAY = datetime.timedelta(days=1)
MINUTE = datetime.timedelta(minutes=1)


def _slug(text):
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "", ascii_text.lower().replace("&", "en"))[:30]


def _company(rng):
    style = rng.random()
    surname = rng.choice(SURNAMES)
    if style < 0.45:
        return "%s %s" % (rng.choice(TRADES), surname)
    if style < 0.8:
        return "%s %s" % (surname, rng.choice(SUFFIXES))
    return "%s %s" % (rng.choice(TRADES), rng.choice(PLACES))


def _token(rng, kind):
    return "demo-%s-%032x" % (kind, rng.getrandbits(128))


def make_customers(rng, count, now):
    """Rows for the users table, every plan present, unique emails."""
    plans = [p for p, share in PLAN_SHARE for _ in range(share)]
    rows, emails = [], set()
    for n in range(count):
        name = _company(rng)
        box = rng.choice(FIRST_NAMES) if rng.random() < 0.4 else rng.choice(MAILBOXES)
        email = "%s@%s.nl" % (box, _slug(name))
        while email in emails:
            email = "%s%d@%s.nl" % (box, rng.randrange(2, 99), _slug(name))
        emails.add(email)
        plan = PLAN_SHARE[n][0] if n < len(PLAN_SHARE) else rng.choice(plans)
        rows.append(dict(email=email, name=name, plan=plan.value,
                         marketing_opt_out=rng.random() < 0.08,
                         created_at=now - datetime.timedelta(days=rng.randrange(62, 540),
                                                             minutes=rng.randrange(1440))))
    return rows


def assign_profiles(rng, users):
    """Give each customer a story: regular, never connected, inactive, near/over limit, loop."""
    order = users[:]
    rng.shuffle(order)
    profile = {}
    small = [u for u in order if u.plan in ("free", "starter")]
    profile[small[0].id] = "error_loop"
    for u in small[1:4]:
        profile[u.id] = "near_limit"
    for u in small[4:6]:
        profile[u.id] = "over_limit"
    rest = [u for u in order if u.id not in profile]
    for n, u in enumerate(rest):
        profile[u.id] = ("never_connected" if n < 16 else "inactive" if n < 30 else "regular")
    return profile


def _connection_row(rng, keys, user, division, status, now, created):
    row = dict(user=user.id, division=division, status=status, created_at=created,
               access_token=encrypt_token(keys, _token(rng, "at")),
               refresh_token=encrypt_token(keys, _token(rng, "rt")), retry_count=0,
               next_retry_at=None, last_error=None, updated_at=now)
    if status == "active":
        if rng.random() < 0.8:  # due for a keep-alive refresh: last refresh days ago
            last = now - datetime.timedelta(days=rng.uniform(1.2, 20))
        else:  # refreshed minutes ago by the (imaginary) previous sidecar run
            last = now - rng.randrange(1, 9) * MINUTE
        row.update(last_refreshed_at=last, token_expires_at=last + 10 * MINUTE,
                   refresh_expires_at=last + 30 * DAY)
    elif status == "retry_pending":
        retries = rng.randrange(1, 6)
        last = now - datetime.timedelta(days=rng.uniform(1.5, 12))
        error = rng.choice(TRANSIENT_ERRORS)
        row.update(last_refreshed_at=last, token_expires_at=last + 10 * MINUTE,
                   refresh_expires_at=last + 30 * DAY, retry_count=retries,
                   failure_kind="transient",
                   # about half are due now, the rest later today
                   next_retry_at=now + rng.choice((-1, 1)) * rng.randrange(2, 600) * MINUTE,
                   last_error="Refreshing failed temporarily: %s. Retry %d of 5 is planned; "
                              "nothing is needed from the customer yet." % (error, retries))
    else:
        last = now - datetime.timedelta(days=rng.uniform(3, 40))
        row.update(last_refreshed_at=last, token_expires_at=last + 10 * MINUTE,
                   refresh_expires_at=last + 30 * DAY, retry_count=rng.randrange(0, 6),
                   last_error=rng.choice(FAILED_ERRORS))
    if "failure_kind" in row and not hasattr(Connection, "failure_kind"):
        row.pop("failure_kind")
    return row


def make_connections(rng, keys, users, profile, now):
    rows = []
    # The first regular customers show each broken state for sure, however few customers.
    forced = ["retry_pending", "refresh_failed", "retry_pending", "refresh_failed"]
    for user in users:
        story = profile[user.id]
        if story == "never_connected":
            continue
        first_status = forced.pop(0) if story == "regular" and forced else None
        cap = limits_for(user.plan).max_divisions or 6
        count = min(cap, 1 if rng.random() < 0.6 else rng.randrange(2, 5))
        divisions = rng.sample(range(100000, 999999), count)
        for division in divisions:
            if first_status:
                status, first_status = first_status, None
            elif story in ("near_limit", "over_limit"):
                status = "active"
            elif story == "error_loop":
                status = "refresh_failed"
            else:
                status = rng.choices(("active", "retry_pending", "refresh_failed"),
                                     (75, 12, 13))[0]
            rows.append(_connection_row(rng, keys, user, division, status, now,
                                        user.created_at + rng.randrange(0, 30) * DAY))
    return rows


def make_attempts(rng, connections, now):
    """Refresh-attempt history consistent with each connection's state."""
    rows = []
    for c in connections:
        base = dict(connection=c.id, user=c.user_id, sidecar=SIDECAR)
        last = c.last_refreshed_at
        for n in range(rng.randrange(2, 5)):  # earlier keep-alive refreshes
            rows.append(dict(base, attempted_at=last - n * rng.uniform(6, 9) * DAY,
                             outcome="success", http_status=200,
                             duration_ms=rng.randrange(180, 900)))
        if c.status == "retry_pending":
            for n in range(c.retry_count):
                rows.append(dict(base, attempted_at=min(now, c.next_retry_at) - (n + 1) * 47 * MINUTE,
                                 outcome="transient", http_status=503,
                                 duration_ms=rng.randrange(200, 30000),
                                 error="Exact answered 503 Service Unavailable"))
        elif c.status == "refresh_failed":
            rows.append(dict(base, attempted_at=last + DAY, outcome="permanent", http_status=400,
                             duration_ms=rng.randrange(150, 600), error=c.last_error[:200]))
    return rows


def make_usage(rng, users, profile, failed_on, now):
    """Yield lists of usage rows, one customer at a time."""
    base_daily = {"free": (1, 12), "starter": (5, 40), "pro": (15, 90), "enterprise": (30, 150)}
    for user in users:
        story = profile[user.id]
        lo, hi = base_daily[user.plan]
        daily = rng.uniform(lo, hi)
        if story == "never_connected":
            continue
        if story == "inactive":
            stop = now.date() - datetime.timedelta(days=rng.randrange(18, 45))
            yield demo_usage.regular_usage(rng, user.id, daily, now, stop=stop)
        elif story in ("near_limit", "over_limit"):
            fraction = rng.uniform(0.86, 0.95) if story == "near_limit" else rng.uniform(1.02, 1.1)
            month_start = now.date().replace(day=1)
            yield demo_usage.regular_usage(rng, user.id, daily, now,
                                           stop=month_start - datetime.timedelta(days=1))
            yield demo_usage.month_to_date_usage(rng, user.id, user.plan, fraction, now)
        elif story == "error_loop":
            yield demo_usage.regular_usage(rng, user.id, daily, now,
                                           stop=now.date() - datetime.timedelta(days=1))
            yield demo_usage.error_loop_usage(rng, user.id, now)
        elif user.id in failed_on:  # every connection broke: usage stops, 401s linger
            stop = failed_on[user.id]
            yield demo_usage.regular_usage(rng, user.id, daily, now, stop=stop)
            yield demo_usage.failure_tail_usage(rng, user.id, stop, now)
        else:
            start = max(user.created_at.date(), now.date() - 59 * DAY)
            yield demo_usage.regular_usage(rng, user.id, daily, now, start=start,
                                           error_rate=rng.choice((0.5, 1.0, 1.0, 2.0)))


def seed_defaults():
    """Default templates and campaigns (their migrations seed them; tests and a
    database emptied by hand may not have them)."""
    from models import OutreachCampaign, ResponseTemplate

    from portal.outreach.defaults import seed_default_campaigns
    from portal.mail.defaults import seed_default_templates
    if not ResponseTemplate.select().exists():
        seed_default_templates()
    if not OutreachCampaign.select().exists():
        seed_default_campaigns()


DEMO_FLAGS = (
    # key, description, global state, {plan: state}
    ("write_tools", "Let the assistant create and change records in Exact (not only read).",
     False, {"pro": True, "enterprise": True}),
    ("bulk_invoice_export", "Export many sales invoices as PDF in one call.",
     False, {"enterprise": True}),
    ("new_search", "The faster full-text search over relations and items.", True, {}),
)


def make_flags(rng, users):
    """A few feature flags with plan overrides and one customer exception each."""
    for key, description, enabled, plans in DEMO_FLAGS:
        flag = FeatureFlag.create(key=key, description=description, enabled=enabled)
        for plan, state in plans.items():
            FeatureFlagOverride.create(flag=flag, plan=plan, enabled=state)
        FeatureFlagOverride.create(flag=flag, user=rng.choice(users), enabled=not enabled)
    return len(DEMO_FLAGS)


def seed_demo(token_keys, seed=2026, now=None, customers=200):
    """Fill the database; returns counts. The caller checks it is empty first."""
    rng = random.Random(seed)
    now = (now or utcnow()).replace(microsecond=0)
    counts = {}
    with database.atomic():
        User.insert_many(make_customers(rng, customers, now)).execute()
        users = list(User.select().order_by(User.id))
        profile = assign_profiles(rng, users)
        _recent_signups(rng, users, profile, now)
        conn_rows = make_connections(rng, token_keys, users, profile, now)
        for i in range(0, len(conn_rows), 500):
            Connection.insert_many(conn_rows[i:i + 500]).execute()
        connections = list(Connection.select().order_by(Connection.id))
        attempts = make_attempts(rng, connections, now)
        for i in range(0, len(attempts), 1000):
            RefreshAttempt.insert_many(attempts[i:i + 1000]).execute()
        failed_on = _all_failed_since(connections)
        usage = 0
        pending = []
        for rows in make_usage(rng, users, profile, failed_on, now):
            pending.extend(rows)
            if len(pending) >= 20_000:
                usage += record_usage_rows(pending)
                pending = []
        usage += record_usage_rows(pending)
        api_keys = _api_keys(rng, users, profile, now)
        flags = make_flags(rng, users)
        seed_defaults()
    counts["customers"] = len(users)
    for status in ("active", "retry_pending", "refresh_failed"):
        counts["connections " + status] = sum(1 for c in connections if c.status == status)
    counts.update({"refresh attempts": len(attempts), "usage rows": usage,
                   "api keys": api_keys, "feature flags": flags})
    return counts


def _recent_signups(rng, users, profile, now):
    """Half of the never-connected customers signed up in the last weeks."""
    for user in users:
        if profile[user.id] == "never_connected" and rng.random() < 0.5:
            user.created_at = now - datetime.timedelta(days=rng.randrange(1, 21),
                                                       minutes=rng.randrange(1440))
            User.update(created_at=user.created_at).where(User.id == user.id).execute()


def _all_failed_since(connections):
    """{user id: day the last connection broke} for customers with no working connection."""
    by_user = {}
    for c in connections:
        by_user.setdefault(c.user_id, []).append(c)
    return {uid: max(c.last_refreshed_at for c in conns).date() + datetime.timedelta(days=1)
            for uid, conns in by_user.items()
            if all(c.status == "refresh_failed" for c in conns)}


def _api_keys(rng, users, profile, now):
    """An API key for most connected customers (plaintexts are discarded)."""
    from portal.customers.api_keys import create_api_key
    names = ("Claude Desktop", "Cursor", "n8n automatisering", "ChatGPT connector")
    made = 0
    for user in users:
        if profile[user.id] == "never_connected" and rng.random() < 0.7:
            continue
        key, _ = create_api_key(user, name=rng.choice(names),
                                now=user.created_at + rng.randrange(1, 20) * DAY)
        made += 1
    return made
