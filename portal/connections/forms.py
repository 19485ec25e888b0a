"""Forms of the connection pages."""
from wtforms import IntegerField, SelectField, StringField
from wtforms.validators import Length, NumberRange, Optional

from models import CONNECTION_STATUSES

from portal.connections.service import SORTS
from portal.core.forms import BaseForm, safe_text, select_choices


class ConnectionFilterForm(BaseForm):
    """The list's GET filters (no CSRF: reading changes nothing)."""

    class Meta:
        csrf = False

    status = SelectField("Status", choices=select_choices([("", "Any status")] + [
        (s, s.replace("_", " ")) for s in CONNECTION_STATUSES]), default="")
    q = StringField("Customer email contains", validators=[Optional(), Length(max=254),
                                                           safe_text(254)])
    sort = SelectField("Sort by", choices=select_choices((k, v[0]) for k, v in SORTS.items()),
                       default="next_retry_at")
    page = IntegerField("Page", validators=[Optional(), NumberRange(min=1, max=1_000_000)],
                        default=1)


class ActionForm(BaseForm):
    """No fields: the CSRF token of an action button."""
