"""Small request-bound helpers that the web layer hands to services, and the
bounded whole-number parsing of URLs and query arguments."""
import builtins

from flask import abort, has_request_context, request
from flask_login import current_user
from werkzeug.routing import IntegerConverter

from portal.core.audit import Actor
from portal.core.ids import MAX_ID, parse_id


def client_ip():
    return (request.remote_addr or "") if has_request_context() else ""


def current_actor():
    """The signed-in staff member (or nobody) and the client address, for audit rows."""
    staff = None
    if has_request_context() and current_user.is_authenticated:
        staff = current_user._get_current_object()
    return Actor(staff=staff, ip=client_ip())


class BoundedIntConverter(IntegerConverter):
    """werkzeug's `int` URL converter, limited to what an id column can hold.

    Registered as `int` on the app (create_app), so every `<int:...>` route
    answers 404 for /customers/9223372036854775808 instead of passing the
    number to the database (an OverflowError on SQLite). Only ASCII digits,
    at most 19 of them, match at all.
    """

    regex = r"[0-9]{1,19}"

    def __init__(self, map, fixed_digits=0, min=None, max=None, signed=False):
        if min is None and signed:
            min = -MAX_ID - 1
        max = MAX_ID if max is None else builtins.min(max, MAX_ID)
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)


def int_arg(name, values=None, minimum=0, maximum=MAX_ID):
    """A whole-number query argument (or form value): None when absent or empty.

    Anything else that is not plain digits within minimum..maximum answers 400
    with the argument's name, so no route hands the database a number it
    cannot hold. `values` defaults to request.args.
    """
    raw = (request.args if values is None else values).get(name)
    if raw is None or raw == "":
        return None
    number = parse_id(raw, minimum, maximum)
    if number is None:
        abort(400, description="'%s' must be a whole number from %d to %d."
              % (name, minimum, min(maximum, MAX_ID)))
    return number
