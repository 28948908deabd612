"""The exception hierarchy and `from_response`, the one place HTTP errors are typed.

Every exception the SDK raises derives from `SmartSenderError`.  None of them ever
holds the API token: the request attached to an `APIError` (`.response.request`)
has its `Authorization` header replaced by `[redacted]`, and the client passes every
exception on its way out through `scrub`, which does the same to each exception
chained under it (`__cause__`, `__context__`) and removes the token from their text.

Every exception survives `pickle` (multiprocessing, arq, Celery and dask pickle them):
type, message, `status_code`, `code`, `retry_after` and the body are kept.
"""

from __future__ import annotations

import email.utils
import json
import math
import re
import time
from collections.abc import Mapping
from typing import Any

import httpx

__all__ = [
    "APIConnectionError",
    "APIError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitedError",
    "ResponseDecodeError",
    "ResponseTooLargeError",
    "ServerError",
    "SmartSenderError",
    "UnprocessableEntityError",
    "from_response",
    "parse_retry_after",
    "scrub",
]

#: How much of a raw body an exception keeps: enough to diagnose, never megabytes.
MAX_BODY_CHARS = 2000

#: How much of the server's ``error.message`` an exception's message keeps (``body`` has
#: all of it).
MAX_MESSAGE_CHARS = 500

#: A server-sent delay larger than this is treated as nonsense, not as an instruction.
MAX_SANE_RETRY_AFTER = 24 * 3600.0

_TRY_AGAIN = re.compile(r"try\s+again\s+in\s+(\d+(?:\.\d+)?)\s*sec", re.IGNORECASE)


class SmartSenderError(Exception):
    """Base class of every exception raised by smartsender-async.

    Every subclass pickles and unpickles to an equal exception of the same type, and none of
    them holds the API token.

    Attributes:
        message: what went wrong, in words.
        retries_taken: how many times the request was retried before this error was raised (0
            when it was the first attempt, or when no request was sent).
        status_code: the HTTP status, on errors that come with a response; else `None`.
        code: `error.code` from the server's error body when it has one, else the HTTP status
            (`None` without a response).
        retry_after: seconds the server (or the lock gate) asks to wait; `None` when nobody
            said.

    Example:
        ```python
        from smartsender_async import SmartSenderError

        try:
            await client.chats.get(48213)
        except SmartSenderError as exc:
            print(type(exc).__name__, exc.status_code, exc.retries_taken)
        ```
    """

    retries_taken: int = 0
    status_code: int | None = None
    code: int | None = None
    retry_after: float | None = None

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __reduce__(self) -> tuple[Any, ...]:
        # BaseException pickles as cls(*args), which keyword-only constructors refuse:
        # rebuild without calling __init__, then restore every attribute.  Decoded data
        # nested deeper than pickle can recurse (a hostile body) is left out: raw_body
        # still shows it.
        state = {name: None if _too_deep(value) else value for name, value in self.__dict__.items()}
        return (_rebuild, (type(self), self.args), state)


#: Decoded JSON nested deeper than this is not kept on an exception (real bodies nest a
#: few levels; pickle, repr and copy recurse once per level).
MAX_BODY_DEPTH = 64


def _too_deep(value: Any, limit: int = MAX_BODY_DEPTH) -> bool:
    """Whether ``value`` (dicts and lists) nests more than ``limit`` levels; iterative."""
    if not isinstance(value, (dict, list, tuple)):
        return False
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        current, depth = stack.pop()
        if depth > limit:
            return True
        children = current.values() if isinstance(current, dict) else current
        stack.extend((c, depth + 1) for c in children if isinstance(c, (dict, list, tuple)))
    return False


def _rebuild(cls: type[SmartSenderError], args: tuple[Any, ...]) -> SmartSenderError:
    """Unpickle a `SmartSenderError` (see `__reduce__`)."""
    exc = cls.__new__(cls)
    exc.args = args
    return exc


