"""OpenTelemetry instrumentation against the emulator, with the SDK's in-memory exporter and
metric reader: span names, attributes and parenting (attempts under calls, stream pages
under the span current when iteration began, under asyncio and trio), the limiter and
lock figures, the metrics, and no token, message text or id anywhere in what is exported.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from typing import Any

import anyio
import attrs
import httpx
import pytest

pytest.importorskip("opentelemetry.sdk")

from opentelemetry import trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from smartsender_async import (
    NotFoundError,
    RateLimit,
    RateLimitedError,
    RetryPolicy,
    SmartSender,
    pagination,
)
from smartsender_async.contrib.opentelemetry import (
    FINGERPRINT_ATTRIBUTE,
    derive_template,
    instrument,
)
from smartsender_async.ratelimit import InMemoryRateLimiter
from smartsender_async.retry import RequestEvent
from smartsender_async.testing import Emulator, Faults
from tests.test_ratelimit import VirtualTime

TOKEN = "sk-live-OTEL-5be1c0ffee77"
SECRET_TEXT = "Meet me at the blue door, code 4471"
FAST_RETRY = RetryPolicy(max_attempts=3, backoff_base=0.001, backoff_max=0.002)
#: A limiter that never holds a request back, so only the lock gate makes anyone wait.
NO_PACING = RateLimit(1000, 1.0, burst=1000, margin=0.0)


@attrs.define
class Otel:
    exporter: InMemorySpanExporter
    reader: InMemoryMetricReader
    tracer_provider: TracerProvider
    meter_provider: MeterProvider

    def spans(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())

    def calls(self) -> list[ReadableSpan]:
        """The per-call spans ("smartsender ..."), in the order they ended."""
        return [s for s in self.spans() if s.name.startswith("smartsender ")]

    def children(self, parent: ReadableSpan) -> list[ReadableSpan]:
        assert parent.context is not None
        return sorted(
            (s for s in self.spans() if s.parent and s.parent.span_id == parent.context.span_id),
            key=lambda s: s.start_time or 0,
        )

    def metrics(self) -> dict[str, list[Any]]:
        """Metric name -> its data points, from one collection."""
        found: dict[str, list[Any]] = {}
        data = self.reader.get_metrics_data()
        if data is None:
            return found
        for resource in data.resource_metrics:
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    found.setdefault(metric.name, []).extend(metric.data.data_points)
        return found

    handles: list[Any] = attrs.field(factory=list)

    def instrument(self, client: SmartSender, **kwargs: Any) -> Any:
        handle = instrument(
            client,
            tracer_provider=self.tracer_provider,
            meter_provider=self.meter_provider,
            **kwargs,
        )
        self.handles.append(handle)
        return handle


@pytest.fixture
def otel() -> Iterator[Otel]:
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    otel = Otel(exporter, reader, tracer_provider, meter_provider)
    yield otel
    for handle in otel.handles:
        handle.uninstrument()
    meter_provider.shutdown()
    tracer_provider.shutdown()


def emulator(**kwargs: Any) -> Emulator:
    kwargs.setdefault("rate_limit", None)
    return Emulator(token=TOKEN, **kwargs)


class FailFirst(httpx.AsyncBaseTransport):
    """Answers the first ``len(statuses)`` requests with those statuses, then delegates."""

    def __init__(self, inner: httpx.AsyncBaseTransport, *statuses: int | Exception) -> None:
        self.inner = inner
        self.pending = list(statuses)
        self.seen = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.seen += 1
        if self.pending:
            item = self.pending.pop(0)
            if isinstance(item, Exception):
                raise item
            return httpx.Response(item, text="<html>bad gateway</html>")
        return await self.inner.handle_async_request(request)


class AcquireOnly:
    """A limiter that predates ``acquire_split``: only ``acquire``, ``lock``, ``aclose``."""

    def __init__(self, inner: InMemoryRateLimiter) -> None:
        self.inner = inner

    async def acquire(self, key: str, *, max_wait: float = math.inf) -> float:
        return await self.inner.acquire(key, max_wait=max_wait)

    async def lock(self, key: str, seconds: float) -> None:
        await self.inner.lock(key, seconds)

    async def aclose(self) -> None:
        await self.inner.aclose()


class SplitLimiter(InMemoryRateLimiter):
    """The in-memory limiter, with ``acquire_split`` (its own, once it has one) and an
    event set whenever a lock closes the gate."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.gate_closed = anyio.Event()

    if not hasattr(InMemoryRateLimiter, "acquire_split"):

        async def acquire_split(
            self, key: str, *, max_wait: float = math.inf
        ) -> tuple[float, float]:
            state = self._states.get(key)
            gate = 0.0 if state is None else max(0.0, state.gate_until - self._clock())
            total = await self.acquire(key, max_wait=max_wait)
            lock = min(gate, total)
            return lock, total - lock

    async def lock(self, key: str, seconds: float) -> None:
        await super().lock(key, seconds)
        self.gate_closed.set()


