"""Routes: to be built (see the issue that owns this blueprint)."""
from . import bp  # noqa: F401
