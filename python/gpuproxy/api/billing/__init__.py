"""HTTP routes of billing: credits, payments, webhooks, guard rails, admin adjustments."""
