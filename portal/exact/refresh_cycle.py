"""One token-refresh cycle: stream the due connections, refresh them in a
bounded worker pool, stop early when Exact itself looks down.

Due rows are read in keyset batches of ids (never the whole table), along
the three indexes: idx_connections_retry_due (status, next_retry_at) for
retry_pending, idx_connections_expiring (status, token_expires_at) for the
keep-alive of active connections, and idx_connections_refresh_expiring
(status, refresh_expires_at) for a stored refresh expiry that is earlier than
the inferred one (imported rows). Every row is claimed by the worker that
refreshes it (portal.exact.tokens), so several sidecars can walk the same list.
"""
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from peewee import Tuple

from models import Connection, database, utcnow

from portal.exact.client import PERMANENT, SUCCESS, TOO_EARLY, TRANSIENT
from portal.exact.tokens import (
    FAILED,
    NOT_CHARGED,
    REFRESHED,
    SKIPPED,
    TokenService,
    active_due_cutoff,
    earliest_allowed_expiry,
    refresh_expiry_cutoff,
)

log = logging.getLogger("portal.exact.refresh_cycle")

CIRCUIT_THRESHOLD = 10  # transient failures in a row, on different connections
BATCH_SIZE = 500


class CircuitBreaker:
    """Opens after `threshold` transient failures in a row on different connections."""

    def __init__(self, threshold=CIRCUIT_THRESHOLD):
        self.threshold = threshold
        self._streak = set()
        self._lock = threading.Lock()
        self.is_open = False

    def record(self, connection_id, outcome):
        """Count one answer; True when the failure should be charged to the connection.

        The answers that open the circuit are charged; transient answers that
        arrive after it opened (Exact is down, not this connection) are not.
        """
        with self._lock:
            if self.is_open:
                return outcome != TRANSIENT
            if outcome == TRANSIENT:
                self._streak.add(connection_id)
                if len(self._streak) >= self.threshold:
                    self.is_open = True
                    log.error("circuit open: %d transient failures in a row; "
                              "stopping this cycle", len(self._streak))
            elif outcome in (SUCCESS, TOO_EARLY, PERMANENT):
                self._streak.clear()
            return True


@dataclass
class CycleReport:
    refreshed: int = 0
    failed: int = 0
    skipped: int = 0
    too_early: int = 0
    not_charged: int = 0
    errors: int = 0
    circuit_open: bool = False
    stopped: bool = False
    seen: int = 0
    http_ms: int = 0
    db_ms: float = 0.0
    calls: int = 0

    def as_details(self):
        return {"seen": self.seen, "not_charged": self.not_charged, "errors": self.errors,
                "stopped_by_signal": self.stopped, "exact_calls": self.calls,
                "exact_ms_total": self.http_ms, "db_ms_total": round(self.db_ms, 1)}


def _keyset(base, column, batch_size):
    """Yield ids of `base` ordered by (column, id), one batch query at a time."""
    last = None
    while True:
        query = base.select(Connection.id, column).order_by(column, Connection.id)
        if last is not None:
            query = query.where(Tuple(column, Connection.id) > Tuple(*last))
        rows = list(query.limit(batch_size).tuples())
        if not rows:
            return
        for conn_id, _ in rows:
            yield conn_id
        last = (rows[-1][1], rows[-1][0])
        if len(rows) < batch_size:
            return


def _null_batches(base, batch_size):
    last_id = 0
    while True:
        rows = [r for (r,) in base.select(Connection.id).where(Connection.id > last_id)
                .order_by(Connection.id).limit(batch_size).tuples()]
        if not rows:
            return
        yield from rows
        last_id = rows[-1]
        if len(rows) < batch_size:
            return


