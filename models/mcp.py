"""What the MCP server shares across its processes about Exact's per-division limits."""
from peewee import BigIntegerField, DateTimeField, IntegerField

from .db import BaseModel


class ExactRateLimit(BaseModel):
    """Exact's last reported X-RateLimit-* figures for one division, plus REST errors this hour.

    Every MCP server process reads this before calling Exact, so the minutely
    (60) and daily (5,000) limits and the 10-errors-an-hour block are respected
    across processes, not per process.
    """
    division = BigIntegerField(primary_key=True)
    minutely_remaining = IntegerField(null=True)
    minutely_reset_at = DateTimeField(null=True)
    daily_remaining = IntegerField(null=True)
    daily_reset_at = DateTimeField(null=True)
    error_hour = DateTimeField(null=True)  # start of the hour error_count is for
    error_count = IntegerField(default=0)
    updated_at = DateTimeField(null=True)

    class Meta:
        table_name = "exact_rate_limits"
