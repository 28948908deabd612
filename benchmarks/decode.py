"""Decode: µs per page, bytes in, models out, for a 20-chat page and a 20-message page.

"Ours" is exactly what the client does with a body: ``structure(loads(body), Page[T])``,
with the JSON parser the SDK picks (orjson when installed, else the json module).  The
baseline is pydantic v2's ``model_validate_json`` on peer models of the same shape (see
``_peers``).  Informational rows: msgspec (the floor: it cannot keep unknown keys), the
SDK on the stdlib json module, and cattrs' stock generated hooks (orjson preconf converter,
``detailed_validation=False``) on the chats page, which keep no extras and no fallbacks.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import attrs
import msgspec
from cattrs.gen import make_dict_structure_fn, override

from benchmarks._harness import Row, compare
from benchmarks._payloads import chats_page, messages_page, page_bytes
from benchmarks._peers import (
    MsgspecChatsPage,
    MsgspecMessagesPage,
    PydanticChatsPage,
    PydanticMessagesPage,
)
from smartsender_async._convert import JSON_BACKEND, camel, loads, parse_timestamp, structure
from smartsender_async.models import Channel, Chat, ChatContact, Cursor, Gate, Message, Page

GOAL = 1.0  # at most pydantic v2's time


@attrs.frozen
class _StockChatsPage:
    cursor: Cursor
    collection: tuple[Chat, ...]


def _stock_cattrs() -> Any:
    """cattrs' own generated hooks for the chat models, camelCase renames only."""
    if JSON_BACKEND == "orjson":
        from cattrs.preconf.orjson import make_converter
    else:  # orjson is an optional speed-up; the json preconf converter works without it
        from cattrs.preconf.json import make_converter  # type: ignore[assignment]
    conv = make_converter(detailed_validation=False)
    conv.register_structure_hook(datetime, lambda v, _: parse_timestamp(v))
    for cls in (Cursor, Channel, Gate, ChatContact, Chat):
        overrides = {
            f.name: override(rename=camel(f.name))
            for f in attrs.fields(cls)
            if f.init and f.name != "extra"
        }
        overrides["extra"] = override(omit=True)
        conv.register_structure_hook(cls, make_dict_structure_fn(cls, conv, **overrides))
    return lambda body: conv.loads(body, _StockChatsPage)


def run(quick: bool = False) -> list[Row]:
    rounds, seconds = (3, 0.05) if quick else (15, 0.2)
    chats = page_bytes(chats_page())
    messages = page_bytes(messages_page())
    messages_known = page_bytes(messages_page(unknown_type=False))
    ms_chats = msgspec.json.Decoder(MsgspecChatsPage)
    ms_messages = msgspec.json.Decoder(MsgspecMessagesPage)
    chat_page, message_page = Page[Chat], Page[Message]
    stock = _stock_cattrs()
    assert len(stock(chats).collection) == 20

    rows = []
    for label, body, model, pyd, ms, ms_body in (
        ("chats", chats, chat_page, PydanticChatsPage, ms_chats, chats),
        ("messages", messages, message_page, PydanticMessagesPage, ms_messages, messages_known),
    ):
        candidates = {
            "ours": lambda body=body, model=model: structure(loads(body), model),
            "pydantic": lambda body=body, pyd=pyd: pyd.model_validate_json(body),
            "msgspec": lambda ms_body=ms_body, ms=ms: ms.decode(ms_body),
            "ours_stdlib": lambda body=body, model=model: structure(json.loads(body), model),
        }
        if label == "chats":
            candidates["cattrs_stock"] = lambda: stock(chats)
        best = compare(candidates, rounds=rounds, round_seconds=seconds)
        us = {name: value * 1e6 for name, value in best.items()}
        size = f"{len(body) / 1024:.1f} KB"
        rows.append(
            Row(
                f"Decode {label} page ({size}) vs pydantic v2",
                us["ours"],
                us["pydantic"],
                "µs",
                "<=",
                GOAL,
                note=f"SDK with {JSON_BACKEND}",
            )
        )
        rows.append(
            Row(
                f"Decode {label} page vs pydantic v2",
                us["ours_stdlib"],
                us["pydantic"],
                "µs",
                note="SDK with stdlib json (no orjson)",
            )
        )
        rows.append(
            Row(
                f"Decode {label} page vs msgspec",
                us["ours"],
                us["msgspec"],
                "µs",
                note="msgspec drops unknown keys",
            )
        )
        if "cattrs_stock" in us:
            rows.append(
                Row(
                    f"Decode {label} page, cattrs stock hooks vs pydantic v2",
                    us["cattrs_stock"],
                    us["pydantic"],
                    "µs",
                    note=f"{JSON_BACKEND} preconf, no extras kept",
                )
            )
    return rows
