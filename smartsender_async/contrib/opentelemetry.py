"""OpenTelemetry for a :class:`~smartsender_async.SmartSender`: a span per call, a child span
per HTTP attempt, and metrics for the limiter, the lock and the quota.

::

    from smartsender_async.contrib.opentelemetry import instrument

    client = SmartSender()
    handle = instrument(client)  # the global tracer and meter providers
    ...
    handle.uninstrument()

Needs the ``otel`` extra (``pip install 'smartsender-async[otel]'``), which installs
``opentelemetry-api`` only: bring the SDK and an exporter of your choice.

Design: a function, ``instrument(client)``, not a client argument.  It applies to a client
built by code you do not control (a FastAPI lifespan, an arq worker hook, a test fixture),
it is undone by ``uninstrument()``, it keeps every OpenTelemetry type and import out of
:class:`SmartSender`'s signature and out of the core package, and the providers it takes
make tests explicit.  The client itself carries one slot, ``None`` unless instrumented, so
an uninstrumented request pays one ``is None`` check and nothing else.  Instrumenting a
client again replaces its instrumentation (calls are never traced twice), and a client
collected without ``uninstrument()`` releases what it registered (its token's gauges).

What is recorded (names follow the HTTP client semantic conventions where they apply):

* one ``CLIENT`` span per SDK call, ``smartsender <operation>`` (``smartsender chats.get``;
  a call that names no operation is named from :data:`KNOWN_OPERATIONS` by its method and
  path, else ``smartsender request``), with
  ``http.request.method``, ``url.template`` (``/chats/{chatId}``), ``server.address``,
  ``server.port``, ``http.response.status_code``, ``error.type``, ``smartsender.operation``,
  ``smartsender.retries``, ``smartsender.ratelimit.wait_s`` (seconds the limiter held the
  call for a slot, plus delays a 429 asked for) and ``smartsender.lock.wait_s`` (seconds
  spent behind a 423 lock: at the limiter's lock gate, or sleeping out a 423 without a
  limiter).  A limiter with ``acquire_split`` says which part of a wait was the lock; with
  one that has only ``acquire``, the part of a wait that a 423 lock seen by this process
  still had to run when the wait began counts as lock, the rest as ``ratelimit``.  A span event
  ``smartsender.retry`` marks each retry;
* under it, one ``CLIENT`` span per HTTP attempt, ``GET /chats/{chatId}``, with the same
  HTTP attributes, ``http.request.resend_count`` from the second attempt on, and the
  waits that preceded that attempt;
* a stream (``client.chats.stream()``...) opens no span of its own: each page fetch is an
  SDK call, whose span is parented to the span that was current when iteration began
  (its first ``__anext__``), also for the fetches running concurrently in other tasks,
  under asyncio and trio;
* metrics: ``smartsender.client.request.duration`` (histogram, s, by
  ``smartsender.operation``, ``http.request.method``, ``http.response.status_code`` and
  ``error.type``), ``smartsender.ratelimit.wait`` and ``smartsender.lock.wait``
  (histograms, s, one value per call, by operation), ``smartsender.retries`` (counter, by
  operation and ``smartsender.retry.reason``: the status, ``"503"``, or the transport
  error, ``"httpx.ReadTimeout"``), and two observable gauges per token fingerprint
  (``smartsender.token.fingerprint``, the first 8 hex digits of the token's SHA-256, the
  prefix the SDK's log lines show): ``smartsender.lock.active`` (1 while a 423 lock seen by
  this process is in force, else 0) and ``smartsender.quota.used`` (requests this process
  sent with the token in the quota's trailing window, 423 refusals excluded as the server
  does not count them).

Never recorded: the token, the URL (ids appear only as the template: a path without a
template gets each segment that is not a plain word replaced by ``{id}``), the query,
request or response bodies, and exception messages (an exception is recorded by its type
only, since messages carry paths and server text).

Cancelled calls (a stream cancels the requests of a window that turned out not to be
needed) end their spans with ``smartsender.cancelled = true`` and no error status, and
record no duration.
"""

from __future__ import annotations

import contextlib
import math
import re
import threading
import time
import weakref
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any
from weakref import WeakKeyDictionary

import anyio
import httpx

