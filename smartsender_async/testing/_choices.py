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
    Behaviour(
        "chat-order",
        "choice",
        "GET /chats lists chats by updatedAt, newest first (the reference's order is"
        " unknown; this is its inference); chat_order='id' lists them by ascending id.",
        "Emulator(chat_order='id')",
    ),
)
