"""`flask --app app mcp-server --workers 2`: worker processes built by uvicorn's factory
serve tool calls with the command's configuration (both engines)."""
import os
import subprocess
import sys
import time

import httpx2

from models import ApiUsage
from tests.conftest import free_port
from tests.mcp_helpers import customer_with_key

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_two_worker_processes_serve_tool_calls_and_record_usage(app, subprocess_env):
    user, key = customer_with_key(plan="pro")
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "flask", "--app", "app", "mcp-server",
                             "--port", str(port), "--workers", "2"], cwd=ROOT,
                            env=subprocess_env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    url = "http://127.0.0.1:%d/mcp" % port
    headers = {"Authorization": "Bearer " + key, "Content-Type": "application/json",
               "Accept": "application/json, text/event-stream",
               "MCP-Protocol-Version": "2025-06-18"}
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, proc.stdout.read()
            try:
                if httpx2.post(url, timeout=2).status_code == 401:
                    break
            except httpx2.TransportError:
                pass
            assert time.monotonic() < deadline, "the MCP server did not start"
            time.sleep(0.2)
        answers = [httpx2.post(url, headers=headers, timeout=10, json={
            "jsonrpc": "2.0", "id": i, "method": "tools/call",
            "params": {"name": "list_divisions", "arguments": {}}}) for i in range(6)]
    finally:
        proc.terminate()
        output = proc.communicate(timeout=30)[0]
    assert [a.status_code for a in answers] == [200] * 6, output
    assert all(a.json()["result"]["structuredContent"] == {"divisions": []} for a in answers)
    assert "(2 workers)" in output
    assert ApiUsage.select().where(ApiUsage.user == user.id).count() == 6
