"""Default content: one outreach email per trigger and a set of support replies.

Written in English for Dutch SMEs (bookkeepers, shops, small agencies) that
connect Exact Online to an AI assistant. Every template validates against its
allow-list (a test renders all of them). `seed_default_templates()` is what
migration 0020 runs; it only adds what is missing, so running it twice, or
after an admin edited a template, changes nothing.
"""
from models import AdminResponseTemplate, ResponseTemplate, database, utcnow

from portal.mail.engine import REPLY_VARIABLES, TRIGGER_VARIABLES, validate_email

_SIGNATURE = """Kind regards,
The Exact MCP team"""

_UNSUBSCRIBE = """--
You receive this email because your Exact Online administration is linked to Exact MCP.
No more of these tips? Unsubscribe: {{ links.unsubscribe }}"""

DEFAULT_OUTREACH = {
    "connection_failed": (
        "Connection lost: Exact Online division",
        "Your Exact Online connection needs attention",
        """Hello {{ customer.first_name | default("there") }},

Your AI assistant can no longer reach Exact Online division {{ connection.division }}. \
Exact refused to renew the access we had, so we stopped trying to protect your account \
from being blocked.

What Exact told us: {{ connection.last_error | default("the authorisation has expired") }}

This usually happens after a password change, when a user left your company, or after \
someone reconnected the administration from another device. It takes about a minute to fix: \
sign in with an Exact Online user that has access to the administration and reconnect here:

{{ links.reconnect | default("Sign in to your Exact MCP account and choose Reconnect Exact Online.") }}

Until then, questions to your assistant about invoices, ledgers or relations in this \
administration will fail.

""" + _SIGNATURE + "\n\n" + _UNSUBSCRIBE,
    ),
    "no_connection": (
        "Welcome: connect Exact Online",
        "One step left: connect your Exact Online administration",
        """Hello {{ customer.first_name | default("there") }},

Thank you for signing up for Exact MCP ({{ customer.plan }} plan). You have not connected \
an Exact Online administration yet, so your AI assistant cannot read your invoices, \
relations or ledgers.

Connecting takes two minutes:
1. Open {{ links.reconnect | default("your Exact MCP account and choose Connect Exact Online") }}
2. Sign in with your Exact Online account
3. Choose the administration (division) your assistant may use

We only ask Exact for the rights your assistant needs, and you can disconnect at any time \
in Exact Online under "My Exact Online > Apps".

""" + _SIGNATURE + "\n\n" + _UNSUBSCRIBE,
    ),
    "usage_near_limit": (
        "Usage near the monthly limit",
        "You have used {{ usage.percent }}% of this month's Exact MCP calls",
        """Hello {{ customer.first_name | default("there") }},

A quick heads-up: your AI assistant made {{ usage.used }} of the {{ usage.limit }} calls \
included in your {{ customer.plan }} plan this month ({{ usage.percent }}%). \
{{ usage.remaining }} calls are left until the first of next month.

When the limit is reached, your assistant can no longer read from Exact Online until the \
new month starts. Busy period, such as the VAT return or year-end closing? You can move to \
a larger plan at any time:

{{ links.upgrade | default("Just reply to this email and we will change your plan for you.") }}

""" + _SIGNATURE + "\n\n" + _UNSUBSCRIBE,
    ),
    "usage_limit_reached": (
        "Monthly limit reached",
        "Your Exact MCP calls for this month are used up",
        """Hello {{ customer.first_name | default("there") }},

Your AI assistant has used all {{ usage.limit }} calls of your {{ customer.plan }} plan for \
{{ usage.month | default("this month") }}. Until the first of next month, requests to \
Exact Online through Exact MCP are refused.

Your data in Exact Online is safe and nothing else changes. To continue right away, \
choose a larger plan; the new limit applies immediately:

{{ links.upgrade | default("Just reply to this email and we will change your plan for you.") }}

""" + _SIGNATURE + "\n\n" + _UNSUBSCRIBE,
    ),
    "inactive": (
        "Inactive customer check-in",
        "Can we help you get more out of Exact MCP?",
        """Hello {{ customer.first_name | default("there") }},

We noticed your AI assistant has not used Exact Online through Exact MCP since \
{{ customer.last_active | default("you signed up") }}. Perhaps it was a busy period, or \
something did not work as expected.

A few things customers like you ask their assistant:
- "Which sales invoices are more than 30 days overdue?"
- "What did we spend on fuel this quarter?"
- "Draft a payment reminder for the three largest open items."

If something is not working, just reply to this email and we will help you.

""" + _SIGNATURE + "\n\n" + _UNSUBSCRIBE,
    ),
    "error_loop": (
        "Repeated errors from the assistant",
        "Your AI assistant keeps getting errors from Exact Online",
        """Hello {{ customer.first_name | default("there") }},

In the last 24 hours your AI assistant made {{ errors.count }} calls to \
{{ errors.endpoint | default("Exact Online") }} that failed with status \
{{ errors.status | default("an error") }}. An assistant that keeps retrying uses up your \
monthly calls ({{ usage.used }} of {{ usage.limit }} used) and Exact Online may block \
the connection for an hour.

Most often this means the connection to Exact Online has expired or the Exact user lacks \
rights for that part of the administration. Reconnecting usually solves it:

{{ links.reconnect | default("Sign in to your Exact MCP account and choose Reconnect Exact Online.") }}

If the errors continue, reply to this email and we will look at it with you.

""" + _SIGNATURE + "\n\n" + _UNSUBSCRIBE,
    ),
}

