"""The embedded default's first admin: created once, on a start with no users at all.

Never a fixed default password: a random one is logged once and written to
`DATA_DIR/admin_password` (mode 0600). Several workers starting together race on the
unique email; only the one whose insert won writes the file and logs.
"""

from __future__ import annotations

import logging
import os
import secrets
import string
from pathlib import Path

from gpuproxy.accounts.errors import EmailTaken
from gpuproxy.accounts.service import AccountsService

__all__ = ["DEFAULT_ADMIN_EMAIL", "PASSWORD_FILE", "ensure_default_admin"]

log = logging.getLogger(__name__)

DEFAULT_ADMIN_EMAIL = "admin@gpucloud.local"
PASSWORD_FILE = "admin_password"  # noqa: S105 - a file name
_ALPHABET = string.ascii_letters + string.digits


def _write_private(path: Path, text: str) -> None:
    """Write `text` to `path` with mode 0600 from the first byte (temp file + rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(temp, path)


async def ensure_default_admin(accounts: AccountsService, data_dir: Path) -> Path | None:
    """Create admin@gpucloud.local when there are no users; the password file's path."""
    if await accounts.users.count() > 0:
        return None
    password = "".join(secrets.choice(_ALPHABET) for _ in range(24))
    try:
        user = await accounts.users.create(
            email=DEFAULT_ADMIN_EMAIL,
            name="Administrator",
            password_hash=await accounts.hasher.hash(password),
            is_admin=True,
        )
    except EmailTaken:
        return None
    path = data_dir / PASSWORD_FILE
    _write_private(path, password + "\n")
    await accounts.audit.record(
        "user.bootstrap", actor_email="system", target=user.id, detail={"email": user.email}
    )
    # The password goes to the file only: logs are shipped and kept, and carry no secrets.
    log.warning(
        "created the first admin account %s; its one-time password is in %s (mode 0600). "
        "Log in and create your own admin, then disable this one.",
        DEFAULT_ADMIN_EMAIL,
        path,
    )
    return path
