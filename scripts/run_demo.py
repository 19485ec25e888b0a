#!/usr/bin/env python3
"""`make run`: the whole product on SQLite with demo data, one command.

Migrates instance/portal.db, fills it with demo data when it is empty,
creates the demo staff accounts, then starts every process the product needs
(portal, the fake Exact server and the sidecar) and stops
them all on Ctrl-C.
"""
import os
import signal
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PY = sys.executable
DEMO_ADMIN = "admin@demo.local"
DEMO_SUPPORT = "support@demo.local"
DEMO_PASSWORD = "demo-password-123"
PORT = os.environ.get("PORT", "5000")
FAKE_EXACT_PORT = os.environ.get("FAKE_EXACT_PORT", "5055")


def flask(*args, **kw):
    return subprocess.run([PY, "-m", "flask", "--app", "app", *args], cwd=ROOT, env=ENV, **kw)


ENV = dict(os.environ)
ENV.setdefault("ADMIN_EMAILS", DEMO_ADMIN)
ENV.setdefault("PUBLIC_BASE_URL", "http://127.0.0.1:%s" % PORT)
ENV.setdefault("EXACT_BASE_URL", "http://127.0.0.1:%s" % FAKE_EXACT_PORT)
ENV.setdefault("EXACT_CLIENT_ID", "demo-client")
ENV.setdefault("EXACT_CLIENT_SECRET", "demo-secret")
ENV["PYTHONUNBUFFERED"] = "1"
# The portal's gunicorn workers and the MCP server share one metrics folder, so
# /metrics shows the MCP tool calls too (docs/operations.md).
ENV.setdefault("PROMETHEUS_MULTIPROC_DIR", os.path.join(ROOT, "instance", "prometheus"))


def prepare():
    if flask("migrate").returncode != 0:
        sys.exit("migrate failed")
    flask("seed-demo", "--if-empty")
    for email in (DEMO_ADMIN, DEMO_SUPPORT):
        flask("create-user", email, "--password-stdin", input=DEMO_PASSWORD + "\n",
              text=True, capture_output=True)


MCP_PORT = os.environ.get("MCP_PORT", "8765")


def processes():
    procs = [("fake-exact", [PY, "-m", "portal.exact.fake", "--port", FAKE_EXACT_PORT]),
             ("sidecar", [PY, "-m", "flask", "--app", "app", "sidecar"])]
    # The production server, as in deploy/: the demo is what production runs.
    ENV.setdefault("PORTAL_BIND", "127.0.0.1:%s" % PORT)
    ENV.setdefault("WEB_CONCURRENCY", "2")
    procs.append(("portal", [PY, "-m", "gunicorn", "-c", "deploy/gunicorn.conf.py", "app:app"]))
    procs.append(("mcp-server", [PY, "-m", "flask", "--app", "app", "mcp-server",
                                 "--port", MCP_PORT]))
    return procs


def main():
    prepare()
    running = []
    for name, cmd in processes():
        print("== starting %s" % name, flush=True)
        running.append((name, subprocess.Popen(cmd, cwd=ROOT, env=ENV)))
        time.sleep(0.5)
    print("\n  Portal:  http://127.0.0.1:%s\n  Admin:   %s / %s\n  Support: %s / %s\n"
          "  Ctrl-C stops everything.\n" % (PORT, DEMO_ADMIN, DEMO_PASSWORD, DEMO_SUPPORT,
                                            DEMO_PASSWORD), flush=True)
    print("  MCP:     http://127.0.0.1:%s/mcp  (Authorization: Bearer <key from "
          "`flask --app app api-key create EMAIL`)\n" % MCP_PORT, flush=True)
    stopping = False

    def stop(*_):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    while not stopping:
        for name, p in running:
            if p.poll() is not None:
                print("== %s exited with %s; stopping the rest" % (name, p.returncode))
                stopping = True
        time.sleep(0.5)
    for _, p in running:
        if p.poll() is None:
            p.terminate()
    for _, p in running:
        try:
            p.wait(20)
        except subprocess.TimeoutExpired:
            p.kill()
    print("== stopped")


if __name__ == "__main__":
    main()