try:
    from opentelemetry import context as otel_context
    from opentelemetry import metrics, trace
    from opentelemetry.metrics import CallbackOptions, Meter, MeterProvider, Observation
    from opentelemetry.trace import Span, SpanKind, Status, StatusCode, TracerProvider
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "smartsender_async.contrib.opentelemetry needs opentelemetry-api: "
        "pip install 'smartsender-async[otel]'"
    ) from exc

from smartsender_async import _backend, errors, pagination
from smartsender_async._convert import loads
from smartsender_async._version import __version__
from smartsender_async.ratelimit import RateLimiter
from smartsender_async.retry import _NEVER_SENT, AttemptResult, send_with_retry

if TYPE_CHECKING:
    from smartsender_async.client import SmartSender

__all__ = [
    "FINGERPRINT_ATTRIBUTE",
    "KNOWN_OPERATIONS",
    "Instrumentation",
    "derive_template",
    "instrument",
]

_SCOPE = "smartsender_async"
#: The attribute that names a token in the per-token gauges (never the token itself).
FINGERPRINT_ATTRIBUTE = "smartsender.token.fingerprint"
#: The quota's window when the limiter does not say (Smart Sender's: 180 per 60 s).
_DEFAULT_PERIOD = 60.0
_DURATION_BUCKETS = (
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
    30.0, 60.0, 120.0, 300.0, 720.0,
)  # fmt: skip
_WAIT_BUCKETS = (
    0.0, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 720.0,
)  # fmt: skip
# A path segment kept as is in a derived template: a plain word ("chats", "forward").
_WORD = re.compile(r"[A-Za-z_-]+")
# Requests remembered per token for smartsender.quota.used (the count saturates there).
_MAX_TRACKED = 100_000
# Derived templates kept per instrumented client, by path (per-id paths are bounded by it).
_TEMPLATE_CACHE_SIZE = 512


