"""Prometheus figures for /metrics, without Flask.

Two sources, so the answer is right however many gunicorn workers serve it:

* Request figures (portal latency by blueprint, API latency by endpoint,
  API status counts, rejected keys, MCP tool calls) are counted in the process
  that served the request. With PROMETHEUS_MULTIPROC_DIR set (deploy/gunicorn.conf.py
  sets it) prometheus_client's multiprocess mode writes them to files in that
  folder and every worker's /metrics sums all processes' files, the MCP server's
  included when it shares the folder. Without it (a single process: tests,
  `flask run`) the default in-process registry is used.
* Everything the sidecar and outreach do is read from the database at scrape
  time (DatabaseCollector): backlog, leases, the last cycle, refresh outcomes,
  outreach sends. Those figures are the same whichever worker answers, and the
  sidecar process needs no listener of its own.

Label values are bounded: the API is labelled by URL rule (not by the free-form
`endpoint` field of a usage record), MCP calls by tool name.
"""
import datetime
import os

from prometheus_client import (CollectorRegistry, Counter, Histogram, generate_latest,
                               CONTENT_TYPE_LATEST, REGISTRY)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

CONTENT_TYPE = CONTENT_TYPE_LATEST
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
REFRESH_OUTCOME_WINDOW = datetime.timedelta(hours=24)

REQUEST_LATENCY = Histogram(
    "portal_request_duration_seconds", "Portal request latency by blueprint.",
    ["blueprint", "method"], buckets=LATENCY_BUCKETS)
API_LATENCY = Histogram(
    "portal_api_request_duration_seconds", "JSON API latency by endpoint (URL rule).",
    ["endpoint"], buckets=LATENCY_BUCKETS)
API_RESPONSES = Counter(
    "portal_api_responses_total", "JSON API answers by endpoint and status.",
    ["endpoint", "status"])
API_KEYS_REJECTED = Counter(
    "portal_api_keys_rejected_total", "API requests refused for a missing, unknown or "
    "revoked key (HTTP 401).", ["surface"])
MCP_LATENCY = Histogram(
    "portal_mcp_tool_call_duration_seconds", "MCP tool call latency by tool.",
    ["tool"], buckets=LATENCY_BUCKETS)
MCP_CALLS = Counter(
    "portal_mcp_tool_calls_total", "MCP tool calls by tool and recorded status.",
    ["tool", "status"])


def observe_request(blueprint, method, seconds, api_endpoint=None, status=None):
    """Count one portal request (called by the Flask hook in portal.metrics)."""
    REQUEST_LATENCY.labels(blueprint or "none", method).observe(seconds)
    if api_endpoint is not None:
        API_LATENCY.labels(api_endpoint).observe(seconds)
        API_RESPONSES.labels(api_endpoint, str(status)).inc()
        if status == 401:
            API_KEYS_REJECTED.labels("api").inc()


def observe_mcp_call(tool, status, seconds):
    """For the MCP server: one tools/call, its recorded status and its duration."""
    MCP_LATENCY.labels(tool).observe(seconds)
    MCP_CALLS.labels(tool, str(status)).inc()


def observe_mcp_rejected_key():
    API_KEYS_REJECTED.labels("mcp").inc()


