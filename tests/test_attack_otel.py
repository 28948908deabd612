"""Hostile review of issue 19 (OpenTelemetry), as a user reading the issue would try it:
``instrument(client, tracer_provider=..., meter_provider=...)`` with the SDK's in-memory
exporter and metric reader, against the emulator in-process and over sockets."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

pytest.importorskip("opentelemetry.sdk")

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from smartsender_async import (
    NotFoundError,
    RateLimitedError,
    RetryPolicy,
    ServerError,
    SmartSender,
)
from smartsender_async.contrib.opentelemetry import instrument
from smartsender_async.testing import Emulator

TOKEN = "otel-attack-TOKEN-77aa11"
SECRET_TEXT = "Secret message text 4f1d"
FAST = RetryPolicy(max_attempts=4, backoff_base=0.0, backoff_max=0.0)


class Otel:
    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])
        self.handles: list[Any] = []

    def instrument(self, client: SmartSender) -> Any:
        handle = instrument(
            client, tracer_provider=self.tracer_provider, meter_provider=self.meter_provider
        )
        self.handles.append(handle)
        return handle

    def spans(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())

    def calls(self) -> list[ReadableSpan]:
        return [s for s in self.spans() if s.name.startswith("smartsender ")]

    def children(self, parent: ReadableSpan) -> list[ReadableSpan]:
        return [
            s
            for s in self.spans()
            if s.parent is not None and s.parent.span_id == parent.context.span_id
        ]

    def metrics(self) -> dict[str, list[Any]]:
        data = self.reader.get_metrics_data()
        out: dict[str, list[Any]] = {}
        if data is None:
            return out
        for rm in data.resource_metrics:
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    out.setdefault(metric.name, []).extend(metric.data.data_points)
        return out


@pytest.fixture
def otel() -> Iterator[Otel]:
    o = Otel()
    yield o
    for handle in o.handles:
        handle.uninstrument()
    o.tracer_provider.shutdown()
    o.meter_provider.shutdown()


class FailFirst(httpx.AsyncBaseTransport):
    """Answers the first ``n`` requests with ``status``, then delegates."""

    def __init__(self, inner: httpx.AsyncBaseTransport, status: int = 503, n: int = 1) -> None:
        self.inner = inner
        self.status = status
        self.left = n
        self.seen = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.seen += 1
        if self.left:
            self.left -= 1
            return httpx.Response(self.status, text="<html>down</html>")
        return await self.inner.handle_async_request(request)


# --------------------------------------------------------------------------- plain call


async def test_plain_resource_call_span_name_and_attributes(otel: Otel) -> None:
    emulator = Emulator(seed=1, chats=3, rate_limit=None)
    chat_id = emulator.chat_ids()[0]
    with emulator.serve() as url:
        async with emulator.client(base_url=url) as client:
            otel.instrument(client)
            await client.chats.get(chat_id)
    (call,) = otel.calls()
    assert call.name == "smartsender chats.get"
    assert call.kind is SpanKind.CLIENT
    attrs = dict(call.attributes or {})
    assert attrs["http.request.method"] == "GET"
    assert attrs["url.template"] == "/chats/{chatId}"
    assert attrs["server.address"] == "127.0.0.1"
    assert attrs["http.response.status_code"] == 200
    assert "error.type" not in attrs
    assert attrs["smartsender.retries"] == 0
    assert "smartsender.ratelimit.wait_s" in attrs and "smartsender.lock.wait_s" in attrs
    (attempt,) = otel.children(call)
    assert attempt.attributes["http.response.status_code"] == 200


async def test_request_with_operation_and_template(otel: Otel) -> None:
    emulator = Emulator(seed=1, chats=3, rate_limit=None)
    chat_id = emulator.chat_ids()[0]
    async with emulator.client() as client:
        otel.instrument(client)
        await client.request(
            "GET", f"/chats/{chat_id}", operation="chats.get", template="/chats/{chatId}"
        )
        await client.request("GET", f"/chats/{chat_id}/messages")  # no names given
    first, second = otel.calls()
    assert first.name == "smartsender chats.get"
    assert first.attributes["url.template"] == "/chats/{chatId}"
    assert str(chat_id) not in second.name
    assert str(chat_id) not in second.attributes["url.template"]


async def test_404_marks_error_type(otel: Otel) -> None:
    emulator = Emulator(seed=1, chats=3, rate_limit=None)
    async with emulator.client() as client:
        otel.instrument(client)
        with pytest.raises(NotFoundError):
            await client.chats.get(999_999)
    (call,) = otel.calls()
    assert call.attributes["http.response.status_code"] == 404
    assert call.attributes["error.type"] == "404"
    assert call.status.status_code is StatusCode.ERROR


async def test_uninstrument_stops_and_reinstrument_never_doubles(otel: Otel) -> None:
    emulator = Emulator(seed=1, chats=3, rate_limit=None)
    async with emulator.client() as client:
        handle = otel.instrument(client)
        otel.instrument(client)  # again: replaces, not doubles
        await client.chats.list()
        assert len(otel.calls()) == 1
        handle.uninstrument()
        handle.uninstrument()  # idempotent
        await client.chats.list()
        assert len(otel.calls()) == 2  # the second instrumentation is still active
        second = otel.instrument(client)
        second.uninstrument()
        await client.chats.list()
        assert len(otel.calls()) == 2


# --------------------------------------------------------------------------- retried call


async def test_5xx_then_200_has_two_attempt_children(otel: Otel) -> None:
    emulator = Emulator(seed=1, chats=3, rate_limit=None)
    transport = FailFirst(emulator.transport(), 503)
    async with SmartSender(
        token=emulator.token,
        base_url=emulator.base_url,
        transport=transport,
        retry=FAST,
        rate_limit=None,
    ) as client:
        otel.instrument(client)
        page = await client.chats.list()
    assert page.response_info.retries_taken == 1
    (call,) = otel.calls()
    assert call.attributes["smartsender.retries"] == 1
    assert call.attributes["http.response.status_code"] == 200
    assert "error.type" not in call.attributes
    assert call.status.status_code is not StatusCode.ERROR
    attempts = sorted(otel.children(call), key=lambda s: s.start_time or 0)
    assert [a.attributes["http.response.status_code"] for a in attempts] == [503, 200]
    assert attempts[0].attributes["error.type"] == "503"
    assert attempts[1].attributes.get("http.request.resend_count") == 1
    assert all(a.kind is SpanKind.CLIENT for a in attempts)
    assert all(a.context.trace_id == call.context.trace_id for a in attempts)
    retries = otel.metrics()["smartsender.retries"]
    assert sum(p.value for p in retries) == 1
    assert {p.attributes.get("smartsender.retry.reason") for p in retries} == {"503"}


# --------------------------------------------------------------------------- 423 lock


@pytest.mark.parametrize("limiter", ["none", "gate"])
async def test_423_seen_by_two_concurrent_calls(otel: Otel, limiter: str) -> None:
    # Quota 1 per 1 s, lock of 1 s: the client's own limiter allows more, so the server locks.
    from smartsender_async import RateLimit

    emulator = Emulator(seed=1, chats=3, rate_limit=(1, 1.0))
    rate = None if limiter == "none" else RateLimit(100, 1.0, burst=100)
    async with emulator.client(rate_limit=rate, retry=FAST) as client:
        otel.instrument(client)
        await client.chats.list()  # uses the quota
        await asyncio.gather(client.chats.list(), client.chats.list())
    assert emulator.stats.locked >= 1
    calls = sorted(otel.calls(), key=lambda s: s.start_time or 0)
    assert len(calls) == 3
    concurrent = calls[1:]
    saw_423 = 0
    for call in concurrent:
        # Each waited behind the lock (at the gate, or sleeping out its own 423), and that
        # wait is the lock's, not the rate limiter's.
        assert call.attributes["smartsender.lock.wait_s"] > 0.5, dict(call.attributes)
        assert (
            call.attributes["smartsender.lock.wait_s"]
            > call.attributes["smartsender.ratelimit.wait_s"]
        ), dict(call.attributes)
        assert call.attributes["http.response.status_code"] == 200
        attempts = sorted(otel.children(call), key=lambda s: s.start_time or 0)
        statuses = [a.attributes["http.response.status_code"] for a in attempts]
        assert statuses[-1] == 200, statuses
        assert call.attributes["smartsender.retries"] == len(attempts) - 1
        saw_423 += 423 in statuses
    assert saw_423 >= 1
    metrics = otel.metrics()
    for name in (
        "smartsender.client.request.duration",
        "smartsender.ratelimit.wait",
        "smartsender.retries",
        "smartsender.lock.active",
        "smartsender.quota.used",
    ):
        assert name in metrics, (name, sorted(metrics))
    reasons = {p.attributes.get("smartsender.retry.reason") for p in metrics["smartsender.retries"]}
    assert "423" in reasons
    assert sum(p.sum for p in metrics["smartsender.lock.wait"]) > 1.0


async def test_423_beyond_max_wait_raises_and_lock_gauge_on(otel: Otel) -> None:
    emulator = Emulator(seed=1, chats=3, rate_limit=(1, 60.0))
    async with emulator.client(rate_limit=None, retry=RetryPolicy(max_wait=1.0)) as client:
        otel.instrument(client)
        await client.chats.list()
        results = await asyncio.gather(
            client.chats.list(), client.chats.list(), return_exceptions=True
        )
        assert all(isinstance(r, RateLimitedError) for r in results), results
        metrics = otel.metrics()
    active = metrics["smartsender.lock.active"]
    assert [p.value for p in active] == [1]
    (fingerprint,) = {tuple(p.attributes.items()) for p in active}
    assert TOKEN not in repr(fingerprint) and emulator.token not in repr(fingerprint)
    failed = [c for c in otel.calls() if c.attributes.get("error.type") == "423"]
    assert len(failed) == 2


# --------------------------------------------------------------------------- streams


def _check_stream_parenting(otel: Otel, parent_name: str) -> None:
    (parent,) = [s for s in otel.spans() if s.name == parent_name]
    calls = otel.calls()
    assert len(calls) >= 5
    for call in calls:
        assert call.parent is not None and call.parent.span_id == parent.context.span_id
        assert call.context.trace_id == parent.context.trace_id
        assert len(otel.children(call)) >= 1


async def test_stream_concurrency_4_parented_asyncio(otel: Otel) -> None:
    emulator = Emulator(seed=1, chats=150, rate_limit=None)
    async with emulator.client() as client:
        otel.instrument(client)
        tracer = otel.tracer_provider.get_tracer("user")
        with tracer.start_as_current_span("export-job"):
            seen = [chat.id async for chat in client.chats.stream(concurrency=4)]
    assert len(set(seen)) == 150
    _check_stream_parenting(otel, "export-job")


def test_stream_concurrency_4_parented_trio(otel: Otel) -> None:
    trio = pytest.importorskip("trio")
    emulator = Emulator(seed=1, chats=150, rate_limit=None)

    async def main() -> list[int]:
        async with emulator.client() as client:
            otel.instrument(client)
            tracer = otel.tracer_provider.get_tracer("user")
            with tracer.start_as_current_span("trio-job"):
                return [chat.id async for chat in client.chats.stream(concurrency=4)]

    seen = trio.run(main)
    assert len(set(seen)) == 150
    _check_stream_parenting(otel, "trio-job")


def test_trio_over_sockets_plain_call(otel: Otel) -> None:
    trio = pytest.importorskip("trio")
    emulator = Emulator(seed=1, chats=3, rate_limit=None)

    async def main() -> None:
        async with emulator.client(base_url=url) as client:
            otel.instrument(client)
            await client.chats.list()

    with emulator.serve() as url:
        trio.run(main)
    (call,) = otel.calls()
    assert call.attributes["server.address"] == "127.0.0.1"


async def test_stream_started_outside_any_span_is_not_parented_elsewhere(otel: Otel) -> None:
    emulator = Emulator(seed=1, chats=60, rate_limit=None)
    async with emulator.client() as client:
        otel.instrument(client)
        stream = client.chats.stream(concurrency=4)
        tracer = otel.tracer_provider.get_tracer("user")
        with tracer.start_as_current_span("unrelated"):
            pass
        [c async for c in stream]
    assert all(c.parent is None for c in otel.calls())


# --------------------------------------------------------------------------- never the token


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _strings(v)
    else:
        yield repr(value)


async def test_nothing_exported_carries_token_text_or_ids(otel: Otel) -> None:
    emulator = Emulator(seed=1, chats=3, token=TOKEN, rate_limit=None)
    chat_id = emulator.chat_ids()[0]
    contact_id = emulator.contact_id_of(chat_id)
    transport = FailFirst(emulator.transport(), 500)
    async with SmartSender(
        token=TOKEN, base_url=emulator.base_url, transport=transport, retry=FAST, rate_limit=None
    ) as client:
        otel.instrument(client)
        with pytest.raises(ServerError):  # a 500 on a send: not retried
            await client.contacts.send(contact_id, SECRET_TEXT)
    async with emulator.client(retry=FAST) as client:
        otel.instrument(client)
        with contextlib.suppress(Exception):
            await client.contacts.send(contact_id, SECRET_TEXT)
        await client.chats.assign(chat_id, emulator.operator_ids()[0], text=SECRET_TEXT)
        await client.contacts.search("Anna " + SECRET_TEXT)
        with contextlib.suppress(Exception):
            await client.chats.get(987_654_321)
        await client.request("GET", f"/chats/{chat_id}/messages?term={SECRET_TEXT}")
    forbidden = [TOKEN, SECRET_TEXT, "Secret", "987654321", str(contact_id), "Anna"]
    found: list[str] = []
    for span in otel.spans():
        texts = [span.name, str(span.status.description or "")]
        for value in (span.attributes or {}).values():
            texts.extend(_strings(value))
        for event in span.events:
            texts.append(event.name)
            for value in (event.attributes or {}).values():
                texts.extend(_strings(value))
        for link in span.links:
            texts.extend(_strings(list((link.attributes or {}).values())))
        texts.extend(_strings(list(span.resource.attributes.values())))
        found.extend(t for t in texts if any(f in t for f in forbidden))
    for name, points in otel.metrics().items():
        for point in points:
            for value in point.attributes.values():
                if any(f in s for s in _strings(value) for f in forbidden):
                    found.append(f"{name}: {value}")
    assert not found, found


# --------------------------------------------------------------------------- guessed names


def test_guessable_names() -> None:
    import smartsender_async.contrib.opentelemetry as mod

    handle_type = type(mod.instrument).__name__
    assert handle_type == "function"
    assert hasattr(mod, "instrument")
    # What an OpenTelemetry user would also try (see the report): not offered.
    missing = [n for n in ("SmartSenderInstrumentor", "uninstrument") if not hasattr(mod, n)]
    assert missing == ["SmartSenderInstrumentor", "uninstrument"]


# --------------------------------------------------------------------------- limiter, globals


async def test_limiter_wait_is_on_the_call_and_its_attempt(otel: Otel) -> None:
    from smartsender_async import RateLimit

    emulator = Emulator(seed=1, chats=3, rate_limit=None)
    async with emulator.client(rate_limit=RateLimit(2, 0.4, burst=1)) as client:
        otel.instrument(client)
        await client.chats.list()
        await client.chats.list()  # held by the client's limiter for its slot
    _first, second = sorted(otel.calls(), key=lambda s: s.start_time or 0)
    assert second.attributes["smartsender.ratelimit.wait_s"] > 0
    assert second.attributes["smartsender.lock.wait_s"] == 0
    (attempt,) = otel.children(second)
    assert attempt.attributes["smartsender.ratelimit.wait_s"] > 0
    waits = otel.metrics()["smartsender.ratelimit.wait"]
    assert sum(p.count for p in waits) == 2
    durations = otel.metrics()["smartsender.client.request.duration"]
    assert sum(p.count for p in durations) == 2
    assert {p.attributes.get("http.response.status_code") for p in durations} == {200}


async def test_instrument_with_global_providers_and_as_context_manager() -> None:
    emulator = Emulator(seed=1, chats=3, rate_limit=None)
    async with emulator.client() as client:
        with instrument(client) as handle:  # the global (no-op unless set) providers
            await client.chats.list()
            assert handle.active
        assert not handle.active
        await client.chats.list()
    with pytest.raises(TypeError):
        instrument(object())  # type: ignore[arg-type]


async def test_fan_out_stream_parented_and_metrics_labels(otel: Otel) -> None:
    emulator = Emulator(seed=1, chats=6, messages_per_chat=45, rate_limit=None)
    async with emulator.client() as client:
        otel.instrument(client)
        tracer = otel.tracer_provider.get_tracer("user")
        with tracer.start_as_current_span("fan-out"):
            pairs = [p async for p in client.chats.stream_all_messages(concurrency=4)]
        metrics = otel.metrics()
    expected = sum(len(emulator.message_ids(c, activities=False)) for c in emulator.chat_ids())
    assert len(pairs) == expected
    (parent,) = [s for s in otel.spans() if s.name == "fan-out"]
    calls = otel.calls()
    assert {c.name for c in calls} == {"smartsender chats.list", "smartsender chats.messages"}
    assert all(c.parent is not None and c.parent.span_id == parent.context.span_id for c in calls)
    assert {c.attributes["url.template"] for c in calls} == {"/chats", "/chats/{chatId}/messages"}
    durations = metrics["smartsender.client.request.duration"]
    assert {p.attributes["smartsender.operation"] for p in durations} == {
        "chats.list",
        "chats.messages",
    }
    assert sum(p.count for p in durations) == len(calls)
    (used,) = metrics["smartsender.quota.used"]
    assert used.value == emulator.stats.requests == len(calls)
    (active,) = metrics["smartsender.lock.active"]
    assert active.value == 0


class RefuseFirst(httpx.AsyncBaseTransport):
    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.left = 1

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.left:
            self.left -= 1
            raise httpx.ConnectError("refused", request=request)
        return await self.inner.handle_async_request(request)


async def test_transport_error_attempt_then_success(otel: Otel) -> None:
    emulator = Emulator(seed=1, chats=3, token=TOKEN, rate_limit=None)
    async with SmartSender(
        token=TOKEN,
        base_url=emulator.base_url,
        transport=RefuseFirst(emulator.transport()),
        retry=FAST,
        rate_limit=None,
    ) as client:
        otel.instrument(client)
        await client.contacts.send(emulator.contact_id_of(emulator.chat_ids()[0]), SECRET_TEXT)
    (call,) = otel.calls()
    assert call.name == "smartsender contacts.send"
    assert call.attributes["url.template"] == "/contacts/{contactId}/send"
    assert call.attributes["smartsender.retries"] == 1
    first, second = sorted(otel.children(call), key=lambda s: s.start_time or 0)
    assert first.attributes["error.type"].endswith("ConnectError")
    assert "http.response.status_code" not in first.attributes
    assert second.attributes["http.response.status_code"] == 200
    (reason,) = {
        p.attributes["smartsender.retry.reason"] for p in otel.metrics()["smartsender.retries"]
    }
    assert reason.endswith("ConnectError")
    for span in otel.spans():
        for event in span.events:
            assert SECRET_TEXT not in repr(event.attributes)
