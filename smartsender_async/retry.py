"""The retry step: `RetryPolicy` and `send_with_retry`, run once per request.

What is retried, and why:

* `ConnectError`, `ConnectTimeout`, `PoolTimeout`: always, sends included.  They are
  raised before a single byte of the request left this host (no connection, or no free
  connection in the pool), so the server cannot have acted on it.
* `ReadTimeout`, `ReadError`, `WriteTimeout`, `WriteError`, `RemoteProtocolError`:
  for idempotent calls only (GET, PUT, DELETE).  The request, or part of it, was on the
  wire; the server may have processed it, so a send (`POST /contacts/{id}/send`) or a
  forward is never repeated after them.
* HTTP 500, 502, 503, 504: for idempotent calls only, for the same reason.  When retries
  run out, the last response is returned (the client turns it into `ServerError`).
* HTTP 423 (Smart Sender's rate lock) and 429: for every call, sends included, because
  the server refused the request without acting on it.  The delay comes from
  `Retry-After` or the body text "try again in N seconds".  Every 423 (or 429) that names
  its delay closes the limiter's lock gate so that all tasks using the token wait.  A 423
  that names none (the real API always does) is raised at once, without closing the gate.
  The call waits and retries only when the delay is at most `max_wait`; otherwise the
  response is returned at once and the client raises `RateLimitedError` with
  `retry_after`.
* Any other transport error (`ProxyError`, `UnsupportedProtocol`, ...) or status: not
  retried.

Every kind of retry counts against `max_attempts`, lock waits included, so a token that
stays locked cannot keep a call looping.
"""

from __future__ import annotations

import contextlib
import logging
import math
import random as _random
import time
from collections.abc import Awaitable, Callable
from typing import Literal

import anyio
import attrs
import httpx

from smartsender_async import _backend, errors
from smartsender_async.ratelimit import LockGateClosedError, RateLimiter

__all__ = [
    "DEFAULT_LOCK_SECONDS",
    "DEFAULT_RETRY_POLICY",
    "AttemptResult",
    "RequestEvent",
    "RetryPolicy",
    "send_with_retry",
]

logger = logging.getLogger("smartsender_async")

#: Seconds a 423 is assumed to lock the token when it names no delay: the API's first,
#: shortest lock.
DEFAULT_LOCK_SECONDS = 60.0

# Raised before the request left this host: safe to repeat for any call.  (httpx's and
# httpx2's classes both: see _backend.)
_NEVER_SENT = _backend.NEVER_SENT
# The request may have reached the server: repeat only idempotent calls.
_MAYBE_SENT = _backend.MAYBE_SENT
_SERVER_ERRORS = frozenset((500, 502, 503, 504))
_RATE_LIMITED = frozenset((423, 429))
_SPECIAL = _SERVER_ERRORS | _RATE_LIMITED

_rng = _random.Random()


def _check_int(name: str) -> Callable[[object, attrs.Attribute[int], int], None]:
    def check(_instance: object, _attribute: attrs.Attribute[int], value: int) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {value!r}")

    return check


def _check_seconds(
    name: str, *, allow_inf: bool = False
) -> Callable[[object, attrs.Attribute[float], float], None]:
    def check(_instance: object, _attribute: attrs.Attribute[float], value: float) -> None:
        ok = (
            isinstance(value, (int, float))
            and not isinstance(value, bool)
            and value >= 0
            and (math.isfinite(value) or (allow_inf and value == math.inf))
        )
        if not ok:
            raise ValueError(f"{name} must be a number of seconds >= 0, got {value!r}")

    return check


