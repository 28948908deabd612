"""Fixed, realistic response bodies for the decode and request-overhead figures.

The shapes follow the API reference (§2.2 chats, §2.4 messages, §5 examples): every chat
has all its documented fields, one to three gates and the Laravel-style timestamps the
live API sends; the messages page mixes content types the way a real history does
(mostly text, with pictures, buttons, media groups, deleted messages, locations,
contacts, invoices and one type this SDK does not know).  Generated from a fixed seed,
so every run decodes the same bytes.
"""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta, timezone
from typing import Any

__all__ = ["chat_dict", "chats_page", "messages_page", "page_bytes"]

_CHANNELS = (
    ("telegram", "shop_helper_bot"),
    ("viber", "Shop Helper"),
    ("instagram", "shop.helper"),
    ("facebook", "Shop Helper Page"),
)
_FIRST = ("Iryna", "Taras", "Olena", "Andrii", "Sofiia", "Mykola", "Oksana", "Dmytro")
_LAST = ("Kovalenko", "Melnyk", "Shevchenko", "Bondarenko", "Tkachenko", "Kravchenko")
_BASE = datetime(2026, 3, 18, 16, 40, 12, tzinfo=timezone.utc)
_AVATARS = "https://messenger.smartsender.com/storage/projects/501/avatars/"
_MEDIA = "https://messenger.smartsender.com/storage/projects/501/gates/"


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000000Z")


def _gate(rng: random.Random, gate_id: int, channel: int) -> dict[str, Any]:
    kind, name = _CHANNELS[channel]
    return {
        "id": gate_id,
        "subscribed": rng.random() < 0.8,
        "channel": {"type": kind, "name": name},
    }


def chat_dict(rng: random.Random, i: int) -> dict[str, Any]:
    """One chat as ``GET /chats`` renders it."""
    name = f"{rng.choice(_FIRST)} {rng.choice(_LAST)}"
    channels = rng.sample(range(4), rng.choice((1, 1, 2, 2, 3)))
    updated = _BASE - timedelta(seconds=i * 517 + rng.randrange(300))
    return {
        "id": 48_000 + i,
        "name": name,
        "image": f"{_AVATARS}{rng.getrandbits(32):08x}.jpg",
        "unreadMessages": rng.choice((0, 0, 0, 1, 2, 5)),
        "contact": {"originalId": 90_100_000 + i, "fullName": name},
        "gates": [_gate(rng, 7_700_000 + 4 * i + c, c) for c in channels],
        "createdAt": _iso(updated - timedelta(days=rng.randrange(1, 400))),
        "updatedAt": _iso(updated),
    }


def chats_page(size: int = 20, *, seed: int = 7, start: int = 0) -> dict[str, Any]:
    """A ``GET /chats`` page of ``size`` chats."""
    rng = random.Random(seed + start)
    items = [chat_dict(rng, start + i) for i in range(size)]
    return {"cursor": {"page": start // 20 + 1, "pages": 5000}, "collection": items}


def _content(rng: random.Random, kind: str, n: int) -> dict[str, Any]:
    url = f"{_MEDIA}7712409/{rng.getrandbits(32):08x}"
    params: dict[str, Any]
    resource: dict[str, Any] = {}
    if kind == "text":
        params = {"content": rng.choice(("Thanks, got it!", "Where is my parcel?", "Hello 👋"))}
    elif kind == "pendingText":
        params = {
            "content": "Hello, {{name}}! Your order {{order}} is ready.",
            "replacement": {"{{name}}": "Iryna", "{{order}}": f"#{10_000 + n}"},
        }
    elif kind == "picture":
        params = {"url": url + ".jpg", "caption": "Your order"}
        resource["buttons"] = [
            {"parameters": {"text": "Track parcel"}},
            {"parameters": {"text": "Talk to us"}},
        ]
    elif kind == "transient":
        params = {
            "original": {"type": "text", "resource": {"parameters": {"content": "oops"}}},
            "context": {"timestamp": 1_773_851_000 + n},
        }
    elif kind == "mediaGroup":
        params = {
            "media": [{"resource": {"parameters": {"url": f"{url}-{k}.jpg"}}} for k in (1, 2)]
        }
    elif kind == "location":
        params = {"latitude": 50.4501, "longitude": 30.5234}
    elif kind == "contact":
        params = {"name": "Taras M.", "phoneNumber": "+380501234567"}
    elif kind == "telegramInvoice":
        params = {"receipt": {"title": "Order #1042", "description": "2 items"}}
    elif kind == "hologram":  # a type this SDK does not know: kept raw
        params = {"depth": 3}
    else:  # file, voice, video
        params = {"url": url + ".bin"}
    return {"type": kind, "resource": {"parameters": params, **resource}}


# Mostly text, as in a real history, with every structural case present once or more.
_MESSAGE_KINDS = (
    "text", "picture", "text", "input", "text", "pendingText", "text", "file",
    "text", "mediaGroup", "text", "transient", "text", "location", "voice", "contact",
    "text", "telegramInvoice", "action", "hologram",
)  # fmt: skip


def messages_page(size: int = 20, *, seed: int = 11, unknown_type: bool = True) -> dict[str, Any]:
    """A ``GET /chats/{id}/messages`` page, newest first, with mixed content types.

    ``unknown_type=False`` retypes the one unknown content type to ``text``, for decoders
    that cannot fall back on an unknown tag (msgspec).
    """
    rng = random.Random(seed)
    items = []
    for n in range(size):
        kind = _MESSAGE_KINDS[n % len(_MESSAGE_KINDS)]
        if kind == "hologram" and not unknown_type:
            kind = "text"
        if kind in ("input", "action"):
            content = {"type": kind, "resource": {"parameters": {"content": "Kyiv"}}}
        else:
            content = _content(rng, kind, n)
        inbound = kind in ("text", "input") and n % 4 == 0
        created = _BASE - timedelta(minutes=7 * n)
        sender = (
            {"type": "contact", "fullName": "Iryna Kovalenko", "image": _AVATARS + "k2f9.jpg"}
            if inbound
            else {"type": "operator", "fullName": "Support Desk", "image": "/img/operator.png"}
        )
        items.append(
            {
                "id": 3_310_547 - n,
                "content": content,
                "internal": kind == "action",
                "state": {},
                "sender": sender,
                "gate": _gate(rng, 7_712_409, 0),
                "editedAt": None,
                "seenAt": _iso(created + timedelta(seconds=48)) if n % 3 else None,
                "createdAt": _iso(created),
                "deliveredAt": _iso(created + timedelta(seconds=1)),
            }
        )
    return {"cursor": {"page": 1, "pages": 15}, "collection": items}


def page_bytes(page: dict[str, Any]) -> bytes:
    """The body as a Laravel API sends it: compact, ``\\u`` escapes for non-ASCII and
    ``\\/`` for slashes (PHP ``json_encode`` defaults)."""
    text = json.dumps(page, ensure_ascii=True, separators=(",", ":"))
    return text.replace("/", "\\/").encode()
