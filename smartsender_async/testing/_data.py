"""The emulator's seeded, lazily generated store: operators, contacts, chats, gates, messages.

Scale is the design constraint.  ``Store(chats=100_000, messages_per_chat=100)`` must be
built in well under a second, so:

* per-chat mutable state (``updatedAt``, unread count, open/closed, assigned operator)
  lives in flat ``array``/``bytearray`` columns indexed by the chat's index ``i``;
* everything else about a chat (name, avatar, gates, contact details) is a pure function
  of ``(seed, i)``, recomputed when rendered;
* a generated message is a pure function of ``(seed, i, k)`` where ``k`` is its ordinal
  in the chat's history (0 = oldest).  Nothing is stored for it until it is edited or
  deleted.  Messages added later (sends, inbound churn) are stored as rendered dicts.

Ids are integers, unique per kind, and laid out so that the index can be recovered from
the id by arithmetic: chat ``CHAT_ID_BASE + i``, contact ``CONTACT_ID_BASE + i``, gate
``GATE_ID_BASE + 4 * i + channel``, generated message ``MESSAGE_ID_BASE + i * M + k``.
New messages take ids above every generated id, so "newer" always means "larger id".

Chat order (``GET /chats``) is ``updatedAt`` descending.  Only a message bumps a chat, and
a bump always sets ``updatedAt`` to "now", which is never earlier than any other chat's.
So the order is: bumped chats, most recently bumped first, then the never-bumped chats in
their initial order.  That is kept as a list of bumped chats plus a sorted list of their
initial positions, so a page is found without sorting or scanning 100,000 chats.

This module knows nothing about HTTP; ``_app`` renders and validates around it.
"""

from __future__ import annotations

import bisect
import datetime as dt
import functools
import random
from array import array
from collections.abc import Iterable, Sequence
from typing import Any

__all__ = [
    "CHANNELS",
    "CONTENT_TYPES",
    "TRANSIENT_FORMS",
    "Store",
    "iso",
]

CHAT_ID_BASE = 48_000
CONTACT_ID_BASE = 90_100_000
GATE_ID_BASE = 7_700_000
OPERATOR_ID_BASE = 101
MESSAGE_ID_BASE = 300_000_000
#: Gap between the last generated message id and the first id handed out at run time.
_NEW_ID_GAP = 1_000

#: The channel of each gate slot ``0..3`` and the bot/page name shown for it.
CHANNELS: tuple[str, ...] = ("telegram", "viber", "instagram", "facebook")
_CHANNEL_NAMES = ("shop_helper_bot", "Shop Helper", "shop.helper", "Shop Helper Page")
# Shared by every rendered gate: only ever serialised, never mutated.
_CHANNEL_DICTS = tuple(
    {"type": t, "name": n} for t, n in zip(CHANNELS, _CHANNEL_NAMES, strict=True)
)
# Gate layouts by 5 hash bits: how many gates (1-4, mostly 1-3) and the first channel.
_GATE_LAYOUTS = tuple(
    tuple((start + j) & 3 for j in range(count))
    for count in (1, 1, 2, 2, 2, 3, 3, 4)
    for start in range(4)
)

#: Every ``content.type`` of reference §2.4; generated histories cycle through all of them.
CONTENT_TYPES: tuple[str, ...] = (
    "text",
    "input",
    "pendingText",
    "transient",
    "picture",
    "telegramCaptionedPicture",
    "animation",
    "file",
    "link",
    "video",
    "telegramVideoNote",
    "audio",
    "voice",
    "mediaGroup",
    "contact",
    "location",
    "action",
    "telegramInvoice",
)
# Every other message is a text; the others come once per cycle, so a chat with at least
# len(_CYCLE) (= 34) messages holds every content type.
_CYCLE: tuple[str, ...] = tuple(x for t in CONTENT_TYPES[1:] for x in ("text", t))
_IS_ACTION: tuple[bool, ...] = tuple(t == "action" for t in _CYCLE)
_TELEGRAM_ONLY = frozenset({"telegramCaptionedPicture", "telegramVideoNote", "telegramInvoice"})
_ALWAYS_CONTACT = frozenset({"input"})
_ALWAYS_BOT = frozenset({"pendingText", "telegramInvoice", "link", "mediaGroup"})
_EXT = {
    "picture": "jpg",
    "telegramCaptionedPicture": "jpg",
    "animation": "mp4",
    "file": "pdf",
    "video": "mp4",
    "telegramVideoNote": "mp4",
    "audio": "mp3",
    "voice": "ogg",
}
#: Types whose text an edit replaces (``parameters.content``) and types whose caption it
#: replaces (``parameters.caption``).  Anything else cannot be edited.
EDITABLE_CONTENT = frozenset({"text", "input", "pendingText"})
EDITABLE_CAPTION = frozenset({"picture", "telegramCaptionedPicture", "animation", "video"})

