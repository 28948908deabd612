"""Routes, request parsing, validation and rendering: the emulated API surface.

Framework-free: :meth:`Api.route` maps ``(method, path)`` to a handler and the route
template used for counting; a handler takes the parsed request and returns
``(status, JSON-able body)`` or raises :class:`HTTPError`.  Error bodies follow reference
§3: ``{"error": {"code": <status>, "message": ..., "description"?: {field: [msg]}}}``.

Query strings are parsed like PHP/Laravel: ``selector[name]=private`` becomes
``{"selector": {"name": "private"}}``, ``ids[]=1&ids[]=2`` a list, the last duplicate
wins, and an empty value counts as absent (Laravel's ``ConvertEmptyStringsToNull``).
Bodies are JSON (form-encoded bodies are accepted too); body keys override query keys,
as Laravel's ``$request->input()`` merges them.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import parse_qsl

from smartsender_async.testing._data import (
    BOT_SENDER,
    Store,
)

__all__ = ["MAX_LIMITATION", "Api", "HTTPError", "Request", "parse_query"]

#: The largest page size the API accepts (reference §0).
MAX_LIMITATION = 20
#: Page size when ``limitation`` is absent [UNK on the real API].
DEFAULT_LIMITATION = 20

SEND_TYPES = (
    "text",
    "picture",
    "file",
    "video",
    "audio",
    "voice",
    "animation",
    "location",
    "contact",
)
_MEDIA_TYPES = frozenset({"picture", "file", "video", "audio", "voice", "animation"})
_INT = re.compile(r"^[+-]?\d+$")
_BRACKETS = re.compile(r"\[([^\]]*)\]")
_URL = re.compile(r"^https?://[^\s/$.?#][^\s]*$", re.IGNORECASE)
_TRUE = ("1", "true", 1, True)
_FALSE = ("0", "false", 0, False)


class HTTPError(Exception):
    """An error response: ``status`` and the body ``{"error": {"code", "message", ...}}``."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        description: Mapping[str, list[str]] | None = None,
        headers: Sequence[tuple[str, str]] = (),
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.description = description
        self.headers = tuple(headers)

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.status, "message": self.message}
        if self.description:
            error["description"] = dict(self.description)
        return {"error": error}


def not_found() -> HTTPError:
    return HTTPError(404, "Not found")


def invalid(description: Mapping[str, list[str]]) -> HTTPError:
    return HTTPError(422, "The given data was invalid.", description=description)


def parse_query(raw: str) -> dict[str, Any]:
    """Parse a query string or form body the way PHP does (see the module docstring)."""
    out: dict[str, Any] = {}
    if not raw:
        return out
    for key, value in parse_qsl(raw, keep_blank_values=True):
        if "[" not in key:
            out[key] = value
            continue
        base, _, rest = key.partition("[")
        parts = _BRACKETS.findall("[" + rest)
        if not base or not parts:
            out[key] = value
            continue
        node: Any = out
        name: str = base
        for part in parts:
            child = node.get(name) if isinstance(node, dict) else None
            if part == "":
                if not isinstance(child, list):
                    child = []
                    _put(node, name, child)
                node, name = child, ""
                continue
            if not isinstance(child, dict):
                child = {}
                _put(node, name, child)
            node, name = child, part
        _put(node, name, value)
    return out


def _put(node: Any, name: str, value: Any) -> None:
    if isinstance(node, list):
        node.append(value)
    else:
        node[name] = value


class Request:
    """One request as the handlers see it: path arguments, query and lazily parsed body."""

    __slots__ = ("_body", "_input", "args", "content_type", "query", "raw_body")

    def __init__(self, args: tuple[str, ...], query: str, content_type: str, body: bytes) -> None:
        self.args = args
        self.query = parse_query(query) if query else {}
        self.content_type = content_type
        self.raw_body = body
        self._body: dict[str, Any] | None = None

    def body(self) -> dict[str, Any]:
        """Query merged with the JSON (or form) body, body keys winning."""
        if self._body is None:
            data: Any = {}
            raw = self.raw_body
            if raw.strip():
                if "application/x-www-form-urlencoded" in self.content_type:
                    data = parse_query(raw.decode("utf-8", "replace"))
                else:
                    try:
                        data = json.loads(raw)
                    except ValueError:
                        raise HTTPError(400, "Malformed JSON body") from None
                if data == []:
                    # PHP's json_encode([]) for "no parameters": Laravel reads it as empty.
                    data = {}
                elif not isinstance(data, dict):
                    raise invalid({"body": ["The request body must be a JSON object."]})
            merged = dict(self.query)
            merged.update(data)
            self._body = merged
        return self._body


Handler = Callable[[Request], tuple[int, Any]]


