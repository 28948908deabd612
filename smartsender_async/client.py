"""The :class:`SmartSender` client: configuration, lifecycle and the one request path."""

from __future__ import annotations

import asyncio
import hashlib
import os
import warnings
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar, overload
from urllib.parse import urlencode

import httpx

from smartsender_async import _http
from smartsender_async._convert import DecodeError, loads, structure
from smartsender_async._version import __version__
from smartsender_async.errors import (
    ResponseDecodeError,
    SmartSenderError,
    from_response,
    truncate_body,
)
from smartsender_async.models.common import ResponseInfo
from smartsender_async.ratelimit import RateLimit, RateLimiter, make_limiter
from smartsender_async.resources.chats import ChatsResource
from smartsender_async.resources.contacts import ContactsResource
from smartsender_async.resources.gates import GatesResource
from smartsender_async.resources.operators import OperatorsResource
from smartsender_async.retry import RequestEvent, RetryPolicy, send_with_retry

if TYPE_CHECKING:
    from smartsender_async.watch import Watch

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_TIMEOUT",
    "ConfigurationError",
    "EventLoopMismatchError",
    "SmartSender",
    "UnclosedClientWarning",
]

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


class ConfigurationError(SmartSenderError, ValueError):
    """The client was configured wrongly (for example, no token anywhere)."""


class EventLoopMismatchError(SmartSenderError, RuntimeError):
    """The client was used from an event loop other than the one it first ran on.

    Connections in its pool belong to that first loop; reusing them from another loop
    would hang or fail deep inside httpx.  Create one client per event loop (per
    ``asyncio.run``, per worker process) instead.
    """


