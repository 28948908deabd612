"""The :class:`Emulator`: one stateful Smart Sender and the one request handler both
adapters (httpx transport, ASGI app) call."""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import http
import json
import math
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import anyio
import attrs

from smartsender_async.testing._app import MAX_LIMITATION, Api, HTTPError, Request
from smartsender_async.testing._data import TRANSIENT_FORMS, Store, _h, iso
from smartsender_async.testing._policy import (
    NO_FAULT,
    Churn,
    FaultPlan,
    Faults,
    RateLimitPolicy,
    Stats,
    retry_seconds,
)
from smartsender_async.testing._project import Project
from smartsender_async.testing.routes import Context, all_routes

if TYPE_CHECKING:
    import httpx

    from smartsender_async.client import SmartSender
    from smartsender_async.testing._asgi import ASGIApp
    from smartsender_async.testing._transport import EmulatorTransport

__all__ = [
    "DEFAULT_EPOCH",
    "DEFAULT_TOKEN",
    "ChatStatus",
    "Emulator",
    "EmulatorResponse",
    "EmulatorTimeout",
]

#: The token :class:`Emulator` accepts unless told otherwise.
DEFAULT_TOKEN = "emulator-token"
#: Wall-clock time of the emulator's clock at construction, unless ``epoch`` is given:
#: a fixed instant, so that timestamps are reproducible.
DEFAULT_EPOCH = dt.datetime(2026, 3, 18, 12, 0, 0, tzinfo=dt.timezone.utc)

try:  # orjson is optional; it only makes the emulator cheaper to run.
    import orjson

    def _dumps(obj: Any) -> bytes:
        return orjson.dumps(obj)

except ImportError:  # pragma: no cover - depends on the environment
    _encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))

    def _dumps(obj: Any) -> bytes:
        return _encoder.encode(obj).encode()


_JSON_HEADERS: tuple[tuple[str, str], ...] = (("content-type", "application/json"),)
_HTML_HEADERS: tuple[tuple[str, str], ...] = (("content-type", "text/html"),)
_NGINX_REASONS = {
    502: "Bad Gateway",
    503: "Service Temporarily Unavailable",
    504: "Gateway Time-out",
}


@attrs.frozen
class EmulatorResponse:
    """What the core handler answers; adapters turn it into an HTTP response.

    ``drop`` means "close the connection without a complete response" (sockets only).
    """

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes
    drop: bool = False


class EmulatorTimeout(Exception):
    """The response would have taken longer than the client's read timeout.

    Raised by :meth:`Emulator.handle` when given a ``read_timeout``; the in-process transport
    turns it into :class:`httpx.ReadTimeout`.
    """


@attrs.frozen
class ChatStatus:
    """What the API does not show in a Chat body but the emulator tracks."""

    state: str  # "open" or "closed"
    operator_id: int | None
    unread_messages: int
    updated_at: str


_DROP = EmulatorResponse(0, (), b"", drop=True)


def _json_response(
    status: int, body: Any, headers: Iterable[tuple[str, str]] = ()
) -> EmulatorResponse:
    return EmulatorResponse(status, (*_JSON_HEADERS, *headers), _dumps(body))


def _server_error(status: int) -> EmulatorResponse:
    if status != 500:
        reason = _NGINX_REASONS.get(status) or http.HTTPStatus(status).phrase
        html = (
            f"<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n"
            f"<center><h1>{status} {reason}</h1></center>\r\n<hr><center>nginx</center>\r\n"
            "</body>\r\n</html>\r\n"
        )
        return EmulatorResponse(status, _HTML_HEADERS, html.encode())
    return _json_response(status, {"error": {"code": status, "message": "Server Error"}})


def _epoch_seconds(epoch: dt.datetime | float) -> int:
    if isinstance(epoch, dt.datetime):
        if epoch.tzinfo is None:
            epoch = epoch.replace(tzinfo=dt.timezone.utc)
        return math.floor(epoch.timestamp())
    return math.floor(epoch)


def _bearer(value: str | None) -> str | None:
    if not value:
        return None
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


