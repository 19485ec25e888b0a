"""Finding a customer by email: the ONE rule (trimmed, case-insensitive).

Emails are stored lower-case by every path that writes them today; the
LOWER() fallback finds rows an older system stored with capitals.
"""
from peewee import fn

from models import User


def find_customer(email):
    """The customer with this email (case-insensitive), or None."""
    email = (email or "").strip().lower()
    if not email:
        return None
    return User.get_or_none(User.email == email) or (
        User.select().where(fn.LOWER(User.email) == email).first())
