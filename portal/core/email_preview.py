"""The HTML part of an email, answered on its own URL for a sandboxed preview iframe.

Customer-facing markup is never put into a portal page (whose CSP forbids
inline styles, so the email would look different from what is sent, and whose
origin the markup must not share). Every preview of an HTML part — the outbox,
the outreach preview, the template editor and the reply compose page — loads
it into `<iframe sandbox="">` from a URL answered by `email_html_response`,
with this document's own policy: no scripts, no network, no forms; only the
email's inline styles and data: images; frameable by this site only.
"""
from flask import make_response
from markupsafe import escape

# `sandbox` in the CSP keeps the document script-less and origin-less even when
# it is opened directly instead of in the sandboxed iframe.
EMAIL_HTML_CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
                  "base-uri 'none'; form-action 'none'; frame-ancestors 'self'; sandbox")

_PROBLEM_DOC = ('<!DOCTYPE html>\n<html lang="en">\n<head><meta charset="utf-8">'
                "<title>Preview not available</title></head>\n"
                '<body style="font-family:Arial,Helvetica,sans-serif;color:#8a1f11;">'
                "<p>Preview not available: %s</p></body>\n</html>\n")


def email_html_response(html, status=200):
    """`html` (an already rendered, escaped email document) with the preview headers."""
    response = make_response(html or "", status)
    response.headers["Content-Type"] = "text/html; charset=utf-8"
    response.headers["Content-Security-Policy"] = EMAIL_HTML_CSP
    response.headers["X-Frame-Options"] = "SAMEORIGIN"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-store"
    return response


def problem_response(message, status=400):
    """A short explanation shown inside the preview frame instead of the email."""
    return email_html_response(_PROBLEM_DOC % escape(message), status)