class APIError(SmartSenderError):
    """The server answered with an error status (>= 400).

    `str()` gives the status, the server's `error.message` and, when present, its per-field
    `description`: `HTTP 422: Maximum available limitation reached`. A status without a class of
    its own raises `APIError` itself.

    Attributes:
        status_code: the HTTP status (also as `status`).
        code: `error.code` from the body when it is an integer, else the HTTP status.
        message: `error.message` from the body, or a short description of the status.
        description: the per-field validation map (`error.description`) when present.
        body: the decoded JSON body, or `None` when it was not JSON.
        raw_body: the body text, truncated to `MAX_BODY_CHARS` (2000).
        response: the `httpx.Response`; its request carries no credentials.
        retries_taken: how many times the request was retried before this error.

    Example:
        ```python
        from smartsender_async import APIError

        try:
            await client.tags.create("vip")
        except APIError as exc:
            print(exc.status_code, exc.message, exc.description, exc.raw_body)
        ```
    """

    #: The status this class stands for (``None`` on classes that cover a range); on an
    #: instance, the status it was raised for.
    status: int | None = None

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        response: httpx.Response | None = None,
        body: Any = None,
        raw_body: str = "",
        description: Mapping[str, Any] | None = None,
        code: int | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.status = status_code
        self.code = status_code if code is None else code
        self.response = redact_response(response) if response is not None else None
        self.body = body
        self.raw_body = raw_body
        self.description = description

    def __str__(self) -> str:
        text = f"HTTP {self.status_code}: {self.message}"
        if self.code is not None and self.code != self.status_code:
            text += f" (error code {self.code})"
        if self.description:
            text += f" [{_describe(self.description)}]"
        return text


def _describe(description: Mapping[str, Any]) -> str:
    """`{"field": ["msg", ...]}` as `field: msg; other: msg`, cut to 300 characters."""
    parts = []
    for key, value in description.items():
        if isinstance(value, (list, tuple)):
            value = ", ".join(str(v) for v in value)
        parts.append(f"{key}: {value}")
    text = "; ".join(parts)
    return text if len(text) <= 300 else text[:297] + "..."


class BadRequestError(APIError):
    """HTTP 400: the server refused the request as malformed.

    Attributes:
        status_code: the HTTP status (also as `status`).
        code: `error.code` from the body when it is an integer, else the HTTP status.
        message: `error.message` from the body, or a short description of the status.
        description: the per-field validation map (`error.description`) when present.
        body: the decoded JSON body, or `None` when it was not JSON.
        raw_body: the body text, truncated to `MAX_BODY_CHARS` (2000).
        response: the `httpx.Response`; its request carries no credentials.
        retries_taken: how many times the request was retried before this error.
    """

    status = 400


class AuthenticationError(APIError):
    """HTTP 401: the token is missing or wrong ("Unauthenticated").

    Attributes:
        status_code: the HTTP status (also as `status`).
        code: `error.code` from the body when it is an integer, else the HTTP status.
        message: `error.message` from the body, or a short description of the status.
        description: the per-field validation map (`error.description`) when present.
        body: the decoded JSON body, or `None` when it was not JSON.
        raw_body: the body text, truncated to `MAX_BODY_CHARS` (2000).
        response: the `httpx.Response`; its request carries no credentials.
        retries_taken: how many times the request was retried before this error.

    Example:
        ```python
        from smartsender_async import AuthenticationError

        try:
            await client.me()
        except AuthenticationError:
            print("check SMARTSENDER_TOKEN")
        ```
    """

    status = 401


class PermissionDeniedError(APIError):
    """HTTP 403: the token is not allowed to do this, or is wrong.

    Clients of this API read 403 as "the project token is wrong", so the message says the token
    may be wrong (or belong to another project).

    Attributes:
        status_code: the HTTP status (also as `status`).
        code: `error.code` from the body when it is an integer, else the HTTP status.
        message: `error.message` from the body, or a short description of the status.
        description: the per-field validation map (`error.description`) when present.
        body: the decoded JSON body, or `None` when it was not JSON.
        raw_body: the body text, truncated to `MAX_BODY_CHARS` (2000).
        response: the `httpx.Response`; its request carries no credentials.
        retries_taken: how many times the request was retried before this error.
    """

    status = 403

    def __str__(self) -> str:
        return (
            super().__str__() + " (the API token may be wrong or belong to another project; "
            "check SMARTSENDER_TOKEN against the project's Integrations tab)"
        )


