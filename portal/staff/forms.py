from wtforms import DateField, SearchField, StringField
from wtforms.validators import Optional, ValidationError

from portal.core.forms import BaseForm, safe_text


class StaffSearchForm(BaseForm):
    """GET filter form: no CSRF token needed (it changes nothing)."""

    class Meta:
        csrf = False

    q = SearchField("Search", validators=[Optional(), safe_text(254)])


class AuditFilterForm(BaseForm):
    class Meta:
        csrf = False

    person = StringField("Person (email)", validators=[Optional(), safe_text(254)])
    action = StringField("Action", validators=[Optional(), safe_text(100)])
    date_from = DateField("From (UTC)", validators=[Optional()])
    date_to = DateField("To (UTC)", validators=[Optional()])

    def validate_date_to(self, field):
        if field.data and self.date_from.data and field.data < self.date_from.data:
            raise ValidationError("The end date is before the start date.")


class ActionForm(BaseForm):
    """An empty form: only the CSRF token, for POST action buttons."""
