#!/usr/bin/env python3
"""A minimal agent for the real-node tests: single MCP tool calls (the 2026-07-28
session-less transport, one POST each) through whatever the environment says
(`HTTP_PROXY`, set by agentnet's webhook), reported as one JSON line per call.

    agent_probe.py call URL TOOL [JSON-ARGS]     one call
    agent_probe.py loop URL TOOL [JSON-ARGS]     a call every --interval seconds, forever
    agent_probe.py on-sigterm URL TOOL [JSON-ARGS]
                                                 print the sidecar's readiness at start,
                                                 then on SIGTERM wait --delay seconds, make
                                                 one call and exit 0 (pod shutdown order)

Each line: {"t": <unix time>, "outcome": "allowed" | "denied" | "error" | "refused",
"detail": ...}: allowed is a result, denied a JSON-RPC error 403 from the sidecar, error
any other JSON-RPC error, refused a failed connection or HTTP error.
"""

import argparse
import json
import signal
import sys
import time
import urllib.error
import urllib.request

ADMIN_READY = "http://127.0.0.1:15000/ready"


def call(url: str, tool: str, arguments: dict, timeout: float = 5.0) -> dict:
    meta = {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
    }
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": {"name": tool, "arguments": arguments, "_meta": meta}}
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST", headers={
        "content-type": "application/json",
        "accept": "application/json, text/event-stream",
        "mcp-protocol-version": "2026-07-28",
        "mcp-method": "tools/call",
        "mcp-name": tool,
    })
    line = {"t": time.time()}
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            text = response.read().decode()
    except (urllib.error.URLError, OSError) as e:
        return {**line, "outcome": "refused", "detail": str(e)}
    message = parse(text)
    if message is None:
        return {**line, "outcome": "error", "detail": text[:200]}
    if "error" in message:
        code = message["error"].get("code")
        return {**line, "outcome": "denied" if code == 403 else "error", "detail": message["error"]}
    return {**line, "outcome": "allowed", "detail": message.get("result")}


def parse(text: str):
    """A JSON body, or the last `data:` of an SSE body."""
    try:
        return json.loads(text)
    except ValueError:
        pass
    data = [l[5:].strip() for l in text.splitlines() if l.startswith("data:")]
    for chunk in reversed(data):
        try:
            return json.loads(chunk)
        except ValueError:
            continue
    return None


def sidecar_ready() -> str:
    # The admin listener is on loopback: never through the proxy.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(ADMIN_READY, timeout=2) as response:
            return f"ready {response.status}"
    except urllib.error.HTTPError as e:
        return f"not-ready {e.code}"
    except (urllib.error.URLError, OSError) as e:
        return f"unreachable {e}"


def emit(line: dict) -> None:
    print(json.dumps(line), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["call", "loop", "on-sigterm"])
    parser.add_argument("url")
    parser.add_argument("tool")
    parser.add_argument("arguments", nargs="?", default="{}")
    parser.add_argument("--interval", type=float, default=0.2)
    parser.add_argument("--delay", type=float, default=1.0)
    args = parser.parse_args()
    arguments = json.loads(args.arguments)
    if args.mode == "call":
        emit(call(args.url, args.tool, arguments))
    elif args.mode == "loop":
        while True:
            emit(call(args.url, args.tool, arguments, timeout=2.0))
            time.sleep(args.interval)
    else:
        emit({"t": time.time(), "start": sidecar_ready()})

        def on_term(*_):
            time.sleep(args.delay)
            emit({**call(args.url, args.tool, arguments), "after": "SIGTERM"})
            sys.exit(0)

        signal.signal(signal.SIGTERM, on_term)
        while True:
            time.sleep(3600)


if __name__ == "__main__":
    main()
