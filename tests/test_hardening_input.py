"""Issue 11, "bad input that answers 500 or is accepted": numbers beyond 64 bits,
form bodies that are not UTF-8 (with CSRF on), and JSON the usage API cannot
take. Each answers 400/404 (a redirect for a stale customer-list cursor, like
every bad cursor there) and writes nothing, on both engines.
"""
import base64
import json
import re

import pytest
from flask import g

from models import (AdminResponseTemplate, ApiUsage, AuditLog, SupportReply, UsageDaily,
                    UsageDailyUser, UsageMonthly, User)
from portal.core.audit import Actor
from portal.core.ids import MAX_ID, parse_id
from portal.core.json_body import JsonBodyError, load_json, nesting_depth
from portal.core.security import BAD_ENCODING_MESSAGE
from portal.core.text import BIDI_MESSAGE, CONTROL_MESSAGE, find_text_problem
from portal.customers import api_keys
from portal.customers.listing import SORTS, encode_cursor
from portal.mail import store
from tests.conftest import ADMIN_EMAIL, PASSWORD
from tests.mcp_helpers import call, customer_with_key, exact, mcp  # noqa: F401 (fixtures)

TOO_BIG = str(MAX_ID + 1)  # 9223372036854775808
INT_PART = re.compile(r"<int(?:\([^)]*\))?:(\w+)>")
ANY_PART = re.compile(r"<any\(([^),]+)[^)]*\):\w+>")
OTHER_PART = re.compile(r"<[^>]+>")


# --- 64-bit overflow ------------------------------------------------------------------------


def _url(rule, values):
    """The rule's path with its int parts from `values` and any other part filled in."""
    url = INT_PART.sub(lambda m: values[m.group(1)], rule.rule)
    url = ANY_PART.sub(lambda m: m.group(1).strip(), url)
    return OTHER_PART.sub("x", url)


def _int_routes(app):
    for rule in app.url_map.iter_rules():
        names = INT_PART.findall(rule.rule)
        if names:
            yield rule, names


def test_every_int_route_answers_404_for_a_number_beyond_64_bits(app, admin_client):
    User.create(email="one@example.nl")  # so "1" in the other int parts names a row
    routes = list(_int_routes(app))
    assert len(routes) > 30  # the walk sees the whole app
    checked = []
    for rule, names in routes:
        # Each int part too big on its own (others 1), then all of them at once.
        variants = [{n: (TOO_BIG if n == big else "1") for n in names} for big in names]
        variants.append({n: TOO_BIG for n in names})
        for values in variants:
            url = _url(rule, values)
            for method in sorted(rule.methods & {"GET", "POST"}):
                r = admin_client.open(url, method=method)
                checked.append((method, url, r.status_code))
    wrong = [c for c in checked if c[2] != 404]
    assert not wrong, wrong
    assert ("GET", "/customers/" + TOO_BIG, 404) in checked


@pytest.mark.parametrize("digits", ["9" * 25, "1" + "0" * 5000])
def test_very_long_numbers_in_a_path_are_404(admin_client, digits):
    assert admin_client.get("/customers/" + digits).status_code == 404


def test_ids_within_64_bits_still_route(app, admin_client):
    user = User.create(email="edge@example.nl")
    assert admin_client.get("/customers/%d" % user.id).status_code == 200
    assert admin_client.get("/customers/%d" % MAX_ID).status_code == 404


@pytest.mark.parametrize("url", [
    "/templates/replies?after=" + TOO_BIG,
    "/templates/outreach?after=" + TOO_BIG,
    "/outbox/?before=" + TOO_BIG,
    "/admin/audit?before=" + TOO_BIG,
    "/templates/replies?after=-1",
    "/outbox/?before=1e3",
    "/admin/audit?before=%EF%BC%91",  # a full-width digit one: int() would take it
])
def test_id_query_arguments_beyond_64_bits_or_not_numbers_answer_400(admin_client, url):
    r = admin_client.get(url)
    assert r.status_code == 400
    assert b"must be a whole number" in r.data


def test_id_query_arguments_within_range_still_page(admin_client):
    assert admin_client.get("/templates/replies?after=%d" % MAX_ID).status_code == 200
    assert admin_client.get("/outbox/?before=%d" % MAX_ID).status_code == 200
    assert admin_client.get("/admin/audit?before=0").status_code == 200


