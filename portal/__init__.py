"""The Flask side of the portal: the app factory.

`create_app(config=None)` reads the environment (portal.core.config), binds the
shared Peewee database, wires Flask-Login, CSRF, security headers, the central
access check (portal.core.access), every blueprint and every CLI command.
"""
import importlib
import importlib.util
import logging
import os

from flask import Flask

from models import database, init_database

from portal.core import access
from portal.core.config import ConfigError, load_config
from portal.core.extensions import csrf, login_manager

BLUEPRINTS = [
    "portal.health", "portal.auth", "portal.dashboard", "portal.customers",
    "portal.connections", "portal.usage", "portal.usage.api", "portal.flags",
    "portal.mail.templates_admin", "portal.mail.outbox", "portal.outreach",
    "portal.staff", "portal.outreach.public", "portal.metrics",
    "portal.connect", "portal.connect.customer",
]


def create_app(config=None):
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    app = Flask(
        __name__,
        instance_path=(config or {}).get("INSTANCE_PATH") or os.environ.get(
            "PORTAL_INSTANCE_PATH") or os.path.join(root, "instance"),
        template_folder=os.path.join(root, "templates"),
        static_folder=os.path.join(root, "static"),
    )
    try:
        app.config.update(load_config(app.instance_path))
    except ConfigError as exc:
        if config is not None:
            raise
        # Started from the environment (flask --app app ..., a WSGI server):
        # one clear line and a non-zero exit, not a traceback.
        raise SystemExit("portal: configuration error: %s" % exc)
    app.config["MIGRATIONS_DIR"] = os.path.join(root, "migrations")
    if config:
        app.config.update(config)
    # Before any route exists: every <int:...> in a URL is bounded to 64 bits.
    from portal.core.web import BoundedIntConverter
    app.url_map.converters["int"] = BoundedIntConverter

    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")

    init_database(app.config["DATABASE_URL"])
    _wire_database(app)
    _trust_proxies(app)

    # security first: its encoding guard must see the raw body before CSRF
    # (or anything else) parses the form and consumes it.
    from portal.core import security
    security.init_app(app)

    csrf.init_app(app)
    login_manager.init_app(app)

    app.before_request(access.enforce_access)

    for name in BLUEPRINTS:
        app.register_blueprint(_blueprint(name))

    from portal.core.nav import nav_items
    app.context_processor(lambda: {"nav_items": nav_items, "is_admin": access.is_admin})
    from portal.core.errors import register_error_pages
    register_error_pages(app)

    from portal.cli import register_commands
    register_commands(app)
    return app


def _blueprint(package):
    """The package's blueprint with its views attached.

    A package's `__init__` only creates the blueprint and its access policy; the
    views live in `routes.py`, imported here. So importing a service module
    (portal.customers.service) never drags in the web layer, and services of
    different features can import each other without import cycles.
    """
    module = importlib.import_module(package)
    if importlib.util.find_spec(package + ".routes") is not None:
        importlib.import_module(package + ".routes")
    return module.bp


def _trust_proxies(app):
    """Behind N reverse proxies, take the client address from X-Forwarded-For.

    The login throttle and the audit log key on the client address; without
    this every client would share the proxy's address, and one lockout would
    lock everyone out. Off (0) unless PROXY_COUNT says how many proxies to trust.
    """
    count = int(app.config.get("PROXY_COUNT") or 0)
    if count > 0:
        from werkzeug.middleware.proxy_fix import ProxyFix
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=count, x_proto=count, x_host=count)


def _wire_database(app):
    """Connect per request, close on teardown (coleifer/scout style)."""

    @app.before_request
    def _db_connect():
        database.connect(reuse_if_open=True)

    @app.teardown_request
    def _db_close(exc):
        if not database.is_closed():
            database.close()
