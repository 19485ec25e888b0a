"""Escaping: the XSS corpus rendered into every default template, HTML escaped, text raw."""
from html.parser import HTMLParser

import pytest

from portal.mail.defaults import DEFAULT_OUTREACH, DEFAULT_REPLIES
from portal.mail.engine import REPLY_VARIABLES, TRIGGER_VARIABLES, customer_context, render_email

XSS_CORPUS = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "'><svg onload=alert(1)>",
    "Tom & Jerry's \"bakery\"",
]

ESCAPED = {
    "<script>alert(1)</script>": "&lt;script&gt;alert(1)&lt;/script&gt;",
    '"><img src=x onerror=alert(1)>': "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;",
    "'><svg onload=alert(1)>": "&#39;&gt;&lt;svg onload=alert(1)&gt;",
    "Tom & Jerry's \"bakery\"": "Tom &amp; Jerry&#39;s &#34;bakery&#34;",
}

# The only markup the engine itself writes.
ENGINE_TAGS = {"html", "head", "meta", "title", "body", "div", "p", "br", "a"}


class TagCollector(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def _hostile_context(payload):
    """Every customer-sourced value carries the payload."""
    ctx = customer_context(
        {"name": payload, "email": payload, "plan": "starter"},
        usage={"used": 10, "limit": 100, "month": payload},
        connection={"status": payload, "division": payload, "last_error": payload,
                    "retry_count": 2},
        links={"reconnect": "https://app.example.nl/connect?x=1&y=2",
               "upgrade": "https://app.example.nl/plan",
               "unsubscribe": "https://portal.example.nl/u/unsubscribe/abc"},
        staff={"name": payload, "email": "sam@example.nl"},
        errors={"count": 3, "endpoint": payload, "status": 401},
    )
    ctx["customer"]["first_name"] = payload  # a one-word name with no spaces in it
    return ctx


def _every_default_template():
    for trigger, (name, subject, body) in DEFAULT_OUTREACH.items():
        yield "outreach:" + trigger, subject, body, TRIGGER_VARIABLES[trigger]
    for category, name, subject, body in DEFAULT_REPLIES:
        yield "reply:%s:%s" % (category, name), subject, body, REPLY_VARIABLES


TEMPLATES = list(_every_default_template())


def _assert_only_engine_markup(html):
    parser = TagCollector()
    parser.feed(html)
    for tag, attrs in parser.tags:
        assert tag in ENGINE_TAGS, tag
        assert not any(k.startswith("on") for k in attrs), attrs
        if tag == "a":
            assert attrs["href"].startswith("https://"), attrs


@pytest.mark.parametrize("payload", XSS_CORPUS)
@pytest.mark.parametrize("label, subject, body, allowed", TEMPLATES,
                         ids=[t[0] for t in TEMPLATES])
def test_payload_in_every_default_template(label, subject, body, allowed, payload):
    r = render_email(subject, body, _hostile_context(payload), allowed)
    # The customer's (first) name appears in every default template.
    assert payload in r.text, "text part carries the raw value"
    assert ESCAPED[payload] in r.html, "HTML part carries the escaped value"
    assert payload not in r.html
    for raw in ("<script", "<img", "<svg", "onerror=alert(1)>", "onload=alert(1)>"):
        if raw.startswith("<"):
            assert raw not in r.html
    _assert_only_engine_markup(r.html)
    assert "\n" not in r.subject and "\r" not in r.subject


def test_escapes_all_five_characters():
    r = render_email("s", "{{ customer.name }}", {"customer": {"name": "&<>\"'"}},
                     REPLY_VARIABLES)
    assert r.text == "&<>\"'"
    assert "<p>&amp;&lt;&gt;&#34;&#39;</p>" in r.html


def test_default_text_is_escaped_too():
    r = render_email("s", '{{ customer.name | default("<b>friend</b>") }}', {},
                     REPLY_VARIABLES)
    assert r.text == "<b>friend</b>"
    assert "&lt;b&gt;friend&lt;/b&gt;" in r.html and "<b>" not in r.html


def test_literal_template_text_is_escaped_in_html():
    r = render_email("s", "Use <b>this</b> & that", {}, REPLY_VARIABLES)
    assert "Use &lt;b&gt;this&lt;/b&gt; &amp; that" in r.html


def test_only_http_links_from_links_variables_become_anchors():
    allowed = TRIGGER_VARIABLES["connection_failed"]
    body = "{{ links.reconnect }}|{{ links.upgrade }}|{{ customer.name }}"
    ctx = {"links": {"reconnect": "https://app.example.nl/c?a=1&b=2",
                     "upgrade": "javascript:alert(1)"},
           "customer": {"name": "https://evil.example/phish"}}
    r = render_email("s", body, ctx, allowed)
    assert ('<a href="https://app.example.nl/c?a=1&amp;b=2">'
            'https://app.example.nl/c?a=1&amp;b=2</a>') in r.html
    assert 'href="javascript' not in r.html and "javascript:alert(1)" in r.html
    assert 'href="https://evil' not in r.html  # a customer value is never a link
    broken = {"links": {"reconnect": 'https://x.nl/"><script>alert(1)</script>'}}
    r = render_email("s", "{{ links.reconnect }}", broken, allowed)
    assert "<a " not in r.html and "&lt;script&gt;" in r.html


def test_paragraphs_and_line_breaks():
    r = render_email("s", "One\nline two\n\n\nPara {{ customer.name }}", {
        "customer": {"name": "A\nB"}}, REPLY_VARIABLES)
    assert "<p>One<br>\nline two</p>\n<p>Para A<br>\nB</p>" in r.html
    assert r.text == "One\nline two\n\n\nPara A\nB"


def test_subject_is_escaped_in_the_html_title():
    r = render_email("Hi {{ customer.name }}", "b", {"customer": {"name": "</title><script>"}},
                     REPLY_VARIABLES)
    assert r.subject == "Hi </title><script>"
    assert "<title>Hi &lt;/title&gt;&lt;script&gt;</title>" in r.html