def instrument(
    client: SmartSender,
    *,
    tracer_provider: TracerProvider | None = None,
    meter_provider: MeterProvider | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Instrumentation:
    """Trace and measure every call of ``client`` until :meth:`Instrumentation.uninstrument`.

    Args:
        client: the client to instrument.  Instrumenting it again replaces the earlier
            instrumentation (that handle becomes inactive): calls are never traced twice.
        tracer_provider: where spans go; the global provider when ``None``.
        meter_provider: where metrics go; the global provider when ``None``.
        clock: monotonic seconds, for the quota window and lock expiry of the gauges
            (inject the clock your limiter uses, e.g. a test's virtual clock).

    Returns:
        The handle; ``handle.uninstrument()`` (or leaving ``with handle:``) stops it.

    Raises:
        TypeError: ``client`` is not a :class:`SmartSender`, or ``clock`` is not callable.

    Example:
        ::

            from opentelemetry.sdk.trace import TracerProvider

            provider = TracerProvider()
            with instrument(client, tracer_provider=provider):
                await client.chats.get(1)  # one span, "smartsender chats.get"
    """
    from smartsender_async.client import SmartSender

    if not isinstance(client, SmartSender):
        raise TypeError(f"client must be a SmartSender, got {client!r}")
    if not callable(clock):
        raise TypeError(f"clock must be a callable returning seconds, got {clock!r}")
    previous = client._instrumentation
    if isinstance(previous, _Instrumented):
        client._instrumentation = None
        previous.release()  # replaced: its handle becomes inactive
    tracer = trace.get_tracer(_SCOPE, __version__, tracer_provider=tracer_provider)
    if meter_provider is None:
        meter_provider = metrics.get_meter_provider()
    meters = _meters_for(meter_provider)
    fingerprint = client._limiter_key[:8]
    rate = getattr(client.rate_limiter, "rate", None)
    period = getattr(rate, "period", _DEFAULT_PERIOD)
    if not (isinstance(period, (int, float)) and math.isfinite(period) and period > 0):
        period = _DEFAULT_PERIOD
    token = meters.register(fingerprint, float(period), clock)
    instrumented = _Instrumented(client, tracer, meters, token, clock)
    _carrier_acquire()
    # Undone by uninstrument(), or when the client (which holds `instrumented`) is collected
    # without it: the handle is often dropped at once, the client closed and forgotten.
    instrumented.release = weakref.finalize(instrumented, _release, meters, token)
    client._instrumentation = instrumented
    return Instrumentation(client, instrumented)


def _release(meters: _Meters, token: _TokenState) -> None:
    meters.unregister(token)
    _carrier_release()


class Instrumentation:
    """The handle :func:`instrument` returns.  Also a context manager that uninstruments
    on exit."""

    def __init__(self, client: SmartSender, instrumented: _Instrumented) -> None:
        self._client = client
        self._instrumented: _Instrumented | None = instrumented

    def __repr__(self) -> str:
        state = "active" if self.active else "uninstrumented"
        return f"<Instrumentation of {self._client!r}: {state}>"

    @property
    def client(self) -> SmartSender:
        """The instrumented client."""
        return self._client

    @property
    def active(self) -> bool:
        """Whether the client is still instrumented by this handle."""
        instrumented = self._instrumented
        return instrumented is not None and instrumented.release.alive

    def uninstrument(self) -> None:
        """Stop tracing and measuring the client; idempotent.

        Calls in flight finish their spans; later calls record nothing, and the token's
        gauges stop reporting once no instrumented client uses it.
        """
        instrumented, self._instrumented = self._instrumented, None
        if instrumented is None:
            return
        if self._client._instrumentation is instrumented:
            self._client._instrumentation = None
        instrumented.release()  # runs once, whoever calls it first

    def __enter__(self) -> Instrumentation:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.uninstrument()


# ---------------------------------------------------------------------------- per call


class _Instrumented:
    """What sits in ``client._instrumentation``: runs each call's retry step in spans."""

    def __init__(
        self,
        client: SmartSender,
        tracer: trace.Tracer,
        meters: _Meters,
        token: _TokenState,
        clock: Callable[[], float],
    ) -> None:
        self.tracer = tracer
        self.meters = meters
        self.token = token
        self.clock = clock
        url = httpx.URL(client.base_url)
        self.host = url.host
        self.port = url.port or (443 if url.scheme == "https" else 80)
        self.templates: dict[str, str] = {}  # derived templates, by path
        # Set by instrument(): unregisters the token and the stream carrier, once.
        self.release: weakref.finalize[[_Meters, _TokenState], _Instrumented]

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
    ) -> AttemptResult:
        if template is None:
            derived = self.templates.get(path)
            if derived is None:
                derived = derive_template(path)
                if len(self.templates) < _TEMPLATE_CACHE_SIZE:
                    self.templates[path] = derived
            known = KNOWN_OPERATIONS.get((method, derived))
            if known is not None:
                template = known[1]
                if operation is None:
                    operation = known[0]
            else:
                template = derived
        common: dict[str, Any] = {
            "http.request.method": method,
            "url.template": template,
            "server.address": self.host,
            "server.port": self.port,
        }
        call = _Call(self, send_attempt, method, template, operation or "request", common)
        attributes = common.copy()
        attributes["smartsender.operation"] = call.operation
        if params:
            page = params.get("page")
            if page.__class__ is int:
                attributes["smartsender.page"] = page
        span = call.span = self.tracer.start_span(
            f"smartsender {operation}" if operation else "smartsender request",
            kind=SpanKind.CLIENT,
            attributes=attributes,
        )
        limiter = client._limiter
        started = time.perf_counter()
        result: AttemptResult | None = None
        failure: BaseException | None = None
        token = otel_context.attach(trace.set_span_in_context(span))
        try:
            result = await send_with_retry(
                call.attempt,
                method=method,
                path=path,
                idempotent=idempotent,
                policy=client._retry,
                limiter=_SplitLimiter(limiter, call) if limiter is not None else None,
                key=client._limiter_key,
                observer=client._observer,
            )
        except BaseException as exc:
            failure = exc
            raise
        finally:
            otel_context.detach(token)
            call.finish(result, failure, time.perf_counter() - started)
        return result


