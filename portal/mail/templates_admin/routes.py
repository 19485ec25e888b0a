"""Template admin pages: list, view, create/edit with preview, duplicate, delete, history.

Thin: the rules live in portal.mail.store (saving, versions, audit) and
portal.mail.engine (the placeholder language). The preview calls the
same render_email as sending.

The preview's HTML part is shown in `<iframe sandbox="">`. The page embeds it
as srcdoc (works without JavaScript, but a srcdoc document inherits the
page's CSP, so the email's inline styles are dropped); static/js/
templates_admin.js then posts the previewed draft (a hidden form) into the
frame, and `preview_frame` answers the same rendering with its own CSP that
allows inline styles, so the frame shows the email as it will be received.
"""
from flask_login import current_user
from flask import abort, current_app, flash, redirect, render_template, request, url_for

from portal.core.web import current_actor, int_arg
from portal.core.email_preview import email_html_response, problem_response
from portal.core.forms import select_choices
from portal.mail.engine import VARIABLE_DOCS, TemplateError, render_email, sample_context
from portal.customers.lookup import find_customer
from portal.mail.replies import customer_template_context
from portal.mail import store
from portal.mail.templates_admin import bp
from portal.mail.templates_admin.forms import ConfirmForm, DraftForm, TemplateForm, first_error

KIND_RULE = "<any(outreach, replies):kind>"


def _kind(slug):
    return store.KINDS[slug]


def _template_or_404(kind, template_id):
    template = store.get(kind, template_id)
    if template is None:
        abort(404)
    return template


def _variables(kind, group):
    names = sorted(kind.allowed(group)) if group in dict(kind.groups) else []
    return [(name, VARIABLE_DOCS.get(name, "")) for name in names]


def _preview(kind, group, subject, body, customer=None):
    """(rendered or None, error or None, label) using the sending code path."""
    try:
        if customer is not None:
            ctx = customer_template_context(
                current_app.config, customer,
                trigger=group if kind.slug == "outreach" else None,
                staff=current_user._get_current_object())
            label = "Preview for %s" % customer.email
        else:
            ctx = sample_context(group if kind.slug == "outreach" else None)
            label = "Preview with sample data"
        return render_email(subject, body, ctx, kind.allowed(group)), None, label
    except (TemplateError, KeyError) as e:
        return None, str(e), ""


# --- lists -----------------------------------------------------------------------


def _list(kind, endpoint):
    q = (request.args.get("q") or "").strip()[:200]
    group = request.args.get("group") or ""
    if group not in dict(kind.groups):
        group = ""
    after = int_arg("after") or None
    rows, next_after = store.search(kind, q, group, after)
    args = {k: v for k, v in (("q", q), ("group", group)) if v}
    next_url = url_for(endpoint, after=next_after, **args) if next_after else None
    first_url = url_for(endpoint, **args) if after else None
    return render_template("templates_admin/list.html", kind=kind, rows=rows, q=q,
                           group=group, next_url=next_url, first_url=first_url,
                           list_endpoint=endpoint)


@bp.route("/")
def index():
    return redirect(url_for(".reply_index"))


@bp.route("/replies")
def reply_index():
    return _list(store.REPLIES, "templates_admin.reply_index")


@bp.route("/outreach")
def outreach_index():
    return _list(store.OUTREACH, "templates_admin.outreach_index")


# --- one template ----------------------------------------------------------------


@bp.route("/%s/<int:template_id>" % KIND_RULE)
def view_template(kind, template_id):
    kind = _kind(kind)
    template = _template_or_404(kind, template_id)
    group = kind.group_of(template)
    rendered, error, label = _preview(kind, group, template.subject, template.body)
    return render_template("templates_admin/view.html", kind=kind, template=template,
                           rendered=rendered, preview_error=error, preview_label=label,
                           variables=_variables(kind, group), form=ConfirmForm(),
                           campaigns=store.campaigns_using(template)
                           if kind is store.OUTREACH else [])


def _field_for(form, error):
    """The form field a save error is about (a too-large email is about its body)."""
    fields = {"Name": form.name, "Subject": form.subject, "Body": form.body}
    return fields.get(error.field) or fields.get(getattr(error.__cause__, "field", None)) \
        or form.body


