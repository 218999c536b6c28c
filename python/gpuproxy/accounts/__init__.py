"""Accounts: users, passwords, tokens, API keys, sessions, rate limits, audit log.

`AccountsService` (on `Services.accounts`) is the entry point; `AuthMiddleware` puts the
caller on `scope["user"]`; raw ASGI routes call `AccountsService.authenticate(headers)`.
"""
