"""Property-based: random input to every POST endpoint never causes a 5xx.

Logged in as admin (CSRF off, as in every `app` test), each POST endpoint in
app.url_map gets a few random bodies: text with control characters, huge
strings, numbers-that-are-not, and bodies that are not valid UTF-8. Field
names come from the endpoint's own page where there is one, plus common
names. New endpoints are covered automatically. The whole file stays well
under a minute (few examples per endpoint); the database is truncated at the
end so nothing leaks into other tests.
"""
import re
from urllib.parse import quote_from_bytes

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from models import User
from portal.core.forms import find_text_problem, safe_text  # noqa: F401 (API check)
from tests.conftest import ADMIN_EMAIL, AuthActions, truncate_all
from tests.test_access import build_url

EXAMPLES_PER_ENDPOINT = 12
SKIP = {"auth.logout"}  # would end the admin session being fuzzed with
COMMON_FIELDS = ["name", "email", "subject", "body", "plan", "reason", "max_divisions",
                 "enabled", "trigger", "template_id", "cooldown_days", "category", "q",
                 "note", "value", "key", "confirm", "password", "division", "flag",
                 "customer_email", "plans", "description", "number", "csrf_token"]

nasty_text = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=st.characters(max_codepoint=0x9F), max_size=20),  # C0/C1 controls
    st.sampled_from(["", " ", "0", "-1", "1", "2", "99999999999999999999999", "1e309",
                     "NaN", "true", "on", "y", "free", "enterprise", "2026-13-45",
                     "<script>alert(1)</script>", "' OR 1=1 --", "\u202e", "\ufffd",
                     ADMIN_EMAIL, "a@b", "x" * 10241, "é" * 20000, "x\r\ny"]),
)
raw_bytes = st.binary(max_size=60)


def field_names(client, url):
    names = set(COMMON_FIELDS)
    page = client.get(url)
    if page.status_code == 200 and page.mimetype == "text/html":
        names.update(re.findall(r'name="([A-Za-z0-9_\-]{1,60})"', page.get_data(as_text=True)))
    return sorted(names)


def encode_body(fields, raw):
    """A url-encoded body; some values as raw (possibly invalid UTF-8) bytes."""
    parts = []
    for key, value in fields:
        if isinstance(value, bytes):
            parts.append(key.encode() + b"=" + (value if raw else quote_from_bytes(value).encode()))
        else:
            parts.append(key.encode() + b"=" + quote_from_bytes(value.encode("utf-8")).encode())
    return b"&".join(parts)


def post_endpoints(app):
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.endpoint):
        if "POST" in rule.methods and rule.endpoint not in SKIP:
            yield rule.endpoint, build_url(rule)


def test_random_form_input_never_causes_a_server_error(app, admin):
    User.create(email="customer@example.com", name="Customer One")
    admin_client = app.test_client()
    anonymous = app.test_client()
    checked, failures = [], []
    try:
        for endpoint, url in post_endpoints(app):
            # Login fuzz runs from its own address so it cannot lock the admin out.
            client = anonymous if endpoint == "auth.login" else admin_client
            env = {"REMOTE_ADDR": "198.51.100.9"} if client is anonymous else {}
            if client is admin_client:
                assert AuthActions(client).login().status_code == 302
            names = field_names(client, url)

            @settings(max_examples=EXAMPLES_PER_ENDPOINT, deadline=None, database=None,
                      suppress_health_check=list(HealthCheck))
            @given(fields=st.lists(st.tuples(st.sampled_from(names),
                                             st.one_of(nasty_text, raw_bytes)), max_size=8),
                   raw=st.booleans())
            def post_random(fields, raw):
                body = encode_body(fields, raw)
                r = client.post(url, data=body, environ_base=env,
                                content_type="application/x-www-form-urlencoded")
                assert r.status_code < 500, "%s %s -> %s for %r" % (
                    endpoint, url, r.status_code, body[:300])
                if client is admin_client and r.status_code == 302 and \
                        r.headers["Location"].startswith("/login"):
                    AuthActions(client).login()  # an endpoint ended the session; carry on

            try:
                post_random()
            except Exception as exc:  # report every failing endpoint, not just the first
                failures.append("%s: %s" % (endpoint, str(exc).splitlines()[0][:300]))
            checked.append(endpoint)
    finally:
        truncate_all()
    assert "staff_admin.deactivate" in checked and "auth.login" in checked
    assert not failures, "5xx on random input:\n" + "\n".join(failures)


def test_shared_validator_rejects_bad_text_with_clear_messages():
    assert find_text_problem("fine text") is None
    assert "control" in find_text_problem("a\x00b").lower()
    assert "control" in find_text_problem("a\x1bb").lower()
    assert "utf-8" in find_text_problem("bad \ufffd").lower()
    assert "too long" in find_text_problem("x" * 10241).lower()
    assert find_text_problem("x" * 10240) is None
    assert find_text_problem("line\nbreak", multiline=True) is None
    assert find_text_problem("line\nbreak") is not None


@given(st.text(max_size=200))
@settings(max_examples=200, deadline=None)
def test_validator_never_crashes_and_accepts_printable_text(value):
    problem = find_text_problem(value)
    printable = all(c.isprintable() or c == " " for c in value) and "\ufffd" not in value
    if printable:
        assert problem is None
