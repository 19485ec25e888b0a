"""Password hashing with OWASP parameters: scrypt N=2^17, r=8, p=1.

Werkzeug's default scrypt parameters (N=2^15) are below OWASP's advice, so
the method string is passed explicitly. Tests may lower the cost with the
PASSWORD_HASH_METHOD config key; production always uses the default here.
"""
from functools import lru_cache

from werkzeug.security import check_password_hash, generate_password_hash

PASSWORD_HASH_METHOD = "scrypt:131072:8:1"
MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024


def hash_password(password, method=None):
    return generate_password_hash(password, method=method or PASSWORD_HASH_METHOD)


def verify_password(password_hash, password):
    try:
        return check_password_hash(password_hash or "", password)
    except (ValueError, TypeError):  # a corrupt or unknown hash format never logs anyone in
        return False


@lru_cache(maxsize=4)
def _dummy_hash(method):
    return hash_password("not-a-real-password", method)


def verify_dummy_password(password, method=None):
    """Spend the same time as a real check, for emails with no (active) account."""
    check_password_hash(_dummy_hash(method or PASSWORD_HASH_METHOD), password)
    return False


def password_problem(password):
    """Why `password` is not acceptable for a new account, or None."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return "The password must have at least %d characters." % MIN_PASSWORD_LENGTH
    if len(password) > MAX_PASSWORD_LENGTH:
        return "The password must have at most %d characters." % MAX_PASSWORD_LENGTH
    if any(ord(c) < 32 or ord(c) == 127 for c in password):
        return "The password must not contain control characters."
    return None
