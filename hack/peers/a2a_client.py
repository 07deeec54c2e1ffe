#!/usr/bin/env python3
"""An A2A client (PyPI `a2a-sdk`) that fetches an agent's card, sends one message for a
skill and prints one JSON object.

It reaches the agent however the URL and environment say: `HTTP_PROXY` to go through
agentnet's sidecar, or a `http://127.0.0.1:15001/backends/<ns>/<name>/` URL. The
card's endpoint is replaced by URL, since the client knows how it reaches the agent.

    a2a_client.py URL [--protocol 1.0|0.3] [--skill ID] [--stream] [--text TEXT]

Output: {"card": {"name": ..., "skills": [...]}, "ok": true, "texts": [...], "events": N}
or {"card": ..., "ok": false, "error": "..."}; a card that cannot be fetched gives
{"card_error": "..."} and exit status 1.
"""

import argparse
import asyncio
import json
import sys

import httpx
from a2a.client import A2ACardResolver, ClientConfig, ClientFactory
from a2a.helpers.proto_helpers import new_text_message
from a2a.types import a2a_pb2 as pb


def texts_of(event: pb.StreamResponse) -> list[str]:
    messages = []
    if event.HasField("message"):
        messages.append(event.message)
    if event.HasField("task") and event.task.status.HasField("message"):
        messages.append(event.task.status.message)
    if event.HasField("status_update") and event.status_update.status.HasField("message"):
        messages.append(event.status_update.status.message)
    return [p.text for m in messages for p in m.parts if p.text]


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--protocol", default="1.0", choices=["1.0", "0.3"])
    parser.add_argument("--skill", default=None)
    parser.add_argument("--stream", action="store_true")
    parser.add_argument("--text", default="hello")
    args = parser.parse_args()
    async with httpx.AsyncClient(timeout=30) as http:
        try:
            card = await A2ACardResolver(http, args.url).get_agent_card()
        except Exception as e:  # noqa: BLE001 - the test reads the reason
            print(json.dumps({"card_error": f"{type(e).__name__}: {e}"}), flush=True)
            return 1
        out = {"card": {"name": card.name, "skills": sorted(s.id for s in card.skills)}}
        del card.supported_interfaces[:]
        card.supported_interfaces.append(
            pb.AgentInterface(url=args.url, protocol_binding="JSONRPC", protocol_version=args.protocol)
        )
        config = ClientConfig(httpx_client=http, streaming=args.stream)
        client = ClientFactory(config).create(card)
        message = new_text_message(args.text, role=pb.Role.ROLE_USER)
        if args.skill:
            message.metadata.update({"skill": args.skill})
        texts, events = [], 0
        try:
            async for event in client.send_message(pb.SendMessageRequest(message=message)):
                events += 1
                texts.extend(texts_of(event))
            out.update(ok=True, texts=texts, events=events)
        except Exception as e:  # noqa: BLE001 - the test reads the reason
            out.update(ok=False, error=f"{type(e).__name__}: {e}")
    print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
