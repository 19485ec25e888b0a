from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length, Regexp


class LoginForm(FlaskForm):
    email = StringField("Email", validators=[DataRequired(), Length(max=254), Regexp(r"^[^@\s]+@[^@\s]+$", message="Enter an email address.")])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=1024)])
