"""Exceptions (issue 13): every exception class the package exports survives pickle with
its type, status, message, code and retry_after; ``str()`` shows the server's message and
description; a 403 says the token may be wrong."""

from __future__ import annotations

import inspect
import pickle
from typing import Any

import httpx
import pytest

import smartsender_async
from smartsender_async import errors
from smartsender_async.errors import from_response


def _exported_exceptions() -> list[type[BaseException]]:
    found: dict[str, type[BaseException]] = {}
    for module in (smartsender_async, errors):
        for name in getattr(module, "__all__", ()):
            value = getattr(module, name)
            if inspect.isclass(value) and issubclass(value, BaseException):
                found[f"{value.__module__}.{value.__qualname__}"] = value
    return [found[k] for k in sorted(found)]


EXCEPTIONS = _exported_exceptions()


def test_the_list_is_complete() -> None:
    names = {cls.__name__ for cls in EXCEPTIONS}
    assert {"NotFoundError", "ResponseDecodeError", "RateLimitedError", "SmartSenderError"} <= names
    assert {"ConfigurationError", "EventLoopMismatchError", "LockGateClosedError"} <= names
    assert "ResponseTooLargeError" in names


def _response(status: int, body: bytes) -> httpx.Response:
    request = httpx.Request(
        "GET", "https://api.smartsender.com/v1/chats/1", headers={"Authorization": "Bearer t"}
    )
    return httpx.Response(status, content=body, request=request, headers={"x-a": "1"})


def _build(cls: type[BaseException]) -> BaseException:
    """An instance of ``cls`` as the SDK would raise it, with every field filled."""
    if issubclass(cls, errors.APIError):
        status = cls.status or (423 if issubclass(cls, errors.RateLimitedError) else 503)
        body = (
            b'{"error": {"code": %d, "message": "Too many requests. Please, try again in 90 '
            b'seconds", "description": {"limitation": ["too big"]}}}' % status
        )
        built = from_response(_response(status, body))
        if cls is errors.APIError:
            built = errors.APIError("teapot", status_code=418, code=4180, raw_body="x")
        assert type(built) is cls or cls is errors.APIError
        return built
    if issubclass(cls, errors.WriteRejectedError):
        return cls(
            "PUT /chats/1/read: the server answered state false",
            body={"state": False, "reason": "x"},
            status_code=200,
            raw_body='{"state": false, "reason": "x"}',
        )
    if issubclass(cls, errors.ResponseDecodeError):
        return cls("bad body", status_code=200, raw_body="<html>", response=_response(200, b"<"))
    if cls.__name__ == "LockGateClosedError":
        return cls(12.5)  # type: ignore[call-arg]
    try:
        return cls("something went wrong")
    except TypeError:  # pragma: no cover - a constructor this test does not know
        pytest.fail(f"{cls.__name__}: add it to _build")


def _fields(exc: BaseException) -> dict[str, Any]:
    return {
        "type": type(exc),
        "str": str(exc),
        "args": exc.args,
        "status_code": getattr(exc, "status_code", None),
        "status": getattr(exc, "status", None),
        "message": getattr(exc, "message", None),
        "code": getattr(exc, "code", None),
        "retry_after": getattr(exc, "retry_after", None),
        "raw_body": getattr(exc, "raw_body", None),
        "description": getattr(exc, "description", None),
        "body": getattr(exc, "body", None),
        "retries_taken": getattr(exc, "retries_taken", None),
    }


@pytest.mark.parametrize("cls", EXCEPTIONS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("protocol", [2, pickle.HIGHEST_PROTOCOL])
def test_every_exported_exception_round_trips_through_pickle(
    cls: type[BaseException], protocol: int
) -> None:
    original = _build(cls)
    if isinstance(original, errors.SmartSenderError):
        original.retries_taken = 2
    restored = pickle.loads(pickle.dumps(original, protocol=protocol))
    assert _fields(restored) == _fields(original)
    assert type(restored) is type(original)
    response = getattr(restored, "response", None)
    if response is not None:
        assert response.status_code == original.response.status_code  # type: ignore[attr-defined]
        assert response.request.headers["authorization"] == "[redacted]"


def test_rate_limited_keeps_retry_after_and_code() -> None:
    exc = _build(errors.RateLimitedError)
    restored = pickle.loads(pickle.dumps(exc))
    assert restored.retry_after == 90.0 and restored.code == 423 and restored.status_code == 423


def test_str_shows_the_server_message_and_description() -> None:
    exc = from_response(
        _response(
            422,
            b'{"error": {"code": 422, "message": "Unprocessable entity", '
            b'"description": {"limitation": ["Maximum available limitation reached"]}}}',
        )
    )
    text = str(exc)
    assert "422" in text and "Unprocessable entity" in text
    assert "Maximum available limitation reached" in text and "limitation" in text


def test_str_shows_an_error_code_that_differs_from_the_status() -> None:
    exc = from_response(_response(200, b'{"error": {"code": 404, "message": "Nope"}}'), status=404)
    assert isinstance(exc, errors.NotFoundError) and "Nope" in str(exc)
    exc = from_response(_response(400, b'{"error": {"code": 40017, "message": "Odd"}}'))
    assert exc.code == 40017 and "40017" in str(exc) and "Odd" in str(exc)


def test_permission_denied_says_the_token_may_be_wrong() -> None:
    exc = from_response(_response(403, b'{"error": {"code": 403, "message": "Forbidden"}}'))
    assert isinstance(exc, errors.PermissionDeniedError)
    assert "Forbidden" in str(exc) and "token may be wrong" in str(exc)


def test_nesting_bomb_error_body_is_typed() -> None:
    exc = from_response(_response(500, b"[" * 50_000))
    assert isinstance(exc, errors.ServerError) and exc.raw_body.startswith("[[[")
