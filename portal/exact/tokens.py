"""The refresh state machine for one Exact connection, and its lease.

A refresh of one connection goes: claim the lease (one atomic conditional
UPDATE) → re-read the row and check it is still due → call Exact → store the
outcome and release the lease in one transaction, right after the answer.

Outcomes (see ../shared/DESIGN.md, "Exact Online facts"):
* success   → active, retry_count 0, both new tokens, expiries, lease released;
* transient → retry ladder 5 min, 15 min, 1 h, 6 h, 24 h, then refresh_failed;
              a 429 waits for the later of the ladder and Exact's reset time;
* too_early → not a failure: same status and retry_count, next attempt when
              Exact allows it;
* permanent → re-read: if the token was rotated meanwhile nothing is wrong;
              else one confirmation retry after 5 min, then refresh_failed.
Every attempt is logged in refresh_attempts and as one structured log line,
with the connection id and the outcome, never a token.
"""
import datetime
import hmac
import logging
import os
import socket
import time
import uuid

from models import Connection, RefreshAttempt, database, utcnow
from models.db import is_sqlite

from portal.exact.crypto import InvalidToken, decrypt_token, encrypt_token
from portal.exact.client import (
    ACCESS_TOKEN_SECONDS,
    MIN_SECONDS_BETWEEN_REFRESHES,
    PERMANENT,
    SUCCESS,
    TOO_EARLY,
    TRANSIENT,
    ExactClient,
)

log = logging.getLogger("portal.exact.tokens")

RETRY_LADDER = (datetime.timedelta(minutes=5), datetime.timedelta(minutes=15),
                datetime.timedelta(hours=1), datetime.timedelta(hours=6),
                datetime.timedelta(hours=24))
CONFIRMATION_DELAY = datetime.timedelta(minutes=5)
REFRESH_TOKEN_LIFETIME = datetime.timedelta(days=30)
MIN_INTERVAL = datetime.timedelta(seconds=MIN_SECONDS_BETWEEN_REFRESHES)
ACCESS_TOKEN_MARGIN = datetime.timedelta(seconds=30)

# What a refresh_connection() call did, as counted in job_runs.
REFRESHED, FAILED, SKIPPED, NOT_CHARGED = "refreshed", "failed", "skipped", "not_charged"
COUNT_FOR = {SUCCESS: REFRESHED, TRANSIENT: FAILED, PERMANENT: FAILED, TOO_EARLY: TOO_EARLY}


def default_owner():
    return "%s:%d:%s" % (socket.gethostname(), os.getpid(), uuid.uuid4().hex[:6])


def write_transaction():
    """A transaction that takes SQLite's write lock up front.

    A deferred SQLite transaction that reads and then writes can fail with
    SQLITE_BUSY (no waiting) when another process wrote in between; BEGIN
    IMMEDIATE waits on busy_timeout instead. PostgreSQL needs nothing special.
    """
    return database.atomic("IMMEDIATE") if is_sqlite() else database.atomic()


def active_due_cutoff(now, renew_within_days):
    """Active connections whose access token expires at or before this are due.

    A refresh sets token_expires_at = t + expires_in (600 s) and
    refresh_expires_at = t + 30 days, so "the refresh token expires within
    REFRESH_RENEW_WITHIN_DAYS" is "token_expires_at <= now - (30 - days) +
    600 s": a range on idx_connections_expiring (status, token_expires_at).
    Never later than now + 30 s, which is Exact's 570 s minimum interval.
    """
    keep_alive = (now - REFRESH_TOKEN_LIFETIME + datetime.timedelta(days=renew_within_days)
                  + datetime.timedelta(seconds=ACCESS_TOKEN_SECONDS))
    earliest_allowed = now + datetime.timedelta(
        seconds=ACCESS_TOKEN_SECONDS - MIN_SECONDS_BETWEEN_REFRESHES)
    return min(keep_alive, earliest_allowed)


def refresh_expiry_cutoff(now, renew_within_days):
    """Active connections whose *stored* refresh_expires_at is at or before this are due.

    The inferred expiry (active_due_cutoff) holds only for rows this product
    refreshed itself; an imported row, or one the previous system wrote once
    at connect time, may carry an earlier refresh_expires_at. The earlier of
    the two decides: this is the stored half, a range on
    idx_connections_refresh_expiring (status, refresh_expires_at). Never
    later than 30 days - 570 s from now: a refresh that set it more recently
    than Exact's minimum interval is not due again.
    """
    return min(now + datetime.timedelta(days=renew_within_days),
               now + REFRESH_TOKEN_LIFETIME - MIN_INTERVAL)


def earliest_allowed_expiry(now):
    """An access token expiring after this was issued less than 570 s ago."""
    return now + datetime.timedelta(seconds=ACCESS_TOKEN_SECONDS - MIN_SECONDS_BETWEEN_REFRESHES)


