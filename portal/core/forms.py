"""Shared form rules: every form rejects bad text with a clear message, never a 500.

Two ways to use it (both stable API, other blueprints import them):

* `safe_text(max_len=SHORT_FIELD_MAX, multiline=False)` — a WTForms validator
  that refuses control characters, text that was not valid UTF-8 (decoded to
  U+FFFD by the form parser) and text longer than `max_len` characters.
  Use `multiline=True` for text areas (allows newline, carriage return, tab)
  and a larger `max_len` for long bodies (e.g. LONG_FIELD_MAX).

* `BaseForm` — a FlaskForm (so CSRF-protected) that applies the same check to
  every text field that does not already carry a `safe_text` validator:
  StringField/PasswordField/SearchField etc. get the short-field rule
  (10 KB, single line), TextAreaField gets the multiline rule with
  LONG_FIELD_MAX. Subclass it instead of FlaskForm and the defaults hold.

Empty input is the job of DataRequired / InputRequired as usual; `safe_text`
also strips nothing, so "required" still sees what the user sent.
"""
from flask_wtf import FlaskForm
from wtforms import TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.fields.core import Field
from wtforms.validators import ValidationError

from portal.core.text import (  # noqa: F401 (the form rules' API, re-exported)
    CONTROL_MESSAGE, ENCODING_MESSAGE, LONG_FIELD_MAX, MULTILINE_ALLOWED, SHORT_FIELD_MAX,
    find_text_problem)


class SafeText:
    """WTForms validator; see the module docstring."""

    field_flags = {}

    def __init__(self, max_len=SHORT_FIELD_MAX, multiline=False):
        self.max_len = max_len
        self.multiline = multiline
        # Lets browsers stop typing at the limit too (harmless if ignored).
        self.field_flags = {"maxlength": max_len}

    def __call__(self, form, field):
        data = field.data
        if isinstance(data, (list, tuple)):
            values = data
        else:
            values = [data]
        for value in values:
            if value is None or not isinstance(value, str):
                continue
            problem = find_text_problem(value, self.max_len, self.multiline)
            if problem:
                raise ValidationError(problem)


def safe_text(max_len=SHORT_FIELD_MAX, multiline=False):
    """A validator refusing control characters, bad UTF-8 and oversize text."""
    return SafeText(max_len=max_len, multiline=multiline)


def select_choices(pairs):
    """(value, label) pairs as WTForms SelectChoice objects.

    WTForms 3.3 deprecates tuples as SelectField choices (removed in 3.4);
    every select field of the product builds its choices through this.
    """
    return [SelectChoice(value=value, label=label) for value, label in pairs]


def _is_text_field(field):
    # StringField and its subclasses (TextAreaField, PasswordField, SearchField,
    # EmailField...) keep their data as str; choices/numbers/dates are parsed.
    from wtforms import StringField
    return isinstance(field, StringField)


class BaseForm(FlaskForm):
    """FlaskForm that applies the shared text rules to every text field."""

    def validate(self, extra_validators=None):
        extra = dict(extra_validators or {})
        for name, field in self._fields.items():
            if not isinstance(field, Field) or not _is_text_field(field):
                continue
            if any(isinstance(v, SafeText) for v in field.validators):
                continue
            if isinstance(field, TextAreaField):
                rule = SafeText(LONG_FIELD_MAX, multiline=True)
            else:
                rule = SafeText(SHORT_FIELD_MAX)
            extra[name] = list(extra.get(name, [])) + [rule]
        return super().validate(extra_validators=extra)