class UnclosedClientWarning(ResourceWarning):
    """A :class:`SmartSender` was garbage-collected without ``aclose()``."""


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
    done, either with ``async with SmartSender() as client:`` or ``await client.aclose()``::

        async with SmartSender() as client:          # token from SMARTSENDER_TOKEN
            page = await client.chats.list(state="open")

    Args:
        token: the project's API token. Defaults to the ``SMARTSENDER_TOKEN`` environment
            variable; with neither, :class:`ConfigurationError` is raised.  The token never
            appears in a repr, an exception or a log record.
        base_url: the API root, ``https://api.smartsender.com/v1``.  When left at that
            default, the ``SMARTSENDER_BASE_URL`` environment variable replaces it if set
            (to point code you do not control at an emulator or a proxy).
        timeout: seconds (or an :class:`httpx.Timeout`) for each attempt.
        http_client: an :class:`httpx.AsyncClient` you own and configure (proxies, limits,
            event hooks). It is never closed by this client.  Build it on
            :func:`pooled_transport` to keep the connection pool the SDK's own clients use.
        transport: an httpx async transport for the client this object creates (for example
            ``emulator.transport()`` or a mock). Not together with ``http_client``.
        retry: the :class:`RetryPolicy`; ``None`` sends every request exactly once (it
            still waits, up to the default ``max_wait`` of 60 s, at a lock gate closed by a
            423).  A :class:`RateLimitedError` whose ``response`` is ``None`` was refused
            locally, without a request, because the gate stays closed longer than that.
        rate_limit: a :class:`RateLimit` (a private in-memory limiter is made from it), a
            limiter object shared with other clients (:class:`InMemoryRateLimiter`,
            :class:`RedisRateLimiter`), or ``None`` for no client-side limit.  The default
            keeps within Smart Sender's 180 requests per minute per token, but only if this
            client is the token's only user: clients (or processes) on one token must share
            one limiter.
        observer: called with a :class:`RequestEvent` for every attempt, response, retry and
            rate-limit wait (for metrics); exceptions it raises are logged and ignored.

    A client belongs to the event loop it is first used in; using it from another loop
    raises :class:`EventLoopMismatchError`.  A client garbage-collected without being
    closed emits :class:`UnclosedClientWarning`.
    """

    _closed = True  # until __init__ completes, so __del__ of a half-built client is quiet

    def __init__(
        self,
        token: str | None = None,
        *,
        base_url: str = DEFAULT_BASE_URL,
        timeout: float | httpx.Timeout | None = DEFAULT_TIMEOUT,
        http_client: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        retry: RetryPolicy | None = _DEFAULT,
        rate_limit: RateLimit | RateLimiter | None = _DEFAULT,
        observer: Callable[[RequestEvent], None] | None = None,
    ) -> None:
        if token is None:
            token = os.environ.get(TOKEN_ENV) or None
        if token is None:
            raise ConfigurationError(
                f"no API token: pass SmartSender(token=...) or set the {TOKEN_ENV} "
                "environment variable (the project's Integrations tab shows the token)"
            )
        if not isinstance(token, str) or not token.strip():
            raise ConfigurationError("token must be a non-empty string")
        if base_url is None or base_url == DEFAULT_BASE_URL:
            base_url = os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL
        if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
            raise ConfigurationError(f"base_url must be an http(s) URL, got {base_url!r}")
        if http_client is not None and transport is not None:
            raise ConfigurationError("pass either http_client or transport, not both")
        if retry is _DEFAULT:
            retry = RetryPolicy()
        elif retry is not None and not isinstance(retry, RetryPolicy):
            raise TypeError(f"retry must be a RetryPolicy or None, got {retry!r}")
        if rate_limit is _DEFAULT:
            rate_limit = RateLimit()

        self._base_url = base_url.rstrip("/")
        self._retry: RetryPolicy | None = retry
        self._limiter: RateLimiter | None = make_limiter(rate_limit)
        self._owns_limiter = not isinstance(rate_limit, RateLimiter)
        # Limiters and logs see only this digest, never the token.
        self._limiter_key = hashlib.sha256(token.encode()).hexdigest()
        headers = {
            "Authorization": f"Bearer {token}",
            "Accept": "application/json",
            "User-Agent": f"smartsender-async/{__version__}",
        }
        if http_client is None:
            self._http = _http.make_client(headers=headers, timeout=timeout, transport=transport)
            self._owns_http = True
            self._request_headers: dict[str, str] | None = None
        else:
            self._http = http_client
            self._owns_http = False
            self._request_headers = headers
        self._observer = observer
        self._loop: object | None = None
        self._urls: dict[str, httpx.URL] = {}
        self._closed = False

        self.chats = ChatsResource(self)
        """Chats: list, get, read, close, assign, messages, streams."""
        self.contacts = ContactsResource(self)
        """Contacts: get, search, chat, messages, send."""
        self.operators = OperatorsResource(self)
        """Operators: list, stream."""
        self.gates = GatesResource(self)
        """Gates: edit and delete sent messages."""

    # ------------------------------------------------------------------ lifecycle

    def __repr__(self) -> str:
        return f"SmartSender(base_url={self._base_url!r})"

    @property
    def base_url(self) -> str:
        """The API root this client talks to."""
        return self._base_url

    @property
    def is_closed(self) -> bool:
        """Whether :meth:`aclose` has run."""
        return self._closed

    @property
    def rate_limiter(self) -> RateLimiter | None:
        """The limiter every request of this client passes through (share it to share quota)."""
        return self._limiter

    @property
    def retry_policy(self) -> RetryPolicy | None:
        """The retry policy in force."""
        return self._retry

    async def aclose(self) -> None:
        """Close the HTTP client this object created (never one you passed in)."""
        if self._closed:
            return
        self._closed = True
        if self._owns_http:
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

        ``path`` is relative to ``base_url`` (``"/chats"``).  With ``model`` the JSON is
        decoded into it (``Page[Chat]``, ``Chat``, ...) and gets ``.response_info``; without,
        the decoded JSON is returned as is.  ``idempotent`` (default: GET, PUT and DELETE
        are) decides whether a failure after the request may have reached the server is
        retried.  ``operation`` (``"chats.get"``) and ``template`` (``"/chats/{chatId}"``)
        name the call for tracing; resource methods pass them, and ids never appear in them.

        Raises:
            APIError: the server answered with an error status (typed by status).
            APIConnectionError: no response (``APITimeoutError`` for timeouts).
            ResponseDecodeError: the body was not JSON of the expected shape.
        """
        response, info = await self._send(
            method, path, params, json_body, idempotent, operation, template
        )
        data = self._json(response)
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
    ) -> None:
        """Send a write whose success answer is ``{"state": true}``; anything else raises."""
        response, _ = await self._send(
            method, path, None, json_body, idempotent, operation, template
        )
        data = self._json(response)
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
        request = http.build_request(
            method, self._url(path, params), json=json_body, headers=self._request_headers
        )
        if idempotent is None:
            idempotent = method in _IDEMPOTENT
        result = await send_with_retry(
            lambda: http.send(request),
            method=method,
            path=path,
            idempotent=idempotent,
            policy=self._retry,
            limiter=self._limiter,
            key=self._limiter_key,
            observer=self._observer,
        )
        response = result.response
        if response.status_code >= 400:
            error = from_response(response)
            error.retries_taken = result.retries_taken
            raise error
        info = ResponseInfo(result.retries_taken, result.rate_limit_wait, response.status_code)
        return response, info

    def _url(self, path: str, params: Mapping[str, Any] | None) -> httpx.URL:
        """The request URL, parsed once per path; the query is encoded straight into it.

        httpx would parse ``base_url + path`` and then the URL again to merge ``params``:
        two URL parses (~15 us each) per request.  Resources only pass ``str`` and ``int``
        query values, which ``urlencode`` spells as httpx does; anything else goes
        through httpx's own merging.
        """
        url = self._urls.get(path)
        if url is None:
            url = httpx.URL(self._base_url + path)
            if len(self._urls) < _URL_CACHE_SIZE:
                self._urls[path] = url
        if not params:
            return url
        if all(value.__class__ is str or value.__class__ is int for value in params.values()):
            return url.copy_with(query=urlencode(params).encode("ascii"))
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