_REPLY_SIGNATURE = """Kind regards,
{{ staff.name | default("The Exact MCP support team") }}
Exact MCP support"""

DEFAULT_REPLIES = [
    ("connection", "Reconnect after expired authorisation",
     "Re: your Exact Online connection",
     """Hello {{ customer.first_name | default("there") }},

Thank you for your message. The connection to Exact Online division {{ connection.division }} \
has stopped working: Exact no longer accepts the authorisation we had \
({{ connection.last_error | default("expired authorisation") }}).

You can restore it yourself in about a minute. Please sign in with an Exact Online user \
that has access to this administration and reconnect here:

{{ links.reconnect | default("Sign in to your Exact MCP account and choose Reconnect Exact Online.") }}

Your assistant will work again straight away; no data is lost.

""" + _REPLY_SIGNATURE),
    ("connection", "Wrong administration connected",
     "Re: connecting the right Exact Online administration",
     """Hello {{ customer.first_name | default("there") }},

Exact MCP works with one administration (division) per connection. Your assistant currently \
uses division {{ connection.division | default("(none yet)") }}. If you want it to use a \
different administration, reconnect and pick the right one in the Exact Online screen:

{{ links.reconnect | default("Sign in to your Exact MCP account and choose Reconnect Exact Online.") }}

Your {{ customer.plan }} plan determines how many administrations you can connect at the \
same time.

""" + _REPLY_SIGNATURE),
    ("api_keys", "New API key",
     "Re: your Exact MCP API key",
     """Hello {{ customer.first_name | default("there") }},

For your security we never send API keys by email, and we cannot look up an existing key: \
we only store a fingerprint of it. Please create a new key in your account and paste it \
into your AI assistant's settings. The old key keeps working until you revoke it.

If you think a key was shared by mistake, revoke it right away and let us know.

""" + _REPLY_SIGNATURE),
    ("api_keys", "Assistant says the key is invalid",
     "Re: \"invalid API key\" in your assistant",
     """Hello {{ customer.first_name | default("there") }},

An "invalid API key" message almost always means the key was copied incompletely or has \
been revoked. Please copy the full key again (it starts with the same letters shown in your \
account) without spaces before or after it.

If it still fails, send us the time of the failed request and the first characters of the \
key, never the full key, and we will check our logs for {{ customer.email }}.

""" + _REPLY_SIGNATURE),
    ("plan_limits", "Usage and limit explained",
     "Re: your Exact MCP usage",
     """Hello {{ customer.first_name | default("there") }},

This month ({{ usage.month }}) your assistant made {{ usage.used }} calls of the \
{{ usage.limit }} included in your {{ customer.plan }} plan ({{ usage.percent }}%). \
That leaves {{ usage.remaining }} calls until the counter resets on the first of next month.

Every question your assistant answers can take several calls to Exact Online, for example \
one to find a relation and one to read its open invoices. If you regularly need more, \
a larger plan may suit you better:

{{ links.upgrade | default("Just reply to this email and we will change your plan for you.") }}

""" + _REPLY_SIGNATURE),
    ("plan_limits", "Limit reached, temporary block",
     "Re: your assistant stopped working",
     """Hello {{ customer.first_name | default("there") }},

Your assistant stopped because the {{ usage.limit }} calls of your {{ customer.plan }} \
plan are used up for this month. Nothing is wrong with your Exact Online data or the \
connection.

You can either wait until the first of next month, or upgrade now; the higher limit applies \
immediately:

{{ links.upgrade | default("Just reply to this email and we will change your plan for you.") }}

""" + _REPLY_SIGNATURE),
    ("billing", "Invoice question",
     "Re: your Exact MCP invoice",
     """Hello {{ customer.first_name | default("there") }},

Thank you for your question about your invoice. Your account ({{ customer.email }}) is on \
the {{ customer.plan }} plan. Our invoices include 21% Dutch VAT; if you need your VAT \
number or a purchase order number on the invoice, just reply with the details and we will \
send a corrected invoice.

""" + _REPLY_SIGNATURE),
    ("account", "Data and privacy (AVG/GDPR)",
     "Re: what data Exact MCP stores",
     """Hello {{ customer.first_name | default("there") }},

Exact MCP does not keep a copy of your administration. We store your account details, \
the encrypted authorisation for Exact Online, and a log of the calls your assistant makes \
(time, type of request and result) to count usage and to help you when something fails.

You can disconnect at any time in Exact Online under "My Exact Online > Apps". If you want \
us to delete your account and its logs, reply to this email and we will confirm when it is \
done, as the AVG (GDPR) requires.

""" + _REPLY_SIGNATURE),
    ("general", "Thanks, we are looking into it",
     "Re: your question to Exact MCP support",
     """Hello {{ customer.first_name | default("there") }},

Thank you for contacting us. We have received your question and are looking into it. \
You will hear from us within one working day; we are available Monday to Friday, \
9:00 to 17:00 (Amsterdam time).

""" + _REPLY_SIGNATURE),
]