def is_due(row, now, renew_within_days):
    """The due rules, checked again on the row after claiming its lease."""
    if row.status == "retry_pending":
        return row.next_retry_at is None or row.next_retry_at <= now
    if row.status != "active":
        return False
    if row.next_retry_at is not None and row.next_retry_at > now:
        return False  # Exact said "too early": wait until it allows us
    if row.last_refreshed_at is not None and row.last_refreshed_at > now - MIN_INTERVAL:
        return False
    if (row.token_expires_at is None
            or row.token_expires_at <= active_due_cutoff(now, renew_within_days)):
        return True
    return (row.refresh_expires_at is not None
            and row.refresh_expires_at <= refresh_expiry_cutoff(now, renew_within_days)
            and row.token_expires_at <= earliest_allowed_expiry(now))


class RefreshOutcome:
    """What happened to one connection (for counts, the circuit breaker and tests)."""

    def __init__(self, counted, exact_outcome=None, result=None):
        self.counted = counted  # refreshed / failed / too_early / skipped / not_charged
        self.exact_outcome = exact_outcome  # success / transient / ... / None (no call)
        self.result = result
        self.db_seconds = 0.0  # claim + re-read + store (for the benchmark)
        self.already_fresh = False  # another caller stored a usable token meanwhile

    def __repr__(self):
        return "RefreshOutcome(%s, %s)" % (self.counted, self.exact_outcome)


