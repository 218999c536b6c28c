"""The mark that tells our marketplace instances from everything else on the account.

Every instance rented through `Rentals` carries `gpuproxy-<rental record id>` where the
provider keeps a free-form name: vast.ai's `label`, io.net's deployment name
(`resource_private_name`). The record id is written before the provider is called, so an
instance the provider accepted can always be traced back to its rental, even when the
answer was lost (timeout, crash) or the record could not be updated afterwards. The orphan
reaper destroys only instances with this mark; anything else on the account (other tools,
manual rentals, the bare default label "gpuproxy") is never touched.
"""

from __future__ import annotations

import re

__all__ = ["MARK_PREFIX", "ownership_tag", "record_id_of"]

MARK_PREFIX = "gpuproxy-"
_TAG = re.compile(r"^gpuproxy-([0-9a-f]{32})$")


def ownership_tag(record_id: str) -> str:
    """The label / deployment name of the instance rented for rental record `record_id`."""
    return f"{MARK_PREFIX}{record_id}"


def record_id_of(label: str | None) -> str | None:
    """The rental record id in an instance's label, or None when the instance is not ours."""
    if not label:
        return None
    match = _TAG.match(label.strip())
    return match.group(1) if match else None
