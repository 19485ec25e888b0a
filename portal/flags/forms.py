"""Forms of the feature-flag page (CSRF-protected via BaseForm)."""
from wtforms import BooleanField, HiddenField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Regexp

from models import PlanType

from portal.flags.service import FLAG_KEY_PATTERN, FLAG_KEY_RULE
from portal.core.forms import BaseForm

OVERRIDE_CHOICES = {"": "inherit global", "on": "on", "off": "off"}


class FlagForm(BaseForm):
    key = StringField("Key", validators=[DataRequired(), Length(max=64),
                                         Regexp(FLAG_KEY_PATTERN, message="Use " + FLAG_KEY_RULE)])
    description = TextAreaField("Description", validators=[Length(max=2000)])
    enabled = BooleanField("On globally")


class FlagEditForm(BaseForm):
    description = TextAreaField("Description", validators=[Length(max=2000)])
    enabled = BooleanField("On globally")
    # Two steps: the first POST shows the preview, the one with confirm=yes saves.
    confirm = HiddenField(default="")


class PlanOverridesForm(BaseForm):
    """One select per plan, built from PlanType (no plan can be forgotten)."""
    confirm = HiddenField(default="")


class ToggleForm(BaseForm):
    """The toggle button sends no state (preview of switching over); the confirm
    step names the state it saves, so a repeated confirm cannot flip it back."""
    state = SelectField("State", choices={"": "switch over", "on": "on", "off": "off"},
                        default="")
    confirm = HiddenField(default="")


for _plan in PlanType:
    setattr(PlanOverridesForm, "plan_" + _plan.value,
            SelectField(_plan.value.capitalize(), choices=OVERRIDE_CHOICES, default=""))


class CustomerOverrideForm(BaseForm):
    email = StringField("Customer email", validators=[DataRequired(), Length(max=254)])
    state = SelectField("State", choices={"on": "on", "off": "off",
                                          "clear": "remove override"})


class ActionForm(BaseForm):
    """No fields: the CSRF token of an action button."""
