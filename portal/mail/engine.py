"""The placeholder language of email and reply templates (no Flask here).

Admins edit templates, but admins may not run code, so a template is NOT a
Jinja program. It is plain text with placeholders:

    {{ customer.name }}
    {{ customer.name | default("there") }}

and nothing else: no expressions, no attribute tricks, no calls, no `{% %}`
blocks. A small own parser (below) accepts exactly that grammar, which keeps
the proof of safety short: a placeholder can only name a variable from a
fixed allow-list, looked up in plain dicts (never getattr), so
`{{ ''.__class__.__mro__ }}` or `{{ cycler.__init__.__globals__ }}` cannot even
be expressed. Anything else is a TemplateError that names line and column.

Rendering produces three parts from the same parse (so the preview in the
portal and the email that is sent can never differ):
* subject: raw values, newlines folded to spaces (no header injection);
* text: raw values;
* html: every value escaped with markupsafe (& < > " '), paragraphs and
  newlines turned into <p>/<br>, and values of `links.*` variables that are
  http(s) URLs turned into anchors.
"""
import re
import time
from dataclasses import dataclass

from markupsafe import escape

# --- limits -------------------------------------------------------------------

MAX_SUBJECT_SOURCE = 998          # RFC 5322 line length
MAX_BODY_SOURCE = 50 * 1024       # characters of template source
MAX_OUTPUT = 200 * 1024           # characters of any rendered part
MAX_PLACEHOLDERS = 500
MAX_DEFAULT_LENGTH = 200
RENDER_TIME_LIMIT = 2.0           # seconds; the grammar is linear, this is a backstop

# The allow-lists and the context builders live in portal.mail.context;
# they are re-exported here because callers import them from the engine.
from portal.mail.context import (  # noqa: E402,F401 (re-exported)
    CATEGORY_VARIABLES,
    REPLY_CATEGORIES,
    REPLY_VARIABLES,
    SAMPLE_USER,
    TRIGGER_VARIABLES,
    VARIABLE_DOCS,
    customer_context,
    customer_links,
    sample_context,
    usage_context,
)


# --- errors ---------------------------------------------------------------------------


class TemplateError(ValueError):
    """A template that may not be saved or rendered; the message names the spot."""

    def __init__(self, message, line=None, column=None, field=None):
        self.line, self.column, self.field, self.reason = line, column, field, message
        where = ""
        if line is not None:
            where = "line %d, column %d: " % (line, column)
        if field:
            where = "%s, %s" % (field, where) if where else field + ": "
        super().__init__(where + message)

    def in_field(self, field):
        return TemplateError(self.reason, self.line, self.column, field)


def _position(source, offset):
    line = source.count("\n", 0, offset) + 1
    column = offset - (source.rfind("\n", 0, offset) + 1) + 1
    return line, column


# --- parsing ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Placeholder:
    path: str
    default: str | None
    offset: int


_PATH = re.compile(r"[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)*")
_IDENT_CHARS = re.compile(r"[A-Za-z0-9_.]*")
_DEFAULT = re.compile(r"default\s*\(\s*")
_STRING = re.compile(r'"((?:[^"\\\n]|\\["\\])*)"|\'((?:[^\'\\\n]|\\[\'\\])*)\'')
_FORBIDDEN_OPENERS = ("{%", "{#", "%}", "#}")


def parse(source):
    """Split `source` into text pieces (str) and Placeholder objects.

    Raises TemplateError for anything outside the grammar.
    """
    if not isinstance(source, str):
        raise TemplateError("template must be text")
    for opener in _FORBIDDEN_OPENERS:
        at = source.find(opener)
        if at >= 0:
            raise TemplateError("'%s' is not allowed: templates only hold placeholders like "
                                "{{ customer.name }}" % opener, *_position(source, at))
    pieces = []
    pos = 0
    count = 0
    while True:
        start = source.find("{{", pos)
        stray = source.find("}}", pos)
        if stray >= 0 and (start < 0 or stray < start):
            raise TemplateError("'}}' without a matching '{{'", *_position(source, stray))
        if start < 0:
            if pos < len(source):
                pieces.append(source[pos:])
            return pieces
        if start > pos:
            pieces.append(source[pos:start])
        count += 1
        if count > MAX_PLACEHOLDERS:
            raise TemplateError("too many placeholders (at most %d)" % MAX_PLACEHOLDERS,
                                *_position(source, start))
        placeholder, pos = _parse_placeholder(source, start)
        pieces.append(placeholder)


