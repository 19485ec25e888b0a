"""Forms of the customer pages (all CSRF-protected via BaseForm)."""
from wtforms import BooleanField, HiddenField, IntegerField, SelectField, StringField
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from models import PlanType

from portal.customers.service import MAX_DIVISIONS_OVERRIDE
from portal.core.forms import BaseForm, select_choices


class PlanForm(BaseForm):
    # Built from PlanType so no plan (starter!) can be left out of the list.
    plan = SelectField("Plan", choices=select_choices(PlanType.choices()), validators=[DataRequired()])
    confirm = HiddenField(default="")


class DivisionLimitForm(BaseForm):
    max_divisions = IntegerField("Maximum divisions", validators=[
        Optional(), NumberRange(min=0, max=MAX_DIVISIONS_OVERRIDE)])
    unlimited = BooleanField("Unlimited")
    reason = StringField("Reason", validators=[Length(max=500)])

    def validate(self, extra_validators=None):
        if not super().validate(extra_validators):
            return False
        if not self.unlimited.data and self.max_divisions.data is None:
            self.max_divisions.errors.append("Enter a number, or tick Unlimited.")
            return False
        return True


class ApiKeyForm(BaseForm):
    name = StringField("Key name", validators=[Length(max=100)])


class ActionForm(BaseForm):
    """No fields: the CSRF token of an action button."""
