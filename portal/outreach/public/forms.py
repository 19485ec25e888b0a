from portal.core.forms import BaseForm


class UnsubscribeForm(BaseForm):
    """Confirm button; the CSRF token is the point."""
