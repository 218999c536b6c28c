"""A fake Stripe API for the official `stripe` SDK (point `api_base` / STRIPE_API_BASE here).

Follows the real API where the product touches it: form-encoded bodies with bracketed keys
(`metadata[user_id]`, `line_items[0][price_data][currency]`), `Authorization: Bearer sk_...`,
`Idempotency-Key` replay (same response + `Idempotent-Replayed: true`; other parameters ->
400 `idempotency_error`), error bodies `{"error": {"type", "code", "message", "param"}}` with
Stripe's statuses (401 bad key, 402 card_error, 400 invalid_request_error, 404
resource_missing), the magic test payment methods (`pm_card_visa`,
`pm_card_chargeDeclined`, `pm_card_authenticationRequired`, ...) and event objects.

Refunds are objects of their own (`re_...`, `GET /v1/refunds?charge=`); since API version
2022-11-15 a charge no longer embeds its refunds, so `charge.refunded` events carry none.

Every request is checked against `tests.fakes.stripe_contract.STRIPE` (400 in Stripe's
shape: `parameter_missing`, `parameter_unknown`, ...; such a request saves no idempotent
result). A path Stripe does not have answers Stripe's 404 "Unrecognized request URL" and
stays in `server.requests` for the contract test.

Rate limits (`rate_limit`): 429 `rate_limit` without `Stripe-Should-Retry` (the SDK does not
retry it), or 429 `lock_timeout` with `Stripe-Should-Retry: true` (the SDK retries it); a
rate-limited request saves no idempotent result (DOCS idempotency: results are saved only
once an endpoint started executing).

Test controls (not part of Stripe): `pay_checkout`, `pay_checkout_later`, `refund`,
`fail_refund`, `dispute`, `close_dispute`, `rate_limit`, `events`, `sign`.
"""

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
from tests.fakes.stripe_contract import STRIPE, decode_form, stripe_problem

__all__ = ["FakeStripe", "decode_form", "stripe_signature"]

API_VERSION = "2025-08-27.basil"

_MAGIC = {
    "pm_card_visa": ("visa", "4242", None),
    "pm_card_mastercard": ("mastercard", "4444", None),
    "pm_card_chargeDeclined": ("visa", "0002", "card_declined"),
    "pm_card_chargeDeclinedInsufficientFunds": ("visa", "9995", "insufficient_funds"),
    "pm_card_authenticationRequired": ("visa", "3184", "authentication_required"),
}