class NotFoundError(APIError):
    """HTTP 404: no such chat, contact, operator, gate or message.

    Attributes:
        status_code: the HTTP status (also as `status`).
        code: `error.code` from the body when it is an integer, else the HTTP status.
        message: `error.message` from the body, or a short description of the status.
        description: the per-field validation map (`error.description`) when present.
        body: the decoded JSON body, or `None` when it was not JSON.
        raw_body: the body text, truncated to `MAX_BODY_CHARS` (2000).
        response: the `httpx.Response`; its request carries no credentials.
        retries_taken: how many times the request was retried before this error.

    Example:
        ```python
        from smartsender_async import NotFoundError

        try:
            chat = await client.chats.get(999999)
        except NotFoundError:
            chat = None
        ```
    """

    status = 404


class UnprocessableEntityError(APIError):
    """HTTP 422: validation failed; `description` may hold per-field messages.

    Attributes:
        status_code: the HTTP status (also as `status`).
        code: `error.code` from the body when it is an integer, else the HTTP status.
        message: `error.message` from the body, or a short description of the status.
        description: the per-field validation map (`error.description`) when present.
        body: the decoded JSON body, or `None` when it was not JSON.
        raw_body: the body text, truncated to `MAX_BODY_CHARS` (2000).
        response: the `httpx.Response`; its request carries no credentials.
        retries_taken: how many times the request was retried before this error.

    Example:
        ```python
        from smartsender_async import UnprocessableEntityError

        try:
            await client.tags.create("vip")
        except UnprocessableEntityError as exc:
            print(exc.description)  # {"name": ["..."]}
        ```
    """

    status = 422


class RateLimitedError(APIError):
    """HTTP 423 (Smart Sender's rate lock) or 429, or a lock that outlasts `max_wait`.

    Raised after the retries, or at once when the delay is longer than the
    [RetryPolicy][smartsender_async.RetryPolicy]'s `max_wait`. When the client refused locally,
    without a request, because the lock gate stays closed that long, `response` is `None`.

    Attributes:
        retry_after: the server's delay in seconds, from a `Retry-After` header or the body text
            "try again in N seconds"; `None` when the server gave none.
        status_code: the HTTP status (also as `status`).
        code: `error.code` from the body when it is an integer, else the HTTP status.
        message: `error.message` from the body, or a short description of the status.
        description: the per-field validation map (`error.description`) when present.
        body: the decoded JSON body, or `None` when it was not JSON.
        raw_body: the body text, truncated to `MAX_BODY_CHARS` (2000).
        response: the `httpx.Response`; its request carries no credentials.
        retries_taken: how many times the request was retried before this error.

    Example:
        ```python
        from smartsender_async import RateLimitedError

        try:
            await client.me()
        except RateLimitedError as exc:
            print(f"locked; try again in {exc.retry_after} s")
        ```
    """

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after

    def __str__(self) -> str:
        hint = f" (retry after {self.retry_after:g} s)" if self.retry_after is not None else ""
        return super().__str__() + hint


class ServerError(APIError):
    """HTTP 5xx: the server failed; idempotent calls were retried first.

    Attributes:
        status_code: the HTTP status (also as `status`).
        code: `error.code` from the body when it is an integer, else the HTTP status.
        message: `error.message` from the body, or a short description of the status.
        description: the per-field validation map (`error.description`) when present.
        body: the decoded JSON body, or `None` when it was not JSON.
        raw_body: the body text, truncated to `MAX_BODY_CHARS` (2000).
        response: the `httpx.Response`; its request carries no credentials.
        retries_taken: how many times the request was retried before this error.
    """