class Emulator:
    """An in-memory, deterministic, stateful Smart Sender API (reference §1–§5).

    Args:
        seed: everything generated (names, gates, histories, churn, fault draws) follows
            from it; the same seed and the same requests at the same clock readings give
            byte-identical responses.
        chats: number of chats; each has one contact (same index) and 1–4 gates across
            telegram, viber, instagram and facebook.
        messages_per_chat: length of each chat's generated history (newest first when
            listed).  Histories are computed from ``(seed, chat)`` on demand, never stored,
            so ``chats=100_000, messages_per_chat=100`` costs a few MB.  A history of at
            least 34 messages holds every content type of reference §2.4.
        operators: number of operators (ids from 101).
        token: the valid bearer token.  ``tokens`` adds more; each has its own quota.
        accept_any_token: accept every non-empty bearer token (each with its own quota).
        rate_limit: ``(limit, period seconds)``, 180 per 60 s like the real API, or
            ``None`` for no quota.  See :class:`RateLimitPolicy` for the lock policy.
        retry_after_header: send ``Retry-After`` with 423 (the real API is not known to).
        faults: latency, 5xx, slow responses and dropped connections; mutable later
            through ``emulator.faults``.
        churn_per_s: inbound messages arriving per clock second in random chats.
        clock: seconds, any origin (``time.monotonic`` by default).  Quota windows, locks,
            churn and timestamps all read it; pass a :class:`FakeClock` to control time.
        epoch: the wall-clock time that the clock reading at construction stands for.
        chat_order: ``GET /chats`` order, ``"updatedAt"`` (newest first, the default) or
            ``"id"`` (ascending chat id; chats never move), for clients that must not
            rely on an order the reference leaves unknown.
        bad_token_status: the status of a missing or wrong token: 401 (default) or 403,
            which is what most real clients check for (the true one is unknown).
        message_limitation_max: the largest ``limitation`` the message lists take: 20
            like every list (default), up to 100 (one live client sends 100).
        transient_timestamp: the form of a deleted message's
            ``content.resource.parameters.context.timestamp``: ``"seconds"`` (default),
            ``"milliseconds"`` or ``"iso"`` (the true one is unknown).

    Every behaviour, with its evidence (documented, seen in clients, inferred, or the
    emulator's own choice where the reference says [UNK]) and the option that changes it,
    is listed in ``smartsender_async.testing._choices.CHOICES`` and in the docs page
    ``docs/explanation/emulator.md``.

    Faulted requests are not processed unless ``faults.after_processing`` (see
    :class:`Faults`).  The emulator is safe to use from several threads (a lock
    serialises the handler), which is how it is served over sockets.
    """

    #: ``base_url`` of clients built by :meth:`client` and :meth:`http_client`.
    base_url = "http://smartsender.emulator/v1"

    def __init__(
        self,
        *,
        seed: int = 0,
        chats: int = 100,
        messages_per_chat: int = 40,
        operators: int = 5,
        token: str = DEFAULT_TOKEN,
        tokens: Iterable[str] = (),
        accept_any_token: bool = False,
        rate_limit: tuple[int, float] | None = (180, 60.0),
        retry_after_header: bool = False,
        faults: Faults | None = None,
        churn_per_s: float = 0.0,
        clock: Callable[[], float] | None = None,
        epoch: dt.datetime | float = DEFAULT_EPOCH,
        bad_token_status: int = 401,
        message_limitation_max: int = MAX_LIMITATION,
        transient_timestamp: str = "seconds",
        chat_order: str = "updatedAt",
    ) -> None:
        if bad_token_status not in (401, 403):
            raise ValueError(f"bad_token_status must be 401 or 403, got {bad_token_status!r}")
        if (
            isinstance(message_limitation_max, bool)
            or not isinstance(message_limitation_max, int)
            or not MAX_LIMITATION <= message_limitation_max <= 100
        ):
            raise ValueError(
                f"message_limitation_max must be an int from {MAX_LIMITATION} to 100,"
                f" got {message_limitation_max!r}"
            )
        if transient_timestamp not in TRANSIENT_FORMS:
            raise ValueError(
                f"transient_timestamp must be one of {', '.join(TRANSIENT_FORMS)},"
                f" got {transient_timestamp!r}"
            )
        self.bad_token_status = bad_token_status
        self.seed = seed
        self._clock = clock if clock is not None else time.monotonic
        self._t0 = self._clock()
        self._epoch = _epoch_seconds(epoch)
        self.token = token
        self.tokens = frozenset((token, *tokens))
        self.accept_any_token = accept_any_token
        self.store = Store(
            seed=seed,
            chats=chats,
            messages_per_chat=messages_per_chat,
            operators=operators,
            epoch=self._epoch,
            transient_timestamp=transient_timestamp,
        )
        self.project = Project(self.store, seed=seed, epoch=self._epoch)
        self.quota: RateLimitPolicy | None = (
            RateLimitPolicy(rate_limit[0], rate_limit[1], retry_after_header=retry_after_header)
            if rate_limit is not None
            else None
        )
        self.faults = faults if faults is not None else Faults()
        self.stats = Stats()
        self._fault_rng = random.Random(_h(seed, 0xFA17, 2))
        self._churn = Churn(churn_per_s, _h(seed, 0xC4A2, 3), self._t0)
        self._lock = threading.RLock()
        self.api = Api(
            self.store,
            self._now_ts,
            routes=all_routes(Context(self.project, self._now_ts)),
            message_limitation_max=message_limitation_max,
        )
        if chat_order not in ("updatedAt", "id"):
            raise ValueError(f"chat_order must be 'updatedAt' or 'id', got {chat_order!r}")
        self.api.chat_order = chat_order

    # ------------------------------------------------------------------ time

    def _now_ts(self) -> int:
        return self._epoch + math.floor(self._clock() - self._t0)

    def now(self) -> str:
        """The emulator's current time as the API writes timestamps."""
        return iso(self._now_ts())

    # ------------------------------------------------------------------ the core handler

    async def handle(
        self,
        method: str,
        path: str,
        query: str,
        headers: Mapping[str, str],
        body: bytes,
        *,
        sockets: bool = False,
        read_timeout: float | None = None,
    ) -> EmulatorResponse:
        """Answer one request; every adapter calls this and nothing else.

        ``query`` is the raw (percent-encoded) query string; ``headers`` must answer
        ``get("authorization")`` and ``get("content-type")`` (lower-case names).
        ``sockets`` says whether a dropped connection can be emulated.  With ``read_timeout``
        (the client's read timeout) a delay longer than it raises :class:`EmulatorTimeout`
        after ``read_timeout`` seconds instead of answering.

        Order: due churn is applied; the request is counted; routing errors (404/405)
        answer at once; then authentication (401), the quota (423), fault draws, the
        delay, and finally the handler, which runs without awaiting, so it is atomic.
        """
        stats = self.stats
        with self._lock:
            now = self._clock()
            if now >= self._churn.next_at:
                self._apply_churn(now)
            key, handler, args = self.api.route(method, path)
            stats.requests += 1
            stats.by_endpoint[key] += 1
            token = _bearer(headers.get("authorization"))
            if token is not None:
                stats.by_token[token] += 1
            early: EmulatorResponse | None = None
            if isinstance(handler, HTTPError):
                early = _json_response(handler.status, handler.body(), handler.headers)
            elif token is None or not (self.accept_any_token or token in self.tokens):
                status = self.bad_token_status
                early = _json_response(
                    status, {"error": {"code": status, "message": "Unauthenticated"}}
                )
            elif self.quota is not None:
                decision = self.quota.check(token, now)
                if not decision.admitted:
                    early = self._locked(decision.remaining)
                    stats.locked += 1
                    if decision.breach:
                        stats.lock_events += 1
            faults = self.faults
            plan = NO_FAULT
            if faults.active():
                if early is None:
                    plan = faults.plan(self._fault_rng, sockets=sockets)
                    if plan.error_status is not None:
                        stats.faults["error"] += 1
                    if plan.slow:
                        stats.faults["slow"] += 1
                    if plan.drop:
                        stats.faults["drop"] += 1
                else:
                    plan = FaultPlan(delay=faults.plan(self._fault_rng, sockets=False).delay)
            response = early
            if early is None and (
                faults.after_processing
                or plan is NO_FAULT
                or not (plan.delay or plan.drop or plan.error_status)
            ):
                response = self._process(handler, args, query, headers, body)
            if not plan.delay:
                return self._finish(plan, response)
        if read_timeout is not None and plan.delay > read_timeout:
            await anyio.sleep(read_timeout)
            with self._lock:
                stats.faults["timeout"] += 1
            raise EmulatorTimeout(f"no response within {read_timeout:g} s")
        await anyio.sleep(plan.delay)
        with self._lock:
            if response is None and not plan.drop and plan.error_status is None:
                response = self._process(handler, args, query, headers, body)
            return self._finish(plan, response)

    def _finish(self, plan: FaultPlan, response: EmulatorResponse | None) -> EmulatorResponse:
        if plan.drop:
            return _DROP
        if plan.error_status is not None:
            response = _server_error(plan.error_status)
        assert response is not None
        self.stats.by_status[response.status] += 1
        return response

    def _process(
        self,
        handler: Callable[[Request], tuple[int, Any]] | HTTPError,
        args: tuple[str, ...],
        query: str,
        headers: Mapping[str, str],
        body: bytes,
    ) -> EmulatorResponse:
        # Only ever called for routed requests; a routing error answers before this.
        assert not isinstance(handler, HTTPError)
        try:
            status, payload = handler(Request(args, query, headers.get("content-type") or "", body))
        except HTTPError as exc:
            return _json_response(exc.status, exc.body(), exc.headers)
        return _json_response(status, payload)

    def _locked(self, remaining: float) -> EmulatorResponse:
        seconds = retry_seconds(remaining)
        body = {
            "error": {
                "code": 423,
                "message": f"Too many requests. Please, try again in {seconds} seconds",
            }
        }
        assert self.quota is not None
        extra = (("retry-after", str(seconds)),) if self.quota.retry_after_header else ()
        return _json_response(423, body, extra)

    # ------------------------------------------------------------------ churn

    def _apply_churn(self, now: float) -> int:
        arrivals = self._churn.due(now, self.store.n)
        for at, i, choice in arrivals:
            self._inbound(i, f"Churn message {choice:04x}", self._epoch + math.floor(at - self._t0))
        self.stats.churn_messages += len(arrivals)
        return len(arrivals)

    def _inbound(self, i: int, text: str, ts: int) -> dict[str, Any]:
        store = self.store
        return store.add_message(
            i,
            content={"type": "text", "resource": {"parameters": {"content": text}}},
            sender=store.contact_sender(i),
            gate=store.send_gate(i),
            now=ts,
            inbound=True,
        )

    @property
    def churn_per_s(self) -> float:
        """Inbound messages per clock second; set it to change the rate from now on."""
        return self._churn.rate

    @churn_per_s.setter
    def churn_per_s(self, rate: float) -> None:
        with self._lock:
            self._churn.set_rate(rate, self._clock())

    def tick(self) -> int:
        """Apply the churn due at the current clock reading; return how many messages arrived.

        Requests do this by themselves; call it to make churn visible to the Python API.
        """
        with self._lock:
            return self._apply_churn(self._clock())

    # ------------------------------------------------------------------ adapters

    def transport(self, http: str | None = None) -> EmulatorTransport:
        """An :class:`httpx.AsyncBaseTransport` answering from this emulator, no sockets.

        ``http="httpx2"`` gives an ``httpx2.AsyncBaseTransport`` instead; by default the
        backend is ``SMARTSENDER_HTTP``'s, else httpx (the one ``SmartSender`` defaults to).
        """
        from smartsender_async.testing._transport import emulator_transport

        return emulator_transport(self, http)  # type: ignore[no-any-return]

    def asgi_app(self) -> ASGIApp:
        """An ASGI 3 application answering from this emulator (for uvicorn)."""
        from smartsender_async.testing._asgi import ASGIApp

        return ASGIApp(self)

    def http_client(self, **kwargs: Any) -> httpx.AsyncClient:
        """A plain :class:`httpx.AsyncClient` on :meth:`transport`, authorised with
        :attr:`token`, with ``base_url`` ending in ``/v1``.  ``http="httpx2"`` gives an
        ``httpx2.AsyncClient`` (asked for by name only: this is a raw client of one library,
        whatever ``SMARTSENDER_HTTP`` says)."""
        from smartsender_async._backend import convert_timeout, get_backend

        backend = get_backend(kwargs.pop("http", "httpx"))
        if "timeout" in kwargs:
            kwargs["timeout"] = convert_timeout(backend, kwargs["timeout"])
        headers = {"Authorization": f"Bearer {kwargs.pop('token', self.token)}"}
        headers.update(kwargs.pop("headers", {}))
        kwargs.setdefault("base_url", self.base_url)
        transport = self.transport(backend.name)
        client: httpx.AsyncClient = backend.http.AsyncClient(
            transport=transport, headers=headers, **kwargs
        )
        return client

    def client(self, **kwargs: Any) -> SmartSender:
        """A :class:`~smartsender_async.SmartSender` connected to this emulator.

        In-process by default; pass ``base_url=`` (the URL :meth:`serve` yields) to go over
        loopback sockets instead.  ``kwargs`` go to ``SmartSender``; ``token`` defaults to
        :attr:`token`.

        ``rate_limit`` defaults to this emulator's own quota: ``rate_limit=(30, 2.0)``
        paces the client at 30 requests per 2 s (``RateLimit(30, 2.0)``), and an emulator
        with no quota (``rate_limit=None``) gives a client with no client-side limiter,
        so a test is never slowed to the real API's 180 per minute for nothing.
        """
        from smartsender_async.client import SmartSender
        from smartsender_async.ratelimit import RateLimit

        if "rate_limit" not in kwargs:
            quota = self.quota
            kwargs["rate_limit"] = (
                None if quota is None else RateLimit(int(quota.limit), float(quota.period))
            )
        kwargs.setdefault("token", self.token)
        base_url = kwargs.setdefault("base_url", self.base_url)
        if base_url == self.base_url and kwargs.get("http_client") is None:
            # else that client's own transport, or the sockets behind base_url
            kwargs.setdefault("transport", self.transport(kwargs.get("http")))
        return SmartSender(**kwargs)

    @contextlib.contextmanager
    def serve(self, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
        """Serve over real sockets (uvicorn in a background thread); yield the base URL,
        e.g. ``http://127.0.0.1:54321/v1``.  Needs the ``testing`` extra (uvicorn)."""
        from smartsender_async.testing._asgi import serve_in_thread

        with serve_in_thread(self, host=host, port=port) as url:
            yield url

    # ------------------------------------------------------------------ inspection

    def _chat_index(self, chat_id: int) -> int:
        i = self.store.chat_index(chat_id)
        if i is None:
            raise KeyError(f"no chat {chat_id}")
        return i

    def chat_ids(self) -> list[int]:
        """Every chat id, in ``GET /chats`` order (``updatedAt`` descending)."""
        with self._lock:
            return [self.store.chat_id(i) for i in self.store.full_order()]

    def chat(self, chat_id: int) -> dict[str, Any]:
        """The chat as ``GET /chats/{chatId}`` renders it (a copy)."""
        with self._lock:
            return self.store.render_chat(self._chat_index(chat_id))

    def chat_status(self, chat_id: int) -> ChatStatus:
        """Open/closed, assigned operator, unread count and ``updatedAt`` of a chat."""
        with self._lock:
            i = self._chat_index(chat_id)
            store = self.store
            return ChatStatus(
                state="closed" if store.closed[i] else "open",
                operator_id=store.operator[i] or None,
                unread_messages=store.unread[i],
                updated_at=iso(store.updated[i]),
            )

    def contact_id_of(self, chat_id: int) -> int:
        """The id of the chat's contact (``chat.contact.originalId``)."""
        return self.store.contact_id(self._chat_index(chat_id))

    def chat_id_of(self, contact_id: int) -> int:
        """The id of the contact's chat."""
        i = self.store.contact_index(contact_id)
        if i is None:
            raise KeyError(f"no contact {contact_id}")
        return self.store.chat_id(i)

    def contact(self, contact_id: int) -> dict[str, Any]:
        """The contact as ``GET /contacts/{contactId}`` renders it, writes included."""
        with self._lock:
            return self.project.render_contact(self._contact_id(contact_id))

    def _contact_id(self, contact_id: int) -> int:
        if not self.project.has_contact(contact_id):
            raise KeyError(f"no contact {contact_id}")
        return contact_id

    def contact_ids(self) -> list[int]:
        """Every contact id (``GET /contacts`` order): generated, then created by gates."""
        with self._lock:
            return list(self.project.contact_ids())

    def contact_info(self, contact_id: int) -> dict[str, Any]:
        """The contact as ``GET /contacts/{contactId}/info`` renders it (flat variables)."""
        with self._lock:
            return self.project.render_info(self._contact_id(contact_id))

    def fired(self, contact_id: int) -> list[str]:
        """The event names fired on the contact (``POST /contacts/{id}/fire``), in order."""
        with self._lock:
            return self.project.fired(self._contact_id(contact_id))

    def merges(self) -> list[tuple[int, int]]:
        """``(contactId, targetContactId)`` of every ``POST /contacts/{id}/unite/{target}``."""
        with self._lock:
            return list(self.project.merges)

    def cart(self, contact_id: int) -> list[dict[str, Any]]:
        """The contact's cart lines as ``GET /contacts/{id}/checkout`` renders them."""
        with self._lock:
            return copy.deepcopy(self.project.render_cart(self._contact_id(contact_id)))

    def set_cart(self, contact_id: int, lines: Mapping[int, int]) -> None:
        """Fill the contact's cart: product essence id -> quantity (``{}`` empties it).
        The API has no write for the cart; a paid invoice empties it."""
        with self._lock:
            self._contact_id(contact_id)
            for essence_id, quantity in lines.items():
                if self.project.essence(essence_id) is None:
                    raise KeyError(f"no product essence {essence_id}")
                if quantity < 1:
                    raise ValueError(f"quantity must be >= 1, got {quantity}")
            self.project.overlay(contact_id).cart = list(lines.items())

    def invoices(self, contact_id: int) -> list[dict[str, Any]]:
        """The contact's invoices (oldest first), as the API renders them."""
        with self._lock:
            return copy.deepcopy(self.project.invoices(self._contact_id(contact_id)))

    def tags(self) -> list[dict[str, Any]]:
        """The project's tags, as ``GET /tags`` renders them."""
        with self._lock:
            return copy.deepcopy(self.project.tags.rows())

    def channels(self) -> list[dict[str, Any]]:
        """The project's channels, as ``GET /channels`` renders them."""
        with self._lock:
            return copy.deepcopy(self.project.channels.rows())

    def products(self) -> list[dict[str, Any]]:
        """The project's products, as ``GET /products`` renders them."""
        with self._lock:
            return copy.deepcopy(self.project.products.rows())

    def message_ids(self, chat_id: int, *, activities: bool = True) -> list[int]:
        """The chat's message ids, newest first (with ``action`` messages unless
        ``activities=False``)."""
        with self._lock:
            return list(reversed(self.store.timeline(self._chat_index(chat_id), activities)))

    def message(self, message_id: int) -> dict[str, Any]:
        """A message as the API renders it (a copy); ``KeyError`` if there is none.  A
        deleted message is still there, as a ``transient`` one."""
        with self._lock:
            message = self.store.message(message_id)
            if message is None:
                raise KeyError(f"no message {message_id}")
            return copy.deepcopy(message)

    def operator_ids(self) -> list[int]:
        """Every operator id, ascending."""
        return list(self.store.operator_ids)

    def operator_involved(self, operator_id: int) -> bool:
        """The operator's auto-assignment switch (``PUT /operators/{id}/involve``)."""
        return self.store.operator_involved[operator_id]

    def gate_ids(self, chat_id: int) -> list[int]:
        """The ids of the chat's gates."""
        return [gate[0] for gate in self.store.gates(self._chat_index(chat_id))]

    def add_inbound_message(self, chat_id: int, text: str = "Hello!") -> dict[str, Any]:
        """Make the chat's contact write ``text`` now, as churn does: the message becomes
        the newest, ``unreadMessages`` goes up by one, a closed chat reopens and the chat
        moves to the head of ``GET /chats``.  Returns the message."""
        with self._lock:
            message = self._inbound(self._chat_index(chat_id), text, self._now_ts())
            return copy.deepcopy(message)

    def reset_quota(self, token: str | None = None) -> None:
        """Forget quota windows, locks and breach counts (of one token, or all)."""
        if self.quota is not None:
            with self._lock:
                self.quota.reset(token)
