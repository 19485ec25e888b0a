"""Configuration from the environment (names fixed by the contract).

In development, SECRET_KEY and TOKEN_ENCRYPTION_KEYS are generated once into
the instance folder and reused, so a restart keeps sessions and can still
decrypt stored tokens. With PORTAL_ENV=production both must come from the
environment: the app refuses to start and names what is missing, and refuses
a SECRET_KEY shorter than 32 characters. Every start (web, sidecar, every
command) refuses an unknown PORTAL_ENV and a TOKEN_ENCRYPTION_KEYS that is
not a list of Fernet keys, with one line that says what to fix.
"""
import os
import secrets

from cryptography.fernet import Fernet


class ConfigError(RuntimeError):
    """The configuration cannot work; the message says what to set."""


def _int(name, default):
    raw = os.environ.get(name)
    if raw in (None, ""):
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError("%s must be a whole number, got %r" % (name, raw))


def _read_or_create(path, make):
    if os.path.exists(path):
        with open(path) as fh:
            value = fh.read().strip()
        if value:
            return value
    value = make()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(value + "\n")
    return value


PORTAL_ENVS = ("development", "production")
MIN_SECRET_KEY_LENGTH = 32


def check_token_keys(keys):
    """Refuse a TOKEN_ENCRYPTION_KEYS that is not a comma-separated list of Fernet keys.

    Checked at start by every command: otherwise `import` or the sidecar
    would die later, half-way, with a traceback. The message never shows a key.
    """
    parts = [k.strip() for k in keys.split(",") if k.strip()]
    if not parts:
        raise ConfigError("TOKEN_ENCRYPTION_KEYS is empty")
    for position, key in enumerate(parts, 1):
        try:
            Fernet(key.encode())
        except (ValueError, TypeError, UnicodeError):
            raise ConfigError("TOKEN_ENCRYPTION_KEYS: key %d of %d is not a Fernet key "
                              "(32 url-safe base64-encoded bytes; make one with "
                              "python -c 'from cryptography.fernet import Fernet; "
                              "print(Fernet.generate_key().decode())')"
                              % (position, len(parts)))


def make_private_dir(path):
    """Create `path` (and parents) as a folder only the owner can open (0700).

    An existing folder is left as it is: it is the operator's.
    """
    if not os.path.isdir(path):
        os.makedirs(path, mode=0o700, exist_ok=True)
        os.chmod(path, 0o700)  # makedirs' mode is filtered by the umask


def load_config(instance_path):
    """Build the Flask config mapping from environment variables."""
    env = os.environ.get("PORTAL_ENV", "development").strip().lower()
    if env not in PORTAL_ENVS:
        raise ConfigError("PORTAL_ENV must be one of %s, got %r"
                          % (", ".join(PORTAL_ENVS), env[:40]))
    production = env == "production"
    cfg = {
        "PORTAL_ENV": env,
        "PRODUCTION": production,
        "DATABASE_URL": os.environ.get("DATABASE_URL")
        or "sqlite:///" + os.path.join(instance_path, "portal.db"),
        "ADMIN_EMAILS": os.environ.get("ADMIN_EMAILS", ""),
        "EXACT_BASE_URL": os.environ.get("EXACT_BASE_URL", "https://start.exactonline.nl").rstrip("/"),
        "EXACT_CLIENT_ID": os.environ.get("EXACT_CLIENT_ID", ""),
        "EXACT_CLIENT_SECRET": os.environ.get("EXACT_CLIENT_SECRET", ""),
        "EXACT_TIMEOUT_SECONDS": _int("EXACT_TIMEOUT_SECONDS", 30),
        "MAIL_URL": os.environ.get("MAIL_URL", "outbox:"),
        "MAIL_FROM": os.environ.get("MAIL_FROM", "Exact MCP <support@localhost>"),
        "MAIL_TIMEOUT_SECONDS": _int("MAIL_TIMEOUT_SECONDS", 15),
        "PUBLIC_BASE_URL": os.environ.get("PUBLIC_BASE_URL", "http://localhost:5000").rstrip("/"),
        "SIDECAR_WORKERS": _int("SIDECAR_WORKERS", 8),
        "SIDECAR_LEASE_SECONDS": _int("SIDECAR_LEASE_SECONDS", 120),
        "REFRESH_INTERVAL_SECONDS": _int("REFRESH_INTERVAL_SECONDS", 300),
        "OUTREACH_INTERVAL_SECONDS": _int("OUTREACH_INTERVAL_SECONDS", 900),
        "HOUSEKEEPING_INTERVAL_SECONDS": _int("HOUSEKEEPING_INTERVAL_SECONDS", 3600),
        # At most one outreach email per customer within this many hours (all campaigns).
        "OUTREACH_DAILY_CAP_HOURS": _int("OUTREACH_DAILY_CAP_HOURS", 24),
        # A send claimed by a sidecar that died is looked at again after this long.
        "OUTREACH_CLAIM_LEASE_SECONDS": _int("OUTREACH_CLAIM_LEASE_SECONDS", 600),
        # Links in outreach emails (default: under PUBLIC_BASE_URL).
        "OUTREACH_RECONNECT_URL": os.environ.get("OUTREACH_RECONNECT_URL", ""),
        "OUTREACH_UPGRADE_URL": os.environ.get("OUTREACH_UPGRADE_URL", ""),
        "REFRESH_RENEW_WITHIN_DAYS": _int("REFRESH_RENEW_WITHIN_DAYS", 29),
        "SESSION_IDLE_MINUTES": _int("SESSION_IDLE_MINUTES", 30),
        # Reverse proxies in front of the portal whose X-Forwarded-* headers are trusted.
        "PROXY_COUNT": _int("PROXY_COUNT", 0),
        "SESSION_MAX_HOURS": _int("SESSION_MAX_HOURS", 12),
        # 1 MiB is far above any form here; larger bodies get a clean 413.
        "MAX_CONTENT_LENGTH": 1024 * 1024,
    }
    secret = os.environ.get("SECRET_KEY", "")
    keys = os.environ.get("TOKEN_ENCRYPTION_KEYS", "")
    if production:
        missing = [n for n, v in (("SECRET_KEY", secret), ("TOKEN_ENCRYPTION_KEYS", keys)) if not v]
        if missing:
            raise ConfigError("PORTAL_ENV=production needs %s set in the environment"
                              % " and ".join(missing))
        if len(secret) < MIN_SECRET_KEY_LENGTH:
            raise ConfigError("PORTAL_ENV=production needs a SECRET_KEY of at least %d "
                              "characters (got %d); make one with "
                              "python -c 'import secrets; print(secrets.token_hex(32))'"
                              % (MIN_SECRET_KEY_LENGTH, len(secret)))
    else:
        make_private_dir(instance_path)
        if not secret:
            secret = _read_or_create(os.path.join(instance_path, "secret_key"),
                                     lambda: secrets.token_hex(32))
        if not keys:
            keys = _read_or_create(os.path.join(instance_path, "token_encryption_keys"),
                                   lambda: Fernet.generate_key().decode())
    check_token_keys(keys)
    cfg["SECRET_KEY"] = secret
    cfg["TOKEN_ENCRYPTION_KEYS"] = keys
    return cfg