def only(points: list[Any], **attributes: Any) -> list[Any]:
    """The data points whose attributes include ``attributes`` (dots spelled ``__``)."""
    wanted = {k.replace("__", "."): v for k, v in attributes.items()}
    return [p for p in points if all(p.attributes.get(k) == v for k, v in wanted.items())]


def scan_for_secrets(otel: Otel, *secrets: str) -> None:
    """No exported span name, attribute, event, status or metric attribute holds a secret."""
    texts: list[str] = []
    for span in otel.spans():
        texts += [span.name, str(span.status.description), repr(dict(span.attributes or {}))]
        for event in span.events:
            texts += [event.name, repr(dict(event.attributes or {}))]
        texts += [repr(dict(link.attributes or {})) for link in span.links]
    for name, points in otel.metrics().items():
        texts.append(name)
        texts += [repr(dict(p.attributes)) for p in points]
    blob = "\n".join(texts)
    assert texts
    for secret in secrets:
        assert secret not in blob, f"{secret!r} exported"


# --------------------------------------------------------------------------- a plain call


async def test_a_plain_call_is_one_client_span_with_one_attempt(otel: Otel) -> None:
    em = emulator()
    chat_id = em.chat_ids()[3]
    async with em.client() as client:
        otel.instrument(client)
        await client.request(
            "GET", f"/chats/{chat_id}", operation="chats.get", template="/chats/{chatId}"
        )
    (call,) = otel.calls()
    assert call.name == "smartsender chats.get"
    assert call.kind is SpanKind.CLIENT
    attributes = dict(call.attributes or {})
    assert attributes["http.request.method"] == "GET"
    assert attributes["url.template"] == "/chats/{chatId}"
    assert attributes["server.address"] == "smartsender.emulator"
    assert attributes["http.response.status_code"] == 200
    assert attributes["smartsender.retries"] == 0
    assert attributes["smartsender.ratelimit.wait_s"] == 0.0
    assert attributes["smartsender.lock.wait_s"] == 0.0
    assert "error.type" not in attributes
    assert call.status.status_code is StatusCode.UNSET
    (attempt,) = otel.children(call)
    assert attempt.name == "GET /chats/{chatId}" and attempt.kind is SpanKind.CLIENT
    assert attempt.context.trace_id == call.context.trace_id  # type: ignore[union-attr]
    assert attempt.attributes["http.response.status_code"] == 200  # type: ignore[index]
    assert "http.request.resend_count" not in (attempt.attributes or {})
    assert len(otel.spans()) == 2

    metrics = otel.metrics()
    (duration,) = metrics["smartsender.client.request.duration"]
    assert duration.count == 1 and duration.sum > 0
    assert duration.attributes["smartsender.operation"] == "chats.get"
    assert duration.attributes["http.response.status_code"] == 200
    (used,) = metrics["smartsender.quota.used"]
    assert used.value == 1 and len(used.attributes[FINGERPRINT_ATTRIBUTE]) == 8
    assert [p.value for p in metrics["smartsender.lock.active"]] == [0]
    assert "smartsender.retries" not in metrics  # nothing retried: no data point yet
    assert str(chat_id) not in call.name + repr(dict(call.attributes or {}))


async def test_resource_methods_are_traced_and_ids_never_show(otel: Otel) -> None:
    """Whether or not the resource passes its operation name yet, no id is exported."""
    em = emulator()
    chat_id = em.chat_ids()[-1]
    async with em.client() as client:
        otel.instrument(client)
        await client.chats.get(chat_id)
    (call,) = otel.calls()
    assert call.name in ("smartsender chats.get", "smartsender request")
    assert call.attributes["url.template"] in ("/chats/{chatId}", "/chats/{id}")  # type: ignore[index]
    for span in otel.spans():
        assert str(chat_id) not in span.name + repr(dict(span.attributes or {}))


@pytest.mark.parametrize(
    ("path", "template"),
    [
        ("/chats", "/chats"),
        ("/chats/123", "/chats/{id}"),
        ("/chats/123/forward/45", "/chats/{id}/forward/{id}"),
        ("/contacts/9/messages", "/contacts/{id}/messages"),
        ("/contacts/abc123/send", "/contacts/{id}/send"),
        ("/contacts/john%40example.com", "/contacts/{id}"),
        ("/chats/7?term=secret#frag", "/chats/{id}"),
        ("/", "/"),
    ],
)
def test_derived_templates_hide_every_id(path: str, template: str) -> None:
    assert derive_template(path) == template


