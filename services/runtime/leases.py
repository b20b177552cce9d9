"""A claim on queued work: whoever holds its token owns the claimed items until the lease ends.

How items are claimed is the storage adapter's business (services.runtime.claims for SQL tables); the
use cases only create claims and hand them over."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


@dataclass(frozen=True)
class Claim:
    """Items claimed together: nobody else takes them until `lease_until`."""

    token: str
    now: dt.datetime
    lease_until: dt.datetime
