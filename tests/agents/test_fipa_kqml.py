"""FIPA ACL and KQML: requests built and replies parsed by a third-party KQML library
(`pykqml`, whose s-expression reader also reads FIPA's string syntax), the seed's JSON
form, tenant isolation, and malformed messages (not-understood/error naming the
position, never a 500; fuzzed from a seed)."""

from __future__ import annotations

import json
import random
from typing import Any

import httpx
import pytest
from kqml import KQMLList, KQMLPerformative
from tests.gateway.support import GatewayServer, User

pytestmark = pytest.mark.timeout(90)

TEXT = {"Content-Type": "text/plain"}


def _client(gateway: GatewayServer, user: User) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=gateway.url, headers={"X-API-Key": user.key}, timeout=10)


def _content(reply: KQMLList) -> dict[str, Any]:
    text = reply.gets("content")
    assert text is not None
    data: dict[str, Any] = json.loads(text)
    return data


async def test_kqml_ask_tell_sorry_and_isolation(gateway: GatewayServer) -> None:
    alice, bob = await gateway.user(), await gateway.user()
    ask = KQMLPerformative("ask-one")
    ask.set("sender", "planner")
    ask.set("receiver", "gpuproxy")
    ask.set("reply-with", "q1")
    ask.set("conversation-id", "c7")
    ask.set("content", KQMLList.from_string('(list_gpu_instances :provider "local" :limit 3)'))
    async with _client(gateway, alice) as http:
        answer = await http.post("/api/v1/kqml", content=ask.to_string(), headers=TEXT)
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("text/plain")
        reply = KQMLPerformative.from_string(answer.text)
        assert reply.head() == "tell"
        assert reply.get("in-reply-to").to_string() == "q1"
        assert reply.get("conversation-id").to_string() == "c7"
        assert reply.get("receiver").to_string() == "planner"
        offers = _content(reply)
        assert 0 < offers["total_count"] <= 3

        achieve = KQMLPerformative("achieve")
        achieve.set("reply-with", "r2")
        achieve.sets("content", "(create_gpu_instance :provider local :offer-id rtx-4090-24gb-1)")
        rented = _content(KQMLPerformative.from_string(
            (await http.post("/api/v1/kqml", content=achieve.to_string(), headers=TEXT)).text
        ))  # fmt: skip
        assert rented["status"] == "running"

        bad = KQMLPerformative("ask-one")
        bad.sets("content", "(check_spending_limit :amount lots)")
        sorry = KQMLPerformative.from_string(
            (await http.post("/api/v1/kqml", content=bad.to_string(), headers=TEXT)).text
        )
        assert sorry.head() == "sorry"
        assert _content(sorry)["param"] == "amount"

    target = f':provider local :instance-id "{rented["id"]}"'
    destroy = f"(ask-one :reply-with d1 :content (destroy_gpu_instance {target}))"
    async with _client(gateway, bob) as http:
        hidden = KQMLPerformative.from_string(
            (await http.post("/api/v1/kqml", content=destroy, headers=TEXT)).text
        )
        assert hidden.head() == "sorry"
        assert _content(hidden)["status"] == 404
    async with _client(gateway, alice) as http:
        done = KQMLPerformative.from_string(
            (await http.post("/api/v1/kqml", content=destroy, headers=TEXT)).text
        )
        assert _content(done)["status"] == "destroyed"


async def test_fipa_request_in_both_syntaxes(gateway: GatewayServer) -> None:
    alice = await gateway.user()
    message = (
        "(request :sender (agent-identifier :name planner@host) :receiver gpuproxy "
        ":reply-with m1 :conversation-id c1 :language json "
        ':content "{\\"tool\\": \\"get_spending_info\\", \\"arguments\\": {}}")'
    )
    async with _client(gateway, alice) as http:
        answer = await http.post("/api/v1/fipa", content=message, headers=TEXT)
        assert answer.status_code == 200
        reply = KQMLList.from_string(answer.text)  # the FIPA string syntax read by pykqml
        assert reply.head() == "inform"
        assert reply.get("in-reply-to").to_string() == "m1"
        assert reply.get("receiver").to_string() == "(agent-identifier :name planner@host)"
        assert _content(reply)["total_spent_24h_micros"] == 0

        seed = await http.post(
            "/api/v1/fipa",
            json={"performative": "query-ref", "sender": "planner", "reply_with": "j1",
                  "conversation_id": "c2",
                  "content": {"tool": "check_spending_limit", "arguments": {"amount": "1"}}},
        )  # fmt: skip
        body = seed.json()
        assert body["performative"] == "inform"
        assert body["in_reply_to"] == "j1"
        assert body["conversation_id"] == "c2"
        assert body["content"]["allowed"] is True
        refused = await http.post("/api/v1/fipa", json={"performative": "propose", "content": "x"})
        assert refused.status_code == 400
        assert refused.json()["performative"] == "not-understood"


@pytest.mark.parametrize(
    ("path", "text", "performative", "fault"),
    [
        ("/api/v1/kqml", "(ask-one :content (list_models)", "error", "position 0"),
        ("/api/v1/kqml", '(ask-one :content "unclosed)', "error", "position 18"),
        ("/api/v1/kqml", "(ask-one :content)", "error", "element 2"),
        ("/api/v1/kqml", "tell me", "error", "position 5"),
        ("/api/v1/fipa", ")", "not-understood", "position 0"),
        ("/api/v1/fipa", "(inform :content x)", "not-understood", "ask with"),
        ("/api/v1/fipa", "(shout :content x)", "not-understood", "not FIPA"),
    ],
)
async def test_malformed_messages_name_the_fault(
    gateway: GatewayServer, path: str, text: str, performative: str, fault: str
) -> None:
    alice = await gateway.user()
    async with _client(gateway, alice) as http:
        answer = await http.post(path, content=text, headers=TEXT)
        assert answer.status_code == 400
        reply = KQMLList.from_string(answer.text)
        assert reply.head() == performative
        assert fault in _content(reply)["error"]


async def test_fuzzed_messages_never_give_a_server_error(gateway: GatewayServer) -> None:
    """Random messages from the syntax's own pieces (seeded: a failure reproduces)."""
    alice = await gateway.user()
    pieces = ["(", ")", '"', "\\", ":content", ":reply-with", "ask-one", "request", "tell",
              "list_models", "get_spending_info", " ", "x", "1.5", "{", "}", "\u00e9", "\x00",
              "(get_billing_transactions :limit 0)", ":content (list_my_instances)"]  # fmt: skip
    rng = random.Random(15)
    async with _client(gateway, alice) as http:
        for _ in range(80):
            text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 24)))
            dialect = rng.choice(["kqml", "fipa"])
            answer = await http.post(f"/api/v1/{dialect}", content=text.encode(), headers=TEXT)
            assert answer.status_code in (200, 400), (text, answer.text)
        raw = await http.post("/api/v1/kqml", content=b"\xff(", headers=TEXT)
        assert raw.status_code == 400