PROJECT_NAME = "Emulated Shop"
#: The forms ``transient.context.timestamp`` can take (its real form is unknown).
TRANSIENT_FORMS = ("seconds", "milliseconds", "iso")
#: ``sender`` of messages sent through the API (a project token is not a person).
BOT_SENDER: dict[str, Any] = {"type": "bot", "fullName": PROJECT_NAME, "image": "/img/bot.png"}
_SYSTEM_SENDER: dict[str, Any] = {
    "type": "system",
    "fullName": "Smart Sender",
    "image": "/img/system.png",
}
_STORAGE = "https://messenger.smartsender.com/storage/projects/501"

_FIRST = (
    "Iryna", "Taras", "Olena", "Andrii", "Sofiia", "Maksym", "Daria", "Bohdan", "Yuliia",
    "Oleh", "Kateryna", "Dmytro", "Anna", "Serhii", "Mariia", "Ivan", "Natalia", "Roman",
    "Viktoriia", "Petro", "Alina", "Yaroslav", "Oksana", "Mykola", "Emma", "Lukas",
    "Chloé", "Mateo", "Zoë", "Noah",
)  # fmt: skip
_LAST = (
    "Kovalenko", "Melnyk", "Shevchenko", "Bondarenko", "Tkachenko", "Kravchenko", "Oliinyk",
    "Shevchuk", "Polishchuk", "Lysenko", "Marchenko", "Rudenko", "Savchenko", "Moroz",
    "Petrenko", "Klymenko", "Pavlenko", "Levchenko", "Karpenko", "Vasylenko", "Müller",
    "García", "Novak", "O'Brien",
)  # fmt: skip
_CONTACT_TEXTS = (
    "Hi! Is this still available?", "Thanks, got it!", "When will my order arrive?",
    "Can I pay by card?", "Where is my parcel?", "Do you ship to Lviv?", "ok",
    "I'd like to return the item", "What sizes do you have?", "Привіт! Є в наявності?",
    "Great, see you tomorrow 👍", "Please call me back",
)  # fmt: skip
_AGENT_TEXTS = (
    "Hello! How can I help you?", "Your order has been shipped.",
    "Sure, we accept cards and cash on delivery.", "Here is your tracking number: 20450012",
    "We deliver across Ukraine within 2 days.", "Thank you for your order!",
    "Could you send us your order number?", "Our manager will contact you shortly.",
    "The item is back in stock.", "Дякуємо за звернення!",
)  # fmt: skip
_ACTION_TEXTS = (
    "Chat was assigned to an operator", "Contact subscribed", "Chat was closed",
    "Chat was reopened", "Tag \"vip\" attached", "Funnel \"Onboarding\" started",
)  # fmt: skip
_BUTTONS = ("Track parcel", "Open catalogue", "Talk to a human", "Pay now")
_TAGS = ((11, "vip"), (12, "wholesale"), (13, "new"), (14, "returns"))
_FUNNELS = (("Onboarding", "onboarding_v2"), ("Abandoned cart", "cart_recovery"))
_CITIES = ("Kyiv", "Lviv", "Odesa", "Kharkiv", "Dnipro", "Warsaw", "Berlin")

_M64 = (1 << 64) - 1


def _h(a: int, b: int, c: int) -> int:
    """A 64-bit hash of three ints (splitmix64 finaliser): stable across runs and versions."""
    x = (a * 0x9E3779B97F4A7C15 + b * 0xBF58476D1CE4E5B9 + c * 0x94D049BB133111EB) & _M64
    x ^= x >> 30
    x = (x * 0xBF58476D1CE4E5B9) & _M64
    x ^= x >> 27
    x = (x * 0x94D049BB133111EB) & _M64
    return x ^ (x >> 31)


