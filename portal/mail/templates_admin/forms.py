"""Forms of the template pages (all CSRF-protected through BaseForm)."""
from wtforms import HiddenField, SelectField, StringField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from portal.core.forms import BaseForm, safe_text
from portal.mail.engine import MAX_BODY_SOURCE, MAX_SUBJECT_SOURCE
from portal.mail.store import MAX_NAME


def normalize_newlines(value):
    """Browsers submit textareas with CRLF; store and diff plain LF."""
    return value.replace("\r\n", "\n").replace("\r", "\n") if isinstance(value, str) else value


class DraftForm(BaseForm):
    """What a preview renders: the editor's fields without the name."""
    group = SelectField("Trigger", validators=[DataRequired()])
    subject = StringField("Subject", validators=[
        DataRequired(message="A subject is required."), Length(max=MAX_SUBJECT_SOURCE)])
    body = TextAreaField("Body", validators=[
        DataRequired(message="A body is required."),
        safe_text(MAX_BODY_SOURCE, multiline=True)], filters=[normalize_newlines],
        render_kw={"rows": 18})
    preview_email = StringField("Preview for customer (email, optional)", validators=[
        Optional(), Length(max=320)])


class TemplateForm(DraftForm):
    name = StringField("Name", validators=[DataRequired(message="A name is required."),
                                           Length(max=MAX_NAME)])
    preview = SubmitField("Preview")
    save = SubmitField("Save")


class ComposeForm(BaseForm):
    template_id = HiddenField()
    subject = StringField("Subject", validators=[
        DataRequired(message="A subject is required."), Length(max=MAX_SUBJECT_SOURCE)])
    body = TextAreaField("Message", validators=[
        DataRequired(message="The message is empty."),
        safe_text(MAX_BODY_SOURCE, multiline=True)], filters=[normalize_newlines],
        render_kw={"rows": 16})
    preview = SubmitField("Update preview")
    send = SubmitField("Send email")


class ConfirmForm(BaseForm):
    """Empty form: the CSRF token is the point (delete, restore, duplicate)."""


def first_error(form):
    """One readable line for an answer that has no form to show errors next to."""
    for field in form:
        if field.errors:
            return "%s: %s" % (field.label.text, field.errors[0])
    return "The request could not be understood."