def id_arg(value: str) -> int:
    """A path id: digits only, anything else is a 404 (Laravel model binding)."""
    if not value.isdigit():
        raise not_found()
    return int(value)


def absent(value: Any) -> bool:
    return value is None or value == ""


def as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and _INT.match(value):
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def as_number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


def as_bool(value: Any) -> bool | None:
    if isinstance(value, str):
        value = value.lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    return None


class Errors:
    """Collects per-field messages in Laravel's wording."""

    def __init__(self) -> None:
        self.fields: dict[str, list[str]] = {}

    def add(self, field: str, message: str) -> None:
        self.fields.setdefault(field, []).append(message)

    def raise_if_any(self) -> None:
        if self.fields:
            raise invalid(self.fields)

    def integer(
        self,
        data: Mapping[str, Any],
        field: str,
        *,
        required: bool = False,
        minimum: int | None = None,
    ) -> int | None:
        value = data.get(field)
        if absent(value):
            if required:
                self.add(field, f"The {field} field is required.")
            return None
        number = as_int(value)
        if number is None:
            self.add(field, f"The {field} field must be an integer.")
            return None
        if minimum is not None and number < minimum:
            self.add(field, f"The {field} field must be at least {minimum}.")
            return None
        return number

    def string(self, data: Mapping[str, Any], field: str, *, required: bool = False) -> str | None:
        value = data.get(field)
        if absent(value):
            if required:
                self.add(field, f"The {field} field is required.")
            return None
        if not isinstance(value, str):
            self.add(field, f"The {field} field must be a string.")
            return None
        return value

    def text(
        self,
        data: Mapping[str, Any],
        field: str,
        *,
        required: bool = False,
        max_length: int | None = None,
        pattern: re.Pattern[str] | None = None,
    ) -> str | None:
        """A string, at most ``max_length`` characters, matching ``pattern`` when given."""
        value = self.string(data, field, required=required)
        if value is None:
            return None
        if max_length is not None and len(value) > max_length:
            self.add(field, f"The {field} field must not be greater than {max_length} characters.")
            return None
        if pattern is not None and not pattern.match(value):
            self.add(field, f"The {field} field format is invalid.")
            return None
        return value

    def mapping(self, data: Mapping[str, Any], field: str) -> dict[str, Any] | None:
        """An optional JSON object (a PHP array with string keys; ``[]`` reads as empty)."""
        value = data.get(field)
        if absent(value) or value == []:
            return None
        if not isinstance(value, dict):
            self.add(field, f"The {field} field must be an array.")
            return None
        return value

    def integers(
        self, data: Mapping[str, Any], field: str, *, required: bool = False
    ) -> list[int] | None:
        """A list of integers (``field.N`` names a bad item)."""
        value = data.get(field)
        if absent(value) or value == []:
            if required:
                self.add(field, f"The {field} field is required.")
            return None
        if not isinstance(value, list):
            self.add(field, f"The {field} field must be an array.")
            return None
        out: list[int] = []
        for n, item in enumerate(value):
            number = as_int(item)
            if number is None:
                self.add(f"{field}.{n}", f"The {field}.{n} field must be an integer.")
            else:
                out.append(number)
        return out

    def choice(
        self,
        data: Mapping[str, Any],
        field: str,
        choices: Sequence[str],
        *,
        required: bool = False,
        label: str | None = None,
    ) -> str | None:
        label = label or field
        value = data.get(field)
        if absent(value):
            if required:
                self.add(label, f"The {label} field is required.")
            return None
        if value not in choices:
            self.add(label, f"The selected {label} is invalid.")
            return None
        return str(value)

    def boolean(
        self, data: Mapping[str, Any], field: str, *, required: bool = False
    ) -> bool | None:
        value = data.get(field)
        if absent(value):
            if required:
                self.add(field, f"The {field} field is required.")
            return None
        result = as_bool(value)
        if result is None:
            self.add(field, f"The {field} field must be true or false.")
        return result

    def number(self, data: Mapping[str, Any], field: str, low: float, high: float) -> float | None:
        value = data.get(field)
        if absent(value):
            self.add(field, f"The {field} field is required.")
            return None
        number = as_number(value)
        if number is None:
            self.add(field, f"The {field} field must be a number.")
            return None
        if not low <= number <= high:
            self.add(field, f"The {field} field must be between {low:g} and {high:g}.")
            return None
        return number


def paging(query: Mapping[str, Any], maximum: int = MAX_LIMITATION) -> tuple[int, int]:
    """``(page, limitation)`` of a list request; 422 when invalid or above ``maximum``."""
    errors = Errors()
    page = errors.integer(query, "page", minimum=1)
    limitation = errors.integer(query, "limitation", minimum=1)
    errors.raise_if_any()
    if limitation is not None and limitation > maximum:
        raise HTTPError(422, "Maximum available limitation reached")
    return page or 1, limitation or DEFAULT_LIMITATION


