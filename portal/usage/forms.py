"""The request log's filter form (GET, so no CSRF token: it changes nothing)."""
from wtforms import DateField, SelectField, StringField
from wtforms.validators import Length, Optional, ValidationError

from portal.core.forms import BaseForm, safe_text, select_choices
from portal.usage.request_log import STATUS_CLASSES


class RequestLogFilterForm(BaseForm):
    class Meta:
        csrf = False

    customer = StringField("Customer email", validators=[Optional(), Length(max=254),
                                                         safe_text(254)])
    endpoint = StringField("Endpoint", validators=[Optional(), Length(max=255), safe_text(255)])
    status = SelectField("Status", choices=select_choices([("", "Any")] + [(k, k) for k in STATUS_CLASSES]),
                         default="", validate_choice=True)
    date_from = DateField("From", validators=[Optional()])
    date_to = DateField("To", validators=[Optional()])

    def validate_date_to(self, field):
        if field.data and self.date_from.data and field.data < self.date_from.data:
            raise ValidationError("'To' must not be before 'From'.")
