#!/usr/bin/env python3
"""An A2A agent (PyPI `a2a-sdk`, JSON-RPC, v1.0 with v0.3 compatibility) with two
skills, `summarize` and `translate`, for agentnet's tests and demo.

Each message becomes a task that goes working, then completed with a text naming the
skill the message asked for (`metadata.skill`) and its text; `SendStreamingMessage` /
`message/stream` stream those events. `GET /stats` says how many
JSON-RPC requests reached it. The card (`/.well-known/agent-card.json`) advertises
`--public-url` (default: its own address) for both protocol versions.

It binds --host (default 127.0.0.1) on the given port (0: any free port) and prints
`PORT <n>` once listening.

    a2a_agent.py [--host ADDR] [--port N] [--public-url URL]
"""

import argparse
import asyncio
import socket
import sys

import uvicorn
from a2a.helpers.proto_helpers import new_task_from_user_message, new_text_status_update_event
from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.events import EventQueue
from a2a.server.request_handlers.default_request_handler_v2 import DefaultRequestHandlerV2
from a2a.server.routes import create_agent_card_routes, create_jsonrpc_routes
from a2a.server.tasks import InMemoryTaskStore
from a2a.types import a2a_pb2 as pb
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

STATS = {"rpc_requests": 0}


class SkillEcho(AgentExecutor):
    """Replies with the skill the message asked for and the text it carried."""

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        message = context.message
        skill = ""
        if message is not None and "skill" in message.metadata:
            skill = message.metadata["skill"]
        reply = f"skill={skill} text={context.get_user_input()}"
        if message is None:
            return
        # A task with a working and a completed status, so streaming calls get several events.
        task = context.current_task or new_task_from_user_message(message)
        await event_queue.enqueue_event(task)
        working = new_text_status_update_event(task.id, task.context_id, pb.TaskState.TASK_STATE_WORKING, "working")
        await event_queue.enqueue_event(working)
        done = new_text_status_update_event(task.id, task.context_id, pb.TaskState.TASK_STATE_COMPLETED, reply)
        await event_queue.enqueue_event(done)

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        return None


def card(url: str) -> pb.AgentCard:
    skills = [
        pb.AgentSkill(id="summarize", name="Summarize", description="Summarize a text", tags=["text"]),
        pb.AgentSkill(id="translate", name="Translate", description="Translate a text", tags=["text"]),
    ]
    interfaces = [
        pb.AgentInterface(url=url, protocol_binding="JSONRPC", protocol_version=v) for v in ("1.0", "0.3")
    ]
    return pb.AgentCard(
        name="agentnet-test-agent",
        description="Echoes the skill a message asks for",
        version="1.0.0",
        supported_interfaces=interfaces,
        capabilities=pb.AgentCapabilities(streaming=True),
        default_input_modes=["text/plain"],
        default_output_modes=["text/plain"],
        skills=skills,
    )


class CountRequests:
    """ASGI middleware: counts JSON-RPC POSTs."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["method"] == "POST":
            STATS["rpc_requests"] += 1
        await self.app(scope, receive, send)


async def stats(_: Request) -> Response:
    return JSONResponse(STATS)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # The demo binds this machine's own address: EndpointSlices may not name loopback ones.
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--public-url", default=None)
    args = parser.parse_args()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.host, args.port))
    port = sock.getsockname()[1]
    agent_card = card(args.public_url or f"http://{args.host}:{port}/")
    handler = DefaultRequestHandlerV2(SkillEcho(), InMemoryTaskStore(), agent_card)
    routes = create_agent_card_routes(agent_card) + create_jsonrpc_routes(handler, "/", enable_v0_3_compat=True)
    app = Starlette(routes=[Route("/stats", stats, methods=["GET"]), *routes])
    config = uvicorn.Config(CountRequests(app), log_level="warning")
    print(f"PORT {port}", flush=True)
    await uvicorn.Server(config).serve(sockets=[sock])


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