async def test_an_error_status_sets_error_type_and_status(otel: Otel) -> None:
    em = emulator()
    async with em.client() as client:
        otel.instrument(client)
        with pytest.raises(NotFoundError):
            await client.request("GET", "/chats/999999", operation="chats.get")
    (call,) = otel.calls()
    assert call.attributes["http.response.status_code"] == 404  # type: ignore[index]
    assert call.attributes["error.type"] == "404"  # type: ignore[index]
    assert call.status.status_code is StatusCode.ERROR
    (duration,) = otel.metrics()["smartsender.client.request.duration"]
    assert duration.attributes["error.type"] == "404"


# --------------------------------------------------------------------------- retries


async def test_a_retried_call_shows_each_attempt_as_a_child(otel: Otel) -> None:
    em = emulator()
    transport = FailFirst(em.transport(), 503)
    async with SmartSender(
        TOKEN, base_url=em.base_url, transport=transport, retry=FAST_RETRY, rate_limit=None
    ) as client:
        otel.instrument(client)
        page = await client.chats.list()
    assert page.response_info.retries_taken == 1 and transport.seen == 2
    (call,) = otel.calls()
    assert call.attributes["smartsender.retries"] == 1  # type: ignore[index]
    assert call.attributes["http.response.status_code"] == 200  # type: ignore[index]
    assert "error.type" not in (call.attributes or {})
    first, second = otel.children(call)
    assert first.attributes["http.response.status_code"] == 503  # type: ignore[index]
    assert first.attributes["error.type"] == "503"  # type: ignore[index]
    assert first.status.status_code is StatusCode.ERROR
    assert second.attributes["http.response.status_code"] == 200  # type: ignore[index]
    assert second.attributes["http.request.resend_count"] == 1  # type: ignore[index]
    (retry,) = [e for e in call.events if e.name == "smartsender.retry"]
    assert retry.attributes["smartsender.retry.reason"] == "503"  # type: ignore[index]

    metrics = otel.metrics()
    (retries,) = metrics["smartsender.retries"]
    assert retries.value == 1 and retries.attributes["smartsender.retry.reason"] == "503"
    assert [p.value for p in metrics["smartsender.quota.used"]] == [2]


async def test_a_transport_failure_is_an_attempt_with_the_exception_type(otel: Otel) -> None:
    em = emulator()
    transport = FailFirst(em.transport(), httpx.ConnectError("refused"))
    async with SmartSender(
        TOKEN, base_url=em.base_url, transport=transport, retry=FAST_RETRY, rate_limit=None
    ) as client:
        otel.instrument(client)
        await client.chats.list()
    (call,) = otel.calls()
    first, _second = otel.children(call)
    assert first.attributes["error.type"] == "httpx.ConnectError"  # type: ignore[index]
    assert "http.response.status_code" not in (first.attributes or {})
    (retries,) = otel.metrics()["smartsender.retries"]
    assert retries.attributes["smartsender.retry.reason"] == "httpx.ConnectError"
    # A connect error never reached the server: the quota counts one request.
    assert [p.value for p in otel.metrics()["smartsender.quota.used"]] == [1]


async def test_a_failed_call_records_the_sdk_error_type(otel: Otel) -> None:
    em = emulator()
    failures = [httpx.ConnectError("refused")] * 3
    transport = FailFirst(em.transport(), *failures)
    async with SmartSender(
        TOKEN, base_url=em.base_url, transport=transport, retry=FAST_RETRY, rate_limit=None
    ) as client:
        otel.instrument(client)
        with pytest.raises(Exception, match="connection failed"):
            await client.chats.list()
    (call,) = otel.calls()
    assert call.attributes["error.type"] == "smartsender_async.errors.APIConnectionError"  # type: ignore[index]
    assert call.attributes["smartsender.retries"] == 2  # type: ignore[index]
    assert len(otel.children(call)) == 3
    (event,) = [e for e in call.events if e.name == "exception"]
    assert dict(event.attributes or {}) == {
        "exception.type": "smartsender_async.errors.APIConnectionError"
    }


# --------------------------------------------------------------------------- the lock


