"""The exception hierarchy and :func:`from_response`, the one place HTTP errors are typed.

Every exception the SDK raises derives from :class:`SmartSenderError`.  None of them ever
holds the API token: the request attached to an :class:`APIError` has its
``Authorization`` header removed (see :func:`_redacted_request`).
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
    "ServerError",
    "SmartSenderError",
    "UnprocessableEntityError",
    "from_response",
    "parse_retry_after",
]

#: How much of a raw body an exception keeps: enough to diagnose, never megabytes.
MAX_BODY_CHARS = 2000

#: A server-sent delay larger than this is treated as nonsense, not as an instruction.
MAX_SANE_RETRY_AFTER = 24 * 3600.0

_TRY_AGAIN = re.compile(r"try\s+again\s+in\s+(\d+(?:\.\d+)?)\s*sec", re.IGNORECASE)


class SmartSenderError(Exception):
    """Base class of every exception raised by smartsender-async.

    ``retries_taken`` tells how many times the request was retried before this error
    was raised (0 when it was the first attempt, or when no request was sent).
    """

    retries_taken: int = 0

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class APIError(SmartSenderError):
    """The server answered with an error status (>= 400).

    Attributes:
        status_code: the HTTP status.
        message: ``error.message`` from the body, or a short description of the status.
        description: the per-field validation map (``error.description``) when present.
        body: the decoded JSON body, or ``None`` when it was not JSON.
        raw_body: the body text, truncated to ``MAX_BODY_CHARS``.
        response: the :class:`httpx.Response`; its request carries no credentials.
    """

    #: The status this class stands for; ``None`` on classes that cover a range.
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
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.response = response
        self.body = body
        self.raw_body = raw_body
        self.description = description

    def __str__(self) -> str:
        return f"HTTP {self.status_code}: {self.message}"


class BadRequestError(APIError):
    """HTTP 400."""

    status = 400


class AuthenticationError(APIError):
    """HTTP 401: the token is missing or wrong ("Unauthenticated")."""

    status = 401


class PermissionDeniedError(APIError):
    """HTTP 403: the token is not allowed to do this (or, on some endpoints, is wrong)."""

    status = 403


class NotFoundError(APIError):
    """HTTP 404: no such chat, contact, operator, gate or message."""

    status = 404


class UnprocessableEntityError(APIError):
    """HTTP 422: validation failed; ``description`` may hold per-field messages."""

    status = 422


class RateLimitedError(APIError):
    """HTTP 423 (Smart Sender's rate lock) or 429.

    ``retry_after`` is the server's delay in seconds, from a ``Retry-After`` header or the
    body text "try again in N seconds"; ``None`` when the server gave none.
    """

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after

    def __str__(self) -> str:
        hint = f" (retry after {self.retry_after:g} s)" if self.retry_after is not None else ""
        return f"HTTP {self.status_code}: {self.message}{hint}"


class ServerError(APIError):
    """HTTP 5xx."""


class APIConnectionError(SmartSenderError):
    """The request did not get a response: connection refused, reset, DNS, protocol error."""


class APITimeoutError(APIConnectionError):
    """The request timed out (connect, read, write or waiting for a pooled connection)."""


class ResponseDecodeError(SmartSenderError):
    """The body was not JSON, or not of the shape the endpoint documents.

    Carries ``status_code`` and ``raw_body`` (truncated) so the surprise can be diagnosed.
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
        self.raw_body = raw_body
        #: The response (its request carries no credentials), when there was one.
        self.response = redact_response(response) if response is not None else None

    def __str__(self) -> str:
        snippet = self.raw_body[:200]
        return f"{self.message} (HTTP {self.status_code}, body: {snippet!r})"


_BY_STATUS: dict[int, type[APIError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    422: UnprocessableEntityError,
}


def truncate_body(content: bytes) -> str:
    """Decode ``content`` leniently and cut it to ``MAX_BODY_CHARS``."""
    text = content[: MAX_BODY_CHARS * 4].decode("utf-8", errors="replace")
    return text[:MAX_BODY_CHARS]


def parse_retry_after(
    headers: Mapping[str, str] | httpx.Headers | None,
    body_text: str | None,
    *,
    now: float | None = None,
) -> float | None:
    """Return the server's requested delay in seconds, or ``None`` when it gave none.

    Looks at the ``Retry-After`` header (delta-seconds or an HTTP-date) first, then at the
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


def _redacted_request(request: httpx.Request) -> httpx.Request:
    """A copy of ``request`` without credentials, safe to keep on an exception."""
    from smartsender_async._backend import module_of

    http = module_of(request)  # httpx or httpx2: the copy is of the request's own library
    headers = http.Headers(request.headers)
    if "authorization" in headers:
        headers["authorization"] = "[redacted]"
    return http.Request(request.method, request.url, headers=headers)  # type: ignore[no-any-return]


def redact_response(response: httpx.Response) -> httpx.Response:
    """Point ``response`` at a credential-free copy of its request (in place) and return it."""
    try:
        request = response.request
    except RuntimeError:
        return response
    response.request = _redacted_request(request)
    return response


def from_response(response: httpx.Response, *, status: int | None = None) -> APIError:
    """Build the typed exception for an error ``response`` (status >= 400).

    ``status`` overrides the HTTP status, for a 200 whose body is an error envelope
    (``{"error": {"code": 404, ...}}``): consumers of this API treat ``error.code`` as
    the status.

    The body is expected as ``{"error": {"code": …, "message": …, "description": …}}`` but
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
    try:
        body = json.loads(content) if content else None
    except ValueError:
        body = None
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict):
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
    kwargs: dict[str, Any] = {
        "status_code": status,
        "response": redact_response(response),
        "body": body,
        "raw_body": raw_body,
        "description": description,
    }
    if status in (423, 429):
        retry_after = parse_retry_after(response.headers, message + " " + raw_body)
        return RateLimitedError(message, retry_after=retry_after, **kwargs)
    cls = _BY_STATUS.get(status)
    if cls is None:
        cls = ServerError if status >= 500 else APIError
    return cls(message, **kwargs)
