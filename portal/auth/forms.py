from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length, Regexp

from portal.core.forms import BaseForm, safe_text

EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+$"


def _strip(value):
    return value.strip() if isinstance(value, str) else value


class LoginForm(BaseForm):
    email = StringField("Email", filters=[_strip], validators=[
        DataRequired(message="Enter your email address."), safe_text(254),
        Length(max=254), Regexp(EMAIL_PATTERN, message="Enter an email address.")])
    password = PasswordField("Password", validators=[
        DataRequired(message="Enter your password."), safe_text(1024)])
