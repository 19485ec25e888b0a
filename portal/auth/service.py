"""Staff sign-in decisions, without Flask: throttle, password check, audit row.

The web layer (portal.auth.routes) starts or ends the session; everything that
is written (the attempt, last_login_at, the audit row, the session version) is
written here, each in one transaction.
"""
from dataclasses import dataclass

from models import Staff, database
from portal.auth import throttle
from portal.auth.passwords import verify_dummy_password, verify_password
from portal.core import audit

GENERIC_LOGIN_ERROR = "Email or password is incorrect."
LOCKED_ACCOUNT_MESSAGE = ("Too many failed login attempts for this account from your network "
                          "address. It is locked from here for %d more minute(s), even with "
                          "the right password.")
LOCKED_ADDRESS_MESSAGE = ("Too many failed login attempts from your network address. "
                          "Try again in %d minute(s).")
BACKOFF_MESSAGE = ("This account has had many failed login attempts. From your network "
                   "address, wait %s before trying again.")


def refusal_message(refusal, now):
    """The login page's words for a throttle refusal."""
    if refusal.scope == throttle.ACCOUNT_ADDRESS:
        return LOCKED_ACCOUNT_MESSAGE % refusal.minutes_left(now)
    if refusal.scope == throttle.ADDRESS:
        return LOCKED_ADDRESS_MESSAGE % refusal.minutes_left(now)
    seconds = refusal.seconds_left(now)
    wait = ("%d second(s)" % seconds if seconds < 120
            else "%d minute(s)" % refusal.minutes_left(now))
    return BACKOFF_MESSAGE % wait


@dataclass(frozen=True)
class LoginOutcome:
    staff: object = None  # the Staff row when the login succeeded
    message: str = ""     # why not, in words for the login page
    status: int = 200


def attempt_login(email, password, actor, now, config):
    """Check one login for `email` from `actor.ip`; record it; return a LoginOutcome."""
    limits = throttle.Limits.from_config(config)
    refusal = throttle.check(email, actor.ip, now, limits)
    staff = Staff.get_or_none(Staff.email == email)
    if refusal:
        with database.atomic():
            audit.record(actor.as_email(email), "login.refused", "staff",
                         staff.id if staff else "",
                         after={"reason": "throttled per " + refusal.scope,
                                "until": refusal.until.isoformat()})
        return LoginOutcome(message=refusal_message(refusal, now), status=429)
    if staff is not None and staff.active:
        ok = verify_password(staff.password_hash, password)
    else:
        # Same work either way, so timing does not tell which accounts exist.
        verify_dummy_password(password, config.get("PASSWORD_HASH_METHOD"))
        ok = False
    with database.atomic():
        throttle.record_attempt(email, actor.ip, ok, now)
        if ok:
            Staff.update(last_login_at=now).where(Staff.id == staff.id).execute()
        who = audit.Actor(staff=staff, email=email, ip=actor.ip) if ok else actor.as_email(email)
        audit.record(who, "login.success" if ok else "login.failure", "staff",
                     staff.id if staff else "")
    if not ok:
        return LoginOutcome(message=GENERIC_LOGIN_ERROR)
    return LoginOutcome(staff=staff)


def log_out(actor):
    """Refuse every cookie carrying the staff member's current session version from now on."""
    staff = actor.staff
    with database.atomic():
        Staff.update(session_version=Staff.session_version + 1).where(
            Staff.id == staff.id).execute()
        audit.record(actor, "logout", "staff", staff.id)
