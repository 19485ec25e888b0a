"""Routes: to be built (issue 7)."""
from . import bp  # noqa: F401