def _locked_emulator(vt: VirtualTime) -> Emulator:
    """Two requests per 60 s: the third breaches and locks the token for 60 s."""
    return Emulator(token=TOKEN, rate_limit=(2, 60.0), clock=vt.clock)


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_a_423_lock_seen_by_two_concurrent_calls(otel: Otel, backend: str) -> None:
    """A's 423 closes the gate; B, started after, waits at it without knocking.  Both
    spans show the lock wait; A shows its retry and both of its attempts."""
    vt = VirtualTime()
    em = _locked_emulator(vt)
    limiter = SplitLimiter(NO_PACING, clock=vt.clock, sleep=vt.sleep)
    calls: dict[str, Any] = {}

    async def main() -> None:
        async with em.client(rate_limit=limiter, retry=FAST_RETRY) as client:
            otel.instrument(client, clock=vt.clock)
            await client.chats.list()
            await client.chats.list()  # the window is full

            async def a() -> None:
                calls["a"] = await client.request("GET", "/chats", operation="a")

            async def b() -> None:
                await limiter.gate_closed.wait()
                calls["b"] = await client.request("GET", "/chats", operation="b")

            await vt.run(a, b)

    anyio.run(main, backend=backend)
    assert em.stats.by_status[423] == 1 and em.stats.by_status[200] == 4
    span_a, span_b = (next(s for s in otel.calls() if s.name == f"smartsender {n}") for n in "ab")
    assert span_a.attributes["smartsender.retries"] == 1  # type: ignore[index]
    assert [c.attributes["http.response.status_code"] for c in otel.children(span_a)] == [  # type: ignore[index]
        423,
        200,
    ]
    assert span_b.attributes["smartsender.retries"] == 0  # type: ignore[index]
    assert len(otel.children(span_b)) == 1
    for span in (span_a, span_b):
        assert span.attributes["smartsender.lock.wait_s"] == pytest.approx(60.0)  # type: ignore[index]
        assert span.attributes["smartsender.ratelimit.wait_s"] == pytest.approx(0.0)  # type: ignore[index]
        assert span.attributes["http.response.status_code"] == 200  # type: ignore[index]
    metrics = otel.metrics()
    assert only(metrics["smartsender.retries"], smartsender__retry__reason="423")[0].value == 1
    lock_waits = {
        p.attributes["smartsender.operation"]: p.sum for p in metrics["smartsender.lock.wait"]
    }
    assert lock_waits["a"] == pytest.approx(60.0) and lock_waits["b"] == pytest.approx(60.0)
    # The window is the limiter's period (1 s here): the two retries at t = 60 are in it,
    # the 423 is not (the server does not count a request it refused while locked).
    assert [p.value for p in metrics["smartsender.quota.used"]] == [2]


def test_a_limiter_without_acquire_split_still_tells_the_lock_from_its_423(otel: Otel) -> None:
    """No acquire_split (the limiters before it, a user's own): the wait that a 423 this
    process saw accounts for is the lock's."""
    vt = VirtualTime()
    em = _locked_emulator(vt)
    limiter = AcquireOnly(InMemoryRateLimiter(NO_PACING, clock=vt.clock, sleep=vt.sleep))

    async def main() -> None:
        async with em.client(rate_limit=limiter, retry=FAST_RETRY) as client:  # type: ignore[arg-type]
            otel.instrument(client, clock=vt.clock)

            async def calls() -> None:
                for _ in range(3):
                    await client.chats.list()

            await vt.run(calls)

    anyio.run(main)
    last = otel.calls()[-1]
    assert last.attributes["smartsender.retries"] == 1  # type: ignore[index]
    assert last.attributes["smartsender.lock.wait_s"] == pytest.approx(60.0)  # type: ignore[index]
    assert last.attributes["smartsender.ratelimit.wait_s"] == pytest.approx(0.0)  # type: ignore[index]


def test_a_lock_without_a_limiter_is_slept_out_and_counted_as_lock_wait(otel: Otel) -> None:
    """rate_limit=None: the retry step sleeps a 423's delay itself (virtual time here)."""
    import trio
    import trio.testing

    async def main() -> list[ReadableSpan]:
        em = Emulator(token=TOKEN, rate_limit=(1, 60.0), clock=trio.current_time)
        async with em.client(rate_limit=None, retry=FAST_RETRY) as client:
            otel.instrument(client, clock=trio.current_time)
            await client.chats.list()
            await client.request("GET", "/chats", operation="chats.list")  # 423, 60 s, 200
        return otel.calls()

    clock = trio.testing.MockClock(autojump_threshold=0)
    _, locked = anyio.run(main, backend="trio", backend_options={"clock": clock})
    assert locked.attributes["smartsender.retries"] == 1  # type: ignore[index]
    assert locked.attributes["smartsender.lock.wait_s"] == 60.0  # type: ignore[index]
    assert locked.attributes["smartsender.ratelimit.wait_s"] == 0.0  # type: ignore[index]
    assert [c.attributes["http.response.status_code"] for c in otel.children(locked)] == [  # type: ignore[index]
        423,
        200,
    ]


