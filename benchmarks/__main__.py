"""``python -m benchmarks [--quick] [--only NAME ...] [--json PATH]``: run every figure.

Prints one Markdown table (figure, ours, baseline, ratio, goal, met) and writes the same
rows as JSON (``benchmarks/results.json`` by default).  Benchmarks are not tests: a goal
not met is reported, never turned into a failing exit status.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import json
import os
import platform
import sys
import time
import traceback
from collections.abc import Sequence
from pathlib import Path

from benchmarks._harness import Row, render_markdown, rows_to_json

#: Figure modules in the order they run; each has ``run(quick: bool) -> list[Row]``.
FIGURES = (
    "decode",
    "request_overhead",
    "streaming",
    "memory",
    "tenants",
    "quota",
    "otel",
    "watch_latency",
)
DEFAULT_JSON = Path(__file__).with_name("results.json")


def machine() -> dict[str, str | int | None]:
    """What the numbers were measured on."""
    info: dict[str, str | int | None] = {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
    }
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    for name in ("httpx", "attrs", "cattrs", "anyio", "orjson", "pydantic", "msgspec"):
        try:
            info[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            info[name] = None
    return info


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a fast smoke run (rough numbers)")
    parser.add_argument("--only", nargs="+", choices=FIGURES, help="run only these figures")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, help="where to write JSON")
    args = parser.parse_args(argv)

    rows: list[Row] = []
    started = time.monotonic()
    for name in args.only or FIGURES:
        print(f"running {name}...", file=sys.stderr, flush=True)
        try:
            module = importlib.import_module(f"benchmarks.{name}")
            rows.extend(module.run(quick=args.quick))
        except Exception as exc:  # a broken figure must not hide the others
            traceback.print_exc()
            rows.append(Row(name, None, None, "", unavailable=f"error: {exc!r}"[:120]))
    table = render_markdown(rows)
    print(table)
    report = {
        "quick": args.quick,
        "seconds": round(time.monotonic() - started, 1),
        "machine": machine(),
        "rows": rows_to_json(rows),
        "markdown": table,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    print(f"\nwrote {args.json}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
