"""Routes: the unsubscribe link (issue 5)."""
from . import bp  # noqa: F401
