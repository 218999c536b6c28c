"""HTTP routes of accounts: sign-up, login, tokens, API keys, and user administration."""