class APIConnectionError(SmartSenderError):
    """The request did not get a response: connection refused, reset, DNS, protocol error.

    Raised after the retries (a send is not repeated once it may have reached the server). The
    httpx exception is chained as `__cause__`, scrubbed of the token.

    Attributes:
        message: what went wrong.
        retries_taken: how many times the request was retried before this error.

    Example:
        ```python
        from smartsender_async import APIConnectionError

        try:
            await client.me()
        except APIConnectionError as exc:
            print("no answer after", exc.retries_taken, "retries")
        ```
    """


class APITimeoutError(APIConnectionError):
    """The request timed out (connect, read, write or waiting for a pooled connection).

    Attributes:
        message: what went wrong.
        retries_taken: how many times the request was retried before this error.
    """


class ResponseDecodeError(SmartSenderError):
    """The body was not JSON, or not of the shape the endpoint documents.

    Corrupt compression (gzip, deflate, brotli), invalid UTF-8, a nesting bomb and an oversized
    number all end here.

    Attributes:
        message: what went wrong.
        status_code: the HTTP status; 0 when a custom transport failed to decode the body
            itself, before any status reached the SDK.
        code: the same as `status_code`.
        raw_body: the body text, truncated, so the surprise can be diagnosed.
        response: the response (its request carries no credentials), when there was one.

    Example:
        ```python
        from smartsender_async import ResponseDecodeError

        try:
            info = await client.contacts.info(5)
        except ResponseDecodeError as exc:
            print(exc.status_code, exc.raw_body[:100])
        ```
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        raw_body: str,
        response: httpx.Response | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.code = status_code
        self.raw_body = raw_body
        #: The response (its request carries no credentials), when there was one.
        self.response = redact_response(response) if response is not None else None

    def __str__(self) -> str:
        snippet = self.raw_body[:200]
        return f"{self.message} (HTTP {self.status_code}, body: {snippet!r})"


class ResponseTooLargeError(ResponseDecodeError):
    """The body was larger than the client's `max_response_bytes` (32 MiB by default).

    Counted before or after decompression; the body was not read further.

    Attributes:
        message: what went wrong.
        status_code: the HTTP status.
        raw_body: the start of the body.
        response: the response (its request carries no credentials).
    """


_BY_STATUS: dict[int, type[APIError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    422: UnprocessableEntityError,
}


def truncate_body(content: bytes) -> str:
    """Decode `content` leniently and cut it to `MAX_BODY_CHARS`."""
    text = content[: MAX_BODY_CHARS * 4].decode("utf-8", errors="replace")
    return text[:MAX_BODY_CHARS]


def parse_retry_after(
    headers: Mapping[str, str] | httpx.Headers | None,
    body_text: str | None,
    *,
    now: float | None = None,
) -> float | None:
    """Return the server's requested delay in seconds, or `None` when it gave none.

    Looks at the `Retry-After` header (delta-seconds or an HTTP-date) first, then at the
    body text "try again in N seconds" that Smart Sender sends with a 423.  Negative,
    non-finite or absurd values (over a day) are ignored.
    """
    value: float | None = None
    raw = headers.get("retry-after") if headers is not None else None
    if raw is not None:
        value = _parse_retry_after_header(raw.strip(), now)
    if value is None and body_text:
        match = _TRY_AGAIN.search(body_text)
        if match:
            value = _sane(float(match.group(1)))
    return value


def _parse_retry_after_header(raw: str, now: float | None) -> float | None:
    try:
        return _sane(float(raw))
    except ValueError:
        pass
    try:
        parsed = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError):
        return None
    if parsed is None:  # pragma: no cover - older Pythons returned None
        return None
    delta = parsed.timestamp() - (time.time() if now is None else now)
    return _sane(max(delta, 0.0))


def _sane(value: float) -> float | None:
    if not math.isfinite(value) or value < 0 or value > MAX_SANE_RETRY_AFTER:
        return None
    return value


#: What a credential is replaced with.
REDACTED = "[redacted]"
_CREDENTIAL_HEADERS = ("authorization", "proxy-authorization")


def _redacted_request(request: httpx.Request) -> httpx.Request:
    """A copy of `request` without credentials, safe to keep on an exception."""
    if not any(name in request.headers for name in _CREDENTIAL_HEADERS):
        return request
    from smartsender_async._backend import module_of

    http = module_of(request)  # httpx or httpx2: the copy is of the request's own library
    headers = http.Headers(request.headers)
    for name in _CREDENTIAL_HEADERS:
        if name in headers:
            headers[name] = REDACTED
    return http.Request(request.method, request.url, headers=headers)  # type: ignore[no-any-return]


def redact_response(response: httpx.Response) -> httpx.Response:
    """Point `response` at a credential-free copy of its request (in place) and return it."""
    try:
        request = response.request
    except RuntimeError:
        return response
    response.request = _redacted_request(request)
    return response


def _scrub_text(value: Any, secrets: tuple[str, ...]) -> Any:
    if isinstance(value, str):
        for secret in secrets:
            if secret in value:
                value = value.replace(secret, REDACTED)
    return value


#: The shortest secret that :func:`scrub` cuts out of exception messages.
_MIN_SECRET = 6


def _scrub_data(value: Any, secrets: tuple[str, ...], depth: int = 0) -> Any:
    """``value`` (decoded JSON: dicts, lists, strings) with each secret cut out of every
    string; the same object when nothing changed."""
    if isinstance(value, str):
        return _scrub_text(value, secrets)
    if depth > 200:  # JSON this deep was refused by the decoder; never recurse without end
        return value
    if isinstance(value, dict):
        items = [
            (_scrub_data(k, secrets, depth + 1), _scrub_data(v, secrets, depth + 1), k, v)
            for k, v in value.items()
        ]
        if all(nk is k and nv is v for nk, nv, k, v in items):
            return value
        return {nk: nv for nk, nv, _, _ in items}
    if isinstance(value, (list, tuple)):
        new = [_scrub_data(v, secrets, depth + 1) for v in value]
        if all(n is o for n, o in zip(new, value, strict=True)):
            return value
        return type(value)(new)
    return value


def _scrub_response(response: httpx.Response, secrets: tuple[str, ...]) -> None:
    """Cut the secrets out of a response a server may have echoed them into (its body, as
    kept in ``content``, and its header values), in place."""
    content = getattr(response, "_content", None)
    if isinstance(content, bytes):
        cleaned = content
        for secret in secrets:
            cleaned = cleaned.replace(secret.encode("utf-8", "replace"), REDACTED.encode())
        if cleaned != content:
            response._content = cleaned
    if any(secret in value for _, value in response.headers.items() for secret in secrets):
        response.headers = httpx.Headers(
            [(name, _scrub_text(value, secrets)) for name, value in response.headers.items()]
        )


def scrub(exc: BaseException, secrets: tuple[str, ...] = ()) -> BaseException:
    """Make `exc` and every exception chained under it safe to log, in place.

    Walks `__cause__`, `__context__` and exception groups.  On each exception, every
    attribute holding an `httpx.Request` (httpx keeps one on `.request`) is
    replaced by a copy whose `Authorization` header reads `[redacted]`, every
    `httpx.Response` is pointed at such a copy, and each of `secrets` (the token)
    is cut out of its message, of its string and decoded-JSON attributes (`raw_body`,
    `body`) and of a response's body and headers, where a server may have echoed it.
    Returns `exc`.

    A secret shorter than `_MIN_SECRET` characters is not cut out of messages: it would
    mangle ordinary words ("connec[redacted]ion" for the token `"t"`), and a token that
    short protects nothing.  Headers are redacted whatever the token's length.
    """
    from smartsender_async._backend import REQUESTS, RESPONSES

    secrets = tuple(s for s in secrets if len(s) >= _MIN_SECRET)
    seen: set[int] = set()
    stack: list[BaseException] = [exc]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        for name, value in list(getattr(current, "__dict__", {}).items()):
            if isinstance(value, REQUESTS):  # httpx's or httpx2's
                setattr(current, name, _redacted_request(value))
            elif isinstance(value, RESPONSES):
                redact_response(value)
                if secrets:
                    _scrub_response(value, secrets)
            elif secrets and isinstance(value, (str, dict, list, tuple)):
                # str: messages, raw_body; dict/list: the decoded body, which a server
                # may have echoed the token into ("invalid token ...").
                cleaned = _scrub_data(value, secrets)
                if cleaned is not value:
                    setattr(current, name, cleaned)
        if secrets and any(isinstance(arg, str) for arg in current.args):
            current.args = tuple(_scrub_text(arg, secrets) for arg in current.args)
        group = getattr(current, "exceptions", ())
        if isinstance(group, tuple):
            stack.extend(e for e in group if isinstance(e, BaseException))
        for chained in (current.__cause__, current.__context__):
            if chained is not None:
                stack.append(chained)
    return exc


def from_response(response: httpx.Response, *, status: int | None = None) -> APIError:
    """Build the typed exception for an error `response` (status >= 400).

    `status` overrides the HTTP status, for a 200 whose body is an error envelope
    (`{"error": {"code": 404, ...}}`): consumers of this API treat `error.code` as
    the status.

    The body is expected as `{"error": {"code": …, "message": …, "description": …}}` but
    anything else (HTML from a proxy, an empty body, truncated JSON) still gives the
    right class, with the raw text kept for diagnosis.
    """
    if status is None:
        status = response.status_code
    content = response.content
    raw_body = truncate_body(content)
    body: Any = None
    message: str | None = None
    description: Mapping[str, Any] | None = None
    code: int | None = None
    try:
        body = json.loads(content) if content else None
    except (ValueError, RecursionError):  # not JSON, or a nesting bomb
        body = None
    if _too_deep(body):  # parsed, but too deep to pickle, copy or repr: as if not JSON
        body = None
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict):
            if type(err.get("code")) is int:
                code = err["code"]
            msg = err.get("message")
            if isinstance(msg, str):
                message = msg
            desc = err.get("description")
            if isinstance(desc, dict):
                description = desc
        elif isinstance(err, str):
            message = err
        elif isinstance(body.get("message"), str):
            message = body["message"]
    if message is None:
        message = response.reason_phrase or f"HTTP {status}"
    elif len(message) > MAX_MESSAGE_CHARS:  # a server's novel: str(), logs, args stay small
        message = message[: MAX_MESSAGE_CHARS - 3] + "..."
    kwargs: dict[str, Any] = {
        "status_code": status,
        "response": redact_response(response),
        "body": body,
        "raw_body": raw_body,
        "description": description,
        "code": code,
    }
    if status in (423, 429):
        retry_after = parse_retry_after(response.headers, message + " " + raw_body)
        return RateLimitedError(message, retry_after=retry_after, **kwargs)
    cls = _BY_STATUS.get(status)
    if cls is None:
        cls = ServerError if status >= 500 else APIError
    return cls(message, **kwargs)


class WriteRejectedError(ResponseDecodeError):
    """A write was answered `{"state": false}`: the server did not do it.

    A subclass of [ResponseDecodeError][smartsender_async.ResponseDecodeError], which is what
    other answers than `{"state": true}` raise.

    Attributes:
        body: the decoded answer (anything beside `state` the server said is there).
        raw_body: its text.
        status_code: the HTTP status (a success status).
        message: what was rejected.

    Example:
        ```python
        from smartsender_async import WriteRejectedError

        try:
            await client.contacts.fire(5, "order_paid")
        except WriteRejectedError as exc:
            print("not done:", exc.body)
        ```
    """

    def __init__(self, message: str, *, body: Any = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.body = body


__all__ += ["WriteRejectedError"]
