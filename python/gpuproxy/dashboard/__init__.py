"""The web dashboard at /dashboard: server-rendered Jinja pages, one small hand-written
script and stylesheet, all shipped inside the package (no CDN, no Node at run time).

The browser signs in with the accounts service's login; the access token lives in an
HttpOnly, SameSite=Strict cookie that the authentication middleware accepts on /dashboard
paths only (`session`), and every state-changing form carries a CSRF token bound to that
session. The route handlers are in `gpuproxy.dashboard.routes` (mounted by `api.routes`).
"""

from __future__ import annotations

__all__: list[str] = []
