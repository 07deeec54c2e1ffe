#!/usr/bin/env python3
"""A minimal agent for the real-node tests: single MCP tool calls (the 2026-07-28
session-less transport, one POST each) through whatever the environment says
(`HTTP_PROXY`, set by agentnet's webhook), reported as one JSON line per call.

    agent_probe.py call URL TOOL [JSON-ARGS]     one call
    agent_probe.py raw URL TOOL [JSON-ARGS]      one call written by hand on a plain
                                                 socket (no HTTP library, no proxy)
    agent_probe.py list URL                      tools/list: the tool names it shows
    agent_probe.py loop URL TOOL [JSON-ARGS]     a call every --interval seconds, forever
    agent_probe.py on-sigterm URL TOOL [JSON-ARGS]
                                                 print the sidecar's readiness at start,
                                                 then on SIGTERM wait --delay seconds, make
                                                 one call and exit 0 (pod shutdown order)
    agent_probe.py tcp HOST:PORT                 opaque TCP: send a line, expect it back
    agent_probe.py echo-server PORT              serve that: echo each line, log each
                                                 connection

--no-proxy ignores HTTP_PROXY (an agent that does not cooperate). Each line:
{"t": <unix time>, "outcome": "allowed" | "denied" | "error" | "refused", "detail": ...}:
allowed is a result, denied a JSON-RPC error 403 from the sidecar, error any other
JSON-RPC error, refused a failed connection or HTTP error.
"""

import argparse
import json
import signal
import socket
import socketserver
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

ADMIN_READY = "http://127.0.0.1:15000/ready"


NO_PROXY = False
META = {
    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
    "io.modelcontextprotocol/clientCapabilities": {},
}


def request_parts(method: str, tool: str | None, arguments: dict) -> tuple[bytes, dict]:
    params = {"_meta": META}
    if tool is not None:
        params.update({"name": tool, "arguments": arguments})
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
    headers = {
        "content-type": "application/json",
        "accept": "application/json, text/event-stream",
        "mcp-protocol-version": "2026-07-28",
        "mcp-method": method,
    }
    if tool is not None:
        headers["mcp-name"] = tool
    return json.dumps(body).encode(), headers


def post(url: str, method: str, tool: str | None, arguments: dict, timeout: float) -> str:
    data, headers = request_parts(method, tool, arguments)
    request = urllib.request.Request(url, data=data, method="POST", headers=headers)
    handlers = [urllib.request.ProxyHandler({})] if NO_PROXY else []
    with urllib.request.build_opener(*handlers).open(request, timeout=timeout) as response:
        return response.read().decode()


def call(url: str, tool: str, arguments: dict, timeout: float = 5.0) -> dict:
    line = {"t": time.time()}
    try:
        text = post(url, "tools/call", tool, arguments, timeout)
    except (urllib.error.URLError, OSError) as e:
        return {**line, "outcome": "refused", "detail": str(e)}
    return outcome(line, text)


def raw(url: str, tool: str, arguments: dict, timeout: float = 5.0) -> dict:
    """The same call, written by hand on a socket: what code a prompt injection wrote
    might do."""
    line = {"t": time.time()}
    u = urllib.parse.urlsplit(url)
    data, headers = request_parts("tools/call", tool, arguments)
    head = f"POST {u.path or '/'} HTTP/1.1\r\nhost: {u.netloc}\r\ncontent-length: {len(data)}\r\nconnection: close\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    try:
        with socket.create_connection((u.hostname, u.port or 80), timeout=timeout) as s:
            s.sendall(head.encode() + data)
            reply = b""
            while chunk := s.recv(65536):
                reply += chunk
    except OSError as e:
        return {**line, "outcome": "refused", "detail": str(e)}
    status, _, rest = reply.partition(b"\r\n")
    if b" 200 " not in status + b" ":
        return {**line, "outcome": "refused", "detail": status.decode(errors="replace")}
    _, _, body = rest.partition(b"\r\n\r\n")
    return outcome(line, body.decode(errors="replace"))


def list_tools(url: str) -> dict:
    line = {"t": time.time()}
    try:
        message = parse(post(url, "tools/list", None, {}, 5.0))
    except (urllib.error.URLError, OSError) as e:
        return {**line, "outcome": "refused", "detail": str(e)}
    if not message or "result" not in message:
        return {**line, "outcome": "error", "detail": message}
    return {**line, "outcome": "allowed", "tools": sorted(t["name"] for t in message["result"]["tools"])}


def tcp(target: str) -> dict:
    host, _, port = target.rpartition(":")
    line = {"t": time.time()}
    try:
        with socket.create_connection((host, int(port)), timeout=3) as s:
            s.sendall(b"ping\n")
            got = s.recv(16)
    except OSError as e:
        return {**line, "outcome": "refused", "detail": str(e)}
    return {**line, "outcome": "echoed" if got == b"ping\n" else "closed", "detail": got.decode(errors="replace")}


class Echo(socketserver.StreamRequestHandler):
    def handle(self):
        print(json.dumps({"t": time.time(), "connection": self.client_address[0]}), flush=True)
        for data in self.rfile:
            self.wfile.write(data)


def outcome(line: dict, text: str) -> dict:
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
    parser.add_argument("mode", choices=["call", "raw", "list", "loop", "on-sigterm", "tcp", "echo-server"])
    parser.add_argument("url")
    parser.add_argument("tool", nargs="?")
    parser.add_argument("arguments", nargs="?", default="{}")
    parser.add_argument("--interval", type=float, default=0.2)
    parser.add_argument("--delay", type=float, default=1.0)
    parser.add_argument("--no-proxy", action="store_true", help="ignore HTTP_PROXY")
    args = parser.parse_args()
    global NO_PROXY
    NO_PROXY = args.no_proxy
    arguments = json.loads(args.arguments)
    if args.mode == "call":
        emit(call(args.url, args.tool, arguments))
    elif args.mode == "raw":
        emit(raw(args.url, args.tool, arguments))
    elif args.mode == "list":
        emit(list_tools(args.url))
    elif args.mode == "tcp":
        emit(tcp(args.url))
    elif args.mode == "echo-server":
        socketserver.ThreadingTCPServer.allow_reuse_address = True
        with socketserver.ThreadingTCPServer(("0.0.0.0", int(args.url)), Echo) as server:
            server.serve_forever()
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