async def test_lock_active_gauge_follows_the_lock_on_the_instrumentation_clock(
    otel: Otel,
) -> None:
    now = [0.0]
    em = emulator(rate_limit=(1, 60.0), clock=lambda: now[0])
    async with em.client(rate_limit=None, retry=None) as client:
        otel.instrument(client, clock=lambda: now[0])
        await client.chats.list()
        with pytest.raises(RateLimitedError):
            await client.chats.list()  # breach: 423, locked for 60 s; retry=None: raised
        assert [p.value for p in otel.metrics()["smartsender.lock.active"]] == [1]
        now[0] = 59.5
        assert [p.value for p in otel.metrics()["smartsender.lock.active"]] == [1]
        assert [p.value for p in otel.metrics()["smartsender.quota.used"]] == [1]
        now[0] = 60.5
        assert [p.value for p in otel.metrics()["smartsender.lock.active"]] == [0]
        assert [p.value for p in otel.metrics()["smartsender.quota.used"]] == [0]


# --------------------------------------------------------------------------- streams


def _stream_under(backend: str, otel: Otel, *, switch_span: bool) -> tuple[Any, ...]:
    """Iterate every chat with concurrency 4 inside span "job" (optionally moving on to
    span "later" after the first chat); return the two spans and the stream."""
    em = emulator(chats=100, faults=Faults(latency=0.02))
    tracer = otel.tracer_provider.get_tracer("test")
    out: dict[str, Any] = {}

    async def main() -> None:
        async with em.client() as client:
            otel.instrument(client)
            stream = client.chats.stream(concurrency=4)
            with tracer.start_as_current_span("job") as job:
                first = await stream.__anext__()
                ids = [first.id]
            with tracer.start_as_current_span("later") as later:
                ctx = later if switch_span else job
                with trace.use_span(ctx, end_on_exit=False):
                    ids += [chat.id async for chat in stream]
            out.update(job=job, later=later, stream=stream, ids=ids)

    anyio.run(main, backend=backend)
    return out["job"], out["later"], out["stream"], out["ids"]


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
@pytest.mark.parametrize("switch_span", [False, True])
def test_stream_pages_are_parented_to_the_span_current_when_iteration_began(
    otel: Otel, backend: str, switch_span: bool
) -> None:
    job, _later, stream, ids = _stream_under(backend, otel, switch_span=switch_span)
    assert len(ids) == len(set(ids)) == 100
    assert stream.max_in_flight > 1  # the fetches did run concurrently, in other tasks
    pages = [s for s in otel.calls() if s.attributes.get("url.template") == "/chats"]  # type: ignore[union-attr]
    assert sorted(s.attributes["smartsender.page"] for s in pages) == [1, 2, 3, 4, 5]  # type: ignore[index]
    for page in pages:
        assert page.parent is not None and page.parent.span_id == job.context.span_id
        assert page.context.trace_id == job.context.trace_id  # type: ignore[union-attr]
        (attempt,) = otel.children(page)
        assert attempt.name == "GET /chats"
    assert pagination.context_carrier is not None


def test_fan_out_streams_carry_the_context_too(otel: Otel) -> None:
    em = emulator(chats=6, messages_per_chat=30, faults=Faults(latency=0.001))
    tracer = otel.tracer_provider.get_tracer("test")

    async def main() -> Any:
        async with em.client() as client:
            otel.instrument(client)
            with tracer.start_as_current_span("export") as export:
                pairs = [pair async for pair in client.chats.stream_all_messages(concurrency=4)]
            return export, pairs

    export, pairs = anyio.run(main, backend="trio")
    assert len(pairs) == sum(len(em.message_ids(c, activities=False)) for c in em.chat_ids())
    calls = otel.calls()
    assert len(calls) > 6
    for call in calls:
        assert call.parent is not None and call.parent.span_id == export.context.span_id


# --------------------------------------------------------------------------- no secrets


async def test_no_token_message_text_or_id_is_exported(otel: Otel) -> None:
    em = emulator(rate_limit=(3, 60.0))
    contact_id = em.contact_id_of(em.chat_ids()[0])
    transport = FailFirst(em.transport(), httpx.ReadTimeout("slow"), 502)
    no_lock_wait = RetryPolicy(max_attempts=3, backoff_base=0.001, max_wait=1.0)
    async with SmartSender(
        TOKEN, base_url=em.base_url, transport=transport, retry=no_lock_wait, rate_limit=None
    ) as client:
        otel.instrument(client)
        await client.chats.list(term=SECRET_TEXT)  # a timeout, a 502, then the answer
        message = await client.contacts.send(contact_id, SECRET_TEXT)
        assert SECRET_TEXT in str(message)
        with pytest.raises(NotFoundError):
            await client.contacts.get(987654321)
        with pytest.raises(RateLimitedError):
            await client.contacts.send(contact_id, SECRET_TEXT)
    async with SmartSender(
        "sk-live-WRONG-0b4e22aa91", base_url=em.base_url, transport=em.transport()
    ) as wrong:
        otel.instrument(wrong)
        with pytest.raises(Exception, match=r"401|nauthenticated|token"):
            await wrong.chats.list()
    assert len(otel.calls()) == 5
    scan_for_secrets(
        otel, TOKEN, "sk-live-WRONG", SECRET_TEXT, "Bearer", str(contact_id), "987654321"
    )


