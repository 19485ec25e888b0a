"""Password hashing with OWASP parameters: scrypt N=2^17, r=8, p=1.

Werkzeug's default scrypt parameters (N=2^15) are below OWASP's advice, so
the method string is passed explicitly. Tests may lower the cost with the
PASSWORD_HASH_METHOD config key; production always uses the default here.
"""
from werkzeug.security import check_password_hash, generate_password_hash

PASSWORD_HASH_METHOD = "scrypt:131072:8:1"


def hash_password(password, method=None):
    return generate_password_hash(password, method=method or PASSWORD_HASH_METHOD)


def verify_password(password_hash, password):
    return check_password_hash(password_hash, password)
