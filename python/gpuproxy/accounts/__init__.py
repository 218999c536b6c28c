"""Accounts: users, passwords, tokens, API keys, sessions, rate limits."""
