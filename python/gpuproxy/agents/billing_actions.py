"""Billing actions: spending over the guard-rail windows with the credit balance, a
dry-run spending check, and the ledger. The same functions as the REST routes under
/api/v1/guardrails and /api/v1/billing."""

from __future__ import annotations

from typing import Any

from gpuproxy.agents.action import Action, AgentContext, object_schema
from gpuproxy.api.billing.common import billing_of, page, parse_amount, transactions_page
from gpuproxy.api.billing.guardrails import spending_check, spending_view

__all__ = ["BILLING_ACTIONS"]


async def _spending_info(ctx: AgentContext, args: dict[str, Any]) -> dict[str, Any]:
    billing = billing_of(ctx.services)
    user_id = ctx.principal.user_id
    view = await spending_view(billing, user_id)
    view["credits"] = await billing.credits_view(user_id)
    return view


async def _spending_check(ctx: AgentContext, args: dict[str, Any]) -> dict[str, Any]:
    amount = parse_amount(args["amount"], "amount", allow_zero=True)
    return await spending_check(billing_of(ctx.services), ctx.principal.user_id, amount)


async def _transactions(ctx: AgentContext, args: dict[str, Any]) -> dict[str, Any]:
    size, start = page(args.get("limit"), args.get("offset"))
    return await transactions_page(billing_of(ctx.services), ctx.principal.user_id, size, start)


BILLING_ACTIONS = (
    Action(
        name="spending_info",
        tool="get_spending_info",
        title="Spending and credits",
        description="What the caller spent in each guard-rail window (5 minutes to 72 "
        "hours), the limits and what remains, and the credit balance. Money is a dollar "
        "string plus exact integer `*_micros` (1 dollar = 1,000,000).",
        scope="billing",
        input_schema=object_schema({}),
        output_schema=object_schema(
            {
                "windows": {"type": "array", "items": {"type": "object"}},
                "total_spent_24h": {"type": "string"},
                "total_spent_24h_micros": {"type": "integer"},
                "credits": {"type": "object"},
            },
            ("windows", "total_spent_24h_micros"),
            closed=False,
        ),
        handler=_spending_info,
    ),
    Action(
        name="spending_check",
        tool="check_spending_limit",
        title="Check a spending amount",
        description="Would spending `amount` dollars now stay within every guard-rail window?",
        scope="billing",
        input_schema=object_schema(
            {
                "amount": {
                    "type": ["string", "number"],
                    "description": 'dollars, e.g. "12.50" (at most 6 decimals)',
                }
            },
            ("amount",),
        ),
        output_schema=object_schema(
            {
                "allowed": {"type": "boolean"},
                "reason": {"type": "string"},
                "would_exceed": {"type": "array"},
            },
            ("allowed",),
            closed=False,
        ),
        handler=_spending_check,
    ),
    Action(
        name="transactions",
        tool="get_billing_transactions",
        title="Billing transactions",
        description="The caller's credit ledger, newest first.",
        scope="billing",
        input_schema=object_schema(
            {
                "limit": {"type": "integer", "minimum": 1, "maximum": 200},
                "offset": {"type": "integer", "minimum": 0},
            }
        ),
        output_schema=object_schema(
            {
                "transactions": {"type": "array", "items": {"type": "object"}},
                "total": {"type": "integer"},
                "limit": {"type": "integer"},
                "offset": {"type": "integer"},
            },
            ("transactions", "total"),
            closed=False,
        ),
        handler=_transactions,
    ),
)