class TokenService:
    """Refreshes connections for one process (one lease owner)."""

    def __init__(self, config, client=None, owner=None):
        self.keys = config["TOKEN_ENCRYPTION_KEYS"]
        self.client = client or ExactClient.from_config(config)
        self.owner = owner or default_owner()
        self.lease = datetime.timedelta(seconds=int(config.get("SIDECAR_LEASE_SECONDS", 120)))
        self.renew_within_days = int(config.get("REFRESH_RENEW_WITHIN_DAYS", 29))

    # --- lease -------------------------------------------------------------
    def _claimable(self, now):
        return (Connection.lease_owner.is_null() | (Connection.lease_expires_at < now)
                | (Connection.lease_owner == self.owner))

    def claim(self, connection_id, now):
        """Take the lease with one atomic conditional UPDATE; True if it is ours now."""
        claimed = (Connection.update(lease_owner=self.owner, lease_expires_at=now + self.lease)
                   .where((Connection.id == connection_id) & self._claimable(now))
                   .execute())
        return claimed == 1

    def claim_due(self, connection_ids, now):
        """Claim a small batch in one conditional UPDATE, re-read it, keep what is still due.

        Returns the claimed rows that are still due; the others are released
        at once. Each row is claimed or not atomically, exactly as with
        `claim`; batching only saves round trips and commits.
        """
        if not connection_ids:
            return []
        wanted = Connection.id.in_(connection_ids) & self._claimable(now)
        if not is_sqlite():
            # Lock the batch in id order and skip rows another sidecar is
            # claiming right now: two overlapping batch UPDATEs could
            # otherwise deadlock on PostgreSQL. (SQLite locks the database.)
            wanted = Connection.id.in_(
                Connection.select(Connection.id).where(wanted).order_by(Connection.id)
                .for_update("FOR UPDATE SKIP LOCKED"))
        (Connection.update(lease_owner=self.owner, lease_expires_at=now + self.lease)
         .where(wanted).execute())
        rows = list(Connection.select().where(Connection.id.in_(connection_ids)
                                              & (Connection.lease_owner == self.owner)))
        due = [r for r in rows if is_due(r, now, self.renew_within_days)]
        not_due = [r.id for r in rows if not is_due(r, now, self.renew_within_days)]
        if not_due:
            (Connection.update(lease_owner=None, lease_expires_at=None)
             .where(Connection.id.in_(not_due) & (Connection.lease_owner == self.owner))
             .execute())
        return due

    def release(self, connection_id):
        (Connection.update(lease_owner=None, lease_expires_at=None)
         .where((Connection.id == connection_id) & (Connection.lease_owner == self.owner))
         .execute())

    # --- one connection ------------------------------------------------------
    def refresh_connection(self, connection_id, now=None, breaker=None, force=False,
                           still_needed=None):
        """Claim, re-check, refresh and store one connection. Returns a RefreshOutcome.

        `force` (get_access_token) skips the keep-alive due rule but still
        respects Exact's minimum interval through the normal answers.
        `still_needed(row)` is asked on the row re-read under the lease: when it
        says no (another caller stored a usable token meanwhile) nothing is
        sent to Exact and the outcome is SKIPPED with `already_fresh` set.
        """
        at = now if now is not None else utcnow()
        if not self.claim(connection_id, at):
            return RefreshOutcome(SKIPPED)
        try:
            row = Connection.get_or_none(Connection.id == connection_id)
            fresh_meanwhile = (row is not None and still_needed is not None
                               and not still_needed(row))
        except Exception:
            self.release(connection_id)
            raise
        if fresh_meanwhile:
            self.release(connection_id)
            outcome = RefreshOutcome(SKIPPED)
            outcome.already_fresh = True
            return outcome
        if row is None or not (force or is_due(row, at, self.renew_within_days)):
            self.release(connection_id)
            return RefreshOutcome(SKIPPED)
        return self.refresh_claimed(row, now=now, breaker=breaker)

    def refresh_claimed(self, row, now=None, breaker=None):
        """Call Exact for a row whose lease we hold, then store the answer."""
        clock = (lambda: now) if now is not None else utcnow
        try:
            if breaker is not None and breaker.is_open:
                self.release(row.id)
                return RefreshOutcome(NOT_CHARGED)
            try:
                sent_token = decrypt_token(self.keys, row.refresh_token)
            except InvalidToken:
                # Our key configuration is wrong, not the customer's connection.
                log.error("refresh connection=%s outcome=skipped reason=undecryptable_token",
                          row.id)
                self.release(row.id)
                return RefreshOutcome(SKIPPED)
            result = self.client.refresh(sent_token, now=clock())
            del sent_token
            charged = True
            if breaker is not None:
                charged = breaker.record(row.id, result.outcome)
            stored_at = time.monotonic()
            outcome = self._store(row, result, clock(), charged)
            outcome.db_seconds = time.monotonic() - stored_at
            return outcome
        except Exception:
            # Leave nothing claimed behind; the lease would expire anyway.
            try:
                self.release(row.id)
            except Exception:
                pass
            raise

    def _store(self, row, result, now, charged):
        if result.outcome == SUCCESS:
            counted = self._store_success(row, result, now)
        elif result.outcome == TRANSIENT and not charged:
            counted = self._store_not_charged(row, result, now)
        elif result.outcome == TRANSIENT:
            counted = self._store_transient(row, result, now)
        elif result.outcome == TOO_EARLY:
            counted = self._store_too_early(row, result, now)
        else:
            counted = self._store_permanent(row, result, now)
        log.info("refresh connection=%s outcome=%s result=%s http_status=%s duration_ms=%s "
                 "owner=%s", row.id, result.outcome, counted, result.http_status,
                 result.duration_ms, self.owner)
        return RefreshOutcome(counted, result.outcome, result)

    def _attempt(self, row, result, now, outcome=None, error=None):
        RefreshAttempt.insert(connection=row.id, user=row.user_id, attempted_at=now,
                              outcome=outcome or result.outcome,
                              http_status=result.http_status,
                              duration_ms=result.duration_ms,
                              error=error if error is not None else result.error,
                              sidecar=self.owner).execute()

    def _store_success(self, row, result, now):
        # Written whatever happened to the lease: we hold the only valid
        # refresh token now (the old one died at Exact when it answered).
        with write_transaction():
            (Connection.update(
                access_token=encrypt_token(self.keys, result.access_token),
                refresh_token=encrypt_token(self.keys, result.refresh_token),
                token_expires_at=now + datetime.timedelta(seconds=result.expires_in),
                refresh_expires_at=now + REFRESH_TOKEN_LIFETIME,
                last_refreshed_at=now, status="active", retry_count=0, next_retry_at=None,
                last_error=None, failure_kind=None, lease_owner=None, lease_expires_at=None,
                updated_at=now)
             .where(Connection.id == row.id).execute())
            self._attempt(row, result, now, error=None)
        result.access_token = result.refresh_token = None
        return REFRESHED

    def _owned_update(self, row, now, **fields):
        fields.update(lease_owner=None, lease_expires_at=None, updated_at=now)
        return (Connection.update(**fields)
                .where((Connection.id == row.id) & (Connection.lease_owner == self.owner))
                .execute())

    def _store_transient(self, row, result, now):
        retries = row.retry_count + 1
        with write_transaction():
            if retries > len(RETRY_LADDER):
                changed = self._owned_update(
                    row, now, status="refresh_failed", retry_count=row.retry_count,
                    next_retry_at=None, failure_kind="transient",
                    last_error="Refreshing failed %d times in a row over more than a day "
                               "(last: %s). The customer must reconnect Exact Online to "
                               "restore access." % (retries, result.error))
            else:
                next_at = now + RETRY_LADDER[retries - 1]
                if result.retry_at is not None and result.retry_at > next_at:
                    next_at = result.retry_at
                changed = self._owned_update(
                    row, now, status="retry_pending", retry_count=retries,
                    next_retry_at=next_at, failure_kind="transient",
                    last_error="Refreshing failed temporarily: %s. Retry %d of %d is "
                               "planned; nothing is needed from the customer yet."
                               % (result.error, retries, len(RETRY_LADDER)))
            self._attempt(row, result, now)
        return FAILED if changed else SKIPPED

    def _store_not_charged(self, row, result, now):
        """Exact looks down (circuit open): log the attempt, leave the row as it was."""
        with write_transaction():
            self._owned_update(row, now)
            self._attempt(row, result, now, error="%s (not charged: Exact looks down)"
                          % result.error)
        return NOT_CHARGED

    def _store_too_early(self, row, result, now):
        last = row.last_refreshed_at
        allowed = (last + MIN_INTERVAL) if last is not None else None
        if allowed is None or allowed <= now:
            # Someone refreshed without telling us: assume it was just now.
            allowed = now + MIN_INTERVAL
        with write_transaction():
            changed = self._owned_update(row, now, next_retry_at=allowed)
            self._attempt(row, result, now)
        return TOO_EARLY if changed else SKIPPED

    def _store_permanent(self, row, result, now):
        with write_transaction():
            fresh = Connection.get_or_none(Connection.id == row.id)
            if fresh is None:
                return SKIPPED
            if fresh.refresh_token != row.refresh_token and not self._same_token(
                    fresh.refresh_token, row.refresh_token):
                # Another process stored a newer token meanwhile: nothing is wrong.
                self._owned_update(fresh, now)
                self._attempt(row, result, now, error="%s (the token had already been "
                              "replaced; nothing changed)" % result.error)
                return SKIPPED
            reconnect = ("Exact no longer accepts this connection's refresh token (%s). "
                         "The customer must reconnect Exact Online to restore access."
                         % result.error)
            if fresh.status == "retry_pending" and fresh.failure_kind == "permanent":
                changed = self._owned_update(fresh, now, status="refresh_failed",
                                             next_retry_at=None, last_error=reconnect)
            else:
                changed = self._owned_update(
                    fresh, now, status="retry_pending", retry_count=fresh.retry_count + 1,
                    next_retry_at=now + CONFIRMATION_DELAY, failure_kind="permanent",
                    last_error=reconnect + " One confirmation retry is planned first.")
            self._attempt(row, result, now)
        return FAILED if changed else SKIPPED

    def _same_token(self, a, b):
        try:
            return decrypt_token(self.keys, a) == decrypt_token(self.keys, b)
        except InvalidToken:
            return False


