"""Throttling password guessing, from the `login_attempts` table.

A lock per account alone is a denial of service: anyone who knows an
admin's email could keep the admin out from everywhere. So, following
OWASP's advice against lockout abuse, three rules, none of which ever
refuses the right password from a new address:

* Per (account, client address): 5 failed attempts on one email from one
  address within 15 minutes lock that pair for 15 minutes after the 5th
  failure, even for the right password. Other addresses are not affected.
* Per client address: 20 failed attempts within 15 minutes (any emails)
  refuse further attempts from that address until the window slides on.
* Per account, slower and global: once an email has had 10 failures within
  an hour (from any addresses), every address that itself failed on it in
  that hour waits a back-off after its own last failure: 2 s, doubling with
  each further failure on the account, at most 15 minutes. An address with
  no failure on that account in the window (a new address) is never refused
  by this rule, so a distributed guesser is slowed and the owner still gets in.

Unknown emails are throttled exactly like known ones, so the answer never
tells whether an account exists. Attempts refused because of a rule are not
stored as failures (they are audited instead), so a lock lasts exactly LOCK
minutes and is not extended by the owner checking whether it is over. A
successful login clears the counts of its (account, address) only: the owner
signing in elsewhere gives an attacker no fresh guesses. No Flask here: every
function takes `now`.
"""
from dataclasses import dataclass
from datetime import timedelta

from peewee import fn

from models import LoginAttempt

MAX_ACCOUNT_FAILURES = 5   # per (account, address)
MAX_ADDRESS_FAILURES = 20
WINDOW = timedelta(minutes=15)
LOCK = timedelta(minutes=15)
BACKOFF_AFTER = 10         # failures on one account, all addresses
BACKOFF_WINDOW = timedelta(hours=1)
BACKOFF_BASE = timedelta(seconds=2)
BACKOFF_MAX = timedelta(minutes=15)


@dataclass(frozen=True)
class Limits:
    account_failures: int = MAX_ACCOUNT_FAILURES
    address_failures: int = MAX_ADDRESS_FAILURES
    window: timedelta = WINDOW
    lock: timedelta = LOCK
    backoff_after: int = BACKOFF_AFTER
    backoff_window: timedelta = BACKOFF_WINDOW
    backoff_base: timedelta = BACKOFF_BASE
    backoff_max: timedelta = BACKOFF_MAX

    @classmethod
    def from_config(cls, config):
        return cls(
            account_failures=int(config.get("LOGIN_MAX_FAILURES", MAX_ACCOUNT_FAILURES)),
            address_failures=int(config.get("LOGIN_MAX_FAILURES_PER_ADDRESS",
                                            MAX_ADDRESS_FAILURES)),
            window=timedelta(minutes=int(config.get("LOGIN_WINDOW_MINUTES", 15))),
            lock=timedelta(minutes=int(config.get("LOGIN_LOCK_MINUTES", 15))),
            backoff_after=int(config.get("LOGIN_BACKOFF_AFTER", BACKOFF_AFTER)),
            backoff_window=timedelta(minutes=int(config.get("LOGIN_BACKOFF_WINDOW_MINUTES",
                                                            60))),
            backoff_max=timedelta(minutes=int(config.get("LOGIN_BACKOFF_MAX_MINUTES", 15))),
        )


# Refusal scopes.
ACCOUNT_ADDRESS = "account_address"  # this account from this address is locked
ADDRESS = "address"                  # this address is refused for every account
ACCOUNT_BACKOFF = "account_backoff"  # this account is under attack: this address waits


@dataclass(frozen=True)
class Refusal:
    scope: str          # ACCOUNT_ADDRESS, ADDRESS or ACCOUNT_BACKOFF
    until: object       # naive UTC datetime

    def seconds_left(self, now):
        return max(1, int(-(-max(0, (self.until - now).total_seconds()) // 1)))

    def minutes_left(self, now):
        return max(1, int(-(-self.seconds_left(now) // 60)))


def _failed(email=None, ip=None):
    cond = LoginAttempt.success == False  # noqa: E712
    if email is not None:
        cond &= LoginAttempt.email == email
    if ip is not None:
        cond &= LoginAttempt.ip == ip
    return cond


def _last_success(email, ip, since):
    """The later of `since` and the last successful login of `email` from `ip` after it.

    Only a success from the same address clears that address's count: the
    owner signing in elsewhere must not hand an attacker fresh guesses.
    """
    last = (LoginAttempt.select(fn.MAX(LoginAttempt.created_at))
            .where((LoginAttempt.email == email) & (LoginAttempt.ip == (ip or ""))
                   & (LoginAttempt.success == True)  # noqa: E712
                   & (LoginAttempt.created_at > since))
            .scalar())
    return last if last is not None and last > since else since


def _pair_locked_until(email, ip, now, limits):
    since = _last_success(email, ip, now - limits.window - limits.lock)
    failures = [a.created_at for a in LoginAttempt.select(LoginAttempt.created_at)
                .where(_failed(email, ip or "") & (LoginAttempt.created_at > since))
                .order_by(LoginAttempt.created_at, LoginAttempt.id)]
    n = limits.account_failures
    until = None
    for i in range(n - 1, len(failures)):
        if failures[i] - failures[i - n + 1] <= limits.window:
            end = failures[i] + limits.lock
            until = end if until is None or end > until else until
    return until if until and until > now else None


def _address_refused_until(ip, now, limits):
    if not ip:
        return None
    recent = (LoginAttempt.select(LoginAttempt.created_at)
              .where(_failed(ip=ip) & (LoginAttempt.created_at > now - limits.window))
              .order_by(LoginAttempt.created_at.desc())
              .limit(limits.address_failures))
    stamps = [a.created_at for a in recent]
    if len(stamps) < limits.address_failures:
        return None
    # Refused until the oldest of the last N failures leaves the window.
    return stamps[-1] + limits.window


def _account_backoff_until(email, ip, now, limits):
    start = now - limits.backoff_window
    since = _last_success(email, ip, start)
    # Two aggregates, not the rows: under a distributed attack there are many.
    mine = (LoginAttempt.select(fn.MAX(LoginAttempt.created_at))
            .where(_failed(email, ip or "") & (LoginAttempt.created_at > since)).scalar())
    if mine is None:
        return None  # a new address for this account (or one that got in): never refused
    failures = (LoginAttempt.select()
                .where(_failed(email) & (LoginAttempt.created_at > start)).count())
    if failures < limits.backoff_after:
        return None
    steps = min(failures - limits.backoff_after, 30)
    delay = min(limits.backoff_max, limits.backoff_base * (2 ** steps))
    until = mine + delay
    return until if until > now else None


def check(email, ip, now, limits=Limits()):
    """A Refusal if this attempt must be refused before checking the password."""
    until = _pair_locked_until(email, ip, now, limits)
    if until:
        return Refusal(ACCOUNT_ADDRESS, until)
    until = _address_refused_until(ip, now, limits)
    if until:
        return Refusal(ADDRESS, until)
    until = _account_backoff_until(email, ip, now, limits)
    if until:
        return Refusal(ACCOUNT_BACKOFF, until)
    return None


def record_attempt(email, ip, success, now):
    return LoginAttempt.create(email=email[:255], ip=(ip or "")[:255], success=bool(success),
                               created_at=now)