class _Call:
    """The state of one SDK call: its span, attempts and waits.

    Retries are seen from here without the retry step's observer: every attempt after the
    first is a retry of the one before, for the reason that one ended with, and the time
    between them that the limiter does not account for was slept (a backoff, or the delay
    a 423 or 429 asked for when no limiter gate held the call).
    """

    __slots__ = (
        "attempt_name",
        "attempts",
        "common",
        "ended",
        "instrumented",
        "last_error_type",
        "lock_wait",
        "operation",
        "pending_lock",
        "pending_slot",
        "rate_wait",
        "retries",
        "send_attempt",
        "span",
    )

    def __init__(
        self,
        instrumented: _Instrumented,
        send_attempt: Callable[[], Awaitable[httpx.Response]],
        method: str,
        template: str,
        operation: str,
        common: dict[str, Any],
    ) -> None:
        self.instrumented = instrumented
        self.send_attempt = send_attempt  # the client's own attempt: sends and reads the body
        self.attempt_name = f"{method} {template}"
        self.common = common  # the HTTP attributes every attempt span has
        self.operation = operation
        self.span: Span = trace.INVALID_SPAN
        self.attempts = 0
        self.retries = 0
        self.rate_wait = 0.0  # limiter slot waits and 429 delays, all attempts
        self.lock_wait = 0.0  # lock gate waits and 423 delays, all attempts
        self.pending_slot = 0.0  # the limiter's waits before the next attempt
        self.pending_lock = 0.0
        self.ended = 0.0  # clock reading at the end of the last attempt
        self.last_error_type: str | None = None  # of the last attempt

    def waited(self, lock: float, slot: float) -> None:
        self.lock_wait += lock
        self.rate_wait += slot
        self.pending_lock += lock
        self.pending_slot += slot

    def _retrying(self) -> None:
        """Account for the retry that this attempt is: its reason and the sleep before it."""
        instrumented = self.instrumented
        self.retries += 1
        reason = self.last_error_type or "unknown"
        slept = max(0.0, instrumented.clock() - self.ended - self.pending_lock - self.pending_slot)
        if reason == "423":
            self.waited(slept, 0.0)
        elif reason == "429":
            self.waited(0.0, slept)
        self.span.add_event(
            "smartsender.retry",
            {
                "smartsender.retry.reason": reason,
                "smartsender.retry.delay_s": slept,
                "http.request.resend_count": self.attempts,
            },
        )
        instrumented.meters.retries.add(
            1, {"smartsender.operation": self.operation, "smartsender.retry.reason": reason}
        )

    async def attempt(self) -> httpx.Response:
        """One HTTP attempt, in its own child span."""
        instrumented = self.instrumented
        attributes = self.common.copy()
        if self.attempts:
            self._retrying()
            attributes["http.request.resend_count"] = self.attempts
        attributes["smartsender.ratelimit.wait_s"] = self.pending_slot
        attributes["smartsender.lock.wait_s"] = self.pending_lock
        self.pending_slot = self.pending_lock = 0.0
        self.attempts += 1
        span = instrumented.tracer.start_span(
            self.attempt_name, kind=SpanKind.CLIENT, attributes=attributes
        )
        token = otel_context.attach(trace.set_span_in_context(span))
        try:
            response = await self.send_attempt()
        except BaseException as exc:
            if _cancelled(exc):
                span.set_attribute("smartsender.cancelled", True)
            else:
                error_type = self.last_error_type = _qualified(exc)
                _fail(span, error_type)
                if not isinstance(exc, _NEVER_SENT):  # it may have reached the server
                    instrumented.token.sent()
            span.end()
            self.ended = instrumented.clock()  # after end(): a synchronous export is not a wait
            raise
        finally:
            otel_context.detach(token)
        status = response.status_code
        span.set_attribute("http.response.status_code", status)
        version = response.http_version
        if version.startswith("HTTP/"):
            span.set_attribute("network.protocol.version", version[5:])
        if status >= 400:
            self.last_error_type = str(status)
            _fail(span, self.last_error_type)
            if status == 423:
                delay = errors.parse_retry_after(response.headers, _text(response))
                if delay is not None:
                    instrumented.token.locked(delay)
        else:
            self.last_error_type = None
        if status != 423:  # the server does not count a request it refused while locked
            instrumented.token.sent()
        span.end()
        self.ended = instrumented.clock()
        return response

    def finish(
        self, result: AttemptResult | None, failure: BaseException | None, elapsed: float
    ) -> None:
        span = self.span
        meters = self.instrumented.meters
        span.set_attribute("smartsender.retries", self.retries)
        span.set_attribute("smartsender.ratelimit.wait_s", self.rate_wait)
        span.set_attribute("smartsender.lock.wait_s", self.lock_wait)
        labels: dict[str, Any] = {
            "smartsender.operation": self.operation,
            "http.request.method": self.common["http.request.method"],
        }
        error_type: str | None = None
        if result is not None:
            status = result.response.status_code
            span.set_attribute("http.response.status_code", status)
            labels["http.response.status_code"] = status
            if status >= 400:
                error_type = str(status)
            elif b'"error"' in result.response.content[:64]:
                # The API's error envelope under a success status: the client raises it
                # with the envelope's code (see SmartSender._json), so it is that error.
                code = _envelope_code(result.response.content)
                if code is not None:
                    error_type = str(code)
        elif failure is not None and _cancelled(failure):
            span.set_attribute("smartsender.cancelled", True)
            span.end()
            return
        elif failure is not None:
            error_type = _qualified(failure)
            span.add_event("exception", {"exception.type": error_type})
        if error_type is not None:
            _fail(span, error_type)
            labels["error.type"] = error_type
        span.end()
        meters.duration.record(elapsed, labels)
        waits = {"smartsender.operation": self.operation}
        meters.ratelimit_wait.record(self.rate_wait, waits)
        meters.lock_wait.record(self.lock_wait, waits)


