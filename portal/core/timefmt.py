"""Times shown relative and absolute: "in 14 min, 10:32 UTC"."""

from models import utcnow


def _span(seconds):
    seconds = int(abs(seconds))
    if seconds < 60:
        return "%d s" % seconds
    if seconds < 3600:
        return "%d min" % (seconds // 60)
    if seconds < 86400:
        hours, rest = divmod(seconds, 3600)
        return "%d h %d min" % (hours, rest // 60) if rest >= 60 and hours < 10 else \
            "%d h" % hours
    return "%d d" % (seconds // 86400)


def relative_time(value, now=None):
    """'in 14 min, 10:32 UTC', '3 h ago, 07:10 UTC', '—' for None (naive UTC in)."""
    if value is None:
        return "—"
    now = now or utcnow()
    delta = (value - now).total_seconds()
    if abs(delta) < 1:
        rel = "now"
    elif delta > 0:
        rel = "in " + _span(delta)
    else:
        rel = _span(delta) + " ago"
    if value.date() == now.date():
        absolute = value.strftime("%H:%M UTC")
    elif value.year == now.year:
        absolute = value.strftime("%d %b %H:%M UTC").lstrip("0")
    else:
        absolute = value.strftime("%d %b %Y %H:%M UTC").lstrip("0")
    return "%s, %s" % (rel, absolute)


def iso_utc(value):
    """Naive UTC datetime -> '2026-02-01T10:00:00Z' (None stays None): pages and JSON alike."""
    if value is None:
        return None
    return value.isoformat() + "Z"
