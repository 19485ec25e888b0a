"""Support staff answer a customer with a reply template.

GET  /templates/replies/compose/<user_id>?template=<id>&q=&category=
     pick a template (by category or search), see it rendered for this
     customer, edit the text;
POST the same URL: "Update preview" re-renders, "Send email" sends it;
POST .../copied (JSON, from static/js/templates_admin.js) logs a copied reply;
POST .../preview-frame answers the previewed reply's HTML part for the preview
     iframe, with its own CSP so the email's inline styles apply (see routes.py).
Rendering and sending live in portal.mail.replies (same engine as previews).
"""
from flask import (abort, current_app, flash, jsonify, redirect, render_template, request,
                   url_for)
from flask_login import current_user

from models import User

from portal.core.links import customer_url
from portal.core.web import current_actor, int_arg
from portal.mail import store
from portal.mail.sending import MailDeliveryError
from portal.core.email_preview import email_html_response, problem_response
from portal.mail.replies import (
    recent_replies,
    record_copied_reply,
    render_reply,
    send_support_reply,
)
from portal.mail.engine import REPLY_VARIABLES, VARIABLE_DOCS, TemplateError
from portal.mail.templates_admin import bp
from portal.mail.templates_admin.forms import ComposeForm, first_error


def _chosen_template(values, name):
    """The reply template named by `name` in `values` (query args or the posted form).

    An id that is not a whole number in 64 bits answers 400 (int_arg); an id
    that names no template chooses none.
    """
    template_id = int_arg(name, values)
    return store.get(store.REPLIES, template_id) if template_id else None



@bp.route("/replies/compose/<int:user_id>", methods=["GET", "POST"])
def compose_reply(user_id):
    user = User.get_or_none(User.id == user_id)
    if user is None:
        abort(404)
    staff = current_user._get_current_object()
    q = (request.args.get("q") or "").strip()[:200]
    category = request.args.get("category") or ""
    if category not in dict(store.REPLIES.groups):
        category = ""
    choices, _ = store.search(store.REPLIES, q, category, page_size=100)

    form = ComposeForm()
    template = (_chosen_template(request.form, form.template_id.name)
                if request.method == "POST" else _chosen_template(request.args, "template"))
    if request.method == "GET" and template is not None:
        form.template_id.data = str(template.id)
        form.subject.data, form.body.data = template.subject, template.body

    rendered, error, status = None, None, 200
    if request.method == "POST" and not form.validate_on_submit():
        status = 422
    elif form.subject.data and form.body.data:
        try:
            if request.method == "POST" and form.send.data:
                reply = send_support_reply(current_app.config, user, current_actor(), form.subject.data,
                                           form.body.data, template=template)
                flash("Reply \u201c%s\u201d sent to %s." % (reply.subject, user.email),
                      "success")
                return redirect(url_for(".compose_reply", user_id=user.id))
            rendered = render_reply(current_app.config, user, staff, form.subject.data,
                                    form.body.data)
        except TemplateError as e:
            error, status = str(e), 422
        except MailDeliveryError as e:
            # Nothing was logged as sent; the text stays in the form to retry.
            current_app.logger.warning("support reply to user %s not sent: %s", user.id, e)
            error, status = "The email was not sent: %s" % e, 502
            flash("The email was not sent. Your text is kept below.", "error")

    frame = None
    if rendered is not None:
        frame = {"action": url_for(".reply_preview_frame", user_id=user.id),
                 "fields": [("subject", form.subject.data), ("body", form.body.data)]}
    return render_template(
        "templates_admin/compose.html", user=user, form=form, template=template,
        choices=choices, q=q, category=category, categories=store.REPLIES.groups,
        rendered=rendered, preview_error=error, preview_frame=frame,
        replies=recent_replies(user.id),
        customer_url=customer_url(user.id),
        variables=[(n, VARIABLE_DOCS.get(n, "")) for n in sorted(REPLY_VARIABLES)],
    ), status


@bp.route("/replies/compose/<int:user_id>/copied", methods=["POST"])
def reply_copied(user_id):
    """Log a copied reply (called by the Copy button; the text was rendered server-side)."""
    user = User.get_or_none(User.id == user_id)
    if user is None:
        return jsonify(error="no such customer"), 404
    form = ComposeForm()
    if not form.validate_on_submit():
        return jsonify(error="invalid form", fields=form.errors), 422
    try:
        reply = record_copied_reply(current_app.config, user, current_actor(), form.subject.data,
                                    form.body.data,
                                    template=_chosen_template(request.form,
                                                              form.template_id.name))
    except TemplateError as e:
        return jsonify(error=str(e)), 422
    return jsonify(ok=True, reply_id=reply.id), 201


@bp.route("/replies/compose/<int:user_id>/preview-frame", methods=["POST"])
def reply_preview_frame(user_id):
    """The HTML part of the previewed reply, for the preview iframe (its own CSP).

    Support may use it (support_actions), like the compose page itself; it
    renders exactly what "Send email" would send, and changes nothing.
    """
    user = User.get_or_none(User.id == user_id)
    if user is None:
        return problem_response("There is no such customer.", 404)
    form = ComposeForm()
    if not form.validate_on_submit():
        return problem_response(first_error(form), 400)
    try:
        rendered = render_reply(current_app.config, user, current_user._get_current_object(),
                                form.subject.data, form.body.data)
    except TemplateError as e:
        return problem_response(str(e), 422)
    return email_html_response(rendered.html)
