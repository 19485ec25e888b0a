"""Error answers for the whole app, registered in one place.

JSON routes (the API under /api/, and anything access.wants_json() says asks
for JSON) get `{"error": ...}` with the status; every other path gets a page in
the portal's layout. Nothing from the exception beyond Werkzeug's stock
description is shown, so no internals leak into a page.
"""
from flask import jsonify, render_template
from flask_wtf.csrf import CSRFError

DEFAULT_MESSAGES = {
    400: "The request could not be understood.",
    403: "You do not have access to this page.",
    404: "There is no page at this address.",
    405: "This action cannot be done that way.",
    413: "The request was larger than this portal accepts.",
    429: "Too many requests; try again later.",
    500: "Something went wrong.",
}
CSRF_MESSAGE = ("Your form expired or was sent from elsewhere (missing or invalid CSRF "
                "token). Reload the page and try again.")


def error_response(code, message=None):
    """The JSON or HTML answer for an error status (also used by before_request guards)."""
    from portal.core.access import wants_json
    message = message or DEFAULT_MESSAGES.get(code, "Error")
    if wants_json():
        return jsonify(error=message), code
    return render_template("errors/%d.html" % code, message=message), code


def register_error_pages(app):
    def handler(code):
        def _handle(error):
            # 500s never show the exception; 4xx show Werkzeug's stock text at most.
            description = None if code == 500 else getattr(error, "description", None)
            response = error_response(code, description)
            valid = getattr(error, "valid_methods", None)
            if code == 405 and valid:
                body, status = response
                return body, status, {"Allow": ", ".join(sorted(valid))}
            return response
        return _handle

    for code in DEFAULT_MESSAGES:
        app.register_error_handler(code, handler(code))
    app.register_error_handler(CSRFError, lambda error: error_response(400, CSRF_MESSAGE))
