"""Throttling password guessing, from the `login_attempts` table.

* Per account: 5 failed attempts on one email within 15 minutes lock that
  email for 15 minutes after the 5th failure, even for the right password.
  Unknown emails are throttled the same way, so the answer never tells
  whether an account exists.
* Per client address: 20 failed attempts within 15 minutes refuse further
  attempts from that address until the window slides on.

Attempts refused because of a lock are not stored as failures (they are
audited instead), so a lock lasts exactly LOCK minutes and is not extended by
the owner checking whether it is over. A successful login clears the count.
No Flask here: every function takes `now`.
"""
from dataclasses import dataclass
from datetime import timedelta

from models import LoginAttempt

MAX_ACCOUNT_FAILURES = 5
MAX_ADDRESS_FAILURES = 20
WINDOW = timedelta(minutes=15)
LOCK = timedelta(minutes=15)


@dataclass(frozen=True)
class Limits:
    account_failures: int = MAX_ACCOUNT_FAILURES
    address_failures: int = MAX_ADDRESS_FAILURES
    window: timedelta = WINDOW
    lock: timedelta = LOCK

    @classmethod
    def from_config(cls, config):
        return cls(
            account_failures=int(config.get("LOGIN_MAX_FAILURES", MAX_ACCOUNT_FAILURES)),
            address_failures=int(config.get("LOGIN_MAX_FAILURES_PER_ADDRESS",
                                            MAX_ADDRESS_FAILURES)),
            window=timedelta(minutes=int(config.get("LOGIN_WINDOW_MINUTES", 15))),
            lock=timedelta(minutes=int(config.get("LOGIN_LOCK_MINUTES", 15))),
        )


@dataclass(frozen=True)
class Refusal:
    scope: str          # "account" or "address"
    until: object       # naive UTC datetime

    def minutes_left(self, now):
        seconds = max(0, (self.until - now).total_seconds())
        return max(1, int(-(-seconds // 60)))


def _account_locked_until(email, now, limits):
    last_success = (LoginAttempt.select(LoginAttempt.created_at)
                    .where((LoginAttempt.email == email) & (LoginAttempt.success == True))  # noqa: E712
                    .order_by(LoginAttempt.created_at.desc()).first())
    since = now - limits.window - limits.lock
    if last_success and last_success.created_at > since:
        since = last_success.created_at
    failures = [a.created_at for a in LoginAttempt.select(LoginAttempt.created_at)
                .where((LoginAttempt.email == email) & (LoginAttempt.success == False)  # noqa: E712
                       & (LoginAttempt.created_at > since))
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
              .where((LoginAttempt.ip == ip) & (LoginAttempt.success == False)  # noqa: E712
                     & (LoginAttempt.created_at > now - limits.window))
              .order_by(LoginAttempt.created_at.desc())
              .limit(limits.address_failures))
    stamps = [a.created_at for a in recent]
    if len(stamps) < limits.address_failures:
        return None
    # Refused until the oldest of the last N failures leaves the window.
    return stamps[-1] + limits.window


def check(email, ip, now, limits=Limits()):
    """A Refusal if this attempt must be refused before checking the password."""
    until = _account_locked_until(email, now, limits)
    if until:
        return Refusal("account", until)
    until = _address_refused_until(ip, now, limits)
    if until:
        return Refusal("address", until)
    return None


def record_attempt(email, ip, success, now):
    return LoginAttempt.create(email=email[:255], ip=(ip or "")[:255], success=bool(success),
                               created_at=now)
