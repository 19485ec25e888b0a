"""The customer session: separate from the staff session.

A customer is never logged in through Flask-Login (whose user loader only
loads Staff). The signed session cookie carries `_customer` = "user id:session
version" plus its own start/last-seen stamps; the version lives in
`customer_accounts`, so sign-out refuses every older cookie on the server.
Signing in clears the whole session first (a fresh session: nothing from
before survives, a staff login included). Lifetime and idle limits are the
staff ones (SESSION_MAX_HOURS, SESSION_IDLE_MINUTES).
"""
from flask import session

from models import CustomerAccount, User
from portal.core.sessions import (SEEN_RESOLUTION, _moment, _stamp, idle_limit, max_lifetime,
                                  now)

CUSTOMER = "_customer"
CUSTOMER_LOGIN_AT = "_customer_login_at"
CUSTOMER_SEEN_AT = "_customer_seen_at"


def start_customer_session(user_id, version):
    session.clear()
    session.permanent = True
    moment = _stamp(now())
    session[CUSTOMER] = "%d:%d" % (user_id, version)
    session[CUSTOMER_LOGIN_AT] = moment
    session[CUSTOMER_SEEN_AT] = moment


def end_customer_session():
    for key in (CUSTOMER, CUSTOMER_LOGIN_AT, CUSTOMER_SEEN_AT):
        session.pop(key, None)


def _expired(at):
    login_at = _moment(session.get(CUSTOMER_LOGIN_AT))
    seen_at = _moment(session.get(CUSTOMER_SEEN_AT))
    if login_at is None or seen_at is None:
        return True
    if at - login_at >= max_lifetime() or login_at - at > SEEN_RESOLUTION:
        return True
    return at - seen_at >= idle_limit()


def current_customer():
    """The signed-in customer (a User) for this request, or None."""
    user = None
    raw = session.get(CUSTOMER)
    if raw:
        at = now()
        try:
            user_id, version = (int(p) for p in str(raw).split(":"))
        except ValueError:
            user_id = version = None
        if user_id is None or _expired(at):
            end_customer_session()
        else:
            user = User.get_or_none(User.id == user_id)
            if user is None or _session_version(user_id) != version:
                end_customer_session()
                user = None
            elif at - _moment(session[CUSTOMER_SEEN_AT]) >= SEEN_RESOLUTION:
                session[CUSTOMER_SEEN_AT] = _stamp(at)
    return user


def _session_version(user_id):
    return (CustomerAccount.select(CustomerAccount.session_version)
            .where(CustomerAccount.user == user_id).scalar())