def _edit_page(kind, template):
    form = TemplateForm()
    form.group.label.text = kind.group_label
    form.group.choices = select_choices(kind.groups)
    if request.method == "GET":
        if template is not None:
            form.group.data = kind.group_of(template)
            form.name.data, form.subject.data = template.name, template.subject
            form.body.data = template.body
        elif request.args.get("group") in dict(kind.groups):
            form.group.data = request.args["group"]
    rendered = preview_error = None
    preview_label = ""
    status = 200
    if request.method == "POST" and form.validate_on_submit():
        group = form.group.data
        customer = None
        if form.preview_email.data:
            customer = find_customer(form.preview_email.data)
            if customer is None:
                form.preview_email.errors.append("No customer with that email address.")
        if form.save.data and not form.preview_email.errors:
            try:
                saved = store.save(kind, template, group=group, name=form.name.data,
                                   subject=form.subject.data, body=form.body.data,
                                   actor=current_actor())
            except TemplateError as e:
                # The form comes back with the admin's text kept; the reason is
                # shown above the preview and next to the field it concerns.
                preview_error = "Not saved: %s" % e
                _field_for(form, e).errors.append(str(e))
                status = 422
            else:
                flash("%s \u201c%s\u201d saved." % (kind.label, saved.name), "success")
                return redirect(url_for(".view_template", kind=kind.slug,
                                        template_id=saved.id))
        elif not form.preview_email.errors:
            rendered, preview_error, preview_label = _preview(
                kind, group, form.subject.data, form.body.data, customer)
            if preview_error:
                status = 422
    elif request.method == "POST":
        status = 422
    group = form.group.data or kind.groups[0][0]
    frame = None
    if rendered is not None:
        frame = {"action": url_for(".preview_frame", kind=kind.slug), "fields": [
            ("group", form.group.data), ("subject", form.subject.data),
            ("body", form.body.data), ("preview_email", form.preview_email.data or "")]}
    return render_template("templates_admin/edit.html", kind=kind, template=template,
                           form=form, rendered=rendered, preview_error=preview_error,
                           preview_label=preview_label, preview_frame=frame,
                           variables=_variables(kind, group)), status


@bp.route("/%s/preview-frame" % KIND_RULE, methods=["POST"])
def preview_frame(kind):
    """The HTML part of an editor draft, for the preview iframe (its own CSP).

    Admin-only like the edit page (a POST not in support_actions). Bad input
    is a 400 and a template error a 422, each explained inside the frame.
    """
    kind = _kind(kind)
    form = DraftForm()
    form.group.label.text = kind.group_label
    form.group.choices = select_choices(kind.groups)
    if not form.validate_on_submit():
        return problem_response(first_error(form), 400)
    customer = None
    if form.preview_email.data:
        customer = find_customer(form.preview_email.data)
        if customer is None:
            return problem_response("No customer with that email address.", 400)
    rendered, error, _ = _preview(kind, form.group.data, form.subject.data, form.body.data,
                                  customer)
    if error:
        return problem_response(error, 422)
    return email_html_response(rendered.html)


@bp.route("/%s/new" % KIND_RULE, methods=["GET", "POST"])
def new_template(kind):
    return _edit_page(_kind(kind), None)


@bp.route("/%s/<int:template_id>/edit" % KIND_RULE, methods=["GET", "POST"])
def edit_template(kind, template_id):
    kind = _kind(kind)
    return _edit_page(kind, _template_or_404(kind, template_id))


@bp.route("/%s/<int:template_id>/duplicate" % KIND_RULE, methods=["POST"])
def duplicate_template(kind, template_id):
    kind = _kind(kind)
    template = _template_or_404(kind, template_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    copy = store.duplicate(kind, template, actor=current_actor())
    flash("Duplicated as \u201c%s\u201d. Edit it below." % copy.name, "success")
    return redirect(url_for(".edit_template", kind=kind.slug, template_id=copy.id))


@bp.route("/%s/<int:template_id>/delete" % KIND_RULE, methods=["GET", "POST"])
def delete_template(kind, template_id):
    kind = _kind(kind)
    template = _template_or_404(kind, template_id)
    form = ConfirmForm()
    if request.method == "POST" and form.validate_on_submit():
        name = template.name
        store.delete(kind, template, actor=current_actor())
        flash("%s \u201c%s\u201d deleted." % (kind.label, name), "success")
        return redirect(url_for(".outreach_index" if kind is store.OUTREACH
                                else ".reply_index"))
    return render_template("templates_admin/delete.html", kind=kind, template=template,
                           form=form, campaigns=store.campaigns_using(template)
                           if kind is store.OUTREACH else [])


# --- history ---------------------------------------------------------------------


@bp.route("/%s/<int:template_id>/history" % KIND_RULE)
def history(kind, template_id):
    kind = _kind(kind)
    template = _template_or_404(kind, template_id)
    return render_template("templates_admin/history.html", kind=kind, template=template,
                           versions=store.versions(kind, template))


@bp.route("/%s/<int:template_id>/history/<int:number>" % KIND_RULE)
def version(kind, template_id, number):
    kind = _kind(kind)
    template = _template_or_404(kind, template_id)
    old = store.get_version(kind, template, number)
    if old is None:
        abort(404)
    label = "version %d" % number
    return render_template(
        "templates_admin/version.html", kind=kind, template=template, old=old,
        subject_diff=store.diff_lines(old.subject, template.subject, label, "current"),
        body_diff=store.diff_lines(old.body, template.body, label, "current"),
        form=ConfirmForm())


@bp.route("/%s/<int:template_id>/history/<int:number>/restore" % KIND_RULE,
          methods=["POST"])
def restore_version(kind, template_id, number):
    kind = _kind(kind)
    template = _template_or_404(kind, template_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        store.restore(kind, template, number, actor=current_actor())
    except TemplateError as e:
        flash("Version %d cannot be restored: %s" % (number, e), "error")
        return redirect(url_for(".version", kind=kind.slug, template_id=template.id,
                                number=number))
    flash("Version %d restored; the content it replaced is kept in the history." % number,
          "success")
    return redirect(url_for(".view_template", kind=kind.slug, template_id=template.id))


from portal.mail.compose import routes as compose  # noqa: E402,F401  (the reply compose pages)