# --------------------------------------------------------------------------- lifecycle


async def test_uninstrument_stops_everything_and_costs_nothing_after(otel: Otel) -> None:
    em = emulator()
    async with em.client() as client:
        assert client._instrumentation is None
        handle = otel.instrument(client)
        assert handle.active and pagination.context_carrier is not None
        await client.chats.list()
        handle.uninstrument()
        handle.uninstrument()  # idempotent
        assert not handle.active and client._instrumentation is None
        assert pagination.context_carrier is None
        await client.chats.list()
        async for _ in client.chats.stream(limit=3):
            pass
    assert len(otel.calls()) == 1
    metrics = otel.metrics()
    assert metrics["smartsender.client.request.duration"][0].count == 1
    assert metrics.get("smartsender.quota.used", []) == []  # no client uses the token now


def test_instrument_rejects_what_is_not_a_client(otel: Otel) -> None:
    with pytest.raises(TypeError, match="client must be a SmartSender"):
        instrument(object())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="clock"):
        otel.instrument(SmartSender(TOKEN), clock=3.0)


async def test_two_clients_on_one_provider_share_the_instruments(otel: Otel) -> None:
    em = emulator(tokens=["sk-live-OTHER-123456"])
    async with em.client() as one, em.client(token="sk-live-OTHER-123456") as two:
        with otel.instrument(one), otel.instrument(two):
            await one.chats.list()
            await two.chats.list()
            await two.chats.list()
            metrics = otel.metrics()
    (duration,) = metrics["smartsender.client.request.duration"]
    assert duration.count == 3
    assert sorted(p.value for p in metrics["smartsender.quota.used"]) == [1, 2]
    assert pagination.context_carrier is None


async def test_the_users_observer_still_sees_every_event(otel: Otel) -> None:
    em = emulator()
    events: list[RequestEvent] = []

    def observer(event: RequestEvent) -> None:
        events.append(event)
        raise RuntimeError("the user's metrics backend is down")

    transport = FailFirst(em.transport(), 500)
    async with SmartSender(
        TOKEN,
        base_url=em.base_url,
        transport=transport,
        retry=FAST_RETRY,
        rate_limit=None,
        observer=observer,
    ) as client:
        otel.instrument(client)
        await client.chats.list()
    assert [e.kind for e in events] == ["attempt", "response", "retry", "attempt", "response"]
    assert otel.calls()[0].attributes["smartsender.retries"] == 1  # type: ignore[index]


async def test_a_cancelled_call_ends_its_spans_without_an_error(otel: Otel) -> None:
    em = emulator(faults=Faults(latency=5.0))
    tracer = otel.tracer_provider.get_tracer("test")
    async with em.client() as client:
        otel.instrument(client)
        with tracer.start_as_current_span("outer") as outer:
            with anyio.move_on_after(0.05):
                await client.chats.list()
            assert trace.get_current_span() is outer  # the call's context was detached
    (call,) = otel.calls()
    assert call.attributes["smartsender.cancelled"] is True  # type: ignore[index]
    assert call.status.status_code is StatusCode.UNSET
    assert "error.type" not in (call.attributes or {})
    (attempt,) = otel.children(call)
    assert attempt.end_time is not None
    assert "smartsender.client.request.duration" not in otel.metrics()


async def test_metrics_collected_from_another_thread_while_calls_run(otel: Otel) -> None:
    """The exporter's thread reads the gauges while the event loop updates them."""
    em = emulator()
    stop = threading.Event()
    seen: list[int] = []

    def collect() -> None:
        while not stop.is_set():
            seen.extend(p.value for p in otel.metrics().get("smartsender.quota.used", []))

    async with em.client() as client:
        otel.instrument(client)
        thread = threading.Thread(target=collect)
        thread.start()
        try:
            for _ in range(200):
                await client.chats.list()
        finally:
            stop.set()
            thread.join()
    assert [p.value for p in otel.metrics()["smartsender.quota.used"]] == [200]
    assert seen == sorted(seen)  # monotonic within the window: never a torn read


