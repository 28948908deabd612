"""The `SmartSender` client: configuration, lifecycle and the one request path."""

from __future__ import annotations

import asyncio
import hashlib
import os
import unicodedata
import warnings
from collections.abc import Awaitable, Callable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, cast, overload
from urllib.parse import urlencode

import httpx

from smartsender_async import _backend, _http
from smartsender_async._convert import DecodeError, loads, structure
from smartsender_async._version import __version__
from smartsender_async.errors import (
    ResponseDecodeError,
    SmartSenderError,
    WriteRejectedError,
    from_response,
    scrub,
    truncate_body,
)
from smartsender_async.models.common import ResponseInfo
from smartsender_async.models.project import Project
from smartsender_async.ratelimit import RateLimit, RateLimiter, make_limiter
from smartsender_async.resources.cashiers import CashiersResource
from smartsender_async.resources.channels import ChannelsResource
from smartsender_async.resources.chats import ChatsResource
from smartsender_async.resources.contacts import ContactsResource
from smartsender_async.resources.definitions import DefinitionsResource
from smartsender_async.resources.funnels import FunnelsResource
from smartsender_async.resources.gates import GatesResource
from smartsender_async.resources.operators import OperatorsResource
from smartsender_async.resources.products import ProductsResource
from smartsender_async.resources.tags import TagsResource
from smartsender_async.resources.variables import VariablesResource
from smartsender_async.retry import AttemptResult, RequestEvent, RetryPolicy, send_with_retry

if TYPE_CHECKING:
    from smartsender_async.watch import Watch

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_TIMEOUT",
    "BackendMismatchError",
    "ConfigurationError",
    "EventLoopMismatchError",
    "SmartSender",
    "UnclosedClientWarning",
]

if TYPE_CHECKING:
    from smartsender_async._backend import AnyAsyncClient, AnyTimeout, AnyTransport

T = TypeVar("T")

#: The production API.
DEFAULT_BASE_URL = "https://api.smartsender.com/v1"
#: 30 s for the whole exchange, 10 s to connect.
DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=10.0)
#: The environment variable read when no ``token`` is passed.
TOKEN_ENV = "SMARTSENDER_TOKEN"
#: The environment variable read when no ``base_url`` is passed.
BASE_URL_ENV = "SMARTSENDER_BASE_URL"

_IDEMPOTENT = frozenset(("GET", "HEAD", "OPTIONS", "PUT", "DELETE"))
# Parsed URLs kept per client, by path: list paths repeat, per-id paths are bounded by this.
_URL_CACHE_SIZE = 512
_DEFAULT: Any = object()


class _Instrumentation(Protocol):
    """What `contrib.opentelemetry.instrument()` puts on a client: it runs the retry step
    of every call in place of `SmartSender._send`'s own (spans, metrics)."""

    async def send(
        self,
        client: SmartSender,
        send_attempt: Callable[[], Awaitable[httpx.Response]],
        method: str,
        path: str,
        params: Mapping[str, Any] | None,
        idempotent: bool,
        operation: str | None,
        template: str | None,
    ) -> AttemptResult: ...


class ConfigurationError(SmartSenderError, ValueError):
    """The client was configured wrongly (for example, no token anywhere).

    Raised by `SmartSender(...)` before anything is sent; also a `ValueError`.  The message
    never repeats the token.

    Attributes:
        message: what is wrong and how to fix it.

    Example:
        ```python
        from smartsender_async import ConfigurationError, SmartSender

        try:
            SmartSender(token=" abc ")  # spaces around it, as pasted
        except ConfigurationError as exc:
            print(exc)
        ```
    """


class BackendMismatchError(ConfigurationError, _backend.BackendMismatchError):
    """The HTTP objects given to :class:`SmartSender` mix httpx and httpx2 (an httpx2 client
    with an httpx transport, or ``http="httpx"`` with an httpx2 client), or ``http=`` (or
    ``SMARTSENDER_HTTP``) names an unknown library or one that is not installed."""