class TokenUnavailable(RuntimeError):
    """No valid access token can be had now; the message says why in plain words."""


def get_access_token(connection, config, now=None, client=None, wait_seconds=10,
                     rejected_token=None):
    """A valid access token for `connection` (a Connection or its id).

    Refreshes under the same lease as the sidecar when the token expires
    within 30 s. If another process holds the lease, waits for its result.
    The row is read again under the lease: when another caller stored a new
    token in the meantime, that token is used and Exact is not called, so
    concurrent callers cause one refresh, never two (the second would use a
    refresh token that just died at Exact).

    `rejected_token`: the access token Exact just answered 401 to. It counts
    as unusable even if its expiry says otherwise, so the caller gets a
    refreshed token (or the one another caller stored after the rejection).
    """
    conn_id = getattr(connection, "id", connection)
    keys = config["TOKEN_ENCRYPTION_KEYS"]
    service = None
    deadline = time.monotonic() + wait_seconds

    def usable(row, at):
        if not (row.access_token and row.token_expires_at is not None
                and row.token_expires_at > at + ACCESS_TOKEN_MARGIN):
            return None
        token = decrypt_token(keys, row.access_token)
        if rejected_token is not None and hmac.compare_digest(token, rejected_token):
            return None
        return token

    while True:
        at = now or utcnow()
        row = Connection.get_or_none(Connection.id == conn_id)
        if row is None:
            raise TokenUnavailable("This connection does not exist.")
        if row.status == "refresh_failed":
            raise TokenUnavailable(row.last_error or "The customer must reconnect Exact Online.")
        token = usable(row, at)
        if token is not None:
            return token
        service = service or TokenService(config, client=client)
        outcome = service.refresh_connection(
            conn_id, now=now, force=True,
            still_needed=lambda fresh_row: usable(fresh_row, at) is None)
        if outcome.counted == REFRESHED or outcome.already_fresh:
            continue  # read the stored token back
        if outcome.exact_outcome is not None:
            fresh = Connection.get_by_id(conn_id)
            if (fresh.access_token and fresh.token_expires_at is not None
                    and fresh.token_expires_at > at):
                token = decrypt_token(keys, fresh.access_token)
                if rejected_token is None or token != rejected_token:
                    return token  # too early: still valid
            raise TokenUnavailable(fresh.last_error or "Exact did not give a new token now.")
        if time.monotonic() > deadline:
            raise TokenUnavailable("Another process is refreshing this connection; try again.")
        time.sleep(0.05)  # someone else holds the lease: wait for their result