def envelope(page: int, limitation: int, total: int, collection: list[Any]) -> dict[str, Any]:
    # An empty list still has one (empty) page, as Laravel's paginator reports it.
    pages = max(1, -(-total // limitation))
    return {"cursor": {"page": page, "pages": pages}, "collection": collection}


def _rows(rows: Sequence[int], page: int, limitation: int) -> Sequence[int]:
    start = (page - 1) * limitation
    return rows[start : start + limitation]


OK = {"state": True}


class Api:
    """The routes.  ``now`` returns the emulator's current time in Unix seconds.

    The chat and message routes are methods here; ``routes`` adds the others
    (``smartsender_async.testing.routes``, one module per API area).
    ``message_limitation_max`` is the largest ``limitation`` the two message lists take.
    """

    #: ``GET /chats`` order: ``"updatedAt"`` (newest first) or ``"id"`` (ascending ids).
    chat_order = "updatedAt"

    def __init__(
        self,
        store: Store,
        now: Callable[[], int],
        *,
        routes: Sequence[tuple[str, str, Handler]] = (),
        message_limitation_max: int = MAX_LIMITATION,
    ) -> None:
        self.store = store
        self.now = now
        self.message_limitation_max = message_limitation_max
        # (method, template) pairs; a template segment in braces is a path argument.
        table: list[tuple[str, str, Handler]] = [
            ("GET", "/chats", self.list_chats),
            ("GET", "/chats/{chatId}", self.get_chat),
            ("PUT", "/chats/{chatId}/read", self.read_chat),
            ("PUT", "/chats/{chatId}/close", self.close_chat),
            ("POST", "/chats/{chatId}/forward/{operatorId}", self.forward_chat),
            ("GET", "/chats/{chatId}/messages", self.chat_messages),
            ("GET", "/contacts/{contactId}/chat", self.contact_chat),
            ("GET", "/contacts/{contactId}/messages", self.contact_messages),
            ("POST", "/contacts/{contactId}/send", self.send),
            *routes,
        ]
        # Routes by segment count; literal segments beat arguments ("contacts/search").
        self._routes: dict[
            int, list[tuple[tuple[str | None, ...], dict[str, tuple[str, Handler]]]]
        ] = {}
        for method, template, handler in table:
            segments = tuple(
                None if s.startswith("{") else s for s in template.strip("/").split("/")
            )
            bucket = self._routes.setdefault(len(segments), [])
            for known, methods in bucket:
                if known == segments:
                    methods[method] = (f"{method} {template}", handler)
                    break
            else:
                bucket.append((segments, {method: (f"{method} {template}", handler)}))
        for bucket in self._routes.values():
            bucket.sort(key=lambda row: [s is None for s in row[0]])
        self.templates = tuple(f"{m} {t}" for m, t, _ in table)

    def route(self, method: str, path: str) -> tuple[str, Handler | HTTPError, tuple[str, ...]]:
        """``(route key, handler or the routing error, path arguments)`` for a request.

        Paths may carry the ``/v1`` prefix or not.  Unknown paths give 404 and known paths
        with another method 405, both keyed ``"<METHOD> <unmatched>"``.
        """
        if path.startswith("/v1/"):
            path = path[3:]
        elif path == "/v1":
            path = "/"
        segments = path.strip("/").split("/")
        for known, methods in self._routes.get(len(segments), ()):
            args = []
            for want, got in zip(known, segments, strict=True):
                if want is None:
                    args.append(got)
                elif want != got:
                    break
            else:
                hit = methods.get(method)
                if hit is None:
                    allow = ", ".join(sorted(methods))
                    return (
                        f"{method} <unmatched>",
                        HTTPError(405, "Method not allowed", headers=[("allow", allow)]),
                        (),
                    )
                return hit[0], hit[1], tuple(args)
        return f"{method} <unmatched>", not_found(), ()

    # ------------------------------------------------------------------ helpers

    def _chat(self, value: str) -> int:
        i = self.store.chat_index(id_arg(value))
        if i is None:
            raise not_found()
        return i

    def _contact(self, value: str) -> int:
        i = self.store.contact_index(id_arg(value))
        if i is None:
            raise not_found()
        return i

    def _messages(self, req: Request, i: int) -> tuple[int, Any]:
        page, limitation = paging(req.query, self.message_limitation_max)
        errors = Errors()
        activities = errors.boolean(req.query, "activities")
        errors.raise_if_any()
        timeline = self.store.timeline(i, bool(activities))
        total = len(timeline)
        # Newest first: page 1 is the end of the oldest-first timeline.
        stop = total - (page - 1) * limitation
        ids = timeline[max(stop - limitation, 0) : max(stop, 0)] if stop > 0 else ()
        message = self.store.message
        collection = [message(mid) for mid in reversed(ids)]
        return 200, envelope(page, limitation, total, collection)

    # ------------------------------------------------------------------ chats

    def list_chats(self, req: Request) -> tuple[int, Any]:
        store = self.store
        q = req.query
        page, limitation = paging(q)
        errors = Errors()
        state = errors.choice(q, "state", ("open", "closed"))
        term = errors.string(q, "term")
        selector = q.get("selector")
        name: str | None = None
        operator_id: int | None = None
        if not absent(selector):
            if not isinstance(selector, dict):
                errors.add("selector", "The selector field must be an array.")
            else:
                name = errors.choice(
                    selector, "name", ("none", "private", "unread"), label="selector.name"
                )
                if name == "private":
                    raw = selector.get("operatorId")
                    if absent(raw):
                        errors.add(
                            "selector.operatorId",
                            "The selector.operatorId field is required"
                            " when selector.name is private.",
                        )
                    else:
                        operator_id = as_int(raw)
                        if operator_id is None:
                            errors.add(
                                "selector.operatorId",
                                "The selector.operatorId field must be an integer.",
                            )
                        elif not store.has_operator(operator_id):
                            errors.add(
                                "selector.operatorId",
                                "The selected selector.operatorId is invalid.",
                            )
        errors.raise_if_any()
        if name == "none":
            name = None
        if self.chat_order == "id" and state is None and name is None and not term:
            total = store.n  # chat_order="id": ascending chat id, never moving (issue 17)
            rows: Sequence[int] = range(store.n)[(page - 1) * limitation :][:limitation]
        elif state is None and name is None and not term:
            total = store.n
            rows = store.order_slice((page - 1) * limitation, limitation)
        else:
            matches = store.filtered(state=state, selector=name, operator_id=operator_id, term=term)
            if self.chat_order == "id":
                matches = sorted(matches)
            total = len(matches)
            rows = _rows(matches, page, limitation)
        render = store.render_chat
        return 200, envelope(page, limitation, total, [render(i) for i in rows])

    def get_chat(self, req: Request) -> tuple[int, Any]:
        return 200, self.store.render_chat(self._chat(req.args[0]))

    def read_chat(self, req: Request) -> tuple[int, Any]:
        self.store.mark_read(self._chat(req.args[0]))
        return 200, OK

    def close_chat(self, req: Request) -> tuple[int, Any]:
        self.store.close(self._chat(req.args[0]))
        return 200, OK

    def forward_chat(self, req: Request) -> tuple[int, Any]:
        i = self._chat(req.args[0])
        operator_id = id_arg(req.args[1])
        if not self.store.has_operator(operator_id):
            raise not_found()
        errors = Errors()
        errors.string(req.body(), "text")
        errors.raise_if_any()
        self.store.assign(i, operator_id)
        return 200, OK

    def chat_messages(self, req: Request) -> tuple[int, Any]:
        return self._messages(req, self._chat(req.args[0]))

    # ------------------------------------------------------------------ contacts

    def contact_chat(self, req: Request) -> tuple[int, Any]:
        # One chat per contact, with the same index.
        return 200, self.store.render_chat(self._contact(req.args[0]))

    def contact_messages(self, req: Request) -> tuple[int, Any]:
        return self._messages(req, self._contact(req.args[0]))

    def send(self, req: Request) -> tuple[int, Any]:
        i = self._contact(req.args[0])
        body = req.body()
        errors = Errors()
        kind = errors.choice(body, "type", SEND_TYPES, required=True)
        errors.integer(body, "watermark")
        params: dict[str, Any] = {}
        if kind == "text":
            content = errors.string(body, "content", required=True)
            params = {"content": content}
        elif kind in _MEDIA_TYPES:
            media = errors.string(body, "media", required=True)
            if media is not None and not _URL.match(media):
                errors.add("media", "The media field must be a valid URL.")
            params = {"url": media}
        elif kind == "location":
            title = errors.string(body, "title", required=True)
            latitude = errors.number(body, "latitude", -90, 90)
            longitude = errors.number(body, "longitude", -180, 180)
            params = {"title": title, "latitude": latitude, "longitude": longitude}
        elif kind == "contact":
            full_name = errors.string(body, "fullName", required=True)
            phone = errors.string(body, "phoneNumber", required=True)
            params = {"name": full_name, "phoneNumber": phone}
        errors.raise_if_any()
        assert kind is not None
        store = self.store
        message = store.add_message(
            i,
            content={"type": kind, "resource": {"parameters": params}},
            sender=BOT_SENDER,
            gate=store.send_gate(i),
            now=self.now(),
            inbound=False,
        )
        return 200, message