def default_outreach(trigger):
    """(name, subject, body) of the default template for `trigger`."""
    return DEFAULT_OUTREACH[trigger]


def check_defaults():
    """Every default validates against its allow-list (raises TemplateError if not)."""
    for trigger, (_, subject, body) in DEFAULT_OUTREACH.items():
        validate_email(subject, body, TRIGGER_VARIABLES[trigger])
    for _, _, subject, body in DEFAULT_REPLIES:
        validate_email(subject, body, REPLY_VARIABLES)


def seed_default_templates(now=None, db=None):
    """Add the defaults that are missing; return (outreach added, replies added).

    `db` is the migration's database handle (defaults to the shared one). Only
    the contract columns are written, so the seed keeps working when later
    migrations add columns with defaults.
    """
    check_defaults()
    now = now or utcnow()
    db = db or database
    added_outreach = added_replies = 0
    models = [ResponseTemplate, AdminResponseTemplate]
    with db.bind_ctx(models, bind_refs=False, bind_backrefs=False), db.atomic():
        for trigger, (name, subject, body) in DEFAULT_OUTREACH.items():
            if not ResponseTemplate.select(ResponseTemplate.id).where(
                    ResponseTemplate.trigger == trigger).exists():
                ResponseTemplate.insert(trigger=trigger, name=name, subject=subject, body=body,
                                        updated_at=now).execute()
                added_outreach += 1
        for category, name, subject, body in DEFAULT_REPLIES:
            if not AdminResponseTemplate.select(AdminResponseTemplate.id).where(
                    (AdminResponseTemplate.category == category)
                    & (AdminResponseTemplate.name == name)).exists():
                AdminResponseTemplate.insert(category=category, name=name, subject=subject,
                                             body=body, updated_at=now).execute()
                added_replies += 1
    return added_outreach, added_replies
