"""Storing a connection the customer made through /connect/exact (no Flask).

`store_connection` runs ONE transaction: find or create the customer by email
(case-insensitive; a new one starts on `free`), choose the division, enforce
the plan's division limit (with the per-customer override), insert or update
the one (customer, division) row with encrypted tokens, record the reconnect
in the attempt history (refresh_attempts), cancel outreach still pending for
it, and write the audit row with the customer as actor. Over the limit
nothing at all is written.

Two browser tabs finishing at once: on SQLite the transaction takes the write
lock up front; on PostgreSQL the second INSERT of the same (customer,
division) or email hits the unique index, and the whole transaction is
retried, finding the row the first one made and updating it. Either way one
row remains, holding one complete token pair.
"""
import datetime
from dataclasses import dataclass

from peewee import IntegrityError

from models import (PLAN_LIMITS, Connection, CustomerAccount, OutreachCampaign,
                    OutreachCooldown, OutreachLog, PlanType, RefreshAttempt, User)
from models.db import is_sqlite

from portal.customers.lookup import find_customer
from portal.core import audit
from portal.core.audit import Actor
from portal.customers.service import division_limit
from portal.exact.crypto import encrypt_token
from portal.exact.tokens import REFRESH_TOKEN_LIFETIME, write_transaction

CUSTOMER_SIDECAR = "customer"
RECONNECTED = "reconnected"
ATTEMPTS = 3


class ConnectRefused(Exception):
    """Nothing was stored; `message` says why in plain words."""

    def __init__(self, message, status=400):
        super().__init__(message)
        self.message = message
        self.status = status


def customer_actor(email, ip=""):
    """Audit rows of customer actions: the customer's email, marked as a customer."""
    return Actor(email="customer:" + (email or "").strip().lower(), ip=ip or "")


def plan_allowing(count):
    """The first plan whose division limit allows `count` divisions, or None."""
    for plan in PlanType:
        limit = PLAN_LIMITS[plan].max_divisions
        if limit is None or limit >= count:
            return plan.value
    return None


def over_limit_message(user, limit, connected):
    better = plan_allowing(connected + 1)
    text = ("Your %s plan allows %d Exact Online administration%s and you already have %d "
            "connected, so nothing was stored." % (user.plan, limit, "" if limit == 1 else "s",
                                                    connected))
    if better and better != str(user.plan):
        text += " The %s plan allows more; contact us to upgrade." % better
    return text


@dataclass
class ConnectResult:
    user: User
    connection: Connection
    reconnected: bool
    previous_status: str | None
    session_version: int


def _find_or_create_user(email, name, now):
    user = find_customer(email)
    if user is None:
        user = User.create(email=email.lower(), name=name or "", plan=PlanType.FREE.value,
                           created_at=now)
    return user


def _lock_user(user_id):
    if not is_sqlite():  # serialise one customer's connects (limit check + insert)
        list(User.select(User.id).where(User.id == user_id).for_update())


def choose_division(me, divisions, requested, mode, connected):
    """The division to connect: the requested one (it must be one of the customer's),
    for "another" the first one not connected yet, else Exact's current division."""
    codes = [code for code, _ in divisions] or [me.current_division]
    if me.current_division not in codes:
        codes.insert(0, me.current_division)
    if requested is not None:
        if requested not in codes:
            raise ConnectRefused("Administration %d is not one of the administrations your "
                                 "Exact Online user can open. Sign in to Exact Online with "
                                 "the user that has access to it and try again." % requested)
        return requested
    if mode == "another":
        for code in codes:
            if code not in connected:
                return code
        raise ConnectRefused("Every administration your Exact Online user can open is "
                             "already connected.")
    return me.current_division


def store_connection(config, me, divisions, tokens, requested_division, mode, now, ip=""):
    """Store the connection (see module doc); returns ConnectResult or raises ConnectRefused."""
    last_error = None
    for _ in range(ATTEMPTS):
        try:
            with write_transaction():
                return _store(config, me, divisions, tokens, requested_division, mode, now, ip)
        except IntegrityError as exc:  # another tab won the insert: run again, update it
            last_error = exc
    raise last_error


