"""How the command line shows models: rich tables for people, JSON for programs.

``--json`` output is the wire form (``converter.unstructure``), every field the server
sent: one object for a single item, JSON Lines (one object per line) for lists, so that
long lists stream and pipe into ``jq`` line by line.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime, timezone
from typing import Any

from rich.table import Table
from rich.text import Text

from smartsender_async._convert import converter
from smartsender_async.models.chats import Chat
from smartsender_async.models.messages import Message

__all__ = [
    "chat_details",
    "chats_table",
    "format_time",
    "message_summary",
    "messages_table",
    "to_json",
]


def to_json(model: Any) -> str:
    """One model as a single line of JSON, in the API's own field names."""
    return json.dumps(converter.unstructure(model), ensure_ascii=False, separators=(",", ":"))


def format_time(value: datetime | None) -> str:
    """``2026-03-18 16:40:12`` in UTC, or an empty string."""
    if value is None:
        return ""
    return value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def _channels(chat: Chat) -> str:
    names = [g.channel.type for g in chat.gates if g.channel is not None and g.channel.type]
    return ", ".join(dict.fromkeys(names))


def chats_table(chats: Iterable[Chat]) -> Table:
    table = Table(box=None, header_style="bold", pad_edge=False)
    table.add_column("id", justify="right", no_wrap=True)
    table.add_column("name", overflow="fold")
    table.add_column("unread", justify="right")
    table.add_column("channels")
    table.add_column("contact", justify="right", no_wrap=True)
    table.add_column("updated (UTC)", no_wrap=True)
    for chat in chats:
        table.add_row(
            str(chat.id),
            Text(chat.name or ""),
            "" if chat.unread_messages is None else str(chat.unread_messages),
            _channels(chat),
            "" if chat.contact_id is None else str(chat.contact_id),
            format_time(chat.updated_at),
        )
    return table


def chat_details(chat: Chat) -> Table:
    table = Table(box=None, show_header=False, pad_edge=False)
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")
    rows: list[tuple[str, str]] = [
        ("id", str(chat.id)),
        ("name", chat.name or ""),
        ("contact id", "" if chat.contact_id is None else str(chat.contact_id)),
        ("unread", "" if chat.unread_messages is None else str(chat.unread_messages)),
        ("created (UTC)", format_time(chat.created_at)),
        ("updated (UTC)", format_time(chat.updated_at)),
        ("image", chat.image or ""),
    ]
    for gate in chat.gates:
        channel = gate.channel
        kind = channel.type if channel is not None else "?"
        name = channel.name if channel is not None and channel.name else ""
        state = "subscribed" if gate.subscribed else "unsubscribed"
        rows.append((f"gate {gate.id}", f"{kind} {name} ({state})".replace("  ", " ")))
    for key, value in sorted(chat.extra.items()):
        rows.append((key, json.dumps(value, ensure_ascii=False)))
    for key, value in rows:
        table.add_row(key, Text(value))
    return table


def message_summary(message: Message) -> str:
    """A one-line description of a message's content."""
    content = message.content
    if content is None:
        return ""
    kind = content.type
    text = message.text
    if text is not None and kind in ("text", "input", "pendingText"):
        return text
    if text is not None:
        return f"[{kind}] {text}"
    detail = ""
    for name in ("caption", "url", "title", "name"):
        value = getattr(content, name, None)
        if isinstance(value, str) and value:
            detail = value
            break
    lat, lon = getattr(content, "latitude", None), getattr(content, "longitude", None)
    if lat is not None and lon is not None:
        detail = f"{lat}, {lon}"
    return f"[{kind}] {detail}".rstrip()


def messages_table(messages: Iterable[Message]) -> Table:
    table = Table(box=None, header_style="bold", pad_edge=False)
    table.add_column("id", justify="right", no_wrap=True)
    table.add_column("created (UTC)", no_wrap=True)
    table.add_column("from", overflow="fold")
    table.add_column("content", overflow="fold")
    for message in messages:
        sender = message.sender
        who = ""
        if sender is not None:
            who = sender.full_name or ""
            if sender.type:
                who = f"{who} ({sender.type})"
        table.add_row(
            str(message.id),
            format_time(message.created_at),
            Text(who),
            Text(message_summary(message)),
        )
    return table