@attrs.frozen
class RetryPolicy:
    """When and how long to retry; give it to `SmartSender(retry=...)`.

    What is retried: a connection that failed before the request left (any call); a
    timeout or a dropped connection after it may have reached the server, and a 500, 502,
    503 or 504 (idempotent calls only: GET, PUT, DELETE); a 429 or a 423 (the lock gate)
    that names a delay of at most `max_wait` (any call: the server did not act on it).
    Other error statuses are never retried.

    Attributes:
        max_attempts: attempts in all, the first included (4: up to 3 retries).  Every
            retry counts, rate-limit waits included.
        backoff_base: seconds; the `n`-th retry (from 0) waits a random time between 0
            and `min(backoff_max, backoff_base * 2**n)` ("full jitter"), 0.5 by default.
        backoff_max: the cap on one backoff, 8 s by default.
        max_wait: the longest server-requested delay (423/429 `Retry-After` or lock time,
            a 5xx `Retry-After`) that is waited out, 60 s by default: long enough for
            Smart Sender's first lock (60 s), short enough that a call does not silently
            hang through the escalated ones (120 to 720 s).  Longer delays raise
            `RateLimitedError` at once.  `math.inf` waits for any delay.

    Raises:
        ValueError: `max_attempts` is not an int of at least 1, or a number of seconds is
            negative, not a number, or infinite (only `max_wait` may be `math.inf`).

    Example:
        ```python
        from smartsender_async import RetryPolicy, SmartSender

        patient = RetryPolicy(max_attempts=6, backoff_max=30.0, max_wait=float("inf"))
        client = SmartSender(retry=patient)
        ```
    """

    max_attempts: int = attrs.field(default=4, validator=_check_int("max_attempts"))
    backoff_base: float = attrs.field(default=0.5, validator=_check_seconds("backoff_base"))
    backoff_max: float = attrs.field(default=8.0, validator=_check_seconds("backoff_max"))
    max_wait: float = attrs.field(
        default=60.0, validator=_check_seconds("max_wait", allow_inf=True)
    )

    def backoff(self, retry_index: int, random: Callable[[], float] = _rng.random) -> float:
        """Seconds to wait before retry number `retry_index` (0 for the first retry).

        Args:
            retry_index: which retry, from 0.
            random: a source of floats in [0, 1); injectable for tests.

        Returns:
            A random time between 0 and `min(backoff_max, backoff_base * 2**retry_index)`.

        Example:
            ```python
            policy = RetryPolicy(backoff_base=1.0, backoff_max=4.0)
            assert policy.backoff(5, random=lambda: 1.0) == 4.0
            ```
        """
        ceiling = min(self.backoff_max, self.backoff_base * 2.0 ** min(retry_index, 64))
        return random() * ceiling


#: The policy a client uses unless told otherwise.
DEFAULT_RETRY_POLICY = RetryPolicy()


@attrs.frozen
class AttemptResult:
    """The final response of a call and how it was obtained."""

    response: httpx.Response
    #: Retries taken before this response (0 when the first attempt answered).
    retries_taken: int
    #: Seconds spent waiting for the limiter, the lock gate and 423/429 delays, all attempts.
    rate_limit_wait: float


@attrs.frozen
class RequestEvent:
    """What a client reports to its `observer` for every attempt, for metrics.

    Pass `SmartSender(observer=callback)`; the callback is called synchronously with each
    event, and an exception it raises is logged and ignored.

    Attributes:
        kind: one of `"wait"` (the limiter held attempt `attempt` back for `wait` seconds),
            `"attempt"` (attempt `attempt`, 1-based, is being sent), `"response"` (it was
            answered with `status` after `elapsed` seconds), `"error"` (it failed with the
            transport exception named `error`) and `"retry"` (another attempt follows after
            `wait` seconds, for a 423 with a limiter at the lock gate; `reason` says why).
        method: the HTTP method.
        path: the request path (ids included; the token never is).
        attempt: the attempt's number, from 1.
        status: the HTTP status of a `"response"`.
        error: the exception class name of an `"error"` (`"ReadTimeout"`...).
        elapsed: seconds from sending to the answer, for a `"response"`.
        wait: seconds waited, for `"wait"` and `"retry"`.
        reason: why a `"retry"` happens: `"HTTP 503"` or an exception class name.

    Example:
        ```python
        from collections import Counter

        from smartsender_async import RequestEvent, SmartSender

        statuses: Counter[int | None] = Counter()

        def observe(event: RequestEvent) -> None:
            if event.kind == "response":
                statuses[event.status] += 1

        async with SmartSender(observer=observe) as client:
            await client.me()
        print(statuses)
        ```
    """

    kind: Literal["attempt", "response", "retry", "wait", "error"]
    method: str
    path: str
    attempt: int
    status: int | None = None
    error: str | None = None
    elapsed: float = 0.0
    wait: float = 0.0
    reason: str | None = None