def _skip_spaces(source, i):
    while i < len(source) and source[i] in " \t":
        i += 1
    return i


def _parse_placeholder(source, start):
    i = _skip_spaces(source, start + 2)
    m = _PATH.match(source, i)
    if not m:
        raise TemplateError("expected a variable name such as customer.name",
                            *_position(source, i))
    # A name glued to anything else (upper case, '__', '(', '[', '*', ...) is
    # an expression, not a variable.
    tail = _IDENT_CHARS.match(source, m.end()).end()
    if tail != m.end() or "__" in m.group(0):
        bad = i + m.group(0).index("__") if tail == m.end() else m.end()
        raise TemplateError("only plain variable names are allowed (lower case, dots "
                            "between parts)", *_position(source, bad))
    path = m.group(0)
    i = _skip_spaces(source, m.end())
    default = None
    if source.startswith("|", i):
        i = _skip_spaces(source, i + 1)
        d = _DEFAULT.match(source, i)
        if not d:
            raise TemplateError('the only filter allowed is default("...")',
                                *_position(source, i))
        i = d.end()
        s = _STRING.match(source, i)
        if not s:
            raise TemplateError("default(...) needs one quoted text, e.g. "
                                'default("there")', *_position(source, i))
        raw = s.group(1) if s.group(1) is not None else s.group(2)
        default = re.sub(r"\\(.)", r"\1", raw)
        if len(default) > MAX_DEFAULT_LENGTH:
            raise TemplateError("default text is too long (at most %d characters)"
                                % MAX_DEFAULT_LENGTH, *_position(source, i))
        i = _skip_spaces(source, s.end())
        if not source.startswith(")", i):
            raise TemplateError("expected ')' to close default(", *_position(source, i))
        i = _skip_spaces(source, i + 1)
    if not source.startswith("}}", i):
        if i >= len(source) or source[i] == "\n":
            raise TemplateError("placeholder is not closed with '}}'",
                                *_position(source, start))
        raise TemplateError("unexpected %r in placeholder; expected '}}'" % source[i],
                            *_position(source, i))
    return Placeholder(path, default, start), i + 2


# --- validation ------------------------------------------------------------------------------


def validate(source, allowed, *, subject=False, limit=None):
    """Raise TemplateError unless `source` is a well-formed template over `allowed`."""
    if not isinstance(source, str):
        raise TemplateError("template must be text")
    limit = limit or (MAX_SUBJECT_SOURCE if subject else MAX_BODY_SOURCE)
    if len(source) > limit:
        raise TemplateError("too long: %d characters, at most %d" % (len(source), limit))
    if subject:
        for ch in ("\r", "\n"):
            at = source.find(ch)
            if at >= 0:
                raise TemplateError("a subject may not contain a line break",
                                    *_position(source, at))
    for ch_at, ch in enumerate(source):
        if (ord(ch) < 32 and ch not in "\n\r\t") or ord(ch) == 127:
            raise TemplateError("control character U+%04X is not allowed" % ord(ch),
                                *_position(source, ch_at))
    pieces = parse(source)
    for piece in pieces:
        if isinstance(piece, Placeholder) and piece.path not in allowed:
            raise TemplateError("unknown variable '%s'; allowed here: %s"
                                % (piece.path, ", ".join(sorted(allowed))),
                                *_position(source, piece.offset))
    return pieces