class _SplitLimiter:
    """The client's limiter, with each wait split into lock gate and slot for the call."""

    __slots__ = ("_call", "_limiter", "_split")

    def __init__(self, limiter: RateLimiter, call: _Call) -> None:
        self._limiter = limiter
        self._split = getattr(limiter, "acquire_split", None)
        self._call = call

    async def acquire(self, key: str, *, max_wait: float = math.inf) -> float:
        if self._split is not None:
            lock_s, slot_s = await self._split(key, max_wait=max_wait)
            lock, slot = float(lock_s), float(slot_s)
        else:
            # A limiter that cannot tell: the part of the wait that a 423 lock this
            # process saw still had to run when the wait began is lock, the rest slot.
            lock_left = self._call.instrumented.token.lock_remaining()
            total = float(await self._limiter.acquire(key, max_wait=max_wait))
            lock = min(total, lock_left)
            slot = total - lock
        self._call.waited(lock, slot)
        return lock + slot

    async def lock(self, key: str, seconds: float) -> None:
        await self._limiter.lock(key, seconds)

    async def aclose(self) -> None:
        """The client closes its limiter, never this wrapper."""


def _fail(span: Span, error_type: str) -> None:
    span.set_attribute("error.type", error_type)
    span.set_status(Status(StatusCode.ERROR, error_type))


def _qualified(exc: BaseException) -> str:
    cls = type(exc)
    module = cls.__module__
    return cls.__qualname__ if module == "builtins" else f"{module}.{cls.__qualname__}"


def _cancelled(exc: BaseException) -> bool:
    try:
        return isinstance(exc, anyio.get_cancelled_exc_class())
    except Exception:  # no async library running (cannot happen inside a call)
        return False


def _envelope_code(content: bytes) -> int | None:
    """The error status ``{"error": {"code": 404, ...}}`` stands for, if it is one."""
    try:
        data = loads(content)
    except ValueError:
        return None
    envelope = data.get("error") if data.__class__ is dict else None
    code = envelope.get("code") if envelope.__class__ is dict else None
    return code if code.__class__ is int and 400 <= code <= 599 else None


def _text(response: httpx.Response) -> str | None:
    try:
        return response.text
    except _backend.RESPONSE_NOT_READ:  # httpx's or httpx2's
        return None


