"""OpenTelemetry overhead: the request path instrumented ÷ uninstrumented.

``client.chats.list()`` on an in-process transport that returns the same fixed page, with
the in-memory limiter at a rate that never waits (as in ``request_overhead``).  Four
clients, timed in interleaved rounds, in CPU time of this process (the figure is what
the instrumentation costs the machine; wall time on a shared machine mostly measures the
neighbours):

* never instrumented (the baseline);
* instrumented, then uninstrumented: "off" must cost nothing (one ``is None`` check);
* instrumented with the API's no-op tracer and meter providers;
* instrumented with the SDK's providers: every span goes through a ``SimpleSpanProcessor``
  to an exporter that drops it, every metric into an ``InMemoryMetricReader``'s
  aggregation (the work an application with the SDK installed pays, minus its network).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

from benchmarks._harness import Row
from benchmarks._payloads import chats_page, page_bytes
from benchmarks.request_overhead import UNBOUNDED, FixedTransport, compare_async
from smartsender_async import SmartSender

TOKEN = "bench-token"
#: "off" (instrumented, then uninstrumented) ÷ never instrumented.
GOAL_OFF = 1.03
#: Instrumented with the no-op providers ÷ uninstrumented.
GOAL_NOOP = 1.30


async def _measure(quick: bool) -> dict[str, float]:
    from opentelemetry import metrics, trace
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
    from opentelemetry.sdk.trace.export import (
        SimpleSpanProcessor,
        SpanExporter,
        SpanExportResult,
    )

    from smartsender_async.contrib.opentelemetry import instrument

    class Drop(SpanExporter):
        def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(Drop()))
    meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])

    transport = FixedTransport(page_bytes(chats_page()))

    def client() -> SmartSender:
        return SmartSender(
            TOKEN, base_url="https://api.invalid/v1", transport=transport, rate_limit=UNBOUNDED
        )

    plain, off, noop, sdk = client(), client(), client(), client()
    instrument(off).uninstrument()
    noop_handle = instrument(
        noop,
        tracer_provider=trace.NoOpTracerProvider(),
        meter_provider=metrics.NoOpMeterProvider(),
    )
    sdk_handle = instrument(sdk, tracer_provider=tracer_provider, meter_provider=meter_provider)
    try:
        async with plain, off, noop, sdk:
            best = await compare_async(
                {
                    "plain": lambda: plain.chats.list(),
                    "off": lambda: off.chats.list(),
                    "noop": lambda: noop.chats.list(),
                    "sdk": lambda: sdk.chats.list(),
                },
                rounds=3 if quick else 15,
                number=100 if quick else 400,
                clock=time.process_time,  # CPU: less at the mercy of a shared machine
            )
    finally:
        noop_handle.uninstrument()
        sdk_handle.uninstrument()
        tracer_provider.shutdown()
        meter_provider.shutdown()
    return {name: seconds * 1e6 for name, seconds in best.items()}


def run(quick: bool = False) -> list[Row]:
    try:
        import opentelemetry.sdk  # noqa: F401
    except ImportError:
        return [Row("OpenTelemetry overhead", None, None, "", unavailable="no opentelemetry-sdk")]
    us = asyncio.run(_measure(quick))
    figure = "OpenTelemetry: chats.list() instrumented vs uninstrumented"
    note = "in-process transport, fixed 20-chat page, in-memory limiter"
    return [
        Row(figure, us["off"], us["plain"], "µs CPU", "<=", GOAL_OFF,
            note=note + "; instrumented then uninstrumented (off)"),
        Row(figure, us["noop"], us["plain"], "µs CPU", "<=", GOAL_NOOP,
            note=note + "; API no-op providers"),
        Row(figure, us["sdk"], us["plain"], "µs CPU", None, None,
            note=note + "; SDK providers (spans dropped, metrics aggregated)"),
    ]  # fmt: skip
