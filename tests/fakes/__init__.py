"""Fake third-party servers on loopback that follow the real APIs (paths, verbs, units,
pagination, error bodies, 429s). Product code only ever sees their base URL."""