class EventLoopMismatchError(SmartSenderError, RuntimeError):
    """The client was used from an event loop other than the one it first ran on.

    Connections in its pool belong to that first loop; reusing them from another loop
    would hang or fail deep inside httpx.  Create one client per event loop (per
    `asyncio.run`, per worker process) instead.  Also a `RuntimeError`.

    Attributes:
        message: which loop the client belongs to and what to do.

    Example:
        ```python
        # not run: shows the mistake
        client = SmartSender()
        asyncio.run(client.me())
        asyncio.run(client.me())  # a second loop: EventLoopMismatchError
        ```
    """


class UnclosedClientWarning(ResourceWarning):
    """A [SmartSender][smartsender_async.SmartSender] was garbage-collected without `aclose()`.

    A `ResourceWarning`, so Python shows it only when warnings are enabled (`-W default`,
    pytest).  Close clients with `async with` or `await client.aclose()`.

    Example:
        ```python
        import warnings

        from smartsender_async import UnclosedClientWarning

        warnings.simplefilter("error", UnclosedClientWarning)  # make a leak fail the tests
        ```
    """


def _check_token(token: str) -> None:
    """Refuse a token that cannot be a header value, without repeating it.

    A trailing newline (`open(".token").read()`) or any other whitespace or control
    character would make the HTTP layer fail with an error quoting the header, token
    and all; non-ASCII cannot be sent at all.
    """
    for index, char in enumerate(token):
        if not ("!" <= char <= "~"):
            what = (
                "whitespace"
                if char.isspace()
                else "a control character"
                if unicodedata.category(char).startswith("C")
                else "a non-ASCII character"
            )
            where = "at its end" if index == len(token) - 1 else f"at position {index}"
            raise ConfigurationError(
                f"the API token contains {what} ({char.encode('unicode_escape').decode()!r} "
                f"{where}); strip it (for example token.strip() after reading a file)"
            )


def _in_loop(loop: object) -> bool:
    """Whether the running event loop is `loop` (False outside any loop)."""
    try:
        return _current_loop() is loop
    except RuntimeError:
        return False


