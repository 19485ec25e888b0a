"""API keys: creation, recognition, authentication, revocation.

Format: ``exa_`` + 32 base62 characters of randomness (~190 bits) + 6 base62
characters of checksum (CRC32 of the random part). Like GitHub's token format,
the fixed prefix plus checksum lets a secret scanner recognise a real key
without a database, and lets `authenticate` refuse typos and made-up strings
before touching the database.

Only the SHA-256 hash of the whole key is stored (a key has enough entropy that
a slow hash adds nothing), plus a short display prefix so staff can tell keys
apart. The plaintext exists only in the return value of `create_api_key`.
"""
import datetime
import hashlib
import hmac
import re
import secrets
import string
import zlib
from dataclasses import dataclass

from models import ApiKey, User, database, utcnow
from portal.core import audit

KEY_PREFIX = "exa_"
BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase
RANDOM_LENGTH = 32          # 32 * log2(62) ~ 190 bits
CHECKSUM_LENGTH = 6         # 62**6 > 2**32, so every CRC32 fits
DISPLAY_PREFIX_LENGTH = len(KEY_PREFIX) + 8
KEY_LENGTH = len(KEY_PREFIX) + RANDOM_LENGTH + CHECKSUM_LENGTH
KEY_PATTERN = re.compile(r"^exa_[0-9A-Za-z]{%d}$" % (RANDOM_LENGTH + CHECKSUM_LENGTH))
# For scanners (and the docs): a real key matches this and its checksum holds.
SCAN_PATTERN = r"\bexa_[0-9A-Za-z]{%d}\b" % (RANDOM_LENGTH + CHECKSUM_LENGTH)
LAST_USED_RESOLUTION = datetime.timedelta(seconds=60)
MAX_NAME_LENGTH = 100


def _base62(number, width):
    chars = []
    while number:
        number, rem = divmod(number, 62)
        chars.append(BASE62[rem])
    return "".join(reversed(chars)).rjust(width, "0")


def checksum(random_part):
    return _base62(zlib.crc32(random_part.encode("ascii")), CHECKSUM_LENGTH)


def generate_plaintext():
    random_part = "".join(secrets.choice(BASE62) for _ in range(RANDOM_LENGTH))
    return KEY_PREFIX + random_part + checksum(random_part)


def looks_like_key(text):
    """True when `text` has the key format and a valid checksum (no database)."""
    if not isinstance(text, str) or len(text) != KEY_LENGTH or not KEY_PATTERN.match(text):
        return False
    random_part = text[len(KEY_PREFIX):len(KEY_PREFIX) + RANDOM_LENGTH]
    return hmac.compare_digest(checksum(random_part), text[-CHECKSUM_LENGTH:])


def hash_key(plaintext):
    return hashlib.sha256(plaintext.encode("utf-8")).hexdigest()


def display_prefix(plaintext):
    return plaintext[:DISPLAY_PREFIX_LENGTH]


def create_api_key(user, name="", now=None, actor=None):
    """Create a key for `user`; returns (ApiKey, plaintext). Show the plaintext once.

    With an `actor` (staff, an operator, the customer) the key and its audit row
    are written in one transaction; seed-demo and tests create keys without one.
    """
    plaintext = generate_plaintext()
    with database.atomic():
        key = ApiKey.create(user=user, name=(name or "").strip()[:MAX_NAME_LENGTH],
                            prefix=display_prefix(plaintext), key_hash=hash_key(plaintext),
                            created_at=now or utcnow())
        if actor is not None:
            audit.record(actor, "api_key.create", "api_key", key.id,
                         after={"user_id": key.user_id, "prefix": key.prefix, "name": key.name})
    return key, plaintext


def authenticate(plaintext):
    """The live ApiKey (with .user loaded) for `plaintext`, or None.

    Malformed keys and bad checksums are refused before any query. The lookup
    is by the unique hash; the compare after it is constant-time anyway so a
    future change to the lookup cannot turn it into a timing oracle.
    """
    if not looks_like_key(plaintext):
        return None
    digest = hash_key(plaintext)
    key = (ApiKey.select(ApiKey, User).join(User)
           .where((ApiKey.key_hash == digest) & ApiKey.revoked_at.is_null())
           .first())
    if key is None or not hmac.compare_digest(key.key_hash, digest):
        return None
    return key


@dataclass
class ApiContext:
    """What one API request needs, from one query: the key, its customer, this
    month's calls and the customer's division-limit override."""
    key: ApiKey
    user: User
    month_calls: int
    has_division_override: bool
    division_override: int | None


# The hot path of every API request, as one statement written once: peewee's
# query building costs more than the indexed lookups themselves here.
_CONTEXT_SQL = (
    'SELECT k.id, k.last_used_at, k.key_hash, u.id, u.email, u.plan, m.calls, d.id, '
    'd.max_divisions FROM api_keys k JOIN users u ON u.id = k.user_id '
    'LEFT JOIN usage_monthly m ON m.user_id = u.id AND m.month = {p} '
    'LEFT JOIN division_limits d ON d.user_id = u.id '
    'WHERE k.key_hash = {p} AND k.revoked_at IS NULL')


def authenticate_with_context(plaintext, month):
    """Like `authenticate`, plus usage for `month` (a date) and limits, in one query."""
    if not looks_like_key(plaintext):
        return None
    digest = hash_key(plaintext)
    sql = _CONTEXT_SQL.format(p=database.param)
    row = database.execute_sql(sql, (month.isoformat(), digest)).fetchone()
    if row is None or not hmac.compare_digest(row[2], digest):
        return None
    key_id, last_used, key_hash, user_id, email, plan, calls, limit_id, max_div = row
    user = User(id=user_id, email=email, plan=plan)
    key = ApiKey(id=key_id, user=user, key_hash=key_hash,
                 last_used_at=ApiKey.last_used_at.python_value(last_used))
    return ApiContext(key=key, user=user, month_calls=calls or 0,
                      has_division_override=limit_id is not None, division_override=max_div)


def touch_last_used(key, now=None):
    """Record that `key` was used, at most once a minute per key.

    The in-memory value (just loaded by `authenticate`) skips the statement
    entirely on most calls; the conditional UPDATE keeps concurrent workers
    from writing more than once a minute between them. Returns True if written.
    """
    now = now or utcnow()
    threshold = now - LAST_USED_RESOLUTION
    if key.last_used_at is not None and key.last_used_at >= threshold:
        return False
    written = (ApiKey.update(last_used_at=now)
               .where((ApiKey.id == key.id)
                      & (ApiKey.last_used_at.is_null() | (ApiKey.last_used_at < threshold)))
               .execute())
    if written:
        key.last_used_at = now
    return bool(written)


def revoke_api_key(key, now=None, actor=None):
    """Revoke `key`; returns False if it was already revoked (then nothing is audited)."""
    now = now or utcnow()
    with database.atomic():
        changed = (ApiKey.update(revoked_at=now)
                   .where((ApiKey.id == key.id) & ApiKey.revoked_at.is_null()).execute())
        if changed and actor is not None:
            audit.record(actor, "api_key.revoke", "api_key", key.id,
                         before={"prefix": key.prefix, "revoked": False},
                         after={"prefix": key.prefix, "revoked": True})
    if changed:
        key.revoked_at = now
    return bool(changed)


def keys_for(user_id):
    """A customer's keys, newest first (live and revoked)."""
    return list(ApiKey.select().where(ApiKey.user == user_id)
                .order_by(ApiKey.created_at.desc(), ApiKey.id.desc()))
