"""What the emulator does where the reference is silent, and where each behaviour comes from.

Every behaviour of the emulator is either taken from the API reference (``documented``:
stated by the vendor's page; ``seen``: seen in public client code or live answers;
``inferred``: inferred from the evidence) or is the emulator's own ``choice`` where the
reference tags the fact unknown.  ``CHOICES`` lists them; the emulator's docstring, its
``--help`` and the docs page on the emulator are made from this one list.
"""

from __future__ import annotations

from typing import Literal

import attrs

__all__ = ["CHOICES", "Behaviour"]

Evidence = Literal["documented", "seen", "inferred", "choice"]


@attrs.frozen
class Behaviour:
    """One behaviour of the emulator and the evidence behind it."""

    #: A short name, unique in ``CHOICES`` (``"bad-token-status"``).
    name: str
    #: Where it comes from: ``documented``, ``seen``, ``inferred`` or ``choice``.
    evidence: Evidence
    #: What the emulator does, in one sentence.
    summary: str
    #: How to change it, when an option exists (``"Emulator(bad_token_status=403)"``).
    option: str | None = None


#: Append new entries; keep one entry per behaviour.
CHOICES: tuple[Behaviour, ...] = (
    Behaviour(
        "rate-limit",
        "documented",
        "180 requests per minute per token; a breach answers 423 with the lock's seconds.",
        "Emulator(quota=(N, seconds))",
    ),
    # Appended by the export-trust work (branch i15): what the export relies on or shows.
    Behaviour(
        "lock-escalation",
        "documented",
        "The first breach locks the token for 60 s, each further breach for 60 s more, "
        "up to 720 s.",
    ),
    Behaviour(
        "lock-message",
        "seen",
        "A locked request gets 423 with the body message 'Too many requests. Please, try "
        "again in N seconds'.",
    ),
    Behaviour(
        "lock-retry-after",
        "choice",
        "423 answers carry no Retry-After header unless asked (the real API is not known to "
        "send one).",
        "Emulator(retry_after_header=True); serve --retry-after",
    ),
    Behaviour(
        "lock-unit",
        "choice",
        "The lock unit scales with the quota's period: 60 s for 180/60, 2 s for 30/2.",
        "Emulator(rate_limit=(N, seconds))",
    ),
    Behaviour(
        "lock-breaches",
        "choice",
        "The breach count behind the escalation never decays by itself; requests refused "
        "during a lock neither count in the window nor extend the lock.",
    ),
    Behaviour(
        "me-project",
        "choice",
        "GET /me answers id 501 and name 'Emulated Shop' (the reference documents only "
        "name and photo; the id is the emulator's).",
    ),
    Behaviour(
        "clock",
        "choice",
        "The emulator's clock starts at 2026-03-18T12:00:00Z, whatever this machine's clock "
        "says, so timestamps are reproducible.",
        "Emulator(epoch=...); serve --epoch TIME|now",
    ),
    Behaviour(
        "date-header",
        "choice",
        "The emulator sends no Date header of its own (served by uvicorn, Date is this "
        "machine's time, not the emulator's clock).",
    ),
    Behaviour(
        "timestamps",
        "inferred",
        "Timestamps are RFC 3339 UTC with whole seconds ('2026-03-18T16:40:12.000000Z'); a "
        "new message stamps its chat's updatedAt with the same second.",
    ),
)