_UNIX_ORDINAL = dt.date(1970, 1, 1).toordinal()


@functools.lru_cache(maxsize=8192)
def _day(days: int) -> str:
    return dt.date.fromordinal(_UNIX_ORDINAL + days).isoformat()


_CLOCK_TIMES: list[str | None] = [None] * 86400


def iso(ts: int) -> str:
    """Unix seconds as the API's RFC 3339 UTC form, e.g. ``2026-03-18T16:40:12.000000Z``."""
    days, secs = divmod(ts, 86400)
    clock = _CLOCK_TIMES[secs]
    if clock is None:
        hours, rest = divmod(secs, 3600)
        minutes, seconds = divmod(rest, 60)
        clock = _CLOCK_TIMES[secs] = f"T{hours:02d}:{minutes:02d}:{seconds:02d}.000000Z"
    return _day(days) + clock


def _params(kind: str, parameters: dict[str, Any]) -> dict[str, Any]:
    return {"type": kind, "resource": {"parameters": parameters}}


#: How many chats' static parts are cached (about 0.5 kB each).
_STATIC_CACHE = 50_000


# A chat's never-changing parts: (name, image, gates, createdAt, offset in _CYCLE).  A
# plain tuple of atoms, so the garbage collector stops tracking cached entries (it never
# untracks NamedTuples): a cache of tracked objects made every full collection crawl it.
_ChatStatic = tuple[str, str, tuple[tuple[int, int, bool], ...], str, int]


