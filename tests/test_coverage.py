"""The coverage table (docs/reference/coverage.md) against the surface reference's operation
index and the SDK itself.

* Every operation of section 0 of ``smartsender-api-surface.md`` (except the ones whose path
  is unknown) has a row in the table, and an SDK method.
* Each row's example SDK call, run against a mock, sends exactly the row's method and path
  and names the row's operation and path template.
* Each row's emulator route is one the emulator serves.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from smartsender_async import SmartSender
from smartsender_async.testing import Emulator

ROOT = Path(__file__).resolve().parents[1]
TABLE = ROOT / "docs" / "reference" / "coverage.md"
REFERENCE_NAME = "smartsender-api-surface.md"
#: §0 rows whose path the reference does not know: create / delete contact, cashier payments.
UNKNOWN_PATH_ROWS = {9: 2, 47: 1}
METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH")


def find_reference() -> Path | None:
    """``<repo root>/../shared/reference/`` (CI), or one level further up (worktrees)."""
    for base in (ROOT.parent, ROOT.parent.parent):
        candidate = base / "shared" / "reference" / REFERENCE_NAME
        if candidate.is_file():
            return candidate
    return None


def shape(path: str) -> str:
    """A path with its placeholders blanked: ``/contacts/{id}`` = ``/contacts/{contactId}``."""
    return re.sub(r"\{[^{}]*\}", "{}", path.strip())


def cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def operations_of(cell: str) -> list[tuple[str, str]]:
    """``(method, path)`` pairs in a "Method & path" cell.

    Handles ``GET /a``, ``GET /a`, `GET /b`` and ``POST` / `DELETE /a`` (methods
    before a path share it).
    """
    found: list[tuple[str, str]] = []
    pending: list[str] = []
    for span in re.findall(r"`([^`]+)`", cell):
        words = span.split()
        if len(words) == 1 and words[0] in METHODS:
            pending.append(words[0])
        elif len(words) == 2 and words[0] in METHODS and words[1].startswith("/"):
            for method in [*pending, words[0]]:
                found.append((method, words[1]))
            pending = []
    return found


def reference_index(text: str) -> dict[int, tuple[str, list[tuple[str, str]]]]:
    """Section 0: row number → (operation name, its (method, path) pairs)."""
    section = text.split("## 0.", 1)[1].split("\n## ", 1)[0]
    rows: dict[int, tuple[str, list[tuple[str, str]]]] = {}
    for line in section.splitlines():
        parts = cells(line) if line.startswith("|") else []
        if len(parts) >= 3 and parts[0].isdigit():
            rows[int(parts[0])] = (parts[1], operations_of(parts[2]))
    return rows


def table_rows() -> list[dict[str, str]]:
    """The rows of the coverage table (the first table of the page)."""
    lines = TABLE.read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| # |"))
    header = cells(lines[start])
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append(dict(zip(header, cells(line), strict=True)))
    return rows


def unquote(cell: str) -> str:
    match = re.fullmatch(r"`([^`]*)`", cell)
    return match.group(1) if match else ""


ROWS = table_rows()
TYPED = [row for row in ROWS if unquote(row["SDK method"])]


def test_table_is_well_formed() -> None:
    assert len(ROWS) >= 49
    for row in TYPED:
        assert unquote(row["SDK call"]).startswith("await client."), row
        assert len(operations_of(row["Method & path"])) == 1, row


def test_every_operation_of_the_reference_has_a_method_and_a_row() -> None:
    reference = find_reference()
    if reference is None:
        pytest.skip(f"{REFERENCE_NAME} is not beside the repository (shared/reference/)")
    index = reference_index(reference.read_text(encoding="utf-8"))
    assert len(index) >= 49 and sorted(index)[:3] == [1, 2, 3]
    covered = {
        (method, shape(path))
        for row in TYPED
        for method, path in operations_of(row["Method & path"])
    }
    missing = [
        f"#{number} {name}: {method} {path}"
        for number, (name, ops) in sorted(index.items())
        for method, path in ops
        if (method, shape(path)) not in covered
    ]
    assert not missing, "operations without an SDK method / coverage row:\n" + "\n".join(missing)
    # Only the rows the reference gives no path for are left out, and the table says so.
    pathless = {n for n, (_, ops) in index.items() if not ops}
    assert pathless == set(UNKNOWN_PATH_ROWS)
    numbered = {int(row["#"]) for row in ROWS}
    assert set(index) <= numbered
    for row in ROWS:
        if int(row["#"]) in UNKNOWN_PATH_ROWS:
            assert row["SDK method"] == "—" and "client.request" in row["SDK call"]
    # Every row of the table is an operation of the reference, under its own number.
    for row in TYPED:
        ((method, path),) = operations_of(row["Method & path"])
        _, ops = index[int(row["#"])]
        assert (method, shape(path)) in {(m, shape(p)) for m, p in ops}, row


def test_no_operation_is_listed_twice() -> None:
    keys = [operations_of(row["Method & path"])[0] for row in TYPED]
    assert len(keys) == len(set(keys))


@pytest.fixture
async def client() -> AsyncIterator[SmartSender]:
    async with SmartSender("tok-coverage", retry=None, rate_limit=None) as c:
        yield c


def _answer(request: httpx.Request) -> httpx.Response:
    """A list page for a paged GET; for anything else, an object that is also an ack."""
    if "page" in request.url.params:
        body: Any = {"cursor": {"page": 1, "pages": 1}, "collection": [{"id": 1}]}
    else:
        body = {"state": True, "id": 1, "orderId": "o-1"}
    return httpx.Response(200, json=body)


@pytest.mark.parametrize("row", TYPED, ids=[unquote(r["SDK method"]) for r in TYPED])
async def test_each_rows_call_sends_its_operation(
    row: dict[str, str], client: SmartSender, monkeypatch: pytest.MonkeyPatch
) -> None:
    ((method, path),) = operations_of(row["Method & path"])
    seen: list[tuple[Any, ...]] = []
    send = client._send

    async def recording(m: str, p: str, *args: Any) -> Any:
        seen.append((m, p, args[-2], args[-1]))
        return await send(m, p, *args)

    monkeypatch.setattr(client, "_send", recording)
    call = unquote(row["SDK call"]).removeprefix("await ")
    with respx.mock(base_url="https://api.smartsender.com/v1") as mock:
        mock.route().mock(side_effect=_answer)
        await eval(call, {"client": client})
        content = mock.calls.last.request.content
    assert len(seen) == 1, seen
    sent_method, sent_path, operation, template = seen[0]
    assert sent_method == method
    assert operation == unquote(row["SDK method"])
    assert shape(template) == shape(path)
    assert re.fullmatch(re.sub(r"\\\{\\\}", "[^/]+", re.escape(shape(path))), sent_path)
    if content:
        json.loads(content)  # a JSON body, when there is one


def test_emulator_serves_every_route_in_the_table() -> None:
    served = {f"{m} {shape(t)}" for m, t in (x.split(" ", 1) for x in Emulator().api.templates)}
    for row in ROWS:
        route = unquote(row["Emulator route"])
        if not route:
            assert row["Emulator route"] == "—"
            continue
        method, path = route.split(" ", 1)
        assert f"{method} {shape(path)}" in served, route
        assert operations_of(row["Method & path"]) == [(method, path)] or shape(path) == shape(
            operations_of(row["Method & path"])[0][1]
        )


def test_cli_commands_in_the_table_exist() -> None:
    from smartsender_async.cli._app import cli

    commands = set(cli.commands)  # type: ignore[attr-defined]
    for row in ROWS:
        cell = row["CLI command"]
        for command in re.findall(r"`smartsender ([a-z-]+)", cell):
            assert command in commands, cell
