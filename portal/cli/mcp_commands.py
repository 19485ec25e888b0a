"""mcp-server: the MCP server (Streamable HTTP at /mcp) under uvicorn."""
import os

import click
from flask import current_app


@click.command("mcp-server")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8765, show_default=True, type=int)
def mcp_server_command(host, port):
    """Serve MCP for the customers' AI assistants until SIGTERM/SIGINT."""
    import logging

    import uvicorn
    from portal.mcp.server import create_asgi_app
    if not logging.getLogger().handlers:  # one line per tool call on stderr
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    config = dict(current_app.config)
    # Tool-call figures go to the portal's /metrics through prometheus_client's
    # multiprocess folder when one is set (deploy/, make run); gunicorn creates it,
    # but this server may start first.
    metrics_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if metrics_dir:
        os.makedirs(metrics_dir, exist_ok=True)
    click.echo("MCP server on http://%s:%d/mcp" % (host, port), err=True)
    # workers=1: one process serves the app object; without it uvicorn reads
    # WEB_CONCURRENCY (set for gunicorn) and refuses to start.
    uvicorn.run(create_asgi_app(config), host=host, port=port, log_level="warning",
                lifespan="on", workers=1)


def register(app):
    app.cli.add_command(mcp_server_command)
