"""WebSocket /ws: authenticated subscriptions to availability and instance events."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from litestar.exceptions import WebSocketDisconnect
from litestar.testing import TestClient
from tests.api.conftest import BASE_ENV

from gpuproxy.app import create_app
from gpuproxy.config import Settings
from gpuproxy.providers.service import ProvidersService

GPU = "/api/v1/gpu/instances"


@pytest.fixture
def sync_client(make_settings: Callable[..., Settings]) -> Iterator[TestClient[Any]]:
    """Local fleet only; the sync client because it speaks WebSocket."""
    with TestClient(create_app(make_settings(**BASE_ENV)), timeout=30) as test_client:
        yield test_client


def _user(client: TestClient[Any], name: str, scopes: list[str] | None = None) -> dict[str, str]:
    email, password = f"{name}@example.com", "correct horse battery staple"
    assert client.post(
        "/api/v1/auth/register", json={"email": email, "password": password}
    ).is_success
    token = client.post("/api/v1/auth/login", json={"email": email, "password": password}).json()[
        "token"
    ]
    body: dict[str, Any] = {"name": "ws", **({"scopes": scopes} if scopes else {})}
    created = client.post(
        "/api/v1/auth/apikey", json=body, headers={"Authorization": f"Bearer {token}"}
    )
    return {"X-API-Key": created.json()["api_key"]}


def _service(client: TestClient[Any]) -> ProvidersService:
    service = client.app.state.services.providers
    assert service is not None
    return service


def test_unauthenticated_connections_are_refused(sync_client: TestClient[Any]) -> None:
    with pytest.raises(WebSocketDisconnect), sync_client.websocket_connect("/ws") as ws:
        ws.receive_json()


def test_instance_events_reach_only_their_owner_and_availability_changes_are_pushed(
    sync_client: TestClient[Any],
) -> None:
    alice, bob = _user(sync_client, "alice"), _user(sync_client, "bob")
    service = _service(sync_client)
    sync_client.blocking_portal.call(service.poller.poll_once)  # a known availability state
    with (
        sync_client.websocket_connect("/ws", headers=alice) as ws_alice,
        sync_client.websocket_connect("/ws", headers=bob) as ws_bob,
    ):
        for ws in (ws_alice, ws_bob):
            assert ws.receive_json()["type"] == "hello"
            ws.send_json({"type": "subscribe"})
            assert ws.receive_json() == {
                "type": "subscribed",
                "topics": ["availability", "instances"],
            }
            snapshot = ws.receive_json()
            assert snapshot["type"] == "availability"
            assert snapshot["snapshot"] is True
            assert snapshot["provider"] == "local"
            assert snapshot["available_offers"] == 14

        rented = sync_client.post(f"{GPU}/local/h100-80gb-1", json={}, headers=alice).json()
        event = ws_alice.receive_json()
        assert event["type"] == "instance"
        assert event["id"] == rented["id"]
        assert (event["previous"], event["status"]) == ("renting", "running")
        assert "owner_id" not in event
        ws_bob.send_json({"type": "ping"})
        assert ws_bob.receive_json() == {"type": "pong"}  # Bob heard nothing of it

        sync_client.blocking_portal.call(service.poller.refresh_offers)
        for ws in (ws_alice, ws_bob):
            change = ws.receive_json()
            assert change["type"] == "availability"
            assert change["removed"] == ["h100-80gb-1"]
            assert change["available_offers"] == 13

        ws_alice.send_json({"type": "unsubscribe", "topics": ["availability"]})
        assert ws_alice.receive_json() == {"type": "unsubscribed", "topics": ["instances"]}
        sync_client.delete(f"{GPU}/local/{rented['id']}", headers=alice)
        destroyed = ws_alice.receive_json()
        assert (destroyed["type"], destroyed["status"]) == ("instance", "destroyed")
        sync_client.blocking_portal.call(service.poller.refresh_offers)  # the slot is back
        assert ws_bob.receive_json()["added"] == ["h100-80gb-1"]
        ws_alice.send_json({"type": "ping"})
        assert ws_alice.receive_json() == {"type": "pong"}  # no availability event for Alice


def test_bad_frames_get_errors_and_scopes_are_enforced(sync_client: TestClient[Any]) -> None:
    alice = _user(sync_client, "alice")
    no_gpu = _user(sync_client, "carol", scopes=["inference"])
    with sync_client.websocket_connect("/ws", headers=alice) as ws:
        assert ws.receive_json()["type"] == "hello"
        ws.send_json({"type": "dance"})
        assert ws.receive_json()["code"] == "invalid_message"
        ws.send_json({"type": "subscribe", "topics": ["weather"]})
        assert ws.receive_json()["code"] == "invalid_topic"
        ws.send_text("not json")
        assert ws.receive_json()["code"] == "invalid_json"
        ws.send_json({"type": "subscribe", "topics": ["availability"], "providers": ["aws"]})
        assert ws.receive_json()["code"] == "invalid_provider"
    with sync_client.websocket_connect("/ws", headers=no_gpu) as ws:
        assert ws.receive_json()["type"] == "hello"
        ws.send_json({"type": "subscribe"})
        assert ws.receive_json()["code"] == "permission_denied"
