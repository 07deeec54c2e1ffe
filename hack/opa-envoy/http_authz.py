#!/usr/bin/env python3
"""Envoy's HTTP ext_authz protocol in front of OPA's REST API, for agentnet's HTTP-mode
ExternalAuth tests (OPA-Envoy speaks only gRPC ext_authz; OPA's REST API always answers
200 with the decision in the body).

Each request to this server is the authorization request an HTTP-mode ExternalAuth
sends: the original method and path (after the configured prefix), Host, Authorization
and the allowed headers, and the body up to forwardBody.maxSize. It becomes an OPA input
shaped like the gRPC CheckRequest (attributes.request.http, and the JSON-RPC body as
attributes.metadata_context.filter_metadata.mcp_proxy {method, id, params}), so one Rego
policy serves both modes. OPA's `result` true answers 200 with `x-authz-decision: allow`;
anything else 403 with the reason. Standard library only.

    http_authz.py OPA_URL QUERY_PATH       # e.g. http://127.0.0.1:8181 agentnet/authz/allow

Prints `PORT <n>` once listening on 127.0.0.1.
"""

import json
import sys
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

OPA_URL, QUERY = sys.argv[1], sys.argv[2]


def opa_input(handler, body):
    http = {
        "method": handler.command,
        "path": handler.path,
        "host": handler.headers.get("host", ""),
        "headers": {k.lower(): v for k, v in handler.headers.items()},
    }
    attributes = {"request": {"http": http}}
    try:
        message = json.loads(body) if body else None
    except ValueError:
        message = None
    if isinstance(message, dict) and "method" in message:
        mcp = {k: message[k] for k in ("method", "id", "params") if k in message}
        attributes["metadata_context"] = {"filter_metadata": {"mcp_proxy": mcp}}
    return {"attributes": attributes}


class Handler(BaseHTTPRequestHandler):
    def handle_any(self):
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        query = json.dumps({"input": opa_input(self, body)}).encode()
        request = urllib.request.Request(f"{OPA_URL}/v1/data/{QUERY}", data=query,
                                         headers={"content-type": "application/json"})
        with urllib.request.urlopen(request, timeout=5) as response:
            allowed = json.load(response).get("result") is True
        if allowed:
            self.send_response(200)
            self.send_header("x-authz-decision", "allow")
            self.send_header("content-length", "0")
            self.end_headers()
            return
        reason = b"denied by OPA policy " + QUERY.encode()
        self.send_response(403)
        self.send_header("content-type", "text/plain")
        self.send_header("content-length", str(len(reason)))
        self.end_headers()
        self.wfile.write(reason)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = handle_any

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(f"PORT {server.server_address[1]}", flush=True)
    server.serve_forever()