def _store(config, me, divisions, tokens, requested_division, mode, now, ip):
    keys = config["TOKEN_ENCRYPTION_KEYS"]
    user = _find_or_create_user(me.email, me.full_name, now)
    _lock_user(user.id)
    actor = customer_actor(user.email, ip)
    connected = {c.division: c for c in Connection.select().where(Connection.user == user.id)}
    division = choose_division(me, divisions, requested_division, mode, connected)
    existing = connected.get(division)
    if existing is None:
        limit, _, _ = division_limit(user)
        if limit is not None and len(connected) >= limit:
            raise ConnectRefused(over_limit_message(user, limit, len(connected)), status=403)
    values = dict(
        access_token=encrypt_token(keys, tokens.access_token),
        refresh_token=encrypt_token(keys, tokens.refresh_token),
        token_expires_at=now + datetime.timedelta(seconds=tokens.expires_in),
        refresh_expires_at=now + REFRESH_TOKEN_LIFETIME,
        # Exact refuses a refresh within ~570 s of issuing: the sidecar waits for that.
        last_refreshed_at=now, status="active", retry_count=0, next_retry_at=None,
        last_error=None, failure_kind=None, lease_owner=None, lease_expires_at=None,
        updated_at=now, origin="reconnected" if existing else "connected", origin_at=now)
    if existing is None:
        conn_id = Connection.insert(user=user.id, division=division, created_at=now,
                                    **values).execute()
        previous = None
    else:
        conn_id = existing.id
        previous = existing.status
        Connection.update(**values).where(Connection.id == conn_id).execute()
    RefreshAttempt.insert(
        connection=conn_id, user=user.id, attempted_at=now,
        outcome=RECONNECTED if existing else "connected", http_status=200,
        error=("Reconnected by the customer (was %s)" % previous.replace("_", " ")
               if existing else "Connected by the customer"),
        sidecar=CUSTOMER_SIDECAR).execute()
    if existing is not None:
        cancelled = cancel_pending_outreach(user.id, division, now)
    else:
        cancelled = 0
    account = _touch_account(user.id, now)
    audit.record(actor, "connection.reconnect" if existing else "connection.connect",
                 "connection", conn_id,
                 before={"status": previous} if existing else None,
                 after={"division": division, "status": "active",
                        "outreach_cancelled": cancelled})
    connection = Connection.get_by_id(conn_id)
    return ConnectResult(user=user, connection=connection, reconnected=existing is not None,
                         previous_status=previous, session_version=account.session_version)


def _touch_account(user_id, now):
    account = CustomerAccount.get_or_none(CustomerAccount.user == user_id)
    if account is None:
        account = CustomerAccount.create(user=user_id, session_version=1, last_sign_in_at=now)
    else:
        (CustomerAccount.update(last_sign_in_at=now)
         .where(CustomerAccount.id == account.id).execute())
    return account


def cancel_pending_outreach(user_id, division, now):
    """Cancel connection_failed outreach for this customer that is still waiting.

    Pending means: a send that failed and would be tried again next run, or a
    claim whose sidecar died (lease over) and would be retried. A send that is
    in flight right now (live claim) cannot be called back and is left alone.
    Nothing is cancelled while another connection of the customer is still
    refresh_failed: that outreach is about the other one. Each cancelled
    campaign gets a `skipped` row saying so. Returns how many were cancelled.
    """
    still_failed = (Connection.select().where((Connection.user == user_id)
                                              & (Connection.division != division)
                                              & (Connection.status == "refresh_failed"))
                    .exists())
    if still_failed:
        return 0
    cancelled = 0
    for campaign in OutreachCampaign.select().where(OutreachCampaign.trigger == "connection_failed"):
        latest = (OutreachLog.select(OutreachLog.status)
                  .where((OutreachLog.user == user_id) & (OutreachLog.campaign == campaign.id))
                  .order_by(OutreachLog.created_at.desc(), OutreachLog.id.desc()).first())
        stale_claims = (OutreachCooldown.delete()
                        .where((OutreachCooldown.user == user_id)
                               & (OutreachCooldown.campaign == campaign.id)
                               & OutreachCooldown.claim.is_null(False)
                               & (OutreachCooldown.until <= now)).execute())
        if stale_claims or (latest is not None and latest.status == "failed"):
            OutreachLog.create(user=user_id, campaign=campaign.id, status="skipped",
                               reason="cancelled: the customer reconnected division %d" % division,
                               created_at=now)
            cancelled += 1
    return cancelled
