#!/usr/bin/env python3
"""A small MCP server (PyPI `mcp`, Streamable HTTP, both transport eras) for agentnet's
tests and demo.

Tools: `add`, `echo`, `get-secret` (a tool policies usually hide) and `slow-stream`,
which sends a log notification on its SSE response and then waits until
`POST /release` (or 30 s) before it returns, so a test can prove that the first event
reached the client before the stream ended. Also one prompt and two resources.

Side routes, outside MCP: `GET /stats` says how many requests reached `/mcp` and how
often each tool ran (`tool_calls`), so a test can prove that a rejected request never
got here; `POST /release` releases
`slow-stream`.

It binds 127.0.0.1 (or --host) on the given port (0: any free port) and prints
`PORT <n>` once listening. DNS-rebinding protection is off because callers come through agentnet's
sidecar with the Service's host name, not 127.0.0.1.

    mcp_server.py [--host ADDR] [--port N] [--json-response]
"""

import argparse
import asyncio
import socket
import sys

import uvicorn
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.transport_security import TransportSecuritySettings
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

STATS = {"mcp_requests": 0, "tool_calls": {}}
RELEASE = asyncio.Event()

server = MCPServer("agentnet-test-mcp", version="1.0.0")


def ran(tool: str) -> None:
    STATS["tool_calls"][tool] = STATS["tool_calls"].get(tool, 0) + 1


@server.tool()
def add(a: int, b: int) -> int:
    """Add two integers."""
    ran("add")
    return a + b


@server.tool()
def echo(text: str) -> str:
    """Echo the text back."""
    ran("echo")
    return text


@server.tool(name="get-secret")
def get_secret() -> str:
    """Return a secret (policies usually deny this one)."""
    ran("get-secret")
    return "s3cr3t"


@server.tool(name="slow-stream")
async def slow_stream(ctx: Context) -> str:
    """Send a log notification, then wait for POST /release (at most 30 s)."""
    await ctx.info("slow-stream started")
    try:
        await asyncio.wait_for(RELEASE.wait(), timeout=30)
    except TimeoutError:
        return "timed out"
    RELEASE.clear()
    return "released"


@server.prompt()
def greet(name: str) -> str:
    """A greeting prompt."""
    return f"Say hello to {name}."


@server.resource("memo://public")
def public_memo() -> str:
    """A memo anyone may read."""
    return "public memo"


@server.resource("memo://private")
def private_memo() -> str:
    """A memo policies usually hide."""
    return "private memo"


@server.custom_route("/stats", methods=["GET"])
async def stats(_: Request) -> Response:
    return JSONResponse(STATS)


@server.custom_route("/release", methods=["POST"])
async def release(_: Request) -> Response:
    RELEASE.set()
    return JSONResponse({"released": True})


class CountRequests:
    """ASGI middleware: counts HTTP requests that reach the MCP endpoint."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["path"].startswith("/mcp"):
            STATS["mcp_requests"] += 1
        await self.app(scope, receive, send)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (an endpoint a cluster accepts is not loopback)")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--json-response", action="store_true", help="answer requests with JSON, not SSE")
    args = parser.parse_args()
    security = TransportSecuritySettings(enable_dns_rebinding_protection=False)
    app = server.streamable_http_app(json_response=args.json_response, transport_security=security)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.host, args.port))
    config = uvicorn.Config(CountRequests(app), log_level="warning", lifespan="on")
    print(f"PORT {sock.getsockname()[1]}", flush=True)
    await uvicorn.Server(config).serve(sockets=[sock])


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
