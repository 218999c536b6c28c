"""Signing in to the dashboard the way a browser's form does, over plain HTTP (httpx)."""

from __future__ import annotations

import re

import httpx

__all__ = ["PASSWORD", "csrf_of", "refused_naming", "sign_in"]

PASSWORD = "correct horse battery"
_CSRF = re.compile(r'name="csrf_token" value="([0-9a-f]+)"')


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found, "the page has no CSRF token"
    return found.group(1)


async def sign_in(
    client: httpx.AsyncClient, email: str, password: str = PASSWORD
) -> httpx.Response:
    """GET the form (its nonce cookie and token), POST it; the answer (303 when it worked)."""
    form = await client.get("/dashboard/login")
    assert form.status_code == 200, form.text
    return await client.post(
        "/dashboard/login",
        data={"email": email, "password": password, "csrf_token": csrf_of(form.text)},
    )


async def refused_naming(
    client: httpx.AsyncClient, path: str, data: dict[str, str], field: str
) -> None:
    """POST `data` (with its CSRF token) and expect a 400 page that names `field`."""
    answer = await client.post(path, data=data)
    assert answer.status_code == 400, answer.text
    assert field in answer.text