def due_connection_ids(now, renew_within_days, batch_size=BATCH_SIZE):
    """Ids of due connections, streamed: retry_pending first, then the keep-alive."""
    def unleased(q):
        return q.where(Connection.lease_owner.is_null() | (Connection.lease_expires_at < now))

    retry = Connection.select().where(Connection.status == "retry_pending")
    yield from _null_batches(unleased(retry.where(Connection.next_retry_at.is_null())),
                             batch_size)
    yield from _keyset(unleased(retry.where(Connection.next_retry_at <= now)),
                       Connection.next_retry_at, batch_size)
    active = Connection.select().where(
        (Connection.status == "active")
        & (Connection.next_retry_at.is_null() | (Connection.next_retry_at <= now)))
    yield from _null_batches(unleased(active.where(Connection.token_expires_at.is_null())),
                             batch_size)
    cutoff = active_due_cutoff(now, renew_within_days)
    yield from _keyset(unleased(active.where(Connection.token_expires_at <= cutoff)),
                       Connection.token_expires_at, batch_size)
    # The stored refresh expiry, when it is earlier than the inferred one
    # (imported rows): rows the keep-alive range above already listed are
    # left out, and the 570 s rule still holds through token_expires_at.
    stored = active.where(
        (Connection.refresh_expires_at <= refresh_expiry_cutoff(now, renew_within_days))
        & (Connection.token_expires_at > cutoff)
        & (Connection.token_expires_at <= earliest_allowed_expiry(now)))
    yield from _keyset(unleased(stored), Connection.refresh_expires_at, batch_size)


def run_refresh_cycle(config, now=None, stop_event=None, owner=None, client=None,
                      batch_size=BATCH_SIZE, breaker=None):
    """Refresh every due connection once; returns a CycleReport.

    `now` (tests) pins the clock for the whole cycle. `stop_event` (SIGTERM)
    stops handing out new work; refreshes in flight finish and are stored.
    """
    service = TokenService(config, client=client, owner=owner)
    breaker = breaker or CircuitBreaker()
    workers = max(1, int(config.get("SIDECAR_WORKERS", 8)))
    report = CycleReport()
    lock = threading.Lock()
    slots = threading.BoundedSemaphore(workers * 2)  # bounded queue: rows stay streamed

    def refresh_one(row):
        # Take a pooled connection for this refresh and hand it back afterwards:
        # closing the raw connection instead (as before) left the pool counting
        # it as in use, and after 32 / SIDECAR_WORKERS cycles every refresh
        # failed with MaxConnectionsExceeded (found by bench/soak.py).
        try:
            database.connect(reuse_if_open=True)
            outcome = service.refresh_claimed(row, now=now, breaker=breaker)
            with lock:
                setattr(report, outcome.counted, getattr(report, outcome.counted) + 1)
                if outcome.result is not None:
                    report.http_ms += outcome.result.duration_ms
                    report.db_ms += outcome.db_seconds * 1000
                    report.calls += 1
        except Exception:
            log.exception("refresh connection=%s outcome=error", row.id)
            with lock:
                report.errors += 1
        finally:
            try:
                if not database.is_closed():
                    database.close()
            except Exception:
                log.exception("could not hand a database connection back to the pool")
            slots.release()

    def hand_out(chunk):
        """Claim a chunk (one UPDATE + one SELECT) and give the due rows to workers."""
        claim_started = time.monotonic()
        rows = service.claim_due(chunk, now or utcnow())
        with lock:
            report.db_ms += (time.monotonic() - claim_started) * 1000
            report.skipped += len(chunk) - len(rows)
        for row in rows:
            slots.acquire()
            if stop_event is not None and stop_event.is_set():
                slots.release()
                service.release(row.id)  # claimed but not started: leave it for later
                report.stopped = True
                continue
            report.seen += 1
            pool.submit(refresh_one, row)

    started = time.monotonic()
    cycle_now = now or utcnow()
    # Chunks of `workers` ids: few round trips, and a claimed row never waits
    # long in the queue, far inside its lease.
    chunk = []
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="refresh") as pool:
        for conn_id in due_connection_ids(cycle_now, service.renew_within_days, batch_size):
            if stop_event is not None and stop_event.is_set():
                report.stopped = True
                break
            if breaker.is_open:
                break
            chunk.append(conn_id)
            if len(chunk) >= workers:
                hand_out(chunk)
                chunk = []
        else:
            if chunk and not breaker.is_open:
                hand_out(chunk)
    report.circuit_open = breaker.is_open
    log.info("refresh cycle done: refreshed=%d failed=%d too_early=%d skipped=%d "
             "not_charged=%d errors=%d circuit_open=%s stopped=%s seconds=%.2f",
             report.refreshed, report.failed, report.too_early, report.skipped,
             report.not_charged, report.errors, report.circuit_open, report.stopped,
             time.monotonic() - started)
    return report


__all__ = ["CircuitBreaker", "CycleReport", "due_connection_ids", "run_refresh_cycle",
           "REFRESHED", "FAILED", "SKIPPED", "NOT_CHARGED"]