#: The API's operations by method and derived template (ids as ``{id}``): their SDK name and
#: their reference template.  A call that names neither (a resource method that does not
#: pass them yet, or ``client.request("GET", "/chats/5")``) is named from here, so spans
#: read ``smartsender chats.get`` with ``url.template`` ``/chats/{chatId}`` either way.
KNOWN_OPERATIONS: dict[tuple[str, str], tuple[str, str]] = {
    ("GET", "/chats"): ("chats.list", "/chats"),
    ("GET", "/chats/{id}"): ("chats.get", "/chats/{chatId}"),
    ("PUT", "/chats/{id}/read"): ("chats.read", "/chats/{chatId}/read"),
    ("PUT", "/chats/{id}/close"): ("chats.close", "/chats/{chatId}/close"),
    ("POST", "/chats/{id}/forward/{id}"): (
        "chats.assign",
        "/chats/{chatId}/forward/{operatorId}",
    ),
    ("GET", "/chats/{id}/messages"): ("chats.messages", "/chats/{chatId}/messages"),
    ("GET", "/contacts"): ("contacts.list", "/contacts"),
    ("GET", "/contacts/search"): ("contacts.search", "/contacts/search"),
    ("GET", "/contacts/{id}"): ("contacts.get", "/contacts/{contactId}"),
    ("PUT", "/contacts/{id}"): ("contacts.update", "/contacts/{contactId}"),
    ("GET", "/contacts/{id}/chat"): ("contacts.chat", "/contacts/{contactId}/chat"),
    ("GET", "/contacts/{id}/info"): ("contacts.info", "/contacts/{contactId}/info"),
    ("GET", "/contacts/{id}/gates"): ("contacts.gates", "/contacts/{contactId}/gates"),
    ("GET", "/contacts/{id}/messages"): ("contacts.messages", "/contacts/{contactId}/messages"),
    ("POST", "/contacts/{id}/send"): ("contacts.send", "/contacts/{contactId}/send"),
    ("POST", "/contacts/{id}/fire"): ("contacts.fire", "/contacts/{contactId}/fire"),
    ("GET", "/operators"): ("operators.list", "/operators"),
    ("PUT", "/operators/{id}/involve"): ("operators.involve", "/operators/{operatorId}/involve"),
    ("PUT", "/gates/{id}/messages"): ("gates.edit_message", "/gates/{gateId}/messages"),
    ("DELETE", "/gates/{id}/messages"): ("gates.delete_messages", "/gates/{gateId}/messages"),
    ("GET", "/me"): ("me", "/me"),
}


def derive_template(path: str) -> str:
    """A path template for a call that named none: ids become ``{id}``.

    Each segment that is not a plain word (letters, ``_``, ``-``) is replaced, so
    ``/chats/123/messages`` gives ``/chats/{id}/messages``; a query or fragment is dropped.

    Args:
        path: the request path, relative to the client's ``base_url``.

    Returns:
        The template.
    """
    path = path.split("?", 1)[0].split("#", 1)[0]
    return "/".join(
        segment if not segment or _WORD.fullmatch(segment) else "{id}"
        for segment in path.split("/")
    )


# ---------------------------------------------------------------------------- metrics


class _TokenState:
    """What this process saw of one token: attempts in the quota window, lock expiry."""

    def __init__(self, fingerprint: str, period: float, clock: Callable[[], float]) -> None:
        self.fingerprint = fingerprint
        self.period = period
        self.clock = clock
        self.users = 0  # instrumented clients on this token
        # Bounded: a process without a limiter against a server without a quota (a
        # benchmark) would otherwise keep a minute of requests; the real quota admits 180.
        self._sent: deque[float] = deque(maxlen=_MAX_TRACKED)
        self._locked_until = -math.inf
        self._mutex = threading.Lock()  # metric callbacks run on the exporter's thread

    def sent(self) -> None:
        now = self.clock()
        with self._mutex:
            self._sent.append(now)
            self._expire(now)

    def _expire(self, now: float) -> None:
        horizon = now - self.period
        sent = self._sent
        while sent and sent[0] <= horizon:
            sent.popleft()

    def used(self) -> int:
        with self._mutex:
            self._expire(self.clock())
            return len(self._sent)

    def locked(self, seconds: float) -> None:
        """A lock of ``seconds`` from now was seen (0: one was in force just now)."""
        until = self.clock() + max(seconds, 0.0)
        with self._mutex:
            self._locked_until = max(self._locked_until, until)

    def lock_remaining(self) -> float:
        """Seconds left on the latest 423 lock seen (0 when none is in force)."""
        with self._mutex:
            return max(0.0, self._locked_until - self.clock())

    def lock_active(self) -> bool:
        with self._mutex:
            return self.clock() < self._locked_until


