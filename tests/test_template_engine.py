"""The placeholder language: allow-lists, defaults, errors with positions, injection corpus."""
import pytest

from models import OUTREACH_TRIGGERS
from portal.mail import engine as te
from portal.mail.defaults import DEFAULT_OUTREACH, DEFAULT_REPLIES, check_defaults
from portal.mail.engine import (
    REPLY_VARIABLES,
    TRIGGER_VARIABLES,
    TemplateError,
    render_email,
    sample_context,
    validate,
)

ALL = TRIGGER_VARIABLES["connection_failed"]

INJECTION_CORPUS = [
    "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
    "{{ ''.__class__.__mro__ }}",
    "{{ lipsum.__globals__ }}",
    "{{ 7*7 }}",
    "{% for x in y %}{% endfor %}",
    "{% for %}",
    "{{ config }}",
    "{{ request }}",
    "{{ self }}",
    "{{ config.items() }}",
    "{{ customer.name.__class__ }}",
    "{{ customer['name'] }}",
    "{{ customer.name|attr('__class__') }}",
    "{{ customer.name | upper }}",
    "{{ customer.name | default(customer.email) }}",
    "{{ customer.name ~ 'x' }}",
    "{{ namespace() }}",
    "{# comment #}",
    "{{ range(10**9) }}",
    "{{ customer.__dict__ }}",
]


def test_trigger_allow_lists_cover_every_trigger_and_are_documented():
    assert set(TRIGGER_VARIABLES) == set(OUTREACH_TRIGGERS)
    for trigger, names in TRIGGER_VARIABLES.items():
        assert {"customer.name", "customer.email", "links.unsubscribe"} <= names
        assert names <= set(te.VARIABLE_DOCS), trigger
    assert {"connection.status", "connection.division", "connection.last_error",
            "links.reconnect"} <= TRIGGER_VARIABLES["connection_failed"]
    assert {"usage.used", "usage.limit", "usage.percent"} <= TRIGGER_VARIABLES["usage_near_limit"]
    assert "errors.count" in TRIGGER_VARIABLES["error_loop"]
    assert "errors.count" not in TRIGGER_VARIABLES["inactive"]
    # Replies are not marketing: no unsubscribe link, but the agent's name.
    assert "links.unsubscribe" not in REPLY_VARIABLES
    assert {"staff.name", "customer.plan", "connection.last_error"} <= REPLY_VARIABLES


def test_plain_variables_and_default_render():
    ctx = {"customer": {"name": "Sanne", "email": "s@example.nl"}}
    r = render_email("Hi {{customer.name}}", "A {{ customer.name }} B {{ customer.email }}",
                     ctx, ALL)
    assert r.subject == "Hi Sanne"
    assert r.text == "A Sanne B s@example.nl"


def test_default_applies_to_missing_and_empty_values_and_missing_renders_empty():
    body = ('Hello {{ customer.first_name | default("there") }},'
            "{{ customer.plan|default('?') }}|{{ customer.email }}|")
    assert render_email("s", body, {}, ALL).text == "Hello there,?||"
    ctx = {"customer": {"first_name": "", "plan": "Pro", "email": None}}
    assert render_email("s", body, ctx, ALL).text == "Hello there,Pro||"
    quoted = render_email("s", r'{{ customer.name | default("say \"hi\"") }}', {}, ALL)
    assert quoted.text == 'say "hi"'


def test_unknown_variable_is_refused_with_its_position():
    with pytest.raises(TemplateError) as e:
        validate("Hello\n  {{ customer.nmae }}", ALL)
    assert e.value.line == 2 and e.value.column == 3
    assert "customer.nmae" in str(e.value) and "line 2, column 3" in str(e.value)


def test_variable_allowed_for_one_trigger_is_unknown_for_another():
    validate("{{ errors.count }}", TRIGGER_VARIABLES["error_loop"])
    with pytest.raises(TemplateError, match="unknown variable 'errors.count'"):
        validate("{{ errors.count }}", TRIGGER_VARIABLES["inactive"])
    with pytest.raises(TemplateError, match="links.unsubscribe"):
        validate("{{ links.unsubscribe }}", REPLY_VARIABLES)


@pytest.mark.parametrize("source, line, column, words", [
    ("ok {{ customer.name", 1, 4, "not closed"),
    ("a\nb }} c", 2, 3, "without a matching"),
    ("{{ }}", 1, 4, "expected a variable name"),
    ("x\n\n   {{ customer.name | upper }}", 3, 23, "only filter allowed"),
    ('{{ customer.name | default(there) }}', 1, 28, "quoted text"),
    ('{{ customer.name | default("x" }}', 1, 32, "expected ')'"),
    ("{{ customer.name customer.email }}", 1, 18, "expected '}}'"),
    ("{{ Customer.name }}", 1, 4, "expected a variable name"),
    ("{% if x %}", 1, 1, "not allowed"),
])
def test_syntax_errors_point_at_the_spot(source, line, column, words):
    with pytest.raises(TemplateError) as e:
        validate(source, ALL)
    assert (e.value.line, e.value.column) == (line, column), str(e.value)
    assert words in str(e.value)


@pytest.mark.parametrize("payload", INJECTION_CORPUS)
def test_injection_corpus_is_refused_at_save(payload):
    with pytest.raises(TemplateError):
        validate(payload, ALL)
    with pytest.raises(TemplateError):
        validate("Subject " + payload, ALL, subject=True)