def test_a_second_event_loop_gets_its_own_context(otel: Otel) -> None:
    """Two runs, one client each, in sequence: no span leaks from one into the other."""
    tracer = otel.tracer_provider.get_tracer("test")

    def run(backend: str) -> Any:
        em = emulator()

        async def main() -> Any:
            async with em.client() as client, _instrumented(otel, client):
                with tracer.start_as_current_span(backend) as root:
                    await client.chats.list()
                return root

        return anyio.run(main, backend=backend)

    roots = [run("asyncio"), run("trio")]
    calls = otel.calls()
    assert [c.parent.span_id for c in calls] == [r.context.span_id for r in roots]  # type: ignore[union-attr]


class _instrumented:
    def __init__(self, otel: Otel, client: SmartSender) -> None:
        self.handle = otel.instrument(client)

    async def __aenter__(self) -> Any:
        return self.handle

    async def __aexit__(self, *exc: object) -> None:
        self.handle.uninstrument()


async def test_a_forgotten_handle_is_released_with_its_client(otel: Otel) -> None:
    """instrument(client) with the handle dropped: collecting the client undoes it."""
    import gc

    em = emulator()
    client = em.client()
    instrument(client, tracer_provider=otel.tracer_provider, meter_provider=otel.meter_provider)
    await client.chats.list()
    assert [p.value for p in otel.metrics()["smartsender.quota.used"]] == [1]
    await client.aclose()
    del client
    gc.collect()
    assert pagination.context_carrier is None
    assert otel.metrics().get("smartsender.quota.used", []) == []


async def test_instrumenting_twice_replaces_and_never_traces_twice(otel: Otel) -> None:
    em = emulator()
    other = InMemorySpanExporter()
    second_provider = TracerProvider()
    second_provider.add_span_processor(SimpleSpanProcessor(other))
    async with em.client() as client:
        first = otel.instrument(client)
        second = instrument(
            client, tracer_provider=second_provider, meter_provider=otel.meter_provider
        )
        assert not first.active and second.active
        await client.chats.list()
        first.uninstrument()  # the replaced handle cannot undo the new one
        assert second.active
        await client.chats.list()
        second.uninstrument()
        await client.chats.list()
    assert otel.calls() == []
    assert len([s for s in other.get_finished_spans() if s.name.startswith("smartsender")]) == 2
    assert pagination.context_carrier is None
    assert otel.metrics().get("smartsender.quota.used", []) == []


class Counting(SimpleSpanProcessor):
    """Counts spans started and ended: every span started must end."""

    def __init__(self) -> None:
        super().__init__(InMemorySpanExporter())
        self.started = 0
        self.ended = 0

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        self.started += 1

    def on_end(self, span: ReadableSpan) -> None:
        self.ended += 1
        super().on_end(span)


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_a_stream_cancelling_its_window_ends_every_span(otel: Otel, backend: str) -> None:
    """``since=`` stops on page 2 while pages 3-5 are in flight: they are cancelled, and
    their spans end, marked cancelled, not failed; the consumer's context is intact."""
    counting = Counting()
    otel.tracer_provider.add_span_processor(counting)
    em = emulator(chats=2, messages_per_chat=100)
    chat_id = em.chat_ids()[0]
    tracer = otel.tracer_provider.get_tracer("test")

    class SlowLaterPages(httpx.AsyncBaseTransport):
        """Page 2 takes a moment (the rest of its window starts meanwhile); pages 3 and
        later take 30 s, so they are still in flight when page 2 ends the stream."""

        inner = em.transport()

        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            page = int(request.url.params.get("page", "1"))
            if page >= 2:
                await anyio.sleep(30 if page >= 3 else 0.05)
            return await self.inner.handle_async_request(request)

    async def main() -> int:
        async with SmartSender(
            TOKEN, base_url=em.base_url, transport=SlowLaterPages(), rate_limit=None
        ) as client:
            otel.instrument(client)
            newest = [m async for m in client.chats.stream_messages(chat_id, limit=30)]
            since = newest[-1].created_at
            otel.exporter.clear()
            with tracer.start_as_current_span("consumer") as consumer:
                stream = client.chats.stream_messages(chat_id, since=since, concurrency=4)
                got = [m async for m in stream]
                assert trace.get_current_span() is consumer
            return len(got)

    assert anyio.run(main, backend=backend) >= 29
    assert counting.started == counting.ended > 0
    calls = otel.calls()
    cancelled = [c for c in calls if (c.attributes or {}).get("smartsender.cancelled")]
    assert cancelled, "no request of the window was cancelled: the test proves nothing"
    for call in cancelled:
        assert call.status.status_code is StatusCode.UNSET
        assert "error.type" not in (call.attributes or {})


