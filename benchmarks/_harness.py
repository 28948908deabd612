"""What every figure shares: the result row, the Markdown/JSON output and the timers.

Timing method.  The machine is shared and noisy, so a figure never compares numbers taken
at different moments: ``ours`` and ``baseline`` are timed in interleaved rounds (ours,
baseline, ours, baseline, ...), each round long enough to swamp timer resolution, and each
side reports its best round (the least disturbed one).  The ratio is taken between those.
"""

from __future__ import annotations

import gc
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["Row", "compare", "render_markdown", "rows_to_json"]


@dataclass
class Row:
    """One line of the results table."""

    figure: str
    ours: float | None
    baseline: float | None
    unit: str
    #: ``"<="`` or ``">="`` against ``goal``; ``None``: informational, no goal.
    op: str | None = None
    goal: float | None = None
    #: What the ratio compares, when it is not ours ÷ baseline (e.g. a rate ratio).
    ratio: float | None = None
    note: str = ""
    #: Set when the figure could not run (a neighbour feature is missing).
    unavailable: str | None = None
    #: Why the goal is missed whatever the ratio says (e.g. "423 responses").
    failed: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.ratio is None and self.ours is not None and self.baseline:
            self.ratio = self.ours / self.baseline

    @property
    def met(self) -> bool | None:
        if self.failed:
            return False
        if self.op is None or self.goal is None or self.ratio is None:
            return None
        return self.ratio <= self.goal if self.op == "<=" else self.ratio >= self.goal

    @property
    def goal_text(self) -> str:
        if self.op is None or self.goal is None:
            return "—"
        return f"{'≤' if self.op == '<=' else '≥'} {self.goal:.2f}"


def _fmt(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def render_markdown(rows: list[Row]) -> str:
    """The results as one Markdown table."""
    lines = [
        "| figure | ours | baseline | ratio | goal | met |",
        "|---|---:|---:|---:|---:|:---:|",
    ]
    for row in rows:
        if row.unavailable:
            lines.append(
                f"| {row.figure} | n/a | n/a | — | {row.goal_text} | n/a ({row.unavailable}) |"
            )
            continue
        unit = f" {row.unit}" if row.unit else ""
        met = {True: "yes", False: "**no**", None: "—"}[row.met]
        ratio = "—" if row.ratio is None else f"{row.ratio:.2f}"
        lines.append(
            f"| {row.figure}{' — ' + row.note if row.note else ''} | {_fmt(row.ours)}{unit} "
            f"| {_fmt(row.baseline)}{unit} | {ratio} | {row.goal_text} | {met} |"
        )
    return "\n".join(lines)


def rows_to_json(rows: list[Row]) -> list[dict[str, Any]]:
    """The results as JSON-ready dicts (the same columns as the table, plus details)."""
    out = []
    for row in rows:
        item = asdict(row)
        item["goal"] = row.goal_text
        item["goal_value"] = row.goal
        item["met"] = row.met
        out.append(item)
    return out


def _round(fn: Callable[[], Any], number: int) -> float:
    start = time.perf_counter()
    for _ in range(number):
        fn()
    return (time.perf_counter() - start) / number


def calibrate(fn: Callable[[], Any], target: float) -> int:
    """How many calls of ``fn`` take about ``target`` seconds."""
    number = 1
    while True:
        took = _round(fn, number) * number
        if took >= target / 4 or number >= 1 << 20:
            return max(1, int(number * target / max(took, 1e-9)))
        number *= 4


def compare(
    candidates: dict[str, Callable[[], Any]], *, rounds: int, round_seconds: float
) -> dict[str, float]:
    """Best seconds per call of each candidate, timed in interleaved rounds."""
    for fn in candidates.values():  # warm caches, generated code, specialised bytecode
        _round(fn, 50)
    numbers = {name: calibrate(fn, round_seconds) for name, fn in candidates.items()}
    best = dict.fromkeys(candidates, math.inf)
    enabled = gc.isenabled()
    try:
        for _ in range(rounds):
            for name, fn in candidates.items():
                gc.collect()
                gc.disable()
                best[name] = min(best[name], _round(fn, numbers[name]))
                if enabled:
                    gc.enable()
    finally:
        if enabled:
            gc.enable()
    return best
