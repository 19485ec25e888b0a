"""Forms of the outreach pages (CSRF through BaseForm; the log filter is a GET form)."""
from wtforms import (DateField, IntegerField, SelectField, SelectMultipleField, StringField,
                     SubmitField)
from wtforms.validators import (DataRequired, InputRequired, Length, NumberRange, Optional,
                                ValidationError)
from wtforms.widgets import CheckboxInput, ListWidget

from models import PlanType

from portal.core.forms import BaseForm, safe_text, select_choices
from portal.outreach.reports import STATUSES
from portal.outreach.params import PARAM_SPECS

PARAM_PREFIX = "param_"
MAX_COOLDOWN_DAYS = 365


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class CampaignForm(BaseForm):
    name = StringField("Name", validators=[DataRequired(message="A name is required."),
                                           Length(max=200)])
    template = SelectField("Email template", coerce=int,
                           validators=[InputRequired(message="Choose a template.")])
    cooldown_days = IntegerField(
        "Cooldown (days)", validators=[InputRequired(message="A cooldown is required."),
                                       NumberRange(0, MAX_COOLDOWN_DAYS)],
        description="The campaign goes to the same customer at most once in this many days.")
    plans = MultiCheckboxField("Plans", choices=select_choices(PlanType.choices()), validate_choice=True,
                               description="None ticked = every plan.")
    preview = SubmitField("Preview changes")
    save = SubmitField("Save")

    def param_fields(self):
        return [f for name, f in self._fields.items() if name.startswith(PARAM_PREFIX)]

    def params(self):
        return {f.name[len(PARAM_PREFIX):]: f.data for f in self.param_fields()}


def campaign_form_class(trigger):
    """CampaignForm plus one whole-number field per parameter of the trigger."""
    attrs = {}
    for name, spec in PARAM_SPECS[trigger].items():
        attrs[PARAM_PREFIX + name] = IntegerField(
            spec.label, description=spec.hint,
            validators=[InputRequired(message="%s is required." % spec.label),
                        NumberRange(spec.minimum, spec.maximum)])
    return type("CampaignForm_" + trigger, (CampaignForm,), attrs)


class LogFilterForm(BaseForm):
    class Meta:
        csrf = False  # GET: changes nothing

    campaign = SelectField("Campaign", coerce=str, default="", validate_choice=True)
    status = SelectField("Status", choices=select_choices([("", "Any")] + [(s, s) for s in STATUSES]),
                         default="", validate_choice=True)
    customer = StringField("Customer email", validators=[Optional(), Length(max=254),
                                                         safe_text(254)])
    date_from = DateField("From", validators=[Optional()])
    date_to = DateField("To", validators=[Optional()])

    def validate_date_to(self, field):
        if field.data and self.date_from.data and field.data < self.date_from.data:
            raise ValidationError("'To' must not be before 'From'.")
