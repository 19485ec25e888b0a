"""The MCP server under real uvicorn on a free localhost port, and the SDK client."""
import asyncio
import concurrent.futures
import socket
import threading
import time

import httpx2
import pytest
import uvicorn
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client

from portal.customers.api_keys import create_api_key
from portal.exact.fake import FakeExact


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class McpServerThread:
    def __init__(self, config):
        from portal.mcp.server import create_asgi_app
        self.port = free_port()
        self.server = uvicorn.Server(uvicorn.Config(create_asgi_app(config), host="127.0.0.1",
                                                    port=self.port, log_level="warning",
                                                    lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self):
        return "http://127.0.0.1:%d/mcp" % self.port

    def start(self):
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("MCP server did not start")
            time.sleep(0.02)
        return self

    def stop(self):
        self.server.should_exit = True
        self.thread.join(10)


async def acall(url, key, tool, args=None, list_tools=False):
    headers = {"Authorization": "Bearer " + key} if key else {}
    async with httpx2.AsyncClient(headers=headers, timeout=30) as http:
        async with streamable_http_client(url, http_client=http,
                                          terminate_on_close=False) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                if list_tools:
                    return await session.list_tools()
                return await session.call_tool(tool, args or {})


def call(url, key, tool, args=None):
    return run_async(acall(url, key, tool, args))


@pytest.fixture
def exact():
    server = FakeExact(mode="strict").start()
    yield server
    server.stop()


@pytest.fixture
def mcp(app, exact):
    config = dict(app.config)
    config["EXACT_BASE_URL"] = exact.url
    config["EXACT_TIMEOUT_SECONDS"] = 5
    server = McpServerThread(config).start()
    yield server
    server.stop()


def customer_with_key(email="klant@bakkerij.nl", plan="starter"):
    from models import User
    user = User.create(email=email, name="Klant", plan=plan)
    _, key = create_api_key(user, name="mcp test")
    return user, key


def run_async(coro):
    """asyncio.run in a thread of its own: a test before this one (Playwright's sync
    API) may leave an event loop set on the main thread, where asyncio.run refuses."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()