def _customer_cursor(segment, value, row_id):
    raw = json.dumps([segment, value, row_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize("sort,cursor", [
    ("signup", _customer_cursor(0, "2026-01-01T00:00:00", MAX_ID + 1)),
    ("signup", _customer_cursor(1, None, MAX_ID + 1)),
    ("signup", _customer_cursor(1, None, -MAX_ID - 2)),
    ("usage", _customer_cursor(0, MAX_ID + 1, 5)),
    ("usage", _customer_cursor(0, -MAX_ID - 2, 5)),
    ("signup", _customer_cursor(1.0, None, 5)),
    ("signup", base64.urlsafe_b64encode(b"[" * 2000 + b"]" * 2000).decode()),
])
@pytest.mark.parametrize("direction", ["after", "before"])
def test_customer_list_cursor_beyond_64_bits_is_a_bad_cursor(admin_client, sort, cursor,
                                                             direction):
    """Like every other bad cursor of the customer list: back to page one, with a note."""
    r = admin_client.get("/customers/?sort=%s&%s=%s" % (sort, direction, cursor))
    assert r.status_code == 302
    assert direction + "=" not in r.headers["Location"]


def test_customer_list_cursor_at_the_64_bit_edge_still_pages(admin_client):
    User.create(email="a@example.nl")
    for sort in SORTS:
        value = MAX_ID if sort == "usage" else None
        cursor = encode_cursor(0 if value is not None else 1, value, MAX_ID)
        r = admin_client.get("/customers/?sort=%s&after=%s" % (sort, cursor))
        assert r.status_code == 200, sort


def test_shared_cursor_beyond_64_bits_falls_back_to_the_newest_rows(admin_client):
    r = admin_client.get("/usage/requests?after=2026-01-01T00:00:00_" + TOO_BIG)
    assert r.status_code == 200
    assert b"no longer valid" in r.data


def _reply_template():
    return store.save(store.REPLIES, None, group=store.REPLIES.groups[0][0], name="Hello",
                      subject="Hi {{ customer.name }}", body="Dear {{ customer.name }}",
                      actor=Actor(email="cli"))


@pytest.mark.parametrize("value", [TOO_BIG, "abc", "-1"])
def test_compose_template_argument_beyond_64_bits_answers_400(admin_client, value):
    user = User.create(email="c@example.nl", name="C")
    r = admin_client.get("/templates/replies/compose/%d?template=%s" % (user.id, value))
    assert r.status_code == 400
    r = admin_client.post("/templates/replies/compose/%d" % user.id, data={
        "template_id": value, "subject": "Hi", "body": "Hello", "send": "1"})
    assert r.status_code == 400
    r = admin_client.post("/templates/replies/compose/%d/copied" % user.id, data={
        "template_id": value, "subject": "Hi", "body": "Hello"},
        headers={"Accept": "application/json"})
    assert r.status_code == 400 and r.is_json
    assert SupportReply.select().count() == 0


def test_compose_template_argument_in_range_still_chooses_the_template(admin_client):
    user = User.create(email="c@example.nl", name="C")
    template = _reply_template()
    page = admin_client.get("/templates/replies/compose/%d?template=%d" % (user.id, template.id))
    assert page.status_code == 200 and b"Dear {{ customer.name }}" in page.data
    missing = admin_client.get("/templates/replies/compose/%d?template=%d" % (user.id, MAX_ID))
    assert missing.status_code == 200


@pytest.mark.parametrize("division", ["\u00b2", "\u0661", TOO_BIG, "+5", "0"])
def test_connect_link_with_a_bad_division_answers_400(client, division):
    r = client.get("/connect/exact", query_string={"division": division})
    assert r.status_code == 400
    assert b"administration number in the link is not valid" in r.data


def test_parse_id_takes_only_plain_digits_within_64_bits():
    assert parse_id("0") == 0 and parse_id(str(MAX_ID)) == MAX_ID
    for raw in [TOO_BIG, "-1", "+1", " 1", "1_0", "\u0661", "1.0", "", None, True, "9" * 5000]:
        assert parse_id(raw) is None, raw
    assert parse_id("5", minimum=1, maximum=4) is None


# --- form bodies that are not UTF-8, with CSRF on -----------------------------------------


def _csrf_token(client, path):
    # The test app context outlives requests, and Flask-WTF caches the token on
    # `g`: drop it so the page gets the token of the session as it is now.
    g.pop("csrf_token", None)
    html = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)


@pytest.fixture
def csrf_admin_client(app, admin):
    """An admin signed in through the real login form, CSRF checks on."""
    app.config["WTF_CSRF_ENABLED"] = True
    c = app.test_client()
    r = c.post("/login", data={"email": ADMIN_EMAIL, "password": PASSWORD,
                               "csrf_token": _csrf_token(c, "/login")})
    assert r.status_code == 302, r.data[:300]
    return c


def test_url_encoded_form_that_is_not_utf8_is_refused_with_csrf_on(csrf_admin_client):
    token = _csrf_token(csrf_admin_client, "/templates/replies/new")
    group = store.REPLIES.groups[0][0]
    body = "csrf_token=%s&group=%s&name=Encoded&subject=%%FF%%FE&body=Hello&save=Save" % (
        token, group)
    r = csrf_admin_client.post("/templates/replies/new", data=body,
                               content_type="application/x-www-form-urlencoded")
    assert r.status_code == 400
    assert BAD_ENCODING_MESSAGE.encode() in r.data
    assert AdminResponseTemplate.select().count() == 0
    assert AuditLog.select().where(AuditLog.action.contains("template")).count() == 0
    # The same form in UTF-8 is saved, so it was the encoding that was refused.
    r = csrf_admin_client.post("/templates/replies/new", data=body.replace("%FF%FE", "Hi"),
                               content_type="application/x-www-form-urlencoded")
    assert r.status_code == 302
    assert [t.subject for t in AdminResponseTemplate.select()] == ["Hi"]


def _multipart(fields, boundary="----hardening"):
    parts = []
    for name, value in fields:
        parts.append(b"--%s\r\nContent-Disposition: form-data; name=\"%s\"\r\n\r\n%s\r\n"
                     % (boundary.encode(), name.encode(), value))
    return b"".join(parts) + b"--%s--\r\n" % boundary.encode(), \
        "multipart/form-data; boundary=%s" % boundary


def test_multipart_form_that_is_not_utf8_is_refused_with_csrf_on(csrf_admin_client):
    """The Copy button posts the compose form as multipart/form-data (FormData)."""
    user = User.create(email="m@example.nl", name="M")
    token = _csrf_token(csrf_admin_client, "/templates/replies/compose/%d" % user.id)
    body, content_type = _multipart([("csrf_token", token.encode()), ("template_id", b""),
                                     ("subject", b"\xff\xfe"), ("body", b"Hello")])
    r = csrf_admin_client.post("/templates/replies/compose/%d/copied" % user.id, data=body,
                               content_type=content_type,
                               headers={"Accept": "application/json"})
    assert r.status_code == 400
    assert r.get_json() == {"error": BAD_ENCODING_MESSAGE}
    assert SupportReply.select().count() == 0
    body, content_type = _multipart([("csrf_token", token.encode()), ("template_id", b""),
                                     ("subject", "Hallo \u00e9".encode()), ("body", b"Hello")])
    r = csrf_admin_client.post("/templates/replies/compose/%d/copied" % user.id, data=body,
                               content_type=content_type,
                               headers={"Accept": "application/json"})
    assert r.status_code == 201, r.data
    assert [s.subject for s in SupportReply.select()] == ["Hallo \u00e9"]


# --- the JSON API ---------------------------------------------------------------------------


def _usage_counts():
    return tuple(m.select().count() for m in (ApiUsage, UsageMonthly, UsageDaily,
                                               UsageDailyUser))


@pytest.fixture
def api_auth(app):
    user = User.create(email="api@example.nl", name="Api", plan="starter")
    _, plaintext = api_keys.create_api_key(user, "test")
    return {"Authorization": "Bearer " + plaintext, "Content-Type": "application/json"}


BAD_USAGE_BODIES = [
    ('{"endpoint": "a\\ud800b", "response_status": 200, "duration_ms": 1}', CONTROL_MESSAGE),
    ('{"endpoint": "a\\udfffb", "response_status": 200, "duration_ms": 1}', CONTROL_MESSAGE),
    ('{"endpoint": "a\\u2028b", "response_status": 200, "duration_ms": 1}', CONTROL_MESSAGE),
    ('{"endpoint": "a\\u2029b", "response_status": 200, "duration_ms": 1}', CONTROL_MESSAGE),
    ('{"endpoint": "a\\u0085b", "response_status": 200, "duration_ms": 1}', CONTROL_MESSAGE),
    ('{"endpoint": "a\u2028b", "response_status": 200, "duration_ms": 1}', CONTROL_MESSAGE),
    ('{"endpoint": "a\u0085b", "response_status": 200, "duration_ms": 1}', CONTROL_MESSAGE),
    ('{"endpoint": "tools/call \u202egnp.exe", "response_status": 200, "duration_ms": 1}',
     BIDI_MESSAGE),
    ("[" * 2000 + "]" * 2000, "nested more than"),
    ('{"a":' * 600 + "1" + "}" * 600, "nested more than"),
]


@pytest.mark.parametrize("body,reason", BAD_USAGE_BODIES, ids=[
    "surrogate-d800", "surrogate-dfff", "escaped-2028", "escaped-2029", "escaped-0085",
    "raw-2028", "raw-0085", "bidi-override", "2000-nested-arrays", "600-nested-objects"])
def test_usage_api_refuses_bad_text_and_deep_nesting_with_400_and_counts_nothing(
        client, api_auth, body, reason):
    before = _usage_counts()
    r = client.post("/api/v1/usage", data=body.encode("utf-8", "surrogatepass"),
                    headers=api_auth)
    assert r.status_code == 400
    assert r.is_json and reason in r.get_json()["error"], r.get_json()
    assert _usage_counts() == before == (0, 0, 0, 0)


def test_usage_api_still_records_brackets_inside_strings(client, api_auth):
    body = {"endpoint": "tools/call " + "[" * 100, "response_status": 200, "duration_ms": 3}
    r = client.post("/api/v1/usage", data=json.dumps(body), headers=api_auth)
    assert r.status_code == 201, r.get_json()
    assert [u.endpoint for u in ApiUsage.select()] == ["tools/call " + "[" * 100]


def test_text_rule_refuses_nel_and_line_separators():
    """The one rule the forms, the API and the import share (signature kept)."""
    for ch in ("\u0085", "\u2028", "\u2029", "\ud800"):
        assert find_text_problem("a%sb" % ch) == CONTROL_MESSAGE, repr(ch)
        assert find_text_problem("a%sb" % ch, multiline=True) == CONTROL_MESSAGE, repr(ch)
    assert find_text_problem("tools/call get_invoices") is None


def test_text_rule_refuses_bidi_overrides_but_keeps_marks_and_joiners():
    """A name with U+202E shows reversed on a staff page; escaping does not stop that."""
    for ch in ("\u202a", "\u202b", "\u202c", "\u202d", "\u202e",
               "\u2066", "\u2067", "\u2068", "\u2069"):
        assert find_text_problem("Bakkerij%sJansen" % ch) == BIDI_MESSAGE, repr(ch)
        assert find_text_problem("a%sb" % ch, multiline=True) == BIDI_MESSAGE, repr(ch)
    for fine in ("\u200f\u05e9\u05dc\u05d5\u05dd", "\U0001f468\u200d\U0001f469",
                 "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645"):
        assert find_text_problem(fine) is None, repr(fine)


def test_load_json_measures_nesting_outside_strings():
    assert nesting_depth('{"a": [1, {"b": "[[[{{{"}]}') == 3
    assert nesting_depth('["\\"[[["]') == 1
    assert load_json(b'{"a": [1]}') == {"a": [1]}
    for raw in [b"[" * 33 + b"]" * 33, b"\xff", b"{", b"[" * 5000]:
        with pytest.raises(JsonBodyError):
            load_json(raw)


# --- the MCP server: a division no connection can have ----------------------------------------


def test_mcp_division_beyond_any_division_is_refused_by_the_schema(mcp, exact):  # noqa: F811
    user, key = customer_with_key()
    for division in (MAX_ID + 1, 2 ** 31, 0):
        result = call(mcp.url, key, "get_relations", {"division": division})
        assert result.is_error
    assert exact.rest.calls == 0
    assert ApiUsage.select().count() == 0 and UsageMonthly.select().count() == 0
