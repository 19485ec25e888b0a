"""Shared test fixtures.

The database is real: SQLite in a temporary file by default, or PostgreSQL
when TEST_DATABASE_URL names a server (e.g. postgresql://postgres@127.0.0.1:5432/test).
Each test run gets its own database (a fresh file, or a fresh PostgreSQL
database created from the named one and dropped at the end), so runs never
see each other's rows. Migrations run once per session; every test starts
from empty tables.
"""
import os
import socket
import threading
import uuid

import pytest
from cryptography.fernet import Fernet

from models import ALL_MODELS, Staff, database
from models.db import init_database, is_postgres
from models.scratch_db import create_scratch_database, drop_scratch_database

ADMIN_EMAIL = "admin@example.com"
SUPPORT_EMAIL = "support@example.com"
PASSWORD = "correct horse battery staple"
# Lower scrypt cost in tests only; tests of the production parameters use
# portal.auth.passwords.PASSWORD_HASH_METHOD directly.
TEST_HASH_METHOD = "scrypt:16384:8:1"
TEST_TOKEN_KEY = Fernet.generate_key().decode()
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")


@pytest.fixture(scope="session")
def db_url(tmp_path_factory):
    """URL of this run's own, migrated database."""
    base = os.environ.get("TEST_DATABASE_URL", "")
    created = None
    if base.startswith("postgres"):
        url, created = create_scratch_database(base, "portal_test")
    else:
        url = "sqlite:///" + str(tmp_path_factory.mktemp("db") / "portal.db")
    from portal.core.migrations_runner import make_runner
    db = init_database(url)
    make_runner(db, os.path.join(os.path.dirname(__file__), "..", "migrations")).up()
    db.close()
    yield url
    database.obj.close() if database.obj else None
    if created:
        drop_scratch_database(base, created)


def truncate_all():
    tables = [m._meta.table_name for m in ALL_MODELS]
    database.connect(reuse_if_open=True)
    if is_postgres():
        database.execute_sql("TRUNCATE %s RESTART IDENTITY CASCADE"
                             % ", ".join('"%s"' % t for t in tables))
    else:
        database.execute_sql("PRAGMA foreign_keys = OFF")
        with database.atomic():
            for t in tables:
                database.execute_sql('DELETE FROM "%s"' % t)
            if database.table_exists("sqlite_sequence"):
                database.execute_sql("DELETE FROM sqlite_sequence")
        database.execute_sql("PRAGMA foreign_keys = ON")


@pytest.fixture
def app_config(db_url, tmp_path):
    return {
        "TESTING": True,
        "DATABASE_URL": db_url,
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "SECRET_KEY": "test-secret-" + uuid.uuid4().hex,
        "TOKEN_ENCRYPTION_KEYS": TEST_TOKEN_KEY,
        "ADMIN_EMAILS": ADMIN_EMAIL,
        "WTF_CSRF_ENABLED": False,
        "PASSWORD_HASH_METHOD": TEST_HASH_METHOD,
        "MAIL_URL": "outbox:",
        "MAIL_FROM": "Exact MCP <support@example.com>",
        "PUBLIC_BASE_URL": "http://portal.test",
        "EXACT_BASE_URL": "http://127.0.0.1:9",
        "EXACT_CLIENT_ID": "test-client",
        "EXACT_CLIENT_SECRET": "test-secret",
    }


@pytest.fixture
def app(app_config):
    from portal import create_app
    application = create_app(app_config)
    truncate_all()
    with application.app_context():
        yield application
    if not database.is_closed():
        database.close()


@pytest.fixture
def subprocess_env(app_config):
    """Environment for running `flask --app app ...` in a real child process."""
    env = dict(os.environ)
    env.update({
        "DATABASE_URL": app_config["DATABASE_URL"],
        "TOKEN_ENCRYPTION_KEYS": app_config["TOKEN_ENCRYPTION_KEYS"],
        "SECRET_KEY": app_config["SECRET_KEY"],
        "PORTAL_INSTANCE_PATH": app_config["INSTANCE_PATH"],
        "ADMIN_EMAILS": app_config["ADMIN_EMAILS"],
        "EXACT_CLIENT_ID": app_config["EXACT_CLIENT_ID"],
        "EXACT_CLIENT_SECRET": app_config["EXACT_CLIENT_SECRET"],
        "MAIL_URL": "outbox:",
        "PYTHONUNBUFFERED": "1",
    })
    env.pop("PORTAL_ENV", None)
    return env


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


class Clock:
    """An injectable clock (config CLOCK: a callable returning naive UTC) that tests
    move forward instead of sleeping."""

    def __init__(self, start=None):
        from models import utcnow
        self.now = start or utcnow()

    def __call__(self):
        return self.now

    def advance(self, **kw):
        import datetime
        self.now += datetime.timedelta(**kw)


@pytest.fixture
def clock(app):
    c = Clock()
    app.config["CLOCK"] = c
    return c


def make_staff(email, password=PASSWORD, name=None, active=True):
    from portal.auth.passwords import hash_password
    return Staff.create(email=email, name=name or email.split("@")[0], active=active,
                        password_hash=hash_password(password, TEST_HASH_METHOD))


class AuthActions:
    """Log in and out through the real form (tutorial-style helper)."""

    def __init__(self, client):
        self._client = client

    def login(self, email=ADMIN_EMAIL, password=PASSWORD, follow_redirects=False):
        return self._client.post("/login", data={"email": email, "password": password},
                                 follow_redirects=follow_redirects)

    def logout(self):
        return self._client.post("/logout")


@pytest.fixture
def auth(client):
    return AuthActions(client)


@pytest.fixture
def admin(app):
    return make_staff(ADMIN_EMAIL, name="Ada Admin")


@pytest.fixture
def support(app):
    return make_staff(SUPPORT_EMAIL, name="Sam Support")


@pytest.fixture
def admin_client(app, admin):
    c = app.test_client()
    r = AuthActions(c).login(ADMIN_EMAIL)
    assert r.status_code == 302, r.data[:500]
    return c


@pytest.fixture
def support_client(app, support):
    c = app.test_client()
    r = AuthActions(c).login(SUPPORT_EMAIL)
    assert r.status_code == 302, r.data[:500]
    return c


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def live_server(app):
    """The app served over a real socket in a thread; yields its base URL."""
    from werkzeug.serving import make_server
    app.config["WTF_CSRF_ENABLED"] = True  # browsers get the real thing
    port = free_port()
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield "http://127.0.0.1:%d" % port
    server.shutdown()
    thread.join(5)


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium driven by Playwright (no browser download needed)."""
    if not os.path.exists(CHROMIUM):
        pytest.fail("Chromium not found at %s: install Debian's chromium "
                    "(.ci/run does)" % CHROMIUM)
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--disable-dev-shm-usage",
            # Keep sandboxed iframes (the email previews) in the page's process:
            # in a process of their own, Playwright now and then lost track of
            # their navigation (tests/browser/test_templates_browser.py).
            "--disable-features=IsolateSandboxedIframes"])
        yield b
        b.close()


@pytest.fixture
def page(browser, tmp_path):
    context = browser.new_context()
    pg = context.new_page()
    yield pg
    context.close()


@pytest.fixture(scope="session")
def artifacts_dir():
    """Where browser tests keep screenshots (test-output/ in the checkout)."""
    path = os.path.join(os.path.dirname(__file__), "..", "test-output")
    os.makedirs(path, exist_ok=True)
    return os.path.abspath(path)


def browser_login(page, base_url, email, password=PASSWORD):
    page.goto(base_url + "/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
