"""The benchmark suite runs and reports in the promised shape (never checks a number)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("pydantic")
pytest.importorskip("msgspec")
pytest.importorskip("uvicorn")

from benchmarks.__main__ import main

COLUMNS = "| figure | ours | baseline | ratio | goal | met |"


def test_quick_decode_and_request_overhead(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "results.json"
    assert main(["--quick", "--only", "decode", "request_overhead", "--json", str(out)]) == 0

    table = [line for line in capsys.readouterr().out.splitlines() if line.startswith("|")]
    assert table[0] == COLUMNS
    assert all(line.count("|") == COLUMNS.count("|") for line in table)
    assert any(line.startswith("| Decode chats page") for line in table)
    assert any(line.startswith("| Decode messages page") for line in table)
    assert any(line.startswith("| Request overhead") for line in table)

    report = json.loads(out.read_text())
    assert report["quick"] is True
    assert {"python", "cpus"} <= report["machine"].keys()
    rows = report["rows"]
    assert len(rows) == len(table) - 2
    for row in rows:
        assert {"figure", "ours", "baseline", "ratio", "goal", "met", "unit"} <= row.keys()
        assert row["met"] in (True, False, None)
        assert row["unavailable"] is None, row
        assert isinstance(row["ours"], float)
    assert report["markdown"].splitlines()[0] == COLUMNS