def _current_loop() -> object:
    """An identity for the running event loop (asyncio loop or trio run)."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        pass
    import sniffio

    if sniffio.current_async_library() == "trio":
        import trio

        return trio.lowlevel.current_root_task()
    raise RuntimeError("SmartSender must be used inside a running asyncio or trio event loop")


class SmartSender:
    """An async client for the Smart Sender REST API.

    Use one client for the life of your application (or worker process) and close it when
    done, either with `async with SmartSender() as client:` or `await client.aclose()`.
    Its resources are `client.chats`, `client.contacts`, `client.operators`, `client.gates`,
    `client.tags`, `client.funnels`, `client.variables`, `client.definitions`,
    `client.channels`, `client.products` and `client.cashiers`.

    A client belongs to the event loop it is first used in; using it from another loop
    raises [EventLoopMismatchError][smartsender_async.EventLoopMismatchError] (`aclose()` from
    another loop still closes its connections).  A client garbage-collected without being
    closed emits [UnclosedClientWarning][smartsender_async.UnclosedClientWarning].

    Args:
        token: the project's API token. Defaults to the `SMARTSENDER_TOKEN` environment
            variable; with neither, `ConfigurationError` is raised.  The token never
            appears in a repr, an exception or a log record.
        base_url: the API root, `https://api.smartsender.com/v1`.  When left at that
            default, the `SMARTSENDER_BASE_URL` environment variable replaces it if set
            (to point code you do not control at an emulator or a proxy).
        timeout: seconds (or an `httpx.Timeout`) for each attempt.
        http_client: an `httpx.AsyncClient` or `httpx2.AsyncClient` you own and configure
            (proxies, limits, mounts, event hooks). It is never closed by this client.  Build
            an httpx one on [pooled_transport][smartsender_async.pooled_transport] to keep the
            connection pool the SDK's own clients use.
        transport: an httpx (or httpx2) async transport for the client this object creates
            (for example `emulator.transport()` or a mock). Not together with `http_client`.
        http: `"httpx"` or `"httpx2"`: the library of the client this object creates.  By
            default, the library `http_client` or `transport` belongs to, else the
            `SMARTSENDER_HTTP` environment variable, else httpx.  Naming one library while
            passing objects of the other raises `BackendMismatchError`, as does an httpx2
            client holding an httpx transport (or the reverse).
        retry: the [RetryPolicy][smartsender_async.RetryPolicy]; `None` sends every request
            exactly once (it still waits, up to the default `max_wait` of 60 s, at a lock
            gate closed by a 423).  A `RateLimitedError` whose `response` is `None` was
            refused locally, without a request, because the gate stays closed longer than that.
        rate_limit: a [RateLimit][smartsender_async.RateLimit] (a private in-memory limiter
            is made from it), a limiter object shared with other clients
            ([InMemoryRateLimiter][smartsender_async.InMemoryRateLimiter],
            [RedisRateLimiter][smartsender_async.RedisRateLimiter]), or `None` for no
            client-side limit.  The default keeps within Smart Sender's 180 requests per
            minute per token, but only if this client is the token's only user: clients (or
            processes) on one token must share one limiter.
        observer: called with a [RequestEvent][smartsender_async.RequestEvent] for every
            attempt, response, retry and rate-limit wait (for metrics); exceptions it raises
            are logged and ignored.
        max_response_bytes: the largest body read, before and after decompression (32 MiB
            by default); a larger one raises `ResponseTooLargeError`.

    Raises:
        ConfigurationError: no token, a token with whitespace or control characters (a
            trailing newline from a file, say; the message never repeats the token), a
            `base_url` that is not an http(s) URL, a `max_response_bytes` that is not a
            positive int, or both `http_client` and `transport`.
        TypeError: `retry` is not a `RetryPolicy` or `None`.

    Example:
        ```python
        async with SmartSender() as client:  # token from SMARTSENDER_TOKEN
            page = await client.chats.list(state="open")
            for chat in page:
                print(chat.id, chat.name)
        ```
    """

    _closed = True  # until __init__ completes, so __del__ of a half-built client is quiet

    def __init__(
        self,
        token: str | None = None,
        *,
        base_url: str = DEFAULT_BASE_URL,
        timeout: float | AnyTimeout | None = DEFAULT_TIMEOUT,
        http_client: AnyAsyncClient | None = None,
        transport: AnyTransport | None = None,
        retry: RetryPolicy | None = _DEFAULT,
        rate_limit: RateLimit | RateLimiter | None = _DEFAULT,
        observer: Callable[[RequestEvent], None] | None = None,
        max_response_bytes: int = _http.DEFAULT_MAX_RESPONSE_BYTES,
        http: str | None = None,
    ) -> None:
        if token is None:
            token = os.environ.get(TOKEN_ENV) or None
        if token is None:
            raise ConfigurationError(
                f"no API token: pass SmartSender(token=...) or set the {TOKEN_ENV} "
                "environment variable (the project's Integrations tab shows the token)"
            )
        if not isinstance(token, str):
            # The type only: a bytes token is still a secret.
            raise TypeError(f"token must be a str, got {type(token).__name__}")
        if not token.strip():
            raise ConfigurationError("token must be a non-empty string")
        _check_token(token)
        if (
            isinstance(max_response_bytes, bool)
            or not isinstance(max_response_bytes, int)
            or max_response_bytes < 1
        ):
            raise ConfigurationError(
                f"max_response_bytes must be a positive int, got {max_response_bytes!r}"
            )
        if base_url is None or base_url == DEFAULT_BASE_URL:
            base_url = os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL
        if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
            # Not repeated unless it looks like a URL: it may be the token, swapped.
            shown = (
                repr(base_url)
                if isinstance(base_url, str) and "://" in base_url
                else f"a {type(base_url).__name__} that is not a URL"
            )
            raise ConfigurationError(f"base_url must be an http(s) URL, got {shown}")
        if http_client is not None and transport is not None:
            raise ConfigurationError("pass either http_client or transport, not both")
        # Which library (httpx or httpx2): never a silent switch, never a mix.
        try:
            backend = _backend.resolve(http, http_client, transport)
        except _backend.BackendMismatchError as exc:
            raise BackendMismatchError(str(exc)) from None
        if retry is _DEFAULT:
            retry = RetryPolicy()
        elif retry is not None and not isinstance(retry, RetryPolicy):
            raise TypeError(f"retry must be a RetryPolicy or None, got {retry!r}")
        if rate_limit is _DEFAULT:
            rate_limit = RateLimit()

        self._base_url = base_url.rstrip("/")
        self._host = httpx.URL(self._base_url).host
        self._max_response_bytes = max_response_bytes
        # Kept only to cut it out of exception text (see errors.scrub); never shown.
        self._secrets = (token,)
        self._retry: RetryPolicy | None = retry
        self._limiter: RateLimiter | None = make_limiter(rate_limit)
        self._owns_limiter = not isinstance(rate_limit, RateLimiter)
        # Limiters and logs see only this digest, never the token.
        self._limiter_key = hashlib.sha256(token.encode()).hexdigest()
        headers = {
            "Authorization": f"Bearer {token}",
            "Accept": "application/json",
            "Accept-Encoding": _http.ACCEPT_ENCODING,
            "User-Agent": f"smartsender-async/{__version__}",
        }
        self._backend = backend
        if http_client is None:
            self._http = _http.make_client(
                headers=headers,
                timeout=cast("httpx.Timeout | float | None", timeout),
                transport=cast("httpx.AsyncBaseTransport | None", transport),
                backend=backend,
            )
            self._owns_http = True
            self._request_headers: dict[str, str] | None = None
        else:
            # Typed as httpx's: httpx2's client has the same API.
            self._http = cast("httpx.AsyncClient", http_client)
            self._owns_http = False
            self._request_headers = headers
        self._observer = observer
        # Set by contrib.opentelemetry.instrument(); None costs the request path one check.
        self._instrumentation: _Instrumentation | None = None
        self._loop: object | None = None
        self._urls: dict[str, httpx.URL] = {}
        self._closed = False

        self.chats = ChatsResource(self)
        """Chats: list, get, read, close, assign, messages, streams."""
        self.contacts = ContactsResource(self)
        """Contacts: list, search, get, info, update, fire, merge, messages, send, tags,
        funnels, groups, gates, cart, invoices."""
        self.operators = OperatorsResource(self)
        """Operators: list, stream, involve."""
        self.gates = GatesResource(self)
        """Gates: edit and delete sent messages."""
        self.tags = TagsResource(self)
        """Tags: list, stream, create, update, delete."""
        self.funnels = FunnelsResource(self)
        """Funnels: list, stream."""
        self.variables = VariablesResource(self)
        """Contact variables: list, stream, create, update, delete."""
        self.definitions = DefinitionsResource(self)
        """Global variables: list, stream, get, create, update, delete."""
        self.channels = ChannelsResource(self)
        """Channels: list, stream, get, set_active, create_gate."""
        self.products = ProductsResource(self)
        """Products: list, stream, create, update, delete."""
        self.cashiers = CashiersResource(self)
        """Payment systems: list, stream, get."""

    async def me(self) -> Project:
        """The project this token belongs to (`GET /me`); also a cheap token check.

        Returns:
            The project.

        Raises:
            AuthenticationError: the token is wrong.
            PermissionDeniedError: the token may not read the project.
            APIError: any other error answer.
            SmartSenderError: the client is closed.
            EventLoopMismatchError: the client is used from another event loop than its first.
            APIConnectionError: the server could not be reached (after the retries).
            ResponseDecodeError: the answer is not the JSON the SDK expects.

        Example:
            ```python
            project = await client.me()
            print(project.id, project.name)
            ```
        """
        return await self.request("GET", "/me", model=Project, operation="me", template="/me")

    # ------------------------------------------------------------------ lifecycle

    def __repr__(self) -> str:
        return f"SmartSender(base_url={self._base_url!r})"

    @property
    def base_url(self) -> str:
        """The API root this client talks to.

        Example:
            ```python
            print(client.base_url)  # "https://api.smartsender.com/v1"
            ```
        """
        return self._base_url

    @property
    def is_closed(self) -> bool:
        """Whether `aclose()` has run.

        Example:
            ```python
            await client.aclose()
            assert client.is_closed
            ```
        """
        return self._closed

    @property
    def http_backend(self) -> str:
        """The HTTP library this client runs on: ``"httpx"`` or ``"httpx2"``."""
        return self._backend.name

    @property
    def rate_limiter(self) -> RateLimiter | None:
        """The limiter every request of this client passes through (share it to share quota).

        `None` when the client was built with `rate_limit=None`.

        Example:
            ```python
            other = SmartSender(rate_limit=client.rate_limiter)  # one quota for both
            ```
        """
        return self._limiter

    @property
    def retry_policy(self) -> RetryPolicy | None:
        """The retry policy in force (`None`: every request is sent once).

        Example:
            ```python
            print(client.retry_policy)
            ```
        """
        return self._retry

    async def aclose(self) -> None:
        """Close the HTTP client this object created (never one you passed in).

        Closing twice is harmless. Safe from any event loop: called from a loop other than the one
        the client ran on (`asyncio.run(use(client))` then `asyncio.run(client.aclose())`), it
        closes the connections in their own loop when that loop still runs in another thread, and
        otherwise closes their sockets directly. It never leaves them open. A rate limiter the
        client made for itself is closed too; one you passed in is not.

        Example:
            ```python
            client = SmartSender()
            try:
                await client.me()
            finally:
                await client.aclose()
            ```
        """
        if self._closed:
            return
        self._closed = True
        other_loop = self._loop is not None and not _in_loop(self._loop)
        if self._owns_http:
            if other_loop:
                await _http.aclose_elsewhere(self._http, self._loop)
            else:
                await self._http.aclose()
        if self._owns_limiter and self._limiter is not None:
            await self._limiter.aclose()

    def __del__(self) -> None:
        if not self._closed and self._owns_http:
            warnings.warn(
                "SmartSender client was garbage-collected without being closed; use "
                "'async with SmartSender(...) as client:' or 'await client.aclose()' "
                "(one client per application or worker, not per request)",
                UnclosedClientWarning,
                stacklevel=2,
                source=self,
            )

    async def __aenter__(self) -> SmartSender:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # ------------------------------------------------------------------ watch (issue 17)

    def watch(
        self,
        *,
        interval: float = 5.0,
        position: Any = None,
        inbound_only: bool = False,
        budget: float = 0.5,
        include_chat_changes: bool = False,
        max_interval: float | None = None,
    ) -> Watch:
        """New messages (and, if asked, chat changes) as they happen, with a resumable position.

        An async iterator and async context manager of :class:`WatchEvent`::

            async with client.watch(inbound_only=True) as events:
                async for event in events:
                    handle(event.chat, event.message)
                    save(event.position)     # pass back as position= to resume

        ``position=None`` starts now (no backlog); ``position=client.watch.START`` (the
        same value as ``smartsender_async.watch.START``) replays everything.  See
        :class:`~smartsender_async.watch.Watch` for the arguments and docs/guides/watch.md
        for the guarantees and the request cost.

        Raises:
            TypeError, ValueError: a bad argument (before any request).
        """
        from smartsender_async.watch import Watch

        return Watch(
            self,
            interval=interval,
            position=position,
            inbound_only=inbound_only,
            budget=budget,
            include_chat_changes=include_chat_changes,
            max_interval=max_interval,
        )

    watch.START = "start"  # type: ignore[attr-defined]

    # ------------------------------------------------------------------ the request path

    @overload
    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = ...,
        json_body: Any = ...,
        model: type[T],
        idempotent: bool | None = ...,
        operation: str | None = ...,
        template: str | None = ...,
    ) -> T: ...

    @overload
    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = ...,
        json_body: Any = ...,
        model: None = ...,
        idempotent: bool | None = ...,
        operation: str | None = ...,
        template: str | None = ...,
    ) -> Any: ...

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        model: Any = None,
        idempotent: bool | None = None,
        operation: str | None = None,
        template: str | None = None,
    ) -> Any:
        """Send one API call and decode its answer; every resource method ends here.

        Use it for an endpoint the SDK has no method for.  Every exception leaves here
        scrubbed of the token.

        Args:
            method: the HTTP method (`"GET"`, `"POST"`, `"PUT"`, `"DELETE"`).
            path: relative to `base_url` (`"/chats"`); a query written in it
                (`"/contacts/5/fire?name=x"`) is kept and merged with `params`.
            params: query parameters; they win over the path's own on a clash.
            json_body: the JSON body, for writes.
            model: the type to decode the JSON into (`Page[Chat]`, `Chat`, ...); the result
                gets `.response_info`.  Without it the decoded JSON is returned as is.
            idempotent: whether a failure after the request may have reached the server is
                retried; by default GET, PUT and DELETE are, POST is not.
            operation: the call's name for tracing (`"chats.get"`); ids never appear in it.
            template: the path template for tracing (`"/chats/{chatId}"`).

        Returns:
            The decoded `model`, or the decoded JSON when `model` is `None`.

        Raises:
            APIError: the server answered with an error status (a subclass per status:
                `NotFoundError`, `RateLimitedError`, `ServerError`...).
            APIConnectionError: no response (`APITimeoutError` for timeouts), after the retries.
            ResponseDecodeError: the body was not JSON of the expected shape, or its
                compression was corrupt (`ResponseTooLargeError`: over `max_response_bytes`).
            EventLoopMismatchError: the client is used from another event loop than its first.
            SmartSenderError: the client is closed.

        Example:
            ```python
            from smartsender_async import Chat, Page

            data = await client.request("GET", "/me")  # the decoded JSON of GET /me
            query = {"page": 1, "limitation": 5}
            page = await client.request("GET", "/chats", params=query, model=Page[Chat])
            ```
        """
        response, info = await self._send(
            method, path, params, json_body, idempotent, operation, template
        )
        return self._decode(method, path, response, info, self._json(response), model)

    async def _write(
        self,
        method: str,
        path: str,
        *,
        json_body: Any,
        model: type[T],
        idempotent: bool | None = None,
        operation: str | None = None,
        template: str | None = None,
    ) -> T:
        """A write whose answer is the object written (``POST /tags`` → Tag); an answer of
        ``{"state": false}`` raises :class:`WriteRejectedError` rather than decoding into
        an empty model (every field of the created models is optional)."""
        response, info = await self._send(
            method, path, None, json_body, idempotent, operation, template
        )
        data = self._json(response)
        self._refuse_rejection(method, path, response, data)
        return self._decode(method, path, response, info, data, model)  # type: ignore[no-any-return]

    @staticmethod
    def _refuse_rejection(method: str, path: str, response: httpx.Response, data: Any) -> None:
        if isinstance(data, dict) and data.get("state") is False:
            raise WriteRejectedError(
                f'{method} {path}: the server answered {{"state": false}}',
                body=data,
                status_code=response.status_code,
                raw_body=truncate_body(response.content),
                response=response,
            )

    @staticmethod
    def _decode(
        method: str, path: str, response: httpx.Response, info: ResponseInfo, data: Any, model: Any
    ) -> Any:
        if model is None:
            return data
        try:
            result = structure(data, model)
        except DecodeError as exc:
            raise ResponseDecodeError(
                f"unexpected response shape for {method} {path}: {exc}",
                status_code=response.status_code,
                raw_body=truncate_body(response.content),
                response=response,
            ) from None
        object.__setattr__(result, "response_info", info)
        return result

    async def _acknowledge(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        idempotent: bool | None = None,
        operation: str | None = None,
        template: str | None = None,
        tolerant: bool = False,
    ) -> None:
        """Send a write whose success answer is `{"state": true}`; anything else raises.

        `tolerant` is for writes whose answer the reference only infers (the page lost
        the response block): there an empty 2xx body, `[]`, or a JSON object with no
        `state` key (the object written, say), also counts as success.  `{"state": false}`
        always raises.
        """
        response, _ = await self._send(
            method, path, None, json_body, idempotent, operation, template
        )
        if tolerant and not response.content.strip():
            return
        data = self._json(response)
        if tolerant and (data == [] or (isinstance(data, dict) and "state" not in data)):
            return  # [] is PHP's json_encode([]): Laravel's empty answer
        self._refuse_rejection(method, path, response, data)
        if not (isinstance(data, dict) and data.get("state") is True):
            raise ResponseDecodeError(
                f'{method} {path}: expected {{"state": true}}',
                status_code=response.status_code,
                raw_body=truncate_body(response.content),
                response=response,
            )

    async def _send(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None,
        json_body: Any,
        idempotent: bool | None,
        operation: str | None = None,
        template: str | None = None,
    ) -> tuple[httpx.Response, ResponseInfo]:
        if self._closed:
            raise SmartSenderError("this SmartSender client is closed; create a new one")
        loop = _current_loop()
        if loop is not self._loop:
            if self._loop is not None:
                raise EventLoopMismatchError(
                    "this SmartSender client was first used in another event loop and cannot "
                    "be shared across loops; create one client per event loop (for example "
                    "inside each asyncio.run(), or once per worker process)"
                )
            self._loop = loop
        http = self._http
        if idempotent is None:
            idempotent = method in _IDEMPOTENT
        limit = self._max_response_bytes
        attempts = 0

        async def send_once() -> httpx.Response:
            # Streamed, so the body is read within max_response_bytes and decoded here
            # (typed errors), not by httpx (DecodingError, no size limit).
            nonlocal attempts
            attempts += 1
            try:
                response = await http.send(request, stream=True)
            except httpx.DecodingError as exc:  # a transport that decoded for itself (respx)
                raise ResponseDecodeError(
                    f"{method} {path}: the response body could not be decoded ({exc})",
                    status_code=0,
                    raw_body="",
                ) from exc
            await _http.read_body(response, limit)
            return response

        try:
            request = http.build_request(
                method, self._url(path, params), json=json_body, headers=self._request_headers
            )
            instrumentation = self._instrumentation
            if instrumentation is None:
                result = await send_with_retry(
                    send_once,
                    method=method,
                    path=path,
                    idempotent=idempotent,
                    policy=self._retry,
                    limiter=self._limiter,
                    key=self._limiter_key,
                    observer=self._observer,
                )
            else:
                result = await instrumentation.send(
                    self, send_once, method, path, params, idempotent, operation, template
                )
            response = result.response
            if response.status_code >= 400:
                error = from_response(response)
                error.retries_taken = result.retries_taken
                raise error
        except SmartSenderError as exc:
            if attempts > 1 and not exc.retries_taken:
                exc.retries_taken = attempts - 1
            scrub(exc, self._secrets)
            raise
        except Exception as exc:
            # Nothing the SDK chains may carry the token (an exception from a custom
            # transport or event hook, say): scrub it, then let it through as it is.
            scrub(exc, self._secrets)
            raise
        info = ResponseInfo(result.retries_taken, result.rate_limit_wait, response.status_code)
        return response, info

    def _url(self, path: str, params: Mapping[str, Any] | None) -> httpx.URL:
        """The request URL, parsed once per path; the query is encoded straight into it.

        httpx would parse `base_url + path` and then the URL again to merge `params`:
        two URL parses (~15 us each) per request.  Resources only pass `str` and `int`
        query values, which `urlencode` spells as httpx does; anything else goes
        through httpx's own merging.
        """
        url = self._urls.get(path)
        if url is None:
            if not isinstance(path, str) or not path.startswith("/"):
                # "chats" would read as /v1chats, and "@host/x" after a base_url without a
                # path would send the token to that host.
                raise ValueError(f"path must start with '/', got {path!r}")
            url = self._backend.http.URL(self._base_url + path)
            if url.host != self._host:
                raise ValueError(f"path must stay on {self._host}, got {path!r}")
            if len(self._urls) < _URL_CACHE_SIZE:
                self._urls[path] = url
        if not params:
            return url
        if not url.query and all(
            value.__class__ is str or value.__class__ is int for value in params.values()
        ):
            return url.copy_with(query=urlencode(params).encode("ascii"))
        # httpx merges a query written in the path ("/contacts/5/fire?name=x") with
        # params; on a clash, params win.
        return url.copy_merge_params(params)

    @staticmethod
    def _json(response: httpx.Response) -> Any:
        content = response.content
        try:
            data = loads(content)
        except ValueError:
            problem = "empty response body" if not content else "response body is not JSON"
            raise ResponseDecodeError(
                problem,
                status_code=response.status_code,
                raw_body=truncate_body(content),
                response=response,
            ) from None
        if data.__class__ is dict and "error" in data:
            # An error envelope under a success status: its error.code is the status.
            envelope = data["error"]
            code = envelope.get("code") if envelope.__class__ is dict else None
            if code.__class__ is int and 400 <= code <= 599:
                raise from_response(response, status=code)
        return data