class _Meters:
    """The instruments on one meter provider, shared by every client instrumented on it
    (an SDK meter hands back the first instrument of a name, and drops later callbacks)."""

    def __init__(self, meter: Meter) -> None:
        self.duration = meter.create_histogram(
            "smartsender.client.request.duration",
            unit="s",
            description="Duration of SDK calls, retries and limiter waits included.",
            explicit_bucket_boundaries_advisory=_DURATION_BUCKETS,
        )
        self.ratelimit_wait = meter.create_histogram(
            "smartsender.ratelimit.wait",
            unit="s",
            description="Seconds a call waited for a rate-limit slot (and 429 delays).",
            explicit_bucket_boundaries_advisory=_WAIT_BUCKETS,
        )
        self.lock_wait = meter.create_histogram(
            "smartsender.lock.wait",
            unit="s",
            description="Seconds a call waited behind a 423 lock of its token.",
            explicit_bucket_boundaries_advisory=_WAIT_BUCKETS,
        )
        self.retries = meter.create_counter(
            "smartsender.retries", unit="{retry}", description="Retries, by reason."
        )
        meter.create_observable_gauge(
            "smartsender.lock.active",
            callbacks=[self._observe_locks],
            unit="1",
            description="1 while a 423 lock of the token is in force, else 0.",
        )
        meter.create_observable_gauge(
            "smartsender.quota.used",
            callbacks=[self._observe_quota],
            unit="{request}",
            description="Requests sent with the token in the quota's current window.",
        )
        self._tokens: dict[str, _TokenState] = {}
        self._mutex = threading.Lock()

    def register(self, fingerprint: str, period: float, clock: Callable[[], float]) -> _TokenState:
        with self._mutex:
            token = self._tokens.get(fingerprint)
            if token is None:
                token = self._tokens[fingerprint] = _TokenState(fingerprint, period, clock)
            token.users += 1
            return token

    def unregister(self, token: _TokenState) -> None:
        with self._mutex:
            token.users -= 1
            if token.users <= 0 and self._tokens.get(token.fingerprint) is token:
                del self._tokens[token.fingerprint]

    def _snapshot(self) -> list[_TokenState]:
        with self._mutex:
            return list(self._tokens.values())

    def _observe_locks(self, options: CallbackOptions) -> Iterable[Observation]:
        return [
            Observation(int(t.lock_active()), {FINGERPRINT_ATTRIBUTE: t.fingerprint})
            for t in self._snapshot()
        ]

    def _observe_quota(self, options: CallbackOptions) -> Iterable[Observation]:
        return [
            Observation(t.used(), {FINGERPRINT_ATTRIBUTE: t.fingerprint}) for t in self._snapshot()
        ]


_meters_by_provider: WeakKeyDictionary[MeterProvider, _Meters] = WeakKeyDictionary()
_meters_mutex = threading.Lock()


def _meters_for(provider: MeterProvider) -> _Meters:
    with _meters_mutex:
        try:
            found = _meters_by_provider.get(provider)
        except TypeError:  # not weak-referenceable: instruments of its own every time
            return _Meters(provider.get_meter(_SCOPE, __version__))
        if found is None:
            found = _Meters(provider.get_meter(_SCOPE, __version__))
            _meters_by_provider[provider] = found
        return found


# ---------------------------------------------------------------------------- streams

_carrier_users = 0
_carrier_mutex = threading.Lock()


def _capture() -> pagination.Carry:
    """Called when a stream's iteration begins: carry the trace context current then."""
    captured = otel_context.get_current()

    @contextlib.contextmanager
    def carry() -> Iterator[object]:
        token = otel_context.attach(captured)
        try:
            yield captured
        finally:
            otel_context.detach(token)

    return carry


def _carrier_acquire() -> None:
    global _carrier_users
    with _carrier_mutex:
        _carrier_users += 1
        pagination.context_carrier = _capture


def _carrier_release() -> None:
    global _carrier_users
    with _carrier_mutex:
        _carrier_users -= 1
        if _carrier_users <= 0:
            _carrier_users = 0
            pagination.context_carrier = None