def test_limiter_slot_waits_show_on_the_call_and_its_attempt(otel: Otel) -> None:
    """Two requests per period with no burst: the second waits one emission interval."""
    vt = VirtualTime()
    rate = RateLimit(requests=2, period=10.0, burst=1, margin=0.0)  # one request per 5 s
    limiter = SplitLimiter(rate, clock=vt.clock, sleep=vt.sleep)
    em = emulator()

    async def main() -> None:
        async with em.client(rate_limit=limiter) as client:
            otel.instrument(client, clock=vt.clock)

            async def two_calls() -> None:
                await client.chats.list()
                await client.chats.list()

            await vt.run(two_calls)

    anyio.run(main)
    first, second = otel.calls()
    assert first.attributes["smartsender.ratelimit.wait_s"] == 0.0  # type: ignore[index]
    assert second.attributes["smartsender.ratelimit.wait_s"] == pytest.approx(5.0)  # type: ignore[index]
    assert second.attributes["smartsender.lock.wait_s"] == 0.0  # type: ignore[index]
    (attempt,) = otel.children(second)
    assert attempt.attributes["smartsender.ratelimit.wait_s"] == pytest.approx(5.0)  # type: ignore[index]
    (waits,) = otel.metrics()["smartsender.ratelimit.wait"]
    assert waits.count == 2 and waits.sum == pytest.approx(5.0)


def test_over_real_sockets_the_server_is_the_loopback_address(otel: Otel) -> None:
    pytest.importorskip("uvicorn")
    em = emulator()
    with em.serve() as url:
        port = httpx.URL(url).port

        async def main() -> None:
            async with SmartSender(TOKEN, base_url=url, rate_limit=None) as client:
                otel.instrument(client)
                await client.chats.list()

        anyio.run(main)
    (call,) = otel.calls()
    assert call.attributes["server.address"] == "127.0.0.1"  # type: ignore[index]
    assert call.attributes["server.port"] == port  # type: ignore[index]
    (attempt,) = otel.children(call)
    assert attempt.attributes["network.protocol.version"] == "1.1"  # type: ignore[index]
    scan_for_secrets(otel, TOKEN, "Bearer")


async def test_streams_carry_nothing_when_nothing_is_instrumented() -> None:
    assert pagination.context_carrier is None
    em = emulator()
    async with em.client() as client:
        stream = client.chats.stream(limit=30)
        assert [c.id async for c in stream][:1]
        assert stream._carry is None  # captured nothing, so no page fetch enters anything


async def test_an_error_envelope_under_200_is_an_error_of_its_code(otel: Otel) -> None:
    def server(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"error": {"code": 404, "message": "Not found"}})

    async with SmartSender(
        TOKEN, base_url="http://api.test/v1", transport=httpx.MockTransport(server)
    ) as client:
        otel.instrument(client)
        with pytest.raises(NotFoundError):
            await client.request("GET", "/chats/5", operation="chats.get")
    (call,) = otel.calls()
    assert call.attributes["http.response.status_code"] == 200  # type: ignore[index]
    assert call.attributes["error.type"] == "404"  # type: ignore[index]
    assert call.status.status_code is StatusCode.ERROR


def test_clients_in_two_threads_share_one_provider(otel: Otel) -> None:
    """One event loop per thread, one client each, on one token and one provider."""
    em = emulator()
    errors: list[BaseException] = []

    def worker() -> None:
        async def main() -> None:
            async with em.client() as client:
                otel.instrument(client)
                for _ in range(50):
                    await client.chats.list()

        try:
            anyio.run(main)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    metrics = otel.metrics()
    (duration,) = metrics["smartsender.client.request.duration"]
    assert duration.count == 100
    assert [p.value for p in metrics["smartsender.quota.used"]] == [100]  # one token
    assert len(otel.calls()) == 100
    assert len({c.context.trace_id for c in otel.calls()}) == 100  # type: ignore[union-attr]


async def test_a_clock_that_jumps_back_breaks_nothing(otel: Otel) -> None:
    """A clock stepped backwards (a bad injectable clock): no negative wait, no error, and
    the gauges still report."""
    readings = iter([100.0, 5.0, 50.0, 1.0, 0.0, 90.0] * 20)
    em = emulator()
    transport = FailFirst(em.transport(), 503)
    async with SmartSender(
        TOKEN, base_url=em.base_url, transport=transport, retry=FAST_RETRY, rate_limit=None
    ) as client:
        otel.instrument(client, clock=lambda: next(readings))
        await client.chats.list()
    (call,) = otel.calls()
    assert call.attributes["smartsender.retries"] == 1  # type: ignore[index]
    (retry,) = [e for e in call.events if e.name == "smartsender.retry"]
    assert retry.attributes["smartsender.retry.delay_s"] >= 0  # type: ignore[index]
    metrics = otel.metrics()
    assert [p.value for p in metrics["smartsender.lock.active"]] == [0]
    assert all(p.value >= 0 for p in metrics["smartsender.quota.used"])