def _notify(observer: Callable[[RequestEvent], None], event: RequestEvent) -> None:
    try:
        observer(event)
    except Exception:
        logger.warning("request observer raised on %s event; ignored", event.kind, exc_info=True)


def _body_text(response: httpx.Response) -> str | None:
    try:
        return response.text
    except _backend.RESPONSE_NOT_READ:
        return None


async def send_with_retry(
    send: Callable[[], Awaitable[httpx.Response]],
    *,
    method: str,
    path: str,
    idempotent: bool,
    policy: RetryPolicy | None,
    limiter: RateLimiter | None,
    key: str,
    observer: Callable[[RequestEvent], None] | None = None,
    sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    random: Callable[[], float] = _rng.random,
) -> AttemptResult:
    """Send one API call: limiter, attempt, decide, repeat (see the module docstring).

    `send` performs exactly one HTTP attempt.  `method` and `path` are for logs and
    error messages only.  `key` identifies the token for the limiter (a digest).  With
    `policy=None` there is exactly one attempt, which still passes the limiter, and a
    423 still closes the lock gate.

    Returns the final response: a success, or an error status that is not retried or
    whose retries ran out.

    Raises:
        APITimeoutError: the last attempt timed out (`retries_taken` set).
        APIConnectionError: the last attempt got no response for another reason.
        RateLimitedError: the token's lock gate stays closed for longer than `max_wait`;
            no request was sent (`response` is `None`).
    """
    if policy is None:
        max_attempts = 1
        max_wait = DEFAULT_RETRY_POLICY.max_wait
        backoff = DEFAULT_RETRY_POLICY.backoff
    else:
        max_attempts = policy.max_attempts
        max_wait = policy.max_wait
        backoff = policy.backoff
    trace = observer is not None or logger.isEnabledFor(logging.DEBUG)
    retries = 0
    rate_limit_wait = 0.0
    started = 0.0
    while True:
        waited = 0.0
        if limiter is not None:
            try:
                waited = await limiter.acquire(key, max_wait=max_wait)
            except LockGateClosedError as exc:
                raise _gate_closed(exc, method, path, retries) from None
            except errors.SmartSenderError as exc:
                exc.retries_taken = retries
                raise
            rate_limit_wait += waited
        if trace:
            if observer is not None:
                if waited > 0:
                    _notify(observer, RequestEvent("wait", method, path, retries + 1, wait=waited))
                _notify(observer, RequestEvent("attempt", method, path, retries + 1))
            started = time.perf_counter()
        try:
            response = await send()
        except _backend.TRANSPORT_ERRORS as exc:
            if trace:
                _trace_outcome(observer, method, path, retries, exc, started, waited)
            repeatable = isinstance(exc, _NEVER_SENT) or (
                idempotent and isinstance(exc, _MAYBE_SENT)
            )
            if repeatable and retries + 1 < max_attempts:
                delay = backoff(retries, random)
                if trace:
                    _trace_retry(observer, method, path, retries, delay, type(exc).__name__)
                await sleep(delay)
                retries += 1
                continue
            raise _transport_error(exc, method, path, retries) from exc
        status = response.status_code
        if trace:
            _trace_outcome(observer, method, path, retries, status, started, waited)
        if status not in _SPECIAL:
            return AttemptResult(response, retries, rate_limit_wait)

        can_retry = retries + 1 < max_attempts
        retry_after = errors.parse_retry_after(response.headers, _body_text(response))
        if status in _SERVER_ERRORS:
            if not (idempotent and can_retry):
                return AttemptResult(response, retries, rate_limit_wait)
            if retry_after is not None and retry_after <= max_wait:
                delay = retry_after
            else:
                delay = backoff(retries, random)
            via_gate = False
        else:
            # A 423 or 429 naming its delay is a token-wide lock: close the gate for all.
            gated = retry_after is not None
            if retry_after is not None:
                delay = retry_after
                if limiter is not None:
                    await limiter.lock(key, delay)
            elif status == 423:
                # A lock that does not say how long (the real API always says): no guess
                # to wait on or to hold other tasks at; raise at once.
                return AttemptResult(response, retries, rate_limit_wait)
            else:  # a 429 without a delay: back off as from an overload
                delay = backoff(retries, random)
            if not can_retry or delay > max_wait:
                return AttemptResult(response, retries, rate_limit_wait)
            via_gate = gated and limiter is not None
            if not via_gate:
                rate_limit_wait += delay
                if gated:
                    logger.info(
                        "%s %s: rate-limited (HTTP %d); waiting %.1f s", method, path, status, delay
                    )
        if trace:
            _trace_retry(observer, method, path, retries, delay, f"HTTP {status}")
        await response.aclose()
        if not via_gate:  # with a limiter, the next acquire() waits at the closed gate
            await sleep(delay)
        retries += 1


