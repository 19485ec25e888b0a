"""Reading a JSON request body without Flask: bad bodies raise JsonBodyError
(the route answers 400 with its message), never a 500.

json.loads itself fails in ways that are not ValueError: a few thousand nested
arrays exhaust the recursion limit (RecursionError). So the nesting depth is
measured on the text first and a body deeper than any real request is refused
before parsing.
"""
import json

MAX_DEPTH = 32
NOT_JSON = "the body is not valid JSON"


class JsonBodyError(ValueError):
    """A request body that is not acceptable JSON; str() is the reason."""


def nesting_depth(text):
    """The deepest [ / { nesting in JSON text (brackets inside strings do not count)."""
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest


def load_json(raw, max_depth=MAX_DEPTH):
    """The value in the UTF-8 JSON bytes `raw`, or JsonBodyError."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise JsonBodyError(NOT_JSON) from None
    if nesting_depth(text) > max_depth:
        raise JsonBodyError("the body is nested more than %d levels deep" % max_depth)
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        raise JsonBodyError(NOT_JSON) from None