@pytest.mark.parametrize("payload", INJECTION_CORPUS)
def test_injection_corpus_does_nothing_at_render(payload, monkeypatch):
    """Even a template stored behind validation's back never runs: render refuses it."""
    import os
    import subprocess
    calls = []
    monkeypatch.setattr(os, "popen", lambda *a, **k: calls.append(a))
    monkeypatch.setattr(subprocess, "Popen", lambda *a, **k: calls.append(a))
    ctx = sample_context("connection_failed")
    with pytest.raises(TemplateError):
        render_email("Subject", "Body " + payload, ctx, ALL)
    assert calls == []


def test_values_are_never_reparsed_as_templates():
    """A customer who names themselves like a placeholder gets their name, not a lookup."""
    ctx = {"customer": {"name": "{{ customer.email }} {{ 7*7 }}", "email": "secret@x.nl"}}
    r = render_email("{{ customer.name }}", "{{ customer.name }}", ctx, ALL)
    assert r.text == "{{ customer.email }} {{ 7*7 }}"
    assert "secret@x.nl" not in r.text and "49" not in r.text


def test_lookup_uses_plain_dicts_only():
    class Sneaky:
        name = "attribute value"

        def __str__(self):
            raise AssertionError("objects are never stringified")
    ctx = {"customer": Sneaky(), "usage": {"used": Sneaky()}}
    r = render_email("s", "[{{ customer.name }}][{{ usage.used }}]", ctx, ALL)
    assert r.text == "[][]"


def test_subject_with_newline_is_refused():
    for subject in ("Hello\nBcc: victim@example.com", "Hello\rX", "a\r\nb"):
        with pytest.raises(TemplateError, match="line break"):
            render_email(subject, "body", {}, ALL)


def test_values_with_newlines_cannot_break_the_subject():
    ctx = {"customer": {"name": "Eve\r\nBcc: victim@example.com"}}
    r = render_email("Hi {{ customer.name }}", "x", ctx, ALL)
    assert "\n" not in r.subject and "\r" not in r.subject
    assert r.subject == "Hi Eve Bcc: victim@example.com"


def test_control_characters_are_refused():
    with pytest.raises(TemplateError, match="control character") as e:
        validate("ab\x00c", ALL)
    assert e.value.column == 3


def test_size_limits():
    with pytest.raises(TemplateError, match="too long"):
        validate("x" * (te.MAX_BODY_SOURCE + 1), ALL)
    with pytest.raises(TemplateError, match="too long"):
        validate("x" * (te.MAX_SUBJECT_SOURCE + 1), ALL, subject=True)
    with pytest.raises(TemplateError, match="too many placeholders"):
        validate("{{ customer.name }}" * (te.MAX_PLACEHOLDERS + 1), ALL)
    # Huge values blow the output limit, not the process.
    ctx = {"customer": {"name": "x" * 10_000}}
    with pytest.raises(TemplateError, match="too large"):
        render_email("s", "{{ customer.name }} " * 30, ctx, ALL)


def test_time_limit_is_enforced(monkeypatch):
    clock = iter(range(0, 10_000, 5))
    monkeypatch.setattr(te.time, "monotonic", lambda: next(clock))
    with pytest.raises(TemplateError, match="too long"):
        render_email("s", "{{ customer.name }} and {{ customer.email }}", {}, ALL)


def test_every_default_template_validates_and_renders_with_sample_data():
    check_defaults()
    assert set(DEFAULT_OUTREACH) == set(OUTREACH_TRIGGERS)
    assert len({c for c, *_ in DEFAULT_REPLIES}) >= 5
    for trigger, (_, subject, body) in DEFAULT_OUTREACH.items():
        r = render_email(subject, body, sample_context(trigger), TRIGGER_VARIABLES[trigger])
        assert "{{" not in r.text and r.subject
        assert "/u/unsubscribe/" in r.text, trigger  # every outreach email can be stopped
    for _, _, subject, body in DEFAULT_REPLIES:
        r = render_email(subject, body, sample_context(None), REPLY_VARIABLES)
        assert "Sam Support" in r.text and "{{" not in r.text


def test_sample_context_holds_only_allowed_groups():
    assert "staff" not in sample_context("inactive")
    assert "errors" in sample_context("error_loop")
    assert sample_context("usage_limit_reached")["usage"]["percent"] == 100
    assert "staff" in sample_context(None)


def test_customer_context_from_a_user_row():
    import datetime

    from models import User
    user = User(email="jan@example.nl", name="Jan de Boer", plan="pro",
                created_at=datetime.datetime(2025, 3, 4, 5, 6))
    ctx = te.customer_context(user, usage={"used": 250, "limit": 1000, "month": "2026-02"},
                              connection={"status": "refresh_failed", "division": 42,
                                          "last_error": "boom"},
                              links={"reconnect": "https://x.nl/r", "upgrade": None},
                              staff={"name": "Sam", "email": "s@x.nl"})
    assert ctx["customer"] == {"name": "Jan de Boer", "first_name": "Jan",
                               "email": "jan@example.nl", "plan": "Pro",
                               "since": "2025-03-04", "last_active": ""}
    assert ctx["usage"] == {"used": 250, "limit": 1000, "remaining": 750, "percent": 25,
                            "month": "2026-02"}
    assert ctx["connection"]["division"] == 42
    assert ctx["links"] == {"reconnect": "https://x.nl/r"}
    unlimited = te.customer_context(user, usage={"used": 5, "limit": None})
    assert unlimited["usage"]["limit"] == "unlimited" and unlimited["usage"]["percent"] == 0
