"""Outreach trigger engine (issue 6 builds it; the sidecar calls run_outreach_cycle)."""


def run_outreach_cycle(config, now=None):
    """Evaluate every enabled campaign once; returns counts by status."""
    return {"sent": 0, "failed": 0, "skipped": 0}