def stripe_signature(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """The `Stripe-Signature` header Stripe sends: HMAC-SHA256 of `t.payload` (scheme v1)."""
    t = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{t}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def _error(status: int, kind: str, message: str, **extra: Any) -> Response:
    return json_response({"error": {"type": kind, "message": message, **extra}}, status)


def _missing(what: str, ident: str, param: str | None = None, status: int = 404) -> Response:
    extra: dict[str, Any] = {"code": "resource_missing"}
    if param:
        extra["param"] = param
    return _error(status, "invalid_request_error", f"No such {what}: '{ident}'", **extra)


def _new(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


class FakeStripe:
    def __init__(self, api_key: str = "sk_test_fake_0123456789") -> None:
        self.api_key = api_key
        self.server = FakeHttpServer()
        self.customers: dict[str, dict[str, Any]] = {}
        self.payment_methods: dict[str, dict[str, Any]] = {}
        self.intents: dict[str, dict[str, Any]] = {}
        self.sessions: dict[str, dict[str, Any]] = {}
        self.charges: dict[str, dict[str, Any]] = {}
        self.refunds: dict[str, dict[str, Any]] = {}
        self.disputes: dict[str, dict[str, Any]] = {}
        #: (path, times left, lock_timeout) of the `rate_limit` control.
        self._throttle: list[tuple[str, int, bool]] = []
        self.events: list[dict[str, Any]] = []
        self._idempotent: dict[str, tuple[str, Response]] = {}
        self.bodies: list[bytes] = []
        self._routes()

    @contextmanager
    def in_thread(self) -> Iterator[FakeStripe]:
        """Serve from a thread of its own (for apps under Litestar's test client)."""
        with serving_in_thread(self.server):
            yield self

    async def __aenter__(self) -> FakeStripe:
        await self.server.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.server.stop()

    @property
    def base_url(self) -> str:
        return self.server.base_url

    # -- plumbing -------------------------------------------------------------------------------

    def _routes(self) -> None:
        def api(method: str, pattern: str, handler: Any) -> None:
            async def wrapped(request: Request) -> Response:
                return await self._dispatch(request, handler)

            self.server.route(method, pattern)(wrapped)

        api("POST", r"/v1/customers", self._create_customer)
        api("GET", r"/v1/customers/(?P<id>[^/]+)", self._get_customer)
        api("POST", r"/v1/payment_methods/(?P<id>[^/]+)/attach", self._attach)
        api("GET", r"/v1/payment_methods/(?P<id>[^/]+)", self._get_pm)
        api("POST", r"/v1/payment_intents", self._create_intent)
        api("GET", r"/v1/payment_intents/(?P<id>[^/]+)", self._get_intent)
        api("POST", r"/v1/checkout/sessions", self._create_session)
        api("GET", r"/v1/checkout/sessions/(?P<id>[^/]+)", self._get_session)
        api("GET", r"/v1/refunds", self._list_refunds)
        for method in ("GET", "POST", "DELETE"):
            self.server.route(method, r"/.*")(self._unrecognized)

    @staticmethod
    async def _unrecognized(request: Request) -> Response:
        return _error(
            404,
            "invalid_request_error",
            f"Unrecognized request URL ({request.method}: {request.path}). Please see "
            "https://stripe.com/docs or we can help at https://support.stripe.com/.",
        )

    def rate_limit(self, path: str, times: int = 1, *, lock_timeout: bool = False) -> None:
        """Answer the next `times` requests to `path` with 429 (see the module docstring)."""
        self._throttle.append((path, times, lock_timeout))

    def _throttled(self, request: Request) -> Response | None:
        for index, (path, times, lock_timeout) in enumerate(self._throttle):
            if path != request.path or times <= 0:
                continue
            self._throttle[index] = (path, times - 1, lock_timeout)
            if lock_timeout:
                response = _error(
                    429,
                    "invalid_request_error",
                    "This object cannot be accessed right now because another API request "
                    "or Stripe process is currently accessing it.",
                    code="lock_timeout",
                )
                response.headers["Stripe-Should-Retry"] = "true"
                return response
            return _error(
                429,
                "invalid_request_error",
                "Request rate limit exceeded. Learn more about rate limits here "
                "https://stripe.com/docs/rate-limits.",
                code="rate_limit",
            )
        return None

    async def _dispatch(self, request: Request, handler: Any) -> Response:
        auth = request.headers.get("authorization", "")
        if auth != f"Bearer {self.api_key}":
            shown = auth.removeprefix("Bearer ")[-4:]
            return _error(401, "invalid_request_error", f"Invalid API Key provided: sk_****{shown}")
        if request.method == "POST":
            self.bodies.append(request.body)
        throttled = self._throttled(request)
        if throttled is not None:
            return throttled
        endpoint = STRIPE.endpoint(request.method, request.path)
        problems = endpoint.problems(request) if endpoint is not None else []
        if problems:
            return json_response({"error": stripe_problem(problems[0])}, 400)
        params = decode_form(request.body) if request.method == "POST" else {}
        key = request.headers.get("idempotency-key")
        if key is None or request.method != "POST":
            return await handler(request, params)
        fingerprint = hashlib.sha256(request.path.encode() + b"?" + request.body).hexdigest()
        seen = self._idempotent.get(key)
        if seen is not None:
            if seen[0] != fingerprint:
                return _error(
                    400,
                    "idempotency_error",
                    "Keys for idempotent requests can only be used with the same parameters "
                    f"they were first used with. Try using a key other than '{key}' if you "
                    "meant to execute a different request.",
                )
            first = seen[1]
            return Response(
                first.status,
                first.body,
                first.content_type,
                {**first.headers, "Idempotent-Replayed": "true", "Idempotency-Key": key},
            )
        response = await handler(request, params)
        if response.status < 500:
            self._idempotent[key] = (fingerprint, response)
        return Response(
            response.status,
            response.body,
            response.content_type,
            {**response.headers, "Idempotency-Key": key},
        )

    def _event(self, kind: str, obj: dict[str, Any]) -> dict[str, Any]:
        event = {
            "id": _new("evt"),
            "object": "event",
            "api_version": API_VERSION,
            "created": int(time.time()),
            "type": kind,
            "livemode": False,
            "pending_webhooks": 1,
            "data": {"object": json.loads(json.dumps(obj))},
        }
        self.events.append(event)
        return event

    def sign(
        self, event: dict[str, Any], secret: str, timestamp: int | None = None
    ) -> tuple[bytes, str]:
        """The exact bytes Stripe would POST for `event` and their Stripe-Signature."""
        payload = json.dumps(event, indent=2).encode()
        return payload, stripe_signature(payload, secret, timestamp)

    # -- customers and payment methods ----------------------------------------------------------

    async def _create_customer(self, request: Request, p: dict[str, Any]) -> Response:
        customer = {
            "id": _new("cus"),
            "object": "customer",
            "email": p.get("email"),
            "metadata": p.get("metadata", {}),
            "created": int(time.time()),
            "livemode": False,
        }
        self.customers[customer["id"]] = customer
        return json_response(customer)

    async def _get_customer(self, request: Request, p: dict[str, Any]) -> Response:
        found = self.customers.get(request.params["id"])
        return json_response(found) if found else _missing("customer", request.params["id"])

    def _pm(self, pm_id: str) -> dict[str, Any] | None:
        if pm_id in self.payment_methods:
            return self.payment_methods[pm_id]
        if pm_id not in _MAGIC:
            return None
        brand, last4, _ = _MAGIC[pm_id]
        pm = {
            "id": pm_id,
            "object": "payment_method",
            "type": "card",
            "card": {"brand": brand, "last4": last4, "exp_month": 12, "exp_year": 2034},
            "customer": None,
            "livemode": False,
        }
        self.payment_methods[pm_id] = pm
        return pm

    async def _attach(self, request: Request, p: dict[str, Any]) -> Response:
        pm = self._pm(request.params["id"])
        if pm is None:
            return _missing("PaymentMethod", request.params["id"])
        customer = p.get("customer")
        if not customer:
            return _error(
                400,
                "invalid_request_error",
                "Missing required param: customer.",
                code="parameter_missing",
                param="customer",
            )
        if customer not in self.customers:
            return _missing("customer", customer, "customer", 400)
        if pm["customer"] not in (None, customer):
            return _error(
                400,
                "invalid_request_error",
                "The payment method you provided has already been attached to a customer.",
                code="payment_method_unexpected_state",
            )
        pm["customer"] = customer
        return json_response(pm)

    async def _get_pm(self, request: Request, p: dict[str, Any]) -> Response:
        pm = self._pm(request.params["id"])
        return json_response(pm) if pm else _missing("PaymentMethod", request.params["id"])

    # -- payment intents --------------------------------------------------------------------------

    async def _create_intent(self, request: Request, p: dict[str, Any]) -> Response:
        for name in ("amount", "currency"):
            if name not in p:
                return _error(
                    400,
                    "invalid_request_error",
                    f"Missing required param: {name}.",
                    code="parameter_missing",
                    param=name,
                )
        try:
            amount = int(p["amount"])
        except ValueError:
            return _error(
                400, "invalid_request_error", "Invalid integer: " + p["amount"], param="amount"
            )
        if p["currency"] == "usd" and amount < 50:
            return _error(
                400,
                "invalid_request_error",
                "Amount must be at least $0.50 usd",
                code="amount_too_small",
                param="amount",
            )
        pm_id = p.get("payment_method")
        pm = self._pm(pm_id) if pm_id else None
        if pm_id and pm is None:
            return _missing("PaymentMethod", pm_id, "payment_method", 400)
        customer = p.get("customer")
        if customer and customer not in self.customers:
            return _missing("customer", customer, "customer", 400)
        if pm is not None and pm["customer"] is not None and pm["customer"] != customer:
            return _error(
                400,
                "invalid_request_error",
                "The provided PaymentMethod belongs to another Customer.",
                param="payment_method",
            )
        intent: dict[str, Any] = {
            "id": _new("pi"),
            "object": "payment_intent",
            "amount": amount,
            "amount_received": 0,
            "currency": p["currency"],
            "customer": customer,
            "payment_method": pm_id,
            "metadata": p.get("metadata", {}),
            "description": p.get("description"),
            "status": "requires_payment_method" if pm is None else "requires_confirmation",
            "client_secret": None,
            "latest_charge": None,
            "last_payment_error": None,
            "next_action": None,
            "livemode": False,
            "created": int(time.time()),
        }
        intent["client_secret"] = f"{intent['id']}_secret_{secrets.token_hex(8)}"
        self.intents[intent["id"]] = intent
        if p.get("confirm") != "true" or pm is None:
            return json_response(intent)
        outcome = _MAGIC.get(pm_id or "", (None, None, None))[2]
        off_session = p.get("off_session") == "true"
        if outcome == "authentication_required" and not off_session:
            intent["status"] = "requires_action"
            intent["next_action"] = {"type": "use_stripe_sdk", "use_stripe_sdk": {}}
            return json_response(intent)
        if outcome is not None:
            charge = self._charge(intent, "failed")
            intent["status"] = "requires_payment_method"
            intent["last_payment_error"] = {
                "type": "card_error",
                "code": "card_declined" if outcome != "authentication_required" else outcome,
                "decline_code": outcome if outcome != "authentication_required" else None,
                "message": "Your card was declined.",
            }
            self._event("payment_intent.payment_failed", intent)
            return _error(
                402,
                "card_error",
                "Your card was declined."
                if outcome != "authentication_required"
                else "Your card was declined. This transaction requires authentication.",
                code="card_declined" if outcome != "authentication_required" else outcome,
                decline_code=outcome if outcome != "authentication_required" else None,
                charge=charge["id"],
                payment_intent=intent,
            )
        self._succeed(intent)
        return json_response(intent)

    def _charge(self, intent: dict[str, Any], status: str) -> dict[str, Any]:
        charge = {
            "id": _new("ch"),
            "object": "charge",
            "amount": intent["amount"],
            "amount_refunded": 0,
            "currency": intent["currency"],
            "payment_intent": intent["id"],
            "status": status,
            "refunded": False,
            "metadata": intent["metadata"],
        }
        self.charges[charge["id"]] = charge
        intent["latest_charge"] = charge["id"]
        return charge

    def _succeed(self, intent: dict[str, Any]) -> None:
        self._charge(intent, "succeeded")
        intent["status"] = "succeeded"
        intent["amount_received"] = intent["amount"]
        self._event("charge.succeeded", self.charges[intent["latest_charge"]])
        self._event("payment_intent.succeeded", intent)

    async def _get_intent(self, request: Request, p: dict[str, Any]) -> Response:
        found = self.intents.get(request.params["id"])
        return json_response(found) if found else _missing("payment_intent", request.params["id"])

    # -- checkout -------------------------------------------------------------------------------

    async def _create_session(self, request: Request, p: dict[str, Any]) -> Response:
        if p.get("mode") != "payment":
            return _error(
                400,
                "invalid_request_error",
                "Missing required param: mode.",
                code="parameter_missing",
                param="mode",
            )
        if not p.get("success_url"):
            return _error(
                400,
                "invalid_request_error",
                "Missing required param: success_url.",
                code="parameter_missing",
                param="success_url",
            )
        items = p.get("line_items") or []
        if not items:
            return _error(
                400,
                "invalid_request_error",
                "Missing required param: line_items.",
                code="parameter_missing",
                param="line_items",
            )
        total, currency = 0, None
        for item in items:
            data = item.get("price_data") or {}
            total += int(data.get("unit_amount", 0)) * int(item.get("quantity", 1))
            currency = data.get("currency")
        session_id = f"cs_test_{secrets.token_hex(16)}"
        session = {
            "id": session_id,
            "object": "checkout.session",
            "mode": "payment",
            "status": "open",
            "payment_status": "unpaid",
            "amount_total": total,
            "currency": currency,
            "customer": p.get("customer"),
            "customer_email": p.get("customer_email"),
            "client_reference_id": p.get("client_reference_id"),
            "metadata": p.get("metadata", {}),
            "payment_intent": None,
            "success_url": p["success_url"],
            "cancel_url": p.get("cancel_url"),
            "url": f"https://checkout.stripe.com/c/pay/{session_id}",
            "livemode": False,
            "_intent_metadata": (p.get("payment_intent_data") or {}).get("metadata", {}),
        }
        self.sessions[session_id] = session
        return json_response(self._public(session))

    @staticmethod
    def _public(session: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in session.items() if not k.startswith("_")}

    async def _get_session(self, request: Request, p: dict[str, Any]) -> Response:
        found = self.sessions.get(request.params["id"])
        if found is None:
            return _missing("checkout.session", request.params["id"])
        return json_response(self._public(found))

    # -- test controls (the customer pays on the hosted page; a refund in the dashboard) ---------

    def pay_checkout(self, session_id: str) -> list[dict[str, Any]]:
        """Complete a Checkout Session; returns the events Stripe would send, in order."""
        session = self.sessions[session_id]
        intent: dict[str, Any] = {
            "id": _new("pi"),
            "object": "payment_intent",
            "amount": session["amount_total"],
            "amount_received": 0,
            "currency": session["currency"],
            "customer": session["customer"],
            "payment_method": "pm_card_visa",
            "metadata": session["_intent_metadata"],
            "status": "processing",
            "latest_charge": None,
            "livemode": False,
        }
        self.intents[intent["id"]] = intent
        first = len(self.events)
        self._succeed(intent)
        session.update(status="complete", payment_status="paid", payment_intent=intent["id"])
        self._event("checkout.session.completed", self._public(session))
        return self.events[first:]

    def refund(self, intent_id: str, amount: int) -> dict[str, Any]:
        """Refund part of a charge (a new `re_...`); returns the `charge.refunded` event
        (a `refund.created` event is recorded before it, as Stripe sends both)."""
        charge = self.charges[self.intents[intent_id]["latest_charge"]]
        refund = {
            "id": _new("re"),
            "object": "refund",
            "amount": amount,
            "charge": charge["id"],
            "currency": charge["currency"],
            "payment_intent": intent_id,
            "status": "succeeded",
            "metadata": {},
            "created": int(time.time()),
        }
        self.refunds[refund["id"]] = refund
        charge["amount_refunded"] += amount
        charge["refunded"] = charge["amount_refunded"] >= charge["amount"]
        self._event("refund.created", refund)
        return self._event("charge.refunded", charge)

    def fail_refund(self, refund_id: str) -> dict[str, Any]:
        """The bank returned a refund (the money stays with us); returns `refund.failed`."""
        refund = self.refunds[refund_id]
        refund["status"] = "failed"
        refund["failure_reason"] = "expired_or_canceled_card"
        self.charges[refund["charge"]]["amount_refunded"] -= refund["amount"]
        return self._event("refund.failed", refund)

    async def _list_refunds(self, request: Request, p: dict[str, Any]) -> Response:
        charge = request.arg("charge")
        if charge is not None and charge not in self.charges:
            return _missing("charge", charge, "charge", 400)
        limit = int(request.arg("limit") or 10)
        after = request.arg("starting_after")
        rows = sorted(self.refunds.values(), key=lambda r: r["id"])
        rows = [r for r in rows if charge is None or r["charge"] == charge]
        if after:
            rows = [r for r in rows if r["id"] > after]
        page = rows[:limit]
        return json_response(
            {"object": "list", "data": page, "has_more": len(rows) > limit, "url": "/v1/refunds"}
        )

    # -- delayed payment methods and disputes (test controls) -----------------------------------

    def pay_checkout_later(self, session_id: str, *, succeeds: bool) -> list[dict[str, Any]]:
        """A delayed method (e.g. ACH debit): the session completes unpaid, then the payment
        succeeds or fails days later; returns the checkout events Stripe sends, in order
        (REF checkout: fulfill orders, "delayed notification payment methods")."""
        session = self.sessions[session_id]
        intent_id = _new("pi")
        session.update(status="complete", payment_status="unpaid", payment_intent=intent_id)
        completed = self._event("checkout.session.completed", self._public(session))
        session["payment_status"] = "paid" if succeeds else "unpaid"
        kind = "succeeded" if succeeds else "failed"
        return [completed, self._event(f"checkout.session.async_payment_{kind}", session)]

    def dispute(self, intent_id: str, *, inquiry: bool = False) -> dict[str, Any]:
        """The cardholder disputes the charge of `intent_id`; returns `charge.dispute.created`
        (a chargeback also records `charge.dispute.funds_withdrawn`; an inquiry withdraws
        nothing). REF disputes/object."""
        charge = self.charges[self.intents[intent_id]["latest_charge"]]
        dispute = {
            "id": _new("dp"),
            "object": "dispute",
            "amount": charge["amount"],
            "currency": charge["currency"],
            "charge": charge["id"],
            "payment_intent": intent_id,
            "reason": "fraudulent",
            "status": "warning_needs_response" if inquiry else "needs_response",
            "is_charge_refundable": inquiry,
            "metadata": {},
            "livemode": False,
            "created": int(time.time()),
        }
        self.disputes[dispute["id"]] = dispute
        created = self._event("charge.dispute.created", dispute)
        if not inquiry:
            self._event("charge.dispute.funds_withdrawn", dispute)
        return created

    def escalate(self, dispute_id: str) -> dict[str, Any]:
        """An inquiry becomes a chargeback; returns `charge.dispute.funds_withdrawn`."""
        dispute = self.disputes[dispute_id]
        dispute.update(status="needs_response", is_charge_refundable=False)
        return self._event("charge.dispute.funds_withdrawn", dispute)

    def close_dispute(self, dispute_id: str, *, won: bool) -> dict[str, Any]:
        """The card network decides; returns `charge.dispute.closed` (a won dispute also
        records `charge.dispute.funds_reinstated`)."""
        dispute = self.disputes[dispute_id]
        dispute["status"] = "won" if won else "lost"
        closed = self._event("charge.dispute.closed", dispute)
        if won:
            self._event("charge.dispute.funds_reinstated", dispute)
        return closed