def _gate_closed(
    exc: LockGateClosedError, method: str, path: str, retries: int
) -> errors.RateLimitedError:
    error = errors.RateLimitedError(
        f"{method} {path} not sent: the token is rate-locked for another "
        f"{exc.retry_after:.0f} s, longer than max_wait",
        status_code=423,
        retry_after=exc.retry_after,
    )
    error.retries_taken = retries
    return error


def _transport_error(
    exc: httpx.TransportError, method: str, path: str, retries: int
) -> errors.APIConnectionError:
    # The httpx exception becomes __cause__: strip the credentials from its request.
    with contextlib.suppress(RuntimeError):  # RuntimeError: raised without a request
        exc.request = errors._redacted_request(exc.request)
    what = "timed out" if isinstance(exc, _backend.TIMEOUTS) else "connection failed"
    detail = str(exc)
    message = f"{method} {path}: {what} ({type(exc).__name__}{': ' + detail if detail else ''})"
    if retries:
        message += f" after {retries} {'retry' if retries == 1 else 'retries'}"
    cls = errors.APITimeoutError if isinstance(exc, _backend.TIMEOUTS) else None
    error = (cls or errors.APIConnectionError)(message)
    error.retries_taken = retries
    return error


def _trace_outcome(
    observer: Callable[[RequestEvent], None] | None,
    method: str,
    path: str,
    retries: int,
    outcome: int | BaseException,
    started: float,
    waited: float,
) -> None:
    """The DEBUG line and the observer event for one attempt's response or failure."""
    elapsed = time.perf_counter() - started
    status = outcome if isinstance(outcome, int) else None
    error = None if isinstance(outcome, int) else type(outcome).__name__
    logger.debug(
        "%s %s -> %s in %.1f ms (retry %d, rate-limit wait %.3f s)",
        method,
        path,
        status if error is None else error,
        elapsed * 1000,
        retries,
        waited,
    )
    if observer is not None:
        kind: Literal["response", "error"] = "response" if error is None else "error"
        event = RequestEvent(
            kind,
            method,
            path,
            retries + 1,
            status=status,
            error=error,
            elapsed=elapsed,
            wait=waited,
        )
        _notify(observer, event)


def _trace_retry(
    observer: Callable[[RequestEvent], None] | None,
    method: str,
    path: str,
    retries: int,
    delay: float,
    reason: str,
) -> None:
    logger.debug("%s %s: retry %d after %.3f s (%s)", method, path, retries + 1, delay, reason)
    if observer is not None:
        _notify(
            observer, RequestEvent("retry", method, path, retries + 1, wait=delay, reason=reason)
        )