def validate_email(subject_src, body_src, allowed):
    """Validate both parts; the error says which part (Subject/Body) is wrong."""
    try:
        validate(subject_src, allowed, subject=True)
    except TemplateError as e:
        raise e.in_field("Subject")
    try:
        validate(body_src, allowed)
    except TemplateError as e:
        raise e.in_field("Body")


# --- rendering -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


def _lookup(context, path):
    """Plain dict lookups only: no attributes, no calls, no indexing tricks."""
    value = context
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    if value is None or isinstance(value, (dict, list, tuple, set)):
        return None
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (str, int, float)):
        return str(value)
    return None  # anything else (objects) is never stringified


def _is_link(path, value):
    return (path.startswith("links.") and re.fullmatch(r"https?://[^\s<>\"']+", value)
            is not None)


def _resolve(pieces, context, deadline):
    """[(kind, path_or_None, value)] with kind 'text' or 'value'."""
    out = []
    for piece in pieces:
        if time.monotonic() > deadline:
            raise TemplateError("rendering took too long")
        if isinstance(piece, str):
            out.append(("text", None, piece))
        else:
            value = _lookup(context, piece.path)
            if value in (None, "") and piece.default is not None:
                # The default is admin text, not a customer value.
                out.append(("text", None, piece.default))
            else:
                out.append(("value", piece.path, value or ""))
    return out


def _check_size(text, part):
    if len(text) > MAX_OUTPUT:
        raise TemplateError("rendered %s is too large (%d characters, at most %d)"
                            % (part, len(text), MAX_OUTPUT))
    return text


def _html_fragment(resolved):
    chunks = []
    for kind, path, value in resolved:
        if kind == "value" and _is_link(path, value):
            href = escape(value)
            chunks.append('<a href="%s">%s</a>' % (href, href))
        else:
            chunks.append(str(escape(value)))
    return "".join(chunks)


def text_to_html_body(escaped):
    """Paragraphs from blank lines, <br> from single newlines.

    `escaped` is already HTML-escaped (our own anchors contain no newlines),
    so splitting on newlines cannot break markup.
    """
    escaped = escaped.replace("\r\n", "\n").replace("\r", "\n")
    paragraphs = [p.strip("\n") for p in re.split(r"\n[ \t]*\n+", escaped)]
    return "\n".join("<p>%s</p>" % p.replace("\n", "<br>\n") for p in paragraphs if p.strip())


HTML_SHELL = (
    '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
    '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
    "<title>%(title)s</title>\n</head>\n"
    '<body style="margin:0;padding:24px;background:#f5f6f8;">\n'
    '<div style="max-width:600px;margin:0 auto;background:#ffffff;padding:24px;'
    'font-family:Arial,Helvetica,sans-serif;font-size:15px;line-height:1.5;color:#1f2328;">\n'
    "%(body)s\n</div>\n</body>\n</html>\n"
)


def render_email(subject_src, body_src, context, allowed):
    """Render a template into subject, text and HTML parts.

    Raises TemplateError when the template is not valid over `allowed`
    (nothing of it runs), or when the output is too large or slow.
    """
    validate_email(subject_src, body_src, allowed)
    deadline = time.monotonic() + RENDER_TIME_LIMIT
    subject_parts = _resolve(parse(subject_src), context, deadline)
    body_parts = _resolve(parse(body_src), context, deadline)

    subject = "".join(v for _, _, v in subject_parts)
    # Header safety: a value with a line break can never split the header.
    subject = re.sub(r"[\r\n\t\x00-\x1f\x7f]+", " ", subject).strip()[:MAX_SUBJECT_SOURCE]
    text = _check_size("".join(v for _, _, v in body_parts), "text")
    html_body = text_to_html_body(_html_fragment(body_parts))
    html = _check_size(HTML_SHELL % {"title": escape(subject), "body": html_body}, "HTML")
    return RenderedEmail(subject=subject, text=text, html=html)
