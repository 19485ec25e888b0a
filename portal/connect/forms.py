"""Forms of the connect flow and the customer account (all CSRF-protected)."""
from wtforms import HiddenField, StringField
from wtforms.validators import DataRequired, Length, Optional, Regexp

from portal.core.forms import BaseForm


class SignInForm(BaseForm):
    email = StringField("Email address", validators=[
        DataRequired(message="Enter your email address."),
        Length(max=254), Regexp(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", message="Enter a valid email address.")])


class ConfirmForm(BaseForm):
    """An empty form: the CSRF token is the point (POST-only actions)."""


class CreateKeyForm(BaseForm):
    name = StringField("Name", validators=[Optional(), Length(max=100)])


class OptOutForm(BaseForm):
    opted_out = HiddenField(validators=[DataRequired()])
