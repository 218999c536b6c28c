"""A fake AfterDark billing API following the contract in gpuproxy.billing.payments.afterdark:
`POST /v1/checkouts` (Bearer key, Idempotency-Key replay, 401/422 error bodies) and signed
`checkout.completed` callbacks (`callback(...)` builds the exact bytes and header)."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tests.fakes._http import FakeHttpServer, Request, Response, json_response
from tests.fakes._thread import serving_in_thread

__all__ = ["FakeAfterDark"]


class FakeAfterDark:
    def __init__(self, api_key: str = "ad_live_fake_key_0123456789") -> None:
        self.api_key = api_key
        self.server = FakeHttpServer()
        self.checkouts: dict[str, dict[str, Any]] = {}
        self._idempotent: dict[str, tuple[bytes, Response]] = {}
        self.server.route("POST", "/v1/checkouts")(self._create)

    @contextmanager
    def in_thread(self) -> Iterator[FakeAfterDark]:
        """Serve from a thread of its own (for apps under Litestar's test client)."""
        with serving_in_thread(self.server):
            yield self

    async def __aenter__(self) -> FakeAfterDark:
        await self.server.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.server.stop()

    @property
    def base_url(self) -> str:
        return self.server.base_url

    async def _create(self, request: Request) -> Response:
        if request.headers.get("authorization") != f"Bearer {self.api_key}":
            return json_response(
                {"error": {"code": "unauthorized", "message": "invalid API key"}}, 401
            )
        key = request.headers.get("idempotency-key")
        if key and key in self._idempotent:
            body, response = self._idempotent[key]
            if body != request.body:
                return json_response(
                    {
                        "error": {
                            "code": "idempotency_conflict",
                            "message": "Idempotency-Key reused with another body",
                        }
                    },
                    409,
                )
            return response
        try:
            data = request.json()
        except ValueError:
            return json_response(
                {"error": {"code": "invalid_json", "message": "body is not JSON"}}, 400
            )
        problems = [
            name
            for name, kind in (
                ("amount", int),
                ("currency", str),
                ("reference", str),
                ("callback_url", str),
            )
            if not isinstance(data.get(name), kind)
        ]
        if problems or data["amount"] <= 0:
            return json_response(
                {
                    "error": {
                        "code": "validation_failed",
                        "message": "invalid fields",
                        "fields": problems or ["amount"],
                    }
                },
                422,
            )
        checkout = {
            "id": f"adc_{secrets.token_hex(10)}",
            "url": f"{self.base_url}/pay/{secrets.token_hex(6)}",
            "status": "open",
            "amount": data["amount"],
            "currency": data["currency"],
            "reference": data["reference"],
            "callback_url": data["callback_url"],
        }
        self.checkouts[checkout["id"]] = checkout
        response = json_response(checkout, 201)
        if key:
            self._idempotent[key] = (request.body, response)
        return response

    def callback(
        self,
        checkout_id: str,
        secret: str,
        *,
        timestamp: int | None = None,
        amount: int | None = None,
    ) -> tuple[bytes, str]:
        """The customer paid: the callback body AfterDark POSTs and its signature header."""
        checkout = self.checkouts[checkout_id]
        checkout["status"] = "paid"
        event = {
            "id": f"ade_{secrets.token_hex(8)}",
            "type": "checkout.completed",
            "created": int(time.time()),
            "data": {
                "id": checkout_id,
                "reference": checkout["reference"],
                "amount": checkout["amount"] if amount is None else amount,
                "currency": checkout["currency"],
                "status": "paid",
            },
        }
        body = json.dumps(event).encode()
        t = int(time.time()) if timestamp is None else timestamp
        mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
        return body, f"t={t},v1={mac}"
