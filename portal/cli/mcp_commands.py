"""mcp-server: the MCP server (Streamable HTTP at /mcp) under uvicorn."""
import os

import click
from flask import current_app


def worker_app():
    """uvicorn's factory in each worker process: the same configuration as the
    command's (create_app reads the environment), its own database pool."""
    from portal import create_app
    from portal.mcp.server import create_asgi_app
    return create_asgi_app(dict(create_app().config))


@click.command("mcp-server")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8765, show_default=True, type=int)
@click.option("--workers", type=click.IntRange(1, 64), envvar="MCP_WORKERS", default=1,
              show_default=True, help="worker processes (env MCP_WORKERS); the server keeps "
              "no state between requests, so each worker serves any of them")
def mcp_server_command(host, port, workers):
    """Serve MCP for the customers' AI assistants until SIGTERM/SIGINT."""
    import logging

    import uvicorn
    from portal.mcp.server import create_asgi_app
    if not logging.getLogger().handlers:  # one line per tool call on stderr
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    # Tool-call figures go to the portal's /metrics through prometheus_client's
    # multiprocess folder when one is set (deploy/, make run); gunicorn creates it,
    # but this server may start first.
    metrics_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if metrics_dir:
        os.makedirs(metrics_dir, exist_ok=True)
    click.echo("MCP server on http://%s:%d/mcp (%d worker%s)"
               % (host, port, workers, "" if workers == 1 else "s"), err=True)
    # `workers` is always passed: left out, uvicorn reads WEB_CONCURRENCY (set for
    # gunicorn). One worker serves the app object built here; several need a
    # factory that each worker process calls. A single process tops out at about
    # one core: the SDK's per-request work is pure Python (docs/mcp.md).
    if workers == 1:
        uvicorn.run(create_asgi_app(dict(current_app.config)), host=host, port=port,
                    log_level="warning", lifespan="on", workers=1)
    else:
        uvicorn.run("portal.cli.mcp_commands:worker_app", factory=True, host=host, port=port,
                    log_level="warning", lifespan="on", workers=workers)


def register(app):
    app.cli.add_command(mcp_server_command)
