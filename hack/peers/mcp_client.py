#!/usr/bin/env python3
"""An MCP client (PyPI `mcp`) that runs a few operations and prints one JSON object.

It reaches the server however the URL and environment say: set `HTTP_PROXY` to go
through agentnet's sidecar as a forward proxy, or pass a
`http://127.0.0.1:15001/backends/<ns>/<name>/mcp` URL.

    mcp_client.py URL [--mode legacy|2026-07-28|auto] OP...

Operations: `list-tools`, `list-prompts`, `list-resources`, `call:<tool>[:<json args>]`,
`read:<uri>`, `prompt:<name>[:<json args>]`. Output:

    {"protocol_version": "...", "results": [{"op": "...", "ok": true, "result": ...},
                                            {"op": "...", "ok": false, "error": {"code": 403, ...}}]}

A connection failure prints `{"connect_error": "..."}` and exits 1.
"""

import argparse
import asyncio
import json
import sys

from mcp import Client
from mcp.shared.exceptions import MCPError


def parse_op(op: str):
    kind, _, rest = op.partition(":")
    if kind in ("call", "prompt"):
        name, _, args = rest.partition(":")
        return kind, name, json.loads(args) if args else {}
    return kind, rest, None


async def run_op(client: Client, op: str):
    kind, target, args = parse_op(op)
    if kind == "list-tools":
        result = await client.list_tools()
        return {"tools": sorted(t.name for t in result.tools)}
    if kind == "list-prompts":
        result = await client.list_prompts()
        return {"prompts": sorted(p.name for p in result.prompts)}
    if kind == "list-resources":
        result = await client.list_resources()
        return {"resources": sorted(str(r.uri) for r in result.resources)}
    if kind == "call":
        result = await client.call_tool(target, args)
        texts = [c.text for c in result.content if getattr(c, "type", "") == "text"]
        return {"is_error": bool(result.is_error), "text": texts}
    if kind == "read":
        result = await client.read_resource(target)
        return {"text": [getattr(c, "text", None) for c in result.contents]}
    if kind == "prompt":
        result = await client.get_prompt(target, args)
        return {"messages": len(result.messages)}
    raise ValueError(f"unknown operation {op!r}")


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--mode", default="auto", help="legacy, auto or a modern version such as 2026-07-28")
    parser.add_argument("ops", nargs="+")
    args = parser.parse_args()
    out = {"results": []}
    try:
        async with Client(args.url, mode=args.mode, cache=None, read_timeout_seconds=30) as client:
            out["protocol_version"] = client.protocol_version
            for op in args.ops:
                try:
                    out["results"].append({"op": op, "ok": True, "result": await run_op(client, op)})
                except MCPError as e:
                    error = {"code": e.code, "message": e.message, "data": e.data}
                    out["results"].append({"op": op, "ok": False, "error": error})
    except Exception as e:  # noqa: BLE001 - the test reads the reason
        print(json.dumps({"connect_error": f"{type(e).__name__}: {e}", "results": out["results"]}), flush=True)
        return 1
    print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