class DatabaseCollector:
    """Sidecar and outreach figures read from the database at scrape time."""

    def __init__(self, now=None, config=None):
        self._now = now  # a callable (tests pin the clock)
        self.config = config or {}

    def collect(self):
        from models import database
        now = self._now() if self._now else _utcnow()
        up = GaugeMetricFamily("portal_database_up", "1 when the database answered the scrape.")
        try:
            database.connect(reuse_if_open=True)
            families = list(self._families(now))
        except Exception:
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from families

    def _families(self, now):
        from peewee import fn

        from models import Connection, JobRun, OutreachCampaign, OutreachLog, RefreshAttempt, \
            SidecarHeartbeat
        from portal.exact.tokens import active_due_cutoff

        renew = int(self.config.get("REFRESH_RENEW_WITHIN_DAYS", 29))
        cutoff = active_due_cutoff(now, renew)

        statuses = GaugeMetricFamily("portal_connections", "Exact connections by status.",
                                     labels=["status"])
        counts = dict(Connection.select(Connection.status, fn.COUNT(Connection.id))
                      .group_by(Connection.status).tuples())
        for status in ("active", "retry_pending", "refresh_failed"):
            statuses.add_metric([status], counts.get(status, 0))
        yield statuses

        unleased = Connection.lease_owner.is_null() | (Connection.lease_expires_at < now)
        retry_due = ((Connection.status == "retry_pending")
                     & (Connection.next_retry_at.is_null() | (Connection.next_retry_at <= now)))
        active_due = ((Connection.status == "active")
                      & (Connection.next_retry_at.is_null() | (Connection.next_retry_at <= now))
                      & (Connection.token_expires_at.is_null()
                         | (Connection.token_expires_at <= cutoff)))
        backlog = GaugeMetricFamily("portal_sidecar_due_backlog",
                                    "Connections due for a refresh and not leased.",
                                    labels=["status"])
        backlog.add_metric(["retry_pending"],
                           Connection.select().where(retry_due & unleased).count())
        backlog.add_metric(["active"], Connection.select().where(active_due & unleased).count())
        yield backlog

        # How long the most overdue connection has waited past the moment it became due.
        oldest_retry = (Connection.select(fn.MIN(Connection.next_retry_at))
                        .where(retry_due).scalar())
        oldest_active = (Connection.select(fn.MIN(Connection.token_expires_at))
                         .where(active_due).scalar())
        overdue = 0.0
        if oldest_retry is not None:
            overdue = max(overdue, (now - _dt(oldest_retry)).total_seconds())
        if oldest_active is not None:
            overdue = max(overdue, (cutoff - _dt(oldest_active)).total_seconds())
        g = GaugeMetricFamily("portal_sidecar_oldest_overdue_seconds",
                              "Seconds the most overdue connection has been due (0: none).")
        g.add_metric([], max(overdue, 0.0))
        yield g

        leases = GaugeMetricFamily("portal_sidecar_leases_held",
                                   "Connections currently leased by a sidecar.")
        leases.add_metric([], Connection.select().where(
            Connection.lease_owner.is_null(False) & (Connection.lease_expires_at >= now)).count())
        yield leases

        outcomes = GaugeMetricFamily(
            "portal_sidecar_refresh_outcomes_24h",
            "Calls to Exact's token endpoint in the last 24 hours by outcome.",
            labels=["outcome"])
        rows = dict(RefreshAttempt.select(RefreshAttempt.outcome, fn.COUNT(RefreshAttempt.id))
                    .where(RefreshAttempt.attempted_at >= now - REFRESH_OUTCOME_WINDOW)
                    .group_by(RefreshAttempt.outcome).tuples())
        for outcome in sorted(set(rows) | {"success", "transient", "permanent", "too_early"}):
            outcomes.add_metric([outcome], rows.get(outcome, 0))
        yield outcomes

        last = (JobRun.select().where(JobRun.job == "token_refresh")
                .order_by(JobRun.started_at.desc(), JobRun.id.desc()).first())
        duration = GaugeMetricFamily("portal_sidecar_last_cycle_seconds",
                                     "Duration of the last finished token-refresh cycle.")
        circuit = GaugeMetricFamily("portal_sidecar_circuit_open",
                                    "1 when the last token-refresh cycle opened the circuit "
                                    "breaker (Exact looked down).")
        finished = GaugeMetricFamily("portal_sidecar_last_cycle_timestamp_seconds",
                                     "When the last token-refresh cycle finished (epoch).")
        if last is not None and last.finished_at is not None:
            duration.add_metric([], (_dt(last.finished_at) - _dt(last.started_at))
                                .total_seconds())
            finished.add_metric([], _epoch(last.finished_at))
        circuit.add_metric([], 1 if (last is not None and last.circuit_open) else 0)
        yield duration
        yield finished
        yield circuit

        beat = SidecarHeartbeat.select(fn.MAX(SidecarHeartbeat.last_seen_at)).scalar()
        hb = GaugeMetricFamily("portal_sidecar_heartbeat_timestamp_seconds",
                               "Last heartbeat of any sidecar (epoch).")
        if beat is not None:
            hb.add_metric([], _epoch(beat))
        yield hb

        sends = CounterMetricFamily("portal_outreach_messages",
                                    "Outreach decisions by campaign and status.",
                                    labels=["campaign", "status"])
        query = (OutreachLog.select(OutreachCampaign.name, OutreachLog.status,
                                    fn.COUNT(OutreachLog.id))
                 .join(OutreachCampaign)
                 .group_by(OutreachCampaign.id, OutreachCampaign.name, OutreachLog.status)
                 .tuples())
        for name, status, count in query:
            sends.add_metric([name, status], count)
        yield sends


def _utcnow():
    from models import utcnow
    return utcnow()


def _dt(value):
    if isinstance(value, str):
        return datetime.datetime.fromisoformat(value)
    return value


def _epoch(naive_utc):
    return _dt(naive_utc).replace(tzinfo=datetime.timezone.utc).timestamp()


def multiprocess_dir():
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def render(now=None, config=None):
    """The /metrics body (bytes): request figures of every process + database figures."""
    if multiprocess_dir():
        from prometheus_client import multiprocess
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        process_part = generate_latest(registry)
    else:
        process_part = generate_latest(REGISTRY)
    database_registry = CollectorRegistry()
    database_registry.register(DatabaseCollector(now=now, config=config))
    return process_part + generate_latest(database_registry)
