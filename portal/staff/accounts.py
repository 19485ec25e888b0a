"""Staff accounts: create, deactivate, reactivate. No Flask here.

Deactivating bumps `session_version` as well as clearing `active`, so every
session of that person ends at once (the session cookie carries the version
it was issued with). Each change writes its audit row in the same
transaction; `actor` is the staff member doing it (None from the CLI).
"""
from peewee import fn

from models import Staff, database

from portal.core import audit
from portal.core.audit import Actor
from portal.core.text import find_text_problem
from portal.auth.passwords import hash_password, password_problem


class StaffError(ValueError):
    """A change that cannot be made; the message is safe to show."""


def normalise_email(email):
    email = (email or "").strip().lower()
    problem = find_text_problem(email, 254)
    if problem:
        raise StaffError("Email: " + problem)
    if email.count("@") != 1 or email.startswith("@") or email.endswith("@") \
            or any(c.isspace() for c in email):
        raise StaffError("%r is not an email address." % email)
    return email


def create_staff(email, password, name="", actor=None, hash_method=None):
    """Create a staff account; `actor` (an Actor) defaults to an operator command."""
    email = normalise_email(email)
    problem = password_problem(password) or find_text_problem(name, 200)
    if problem:
        raise StaffError(problem)
    with database.atomic():
        if Staff.get_or_none(Staff.email == email):
            raise StaffError("%s already exists." % email)
        staff = Staff.create(email=email, name=name or email.split("@")[0],
                             password_hash=hash_password(password, hash_method))
        audit.record(actor or Actor(email="cli"), "staff.create", "staff", staff.id,
                     after={"email": email, "name": staff.name})
    return staff


def _set_active(staff_id, active, actor):
    with database.atomic():
        staff = Staff.get_or_none(Staff.id == staff_id)
        if staff is None:
            raise StaffError("No such staff account.")
        if not active and actor.staff is not None and actor.staff.id == staff.id:
            raise StaffError("You cannot deactivate your own account.")
        if staff.active == active:
            return staff, False
        before = {"active": staff.active, "session_version": staff.session_version}
        # The version bump ends every existing session of this person now.
        Staff.update(active=active, session_version=Staff.session_version + 1).where(
            Staff.id == staff.id).execute()
        staff = Staff.get_by_id(staff.id)
        audit.record(actor, "staff.deactivate" if not active else "staff.reactivate", "staff",
                     staff.id, before=before,
                     after={"active": staff.active, "session_version": staff.session_version,
                            "email": staff.email})
    return staff, True


def deactivate(staff_id, actor):
    """(staff, changed). Ends all of that person's sessions."""
    return _set_active(staff_id, False, actor)


def reactivate(staff_id, actor):
    return _set_active(staff_id, True, actor)


def list_staff(search=""):
    query = Staff.select().order_by(Staff.active.desc(), Staff.email)
    if search:
        needle = search.strip().lower()
        query = query.where(fn.LOWER(Staff.email).contains(needle)
                            | fn.LOWER(Staff.name).contains(needle))
    return list(query)