class Store:
    """All emulated data and every state change, addressed by chat index ``i``.

    Not thread-safe by itself: the :class:`~smartsender_async.testing.Emulator` serialises
    access.  Methods taking ``now`` expect Unix seconds (int) for emitted timestamps.
    """

    def __init__(
        self,
        *,
        seed: int,
        chats: int,
        messages_per_chat: int,
        operators: int,
        epoch: int,
        transient_timestamp: str = "seconds",
    ) -> None:
        if transient_timestamp not in TRANSIENT_FORMS:
            raise ValueError(
                f"transient_timestamp must be one of {', '.join(TRANSIENT_FORMS)},"
                f" got {transient_timestamp!r}"
            )
        self.transient_timestamp = transient_timestamp
        if chats < 0 or messages_per_chat < 0 or operators < 1:
            raise ValueError("chats and messages_per_chat must be >= 0 and operators >= 1")
        self.n = chats
        self.m = messages_per_chat
        self.epoch = epoch
        self._sk = _h(seed, 0x5EED, 1)
        self.operator_ids: tuple[int, ...] = tuple(
            range(OPERATOR_ID_BASE, OPERATOR_ID_BASE + operators)
        )
        self.operator_involved: dict[int, bool] = dict.fromkeys(self.operator_ids, True)
        self._operator_senders = [
            {"type": "operator", "fullName": self.operator_name(o), "image": "/img/operator.png"}
            for o in self.operator_ids
        ]
        # Per-chat mutable columns, filled from one seeded stream in index order.
        rng = random.Random(seed)
        self.created = array("q", bytes(8 * chats))
        self.updated = array("q", bytes(8 * chats))
        self.unread = array("l", bytes(array("l").itemsize * chats))
        self.closed = bytearray(chats)
        self.operator = array("l", bytes(array("l").itemsize * chats))
        span = max(messages_per_chat, 1) * 600
        n_ops = operators
        created, updated, unread, closed, operator = (
            self.created,
            self.updated,
            self.unread,
            self.closed,
            self.operator,
        )
        getbits = rng.getrandbits
        for i in range(chats):
            r = getbits(64)
            u = epoch - 60 - (r & 0x3FFFFF) % (30 * 86400)  # updated within the last 30 days
            updated[i] = u
            created[i] = u - span - ((r >> 22) & 0x1FFFFFF) % (300 * 86400)
            if (r >> 47) & 7 < 3:  # 3 in 8 chats have unread messages
                unread[i] = 1 + (r >> 50) % 5
            if (r >> 53) & 3 == 0:  # 1 in 4 chats is closed
                closed[i] = 1
            if (r >> 55) % 5 < 3:  # 3 in 5 chats are assigned
                operator[i] = OPERATOR_ID_BASE + (r >> 58) % n_ops
        #: When each generated history ends: the initial ``updatedAt`` (bumps change
        #: ``updated``, and generated timestamps must not move with it).
        self.history_end = array("q", updated)
        # Initial order: updatedAt descending, ties by index.
        self.initial: array[int] = array(
            "l", sorted(range(chats), key=updated.__getitem__, reverse=True)
        )
        self.position = array("l", bytes(array("l").itemsize * chats))
        for pos, i in enumerate(self.initial):
            self.position[i] = pos
        self.bumped: list[int] = []  # chat indices, least recently bumped first
        self._bumped_set: set[int] = set()
        self._bumped_pos: list[int] = []  # sorted initial positions of bumped chats
        #: Incremented by every chat-level change; keys the filtered-listing cache.
        self.version = 0
        self._filter_cache: dict[tuple[Any, ...], tuple[int, list[int]]] = {}
        self._statics: dict[int, _ChatStatic] = {}
        self._names_lc: list[str] | None = None
        self._contacts_lc: list[str] | None = None
        # Messages.
        self._next_message_id = MESSAGE_ID_BASE + chats * messages_per_chat + _NEW_ID_GAP
        self._new: dict[int, dict[str, Any]] = {}  # id -> rendered message (sent, inbound)
        self._new_chat: dict[int, int] = {}  # id -> chat index
        self._new_by_chat: dict[int, list[int]] = {}  # chat index -> ids, oldest first
        self._edited: dict[int, tuple[dict[str, Any], int]] = {}  # generated id -> content, at
        # generated id -> the ``transient`` content a deletion left in its place
        self._deleted: dict[int, dict[str, Any]] = {}
        self._touched: set[int] = set()  # chats whose history differs from the generated one
        self._timelines: dict[tuple[int, bool], Sequence[int]] = {}

    # ------------------------------------------------------------------ ids and lookups

    def chat_index(self, chat_id: int) -> int | None:
        i = chat_id - CHAT_ID_BASE
        return i if 0 <= i < self.n else None

    def contact_index(self, contact_id: int) -> int | None:
        i = contact_id - CONTACT_ID_BASE
        return i if 0 <= i < self.n else None

    @staticmethod
    def chat_id(i: int) -> int:
        return CHAT_ID_BASE + i

    @staticmethod
    def contact_id(i: int) -> int:
        return CONTACT_ID_BASE + i

    def has_operator(self, operator_id: int) -> bool:
        return OPERATOR_ID_BASE <= operator_id < OPERATOR_ID_BASE + len(self.operator_ids)

    def gate_location(self, gate_id: int) -> tuple[int, int] | None:
        """``(chat index, channel)`` of a gate id, or ``None`` when no such gate exists."""
        i, channel = divmod(gate_id - GATE_ID_BASE, 4)
        if not 0 <= i < self.n or gate_id < GATE_ID_BASE:
            return None
        if not any(ch == channel for _, ch, _ in self.gates(i)):
            return None
        return i, channel

    # ------------------------------------------------------------------ derived attributes

    # One 64-bit hash per chat decides its name (bits 0-34), gate layout (35-39), which
    # gates are subscribed (40-55) and where its history enters the type cycle (56-63).

    def _chat_hash(self, i: int) -> int:
        return _h(self._sk, i, 10)

    def name(self, i: int) -> str:
        h = self._chat_hash(i)
        first = _FIRST[(h & 0xFFFF) % len(_FIRST)]
        last = _LAST[((h >> 16) & 0xFFFF) % len(_LAST)]
        if (h >> 32) & 7 == 0:
            return f"{first} {last[0]}."
        return f"{first} {last}"

    def image(self, i: int) -> str:
        h = self._chat_hash(i)
        return f"{_STORAGE}/avatars/{(h ^ (h >> 29)) & 0xFFFFFFFF:08x}.jpg"

    def gates(self, i: int) -> list[tuple[int, int, bool]]:
        """The chat's gates as ``(gate id, channel, subscribed)``, 1 to 4 of them."""
        h = self._chat_hash(i)
        base = GATE_ID_BASE + 4 * i
        sub = h >> 40
        return [
            (base + channel, channel, (sub >> (4 * j)) & 15 != 0)  # 15 in 16 are subscribed
            for j, channel in enumerate(_GATE_LAYOUTS[(h >> 35) & 31])
        ]

    def send_gate(self, i: int) -> tuple[int, int, bool]:
        """The gate a send uses: the chat's first subscribed gate, else its first gate."""
        gates = self.gates(i)
        for gate in gates:
            if gate[2]:
                return gate
        return gates[0]

    @staticmethod
    def render_gate(gate: tuple[int, int, bool]) -> dict[str, Any]:
        return {"id": gate[0], "subscribed": gate[2], "channel": _CHANNEL_DICTS[gate[1]]}

    def _static(self, i: int) -> _ChatStatic:
        """The never-changing parts of chat ``i``, from a bounded cache."""
        static = self._statics.get(i)
        if static is None:
            if len(self._statics) >= _STATIC_CACHE:
                self._statics.clear()
            static = self._statics[i] = (
                self.name(i),
                self.image(i),
                tuple(self.gates(i)),
                iso(self.created[i]),
                (self._chat_hash(i) >> 56) % len(_CYCLE),
            )
        return static

    def contact_sender(self, i: int) -> dict[str, Any]:
        """``sender`` of messages written by chat ``i``'s contact."""
        name, image, _, _, _ = self._static(i)
        return {"type": "contact", "fullName": name, "image": image}

    def render_chat(self, i: int) -> dict[str, Any]:
        name, image, gates, created_at, _ = self._static(i)
        return {
            "id": CHAT_ID_BASE + i,
            "name": name,
            "image": image,
            "unreadMessages": self.unread[i],
            "contact": {"originalId": CONTACT_ID_BASE + i, "fullName": name},
            "gates": [
                {"id": g, "subscribed": sub, "channel": _CHANNEL_DICTS[ch]} for g, ch, sub in gates
            ],
            "createdAt": created_at,
            "updatedAt": iso(self.updated[i]),
        }

    def _contact_parts(self, i: int) -> tuple[str, str, str, str]:
        name = self.name(i)
        first, _, last = name.partition(" ")
        h = _h(self._sk, i, 13)
        login = (
            f"{first}.{last}".lower()
            .replace("'", "")
            .replace(".", "", 2 if last.endswith(".") else 0)
        )
        email = f"{login.strip('.')}{i}@example.com"
        phone = f"+38067{h % 10_000_000:07d}"
        return first, last, email, phone

    def render_contact(self, i: int) -> dict[str, Any]:
        first, last, email, phone = self._contact_parts(i)
        h = _h(self._sk, i, 14)
        tags = [
            {"id": tid, "name": tname} for j, (tid, tname) in enumerate(_TAGS) if (h >> j) & 3 == 0
        ]
        funnels = [
            {"name": n, "serviceKey": k}
            for j, (n, k) in enumerate(_FUNNELS)
            if (h >> (8 + j)) & 3 == 0
        ]
        notes = []
        if (h >> 12) & 3 == 0:
            op = self.operator_ids[(h >> 14) % len(self.operator_ids)]
            notes.append(
                {
                    "content": "Prefers delivery after 6 pm",
                    "createdAt": iso(self.created[i] + 3600),
                    "user": {"fullName": self.operator_name(op), "photo": "/img/operator.png"},
                }
            )
        return {
            "id": CONTACT_ID_BASE + i,
            "fullName": self.name(i),
            "firstName": first,
            "lastName": last,
            "email": email,
            "phone": phone,
            "photo": self.image(i),
            "createdAt": iso(self.created[i]),
            "tags": tags,
            "funnels": funnels,
            "notes": notes,
            "variables": [
                {"name": "city", "value": _CITIES[(h >> 20) % len(_CITIES)]},
                {"name": "orders", "value": str((h >> 24) % 12)},
            ],
        }

    def operator_name(self, operator_id: int) -> str:
        j = operator_id - OPERATOR_ID_BASE
        h = _h(self._sk, j, 15)
        return f"{_FIRST[h % len(_FIRST)]} {_LAST[(h >> 16) % len(_LAST)]}"

    def render_operator(self, operator_id: int) -> dict[str, Any]:
        name = self.operator_name(operator_id)
        login = name.split(" ")[0].lower()
        return {
            "id": operator_id,
            "info": {
                "email": f"{login}.{operator_id}@shop.example",
                "fullName": name,
            },
        }

    # ------------------------------------------------------------------ chat listing

    def _unbumped_at(self, j: int) -> int:
        """Initial position of the ``j``-th (0-based) never-bumped chat."""
        bumped_pos = self._bumped_pos
        q = j
        while True:
            q2 = j + bisect.bisect_right(bumped_pos, q)
            if q2 == q:
                return q
            q = q2

    def order_slice(self, offset: int, count: int) -> list[int]:
        """Chat indices ``offset .. offset+count`` of the unfiltered order."""
        bumped = self.bumped
        b = len(bumped)
        out: list[int] = []
        if offset < b:
            stop = max(b - offset - count, 0)
            out.extend(bumped[b - 1 - offset : (stop - 1 if stop else None) : -1])
            if len(out) == count:
                return out
            offset = b
        pos = self._unbumped_at(offset - b)
        initial = self.initial
        skip = self._bumped_set
        n = self.n
        while len(out) < count and pos < n:
            i = initial[pos]
            if i not in skip:
                out.append(i)
            pos += 1
        return out

    def full_order(self) -> list[int]:
        skip = self._bumped_set
        head = self.bumped[::-1]
        if not skip:
            return list(self.initial)
        head.extend(i for i in self.initial if i not in skip)
        return head

    def filtered(
        self,
        *,
        state: str | None,
        selector: str | None,
        operator_id: int | None,
        term: str | None,
    ) -> list[int]:
        """Chat indices matching the filters, in list order (a full scan, cached per version)."""
        key = (state, selector, operator_id, term)
        cached = self._filter_cache.get(key)
        if cached is not None and cached[0] == self.version:
            return cached[1]
        rows = self.full_order()
        closed = self.closed
        if state == "open":
            rows = [i for i in rows if not closed[i]]
        elif state == "closed":
            rows = [i for i in rows if closed[i]]
        if selector == "unread":
            unread = self.unread
            rows = [i for i in rows if unread[i]]
        elif selector == "private":
            operator = self.operator
            rows = [i for i in rows if operator[i] == operator_id]
        if term:
            names = self.names_lc()
            needle = term.lower()
            rows = [i for i in rows if needle in names[i]]
        if len(self._filter_cache) > 64:
            self._filter_cache.clear()
        self._filter_cache[key] = (self.version, rows)
        return rows

    def names_lc(self) -> list[str]:
        if self._names_lc is None:
            self._names_lc = [self.name(i).lower() for i in range(self.n)]
        return self._names_lc

    def search_contacts(self, term: str) -> list[int]:
        """Contact indices whose name, email or phone contains ``term`` (case-insensitive)."""
        if self._contacts_lc is None:
            rows = []
            for i in range(self.n):
                _, _, email, phone = self._contact_parts(i)
                rows.append(f"{self.name(i)}\x00{email}\x00{phone}".lower())
            self._contacts_lc = rows
        needle = term.lower()
        return [i for i, hay in enumerate(self._contacts_lc) if needle in hay]

    # ------------------------------------------------------------------ chat state changes

    def bump(self, i: int, now: int) -> None:
        """Set ``updatedAt`` to ``now`` and move the chat to the head of the order."""
        self.updated[i] = max(now, self.updated[i])
        if i in self._bumped_set:
            self.bumped.remove(i)
        else:
            self._bumped_set.add(i)
            bisect.insort(self._bumped_pos, self.position[i])
        self.bumped.append(i)
        self.version += 1

    def mark_read(self, i: int) -> None:
        self.unread[i] = 0
        self.version += 1

    def close(self, i: int) -> None:
        self.closed[i] = 1
        self.version += 1

    def assign(self, i: int, operator_id: int) -> None:
        self.operator[i] = operator_id
        self.version += 1

    # ------------------------------------------------------------------ messages

    def timeline(self, i: int, activities: bool) -> Sequence[int]:
        """The chat's message ids, oldest first; without ``action`` messages unless
        ``activities``."""
        base = MESSAGE_ID_BASE + i * self.m
        if activities and i not in self._touched:
            return range(base, base + self.m)
        key = (i, activities)
        cached = self._timelines.get(key)
        if cached is not None:
            return cached
        off = self._static(i)[4]
        cycle = len(_CYCLE)
        if activities:
            ids = array("q", range(base, base + self.m))
        else:
            ids = array("q", [base + k for k in range(self.m) if not _IS_ACTION[(k + off) % cycle]])
        if i in self._touched:
            for mid in self._new_by_chat.get(i, ()):
                if activities or self._new[mid]["content"]["type"] != "action":
                    ids.append(mid)
        elif len(self._timelines) > 8192:
            # A bounded cache for read-only chats; touched chats are always cached.
            self._timelines = {k: v for k, v in self._timelines.items() if k[0] in self._touched}
        self._timelines[key] = ids
        return ids

    def _forget_timeline(self, i: int) -> None:
        self._touched.add(i)
        self._timelines.pop((i, True), None)
        self._timelines.pop((i, False), None)

    def message_chat(self, mid: int) -> int | None:
        """The chat index a live message belongs to, or ``None`` if there is no such message."""
        if mid in self._new:
            return self._new_chat[mid]
        k = mid - MESSAGE_ID_BASE
        if 0 <= k < self.n * self.m:
            return k // self.m
        return None

    def message(self, mid: int) -> dict[str, Any] | None:
        """The rendered message with this id, or ``None`` (no such message, or deleted)."""
        stored = self._new.get(mid)
        if stored is not None:
            return stored
        k = mid - MESSAGE_ID_BASE
        if not 0 <= k < self.n * self.m:
            return None
        msg = self._generate(*divmod(k, self.m))
        edit = self._edited.get(mid)
        if edit is not None:
            msg["content"], edited_at = edit
            msg["editedAt"] = iso(edited_at)
        deleted = self._deleted.get(mid)
        if deleted is not None:
            msg["content"] = deleted
        return msg

    def _sender(self, kind: str, i: int, op_j: int) -> dict[str, Any]:
        if kind == "contact":
            return self.contact_sender(i)
        if kind == "operator":
            return self._operator_senders[op_j % len(self._operator_senders)]
        if kind == "system":
            return _SYSTEM_SENDER
        return BOT_SENDER

    def _generate(self, i: int, k: int) -> dict[str, Any]:
        h = _h(self._sk ^ 0x3E55A6E, i, k)
        _, _, gates, _, offset = self._static(i)
        kind = _CYCLE[(k + offset) % len(_CYCLE)]
        m = self.m
        start = self.created[i] + 60
        end = self.history_end[i]
        t = end - (end - start) * (m - 1 - k) // max(m - 1, 1)  # the newest at ``end``
        g = (h >> 8) % len(gates)
        if kind in _TELEGRAM_ONLY:
            g = next((n for n, gate in enumerate(gates) if gate[1] == 0), g)
        if kind == "action":
            sender = "system"
        elif kind in _ALWAYS_CONTACT:
            sender = "contact"
        elif kind in _ALWAYS_BOT:
            sender = "bot"
        else:
            r = h % 20
            sender = "contact" if r < 11 else "operator" if r < 17 else "bot"
        inbound = sender == "contact"
        content = self._content(kind, h, i, gates[g][0], t, inbound)
        internal = sender == "operator" and kind == "text" and (h >> 40) % 10 == 0
        seen = (h >> 44) & 3 != 0
        return {
            "id": MESSAGE_ID_BASE + i * m + k,
            "content": content,
            "internal": internal,
            "state": {},
            "sender": self._sender(sender, i, h >> 48),
            "gate": self.render_gate(gates[g]),
            "editedAt": None,
            "seenAt": iso(min(t + 30 + (h >> 50) % 600, self.epoch)) if seen else None,
            "createdAt": iso(t),
            "deliveredAt": iso(t if inbound else t + 1),
        }

    def _content(
        self, kind: str, h: int, i: int, gate_id: int, t: int, inbound: bool
    ) -> dict[str, Any]:
        texts = _CONTACT_TEXTS if inbound else _AGENT_TEXTS
        text = texts[(h >> 20) % len(texts)]
        url = f"{_STORAGE}/gates/{gate_id}/{h & 0xFFFFFF:06x}.{_EXT.get(kind, 'bin')}"
        params: dict[str, Any]
        if kind in ("text", "input"):
            params = {"content": text}
        elif kind == "pendingText":
            params = {
                "content": "Hello, {{name}}! Your order {{order}} is ready.",
                "replacement": {
                    "{{name}}": self.name(i).split(" ")[0],
                    "{{order}}": f"#{h % 90000 + 10000}",
                },
            }
        elif kind == "transient":
            params = {
                "original": _params("text", {"content": text}),
                "context": {"timestamp": self.stamp(t + 60)},
            }
        elif kind in ("picture", "telegramCaptionedPicture", "animation"):
            params = {"url": url}
            if kind == "telegramCaptionedPicture" or (h >> 30) & 1:
                params["caption"] = "Your order" if not inbound else "photo"
        elif kind == "link":
            params = {"url": f"https://shop.example/catalogue/{h % 1000}"}
        elif kind == "mediaGroup":
            params = {
                "media": [
                    {"resource": {"parameters": {"url": f"{url[:-4]}-{n}.jpg"}}}
                    for n in range(2 + (h >> 31) % 2)
                ]
            }
        elif kind == "contact":
            params = {
                "name": self.name((i + 1 + h % 7) % max(self.n, 1)),
                "phoneNumber": f"+38050{h % 10_000_000:07d}",
            }
        elif kind == "location":
            params = {
                "latitude": round(46.0 + (h % 50_000) / 10_000, 6),
                "longitude": round(24.0 + ((h >> 16) % 120_000) / 10_000, 6),
            }
        elif kind == "action":
            params = {"content": _ACTION_TEXTS[(h >> 20) % len(_ACTION_TEXTS)]}
        elif kind == "telegramInvoice":
            params = {
                "receipt": {
                    "title": f"Order #{h % 90000 + 10000}",
                    "description": "2 items, delivery included",
                }
            }
        else:  # file, video, telegramVideoNote, audio, voice
            params = {"url": url}
        content = _params(kind, params)
        if not inbound and kind in ("text", "picture") and (h >> 36) & 3 == 0:
            content["resource"]["buttons"] = [
                {"parameters": {"text": _BUTTONS[(h >> 38) % len(_BUTTONS)]}}
            ]
        return content

    def add_message(
        self,
        i: int,
        *,
        content: dict[str, Any],
        sender: dict[str, Any],
        gate: tuple[int, int, bool],
        now: int,
        inbound: bool,
    ) -> dict[str, Any]:
        """Append a message to chat ``i`` (newest), bump the chat, and return the message."""
        mid = self._next_message_id
        self._next_message_id += 1
        msg = {
            "id": mid,
            "content": content,
            "internal": False,
            "state": {},
            "sender": sender,
            "gate": self.render_gate(gate),
            "editedAt": None,
            "seenAt": None,
            "createdAt": iso(now),
            "deliveredAt": iso(now),
        }
        self._new[mid] = msg
        self._new_chat[mid] = i
        self._new_by_chat.setdefault(i, []).append(mid)
        self._forget_timeline(i)
        if inbound:
            self.unread[i] += 1
            self.closed[i] = 0
        self.bump(i, now)
        return msg

    def edit_message(self, mid: int, content: dict[str, Any], now: int) -> None:
        stored = self._new.get(mid)
        if stored is not None:
            stored["content"] = content
            stored["editedAt"] = iso(now)
        else:
            self._edited[mid] = (content, now)

    def stamp(self, ts: int) -> int | str:
        """``transient.context.timestamp`` for Unix seconds ``ts``, in the chosen form."""
        form = self.transient_timestamp
        if form == "milliseconds":
            return ts * 1000
        if form == "iso":
            return iso(ts)
        return ts

    def delete_messages(self, mids: Iterable[int], now: int) -> None:
        """Replace each message by a ``transient`` one holding the ``original`` content and
        the deletion time; the message keeps its place in the history.  Deleting a
        ``transient`` message again changes nothing."""
        for mid in mids:
            message = self.message(mid)
            if message is None or message["content"].get("type") == "transient":
                continue
            content = _params(
                "transient",
                {"original": message["content"], "context": {"timestamp": self.stamp(now)}},
            )
            stored = self._new.get(mid)
            if stored is not None:
                stored["content"] = content
            else:
                self._deleted[mid] = content
