"""``smartsender export``: content, incremental requests, resume state, bad input, progress.

Most tests run the real click entry point in-process (``CliRunner``) with the emulator
passed as the group's ``obj``: the CLI then uses that emulator instead of building its demo
project, so state and request counters persist across invocations.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from io import StringIO
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner, Result
from rich.console import Console

from smartsender_async.changes import server_past
from smartsender_async.cli import cli
from smartsender_async.cli._export import ExportProgress
from smartsender_async.cli._progress import ProgressBar, format_duration
from smartsender_async.cli._store import STATE_FILE, Walk
from smartsender_async.testing import Emulator, FakeClock

ROOT = Path(__file__).resolve().parent.parent
MESSAGES = "GET /chats/{chatId}/messages"
CONTACTS = "GET /contacts"


def contact_pages(emulator: Emulator) -> int:
    return max(1, -(-len(emulator.contact_ids()) // 20))


def export(emulator: Emulator, out: Path, *extra: str) -> Result:
    result = CliRunner().invoke(cli, ["--emulator", "export", str(out), *extra], obj=emulator)
    return result


def exported(out: Path) -> tuple[dict[int, Any], list[dict[str, Any]]]:
    chats = [json.loads(line) for line in (out / "chats.jsonl").read_text().splitlines()]
    by_id = {chat["id"]: chat for chat in chats}
    assert len(by_id) == len(chats), "a chat appears twice in chats.jsonl"
    messages = [json.loads(line) for line in (out / "messages.jsonl").read_text().splitlines()]
    return by_id, messages


def assert_matches_emulator(out: Path, emulator: Emulator) -> None:
    """chats.jsonl holds every chat's current payload once; messages.jsonl every message
    (activities included) once, with its chat_id, exactly as the server renders it."""
    chats, messages = exported(out)
    assert chats == {chat_id: emulator.chat(chat_id) for chat_id in emulator.chat_ids()}
    ids = Counter(m["id"] for m in messages)
    assert max(ids.values()) == 1
    expected = {
        mid: chat_id
        for chat_id in emulator.chat_ids()
        for mid in emulator.message_ids(chat_id, activities=True)
    }
    assert set(ids) == set(expected)
    for message in messages:
        chat_id = message.pop("chat_id")
        assert chat_id == expected[message["id"]]
        assert message == emulator.message(message["id"])
    assert_contacts_match(out, emulator)


def assert_contacts_match(out: Path, emulator: Emulator) -> None:
    """contacts.jsonl holds every contact once, by id, as GET /contacts/{id} renders it
    (tags, funnels and variables included); project.json is GET /me."""
    lines = (out / "contacts.jsonl").read_text().splitlines()
    contacts = [json.loads(line) for line in lines]
    assert [c["id"] for c in contacts] == sorted(emulator.contact_ids())
    for contact in contacts:
        assert contact == emulator.contact(contact["id"])
        assert {"tags", "funnels", "variables"} <= contact.keys()
    project = json.loads((out / "project.json").read_text())
    assert (project["id"], project["name"]) == (501, "Emulated Shop")
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["files"]["contacts.jsonl"]["lines"] == len(contacts)


def snapshot(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir()) if p.is_file()}


# --------------------------------------------------------------------------- content


def test_export_writes_every_chat_and_message_exactly_once(tmp_path: Path) -> None:
    emulator = Emulator(seed=3, chats=45, messages_per_chat=35, rate_limit=None)
    out = tmp_path / "export"
    result = export(emulator, out)
    assert result.exit_code == 0, result.output
    assert_matches_emulator(out, emulator)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["format"] == "smartsender-export/1"
    assert manifest["status"] == "complete"
    assert manifest["project"] == {
        "base_url": "http://smartsender.emulator/v1",
        "id": 501,
        "name": "Emulated Shop",
    }
    assert manifest["files"]["chats.jsonl"]["lines"] == 45
    assert manifest["files"]["messages.jsonl"]["lines"] == 45 * 35
    (run,) = manifest["runs"]
    assert (run["mode"], run["phase"], run["requests"]) == ("full", "complete", 1 + 3 + 1 + 90 + 3)
    assert "export completed" in result.stderr
    # The token is nowhere in the directory, not even in the checkpoint.
    for name, data in snapshot(out).items():
        assert emulator.token.encode() not in data, name


def test_first_run_without_token_says_it_uses_the_demo_project(tmp_path: Path) -> None:
    emulator = Emulator(seed=1, chats=5, messages_per_chat=3, rate_limit=None)
    result = CliRunner(env={"SMARTSENDER_TOKEN": ""}).invoke(
        cli, ["export", str(tmp_path / "demo")], obj=emulator
    )
    assert result.exit_code == 0, result.output
    assert "no token" in result.stderr and "emulator" in result.stderr
    assert_matches_emulator(tmp_path / "demo", emulator)


def test_quiet_when_not_a_terminal(tmp_path: Path) -> None:
    emulator = Emulator(seed=1, chats=30, messages_per_chat=3, rate_limit=None)
    result = export(emulator, tmp_path / "out")
    assert result.exit_code == 0
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 2  # the emulator note and the summary, no bar
    assert "━" not in result.stderr and "ETA" not in result.stderr


# --------------------------------------------------------------------------- incremental


def head_second_chats(emulator: Emulator) -> list[int]:
    """The chats whose updatedAt is in the newest second of the list: a run cannot know,
    from the server's timestamps alone, that it saw the whole of that second, so the next
    run reads their page 1 again (the boundary second)."""
    ids = emulator.chat_ids()
    newest = emulator.chat_status(ids[0]).updated_at
    return [i for i in ids if emulator.chat_status(i).updated_at == newest]


def test_unchanged_project_costs_the_identity_check_one_listing_page_and_the_boundary(
    tmp_path: Path,
) -> None:
    emulator = Emulator(seed=4, chats=70, messages_per_chat=25, rate_limit=None)
    out = tmp_path / "out"
    assert export(emulator, out).exit_code == 0
    before = snapshot(out)["messages.jsonl"]
    emulator.stats.reset()
    result = export(emulator, out)
    assert result.exit_code == 0, result.output
    boundary = len(head_second_chats(emulator))
    assert dict(emulator.stats.by_endpoint) == {
        "GET /me": 1,
        "GET /chats": 1,
        MESSAGES: boundary,
        CONTACTS: 4,  # contacts are not incremental: 70 contacts, 4 pages every run
    }
    assert snapshot(out)["messages.jsonl"] == before
    runs = json.loads((out / "manifest.json").read_text())["runs"]
    assert [r["mode"] for r in runs] == ["full", "incremental"]


@pytest.mark.parametrize(
    ("new_messages", "listing_pages"),
    [
        # 3 chats: 1, 5 and 21 new messages -> 1 + 1 + 2 message pages; 1 listing page.
        ([1, 5, 21], 1),
        # 25 chats with one each: 2 listing pages, then one rescan page; 25 message pages.
        ([1] * 25, 3),
    ],
)
def test_incremental_run_sends_only_the_requests_it_needs(
    tmp_path: Path, new_messages: list[int], listing_pages: int
) -> None:
    emulator = Emulator(seed=5, chats=90, messages_per_chat=25, rate_limit=None)
    out = tmp_path / "out"
    assert export(emulator, out).exit_code == 0
    head_second_chats_before = head_second_chats(emulator)
    chat_ids = emulator.chat_ids()[40 : 40 + len(new_messages)]  # from the middle of the list
    for chat_id, count in zip(chat_ids, new_messages, strict=True):
        for k in range(count):
            emulator.add_inbound_message(chat_id, f"new {k}")
    emulator.stats.reset()
    result = export(emulator, out)
    assert result.exit_code == 0, result.output
    boundary = [c for c in head_second_chats_before if c not in chat_ids]
    message_pages = sum(n // 20 + 1 for n in new_messages) + len(boundary)
    assert dict(emulator.stats.by_endpoint) == {
        "GET /me": 1,
        "GET /chats": listing_pages,
        MESSAGES: message_pages,
        CONTACTS: contact_pages(emulator),
    }
    assert_matches_emulator(out, emulator)  # new messages appended once, chats refreshed


def test_full_relists_every_chat_but_fetches_messages_only_where_new(tmp_path: Path) -> None:
    emulator = Emulator(seed=6, chats=50, messages_per_chat=5, rate_limit=None)
    out = tmp_path / "out"
    assert export(emulator, out).exit_code == 0
    some = emulator.chat_ids()[30]
    boundary = [c for c in head_second_chats(emulator) if c != some]
    emulator.add_inbound_message(some, "hi")
    emulator.stats.reset()
    assert export(emulator, out, "--full").exit_code == 0
    assert emulator.stats.by_endpoint["GET /chats"] == 3 + 1  # every page, then a rescan
    assert emulator.stats.by_endpoint[MESSAGES] == 1 + len(boundary)
    assert_matches_emulator(out, emulator)


def test_message_in_the_same_second_after_the_walk_is_not_missed(tmp_path: Path) -> None:
    # Timestamps have one-second resolution.  With the emulator's clock frozen, every new
    # message and chat update falls into the same second, so updatedAt cannot reveal the
    # second message; the export must still pick it up.  (The emulator's clock is an hour
    # ahead of this machine's, so walks are never "settled", deterministically.)
    import time

    clock = FakeClock()
    emulator = Emulator(
        seed=7, chats=10, messages_per_chat=4, rate_limit=None, clock=clock,
        epoch=time.time() + 3600,
    )  # fmt: skip
    out = tmp_path / "out"
    assert export(emulator, out).exit_code == 0
    chat_id = emulator.chat_ids()[5]
    emulator.add_inbound_message(chat_id, "first")
    assert export(emulator, out).exit_code == 0
    emulator.add_inbound_message(chat_id, "second, same second")
    emulator.add_inbound_message(emulator.chat_ids()[-1], "elsewhere, same second")
    assert export(emulator, out).exit_code == 0
    assert_matches_emulator(out, emulator)


def test_walk_settles_only_when_the_server_had_left_the_updated_second() -> None:
    # server_time: the newest timestamp the server had written before page 1 was read.
    walk = Walk(server_time=10_000_000)
    assert walk.settled(None)
    assert walk.settled(9_999_999)  # the server had stamped a later second
    assert walk.settled(9_000_000)
    assert not walk.settled(10_000_000)  # same second: a message may still arrive in it
    assert not walk.settled(10_999_999)
    assert not walk.settled(11_000_000)  # later than anything the server had shown
    assert not Walk().settled(5_000_000)  # no evidence at all: not settled
    # The engine's rule underneath, on whole seconds (the export passes its microseconds'
    # seconds): settled only once the server had stamped a later second.
    assert server_past(1, 2)
    assert not server_past(1, 1)
    assert server_past(None, None)
    assert not server_past(1, None)


def test_chat_moving_to_the_head_during_the_listing_is_caught_by_the_rescan(
    tmp_path: Path,
) -> None:
    emulator = Emulator(seed=8, chats=70, messages_per_chat=5, rate_limit=None)
    last = emulator.chat_ids()[-1]  # on listing page 4
    original = emulator.handle
    moved: list[dict[str, Any]] = []

    async def handle(method: str, path: str, query: str, *args: Any, **kwargs: Any) -> Any:
        if path.endswith("/chats") and "page=3" in query and not moved:
            # While page 3 is read, the last chat gets a message and jumps to page 1, which
            # was already read: the listing alone would never see it.
            moved.append(emulator.add_inbound_message(last, "while you were listing"))
        return await original(method, path, query, *args, **kwargs)

    emulator.handle = handle  # type: ignore[method-assign]
    result = export(emulator, tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert moved
    assert_matches_emulator(tmp_path / "out", emulator)


def test_a_chat_deleted_after_listing_does_not_block_the_export(tmp_path: Path) -> None:
    from smartsender_async.testing import EmulatorResponse

    emulator = Emulator(seed=8, chats=12, messages_per_chat=5, rate_limit=None)
    gone = emulator.chat_ids()[4]
    original = emulator.handle

    async def handle(method: str, path: str, *args: Any, **kwargs: Any) -> Any:
        if path.endswith(f"/chats/{gone}/messages"):
            body = b'{"error": {"code": 404, "message": "Not found"}}'
            return EmulatorResponse(404, (("content-type", "application/json"),), body)
        return await original(method, path, *args, **kwargs)

    emulator.handle = handle  # type: ignore[method-assign]
    result = export(emulator, tmp_path / "out")
    assert result.exit_code == 0, result.output
    chats, messages = exported(tmp_path / "out")
    assert gone in chats and len(chats) == 12
    assert {m["chat_id"] for m in messages} == set(emulator.chat_ids()) - {gone}


# --------------------------------------------------------------------------- resume state


def test_a_torn_tail_beyond_the_checkpoint_is_dropped_on_resume(tmp_path: Path) -> None:
    emulator = Emulator(seed=9, chats=20, messages_per_chat=25, rate_limit=None)
    out = tmp_path / "out"
    assert export(emulator, out).exit_code == 0
    emulator.add_inbound_message(emulator.chat_ids()[3], "later")
    with open(out / "messages.jsonl", "ab") as f:  # what a crash mid-write leaves behind
        f.write(b'{"chat_id": 1, "id": 12')
    assert export(emulator, out).exit_code == 0
    assert_matches_emulator(out, emulator)


def test_a_file_shorter_than_its_checkpoint_is_reported_not_overwritten(tmp_path: Path) -> None:
    emulator = Emulator(seed=9, chats=5, messages_per_chat=5, rate_limit=None)
    out = tmp_path / "out"
    assert export(emulator, out).exit_code == 0
    (out / "messages.jsonl").write_bytes(b"")
    before = snapshot(out)
    result = export(emulator, out)
    assert result.exit_code == 1
    assert "shorter" in result.stderr and "Traceback" not in result.output
    assert snapshot(out) == before


# --------------------------------------------------------------------------- bad input


@pytest.fixture
def existing(tmp_path: Path) -> tuple[Emulator, Path, dict[str, bytes]]:
    emulator = Emulator(seed=10, chats=8, messages_per_chat=5, rate_limit=None)
    out = tmp_path / "existing"
    assert export(emulator, out).exit_code == 0
    return emulator, out, snapshot(out)


def test_bad_token_is_exit_1_and_keeps_the_export(
    existing: tuple[Emulator, Path, dict[str, bytes]],
) -> None:
    emulator, out, before = existing
    with emulator.serve() as url:
        result = CliRunner().invoke(
            cli, ["--base-url", url, "--token", "wrong-token", "export", str(out)]
        )
    assert result.exit_code == 1
    assert "refused the token" in result.stderr and "SMARTSENDER_TOKEN" in result.stderr
    assert "wrong-token" not in result.output
    assert snapshot(out) == before


def test_another_projects_export_is_refused_untouched(
    existing: tuple[Emulator, Path, dict[str, bytes]],
) -> None:
    _, out, before = existing
    other = Emulator(seed=99, chats=3, messages_per_chat=2, rate_limit=None)
    with other.serve() as url:
        result = CliRunner().invoke(
            cli, ["--base-url", url, "--token", other.token, "--rate", "off", "export", str(out)]
        )
    assert result.exit_code == 2
    assert "holds an export of project 'Emulated Shop'" in result.stderr
    assert "use another directory" in result.stderr
    assert other.stats.by_endpoint == {"GET /me": 1}  # nothing else was fetched
    assert snapshot(out) == before


def test_non_empty_directory_without_an_export_is_refused(tmp_path: Path) -> None:
    emulator = Emulator(seed=1, chats=3, rate_limit=None)
    target = tmp_path / "photos"
    target.mkdir()
    (target / "holiday.jpg").write_bytes(b"\xff\xd8")
    (target / "messages.jsonl").write_text("mine\n")
    result = export(emulator, target)
    assert result.exit_code == 2
    assert "not empty" in result.stderr
    assert emulator.stats.requests == 0  # refused before any request
    assert sorted(p.name for p in target.iterdir()) == ["holiday.jpg", "messages.jsonl"]
    assert (target / "messages.jsonl").read_text() == "mine\n"


def test_missing_parent_directory_is_exit_2(tmp_path: Path) -> None:
    emulator = Emulator(seed=1, chats=3, rate_limit=None)
    result = export(emulator, tmp_path / "no" / "such" / "dir")
    assert result.exit_code == 2
    assert "does not exist" in result.stderr
    assert not (tmp_path / "no").exists()
    assert emulator.stats.requests == 0


def test_a_file_in_place_of_the_directory_is_exit_2(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    result = export(Emulator(seed=1, chats=3, rate_limit=None), tmp_path / "file")
    assert result.exit_code == 2
    assert "not a directory" in result.stderr


def test_unwritable_location_is_exit_2(tmp_path: Path) -> None:
    # /proc refuses new entries even to root.
    emulator = Emulator(seed=1, chats=3, rate_limit=None)
    result = export(emulator, Path("/proc/smartsender-export"))
    assert result.exit_code == 2, result.output
    assert "cannot create '/proc/smartsender-export'" in result.stderr
    assert emulator.stats.requests == 0


def test_unwritable_existing_export_is_exit_2_and_kept(tmp_path: Path) -> None:
    """A read-only export directory: by permissions, or for root (who ignores them) by a
    read-only bind mount in a private mount namespace."""
    emulator = Emulator(seed=10, chats=8, messages_per_chat=5, rate_limit=None)
    out = tmp_path / "existing"
    assert export(emulator, out).exit_code == 0
    emulator.add_inbound_message(emulator.chat_ids()[2], "new")
    before = snapshot(out)
    emulator.stats.reset()
    with emulator.serve() as url:
        cmd = [sys.executable, "-m", "smartsender_async.cli", "--base-url", url]
        cmd += ["--token", emulator.token, "--rate", "off", "export", str(out)]
        env = {"PYTHONPATH": str(ROOT), "PATH": os.environ.get("PATH", "")}
        if os.geteuid() == 0:
            remount = 'mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" "$0" && exec "$@"'
            cmd = ["unshare", "--mount", "--", "sh", "-c", remount, str(out), *cmd]
        os.chmod(out, 0o555)
        try:
            proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
        finally:
            os.chmod(out, 0o755)
    if os.geteuid() == 0 and "mount" in proc.stderr and "smartsender" not in proc.stderr:
        pytest.skip(f"no private read-only mount here: {proc.stderr.strip()}")
    assert proc.returncode == 2, proc.stderr
    assert "cannot write to" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert snapshot(out) == before
    assert emulator.stats.requests == 0  # refused before any request


# --------------------------------------------------------------------------- progress


def test_progress_bar_shows_chats_messages_rate_and_eta() -> None:
    buffer = StringIO()
    console = Console(file=buffer, force_terminal=True, width=160)
    progress = ExportProgress(rate=3.0, started=0.0)
    progress.phase, progress.mode = "messages", "full"
    progress.requests, progress.chats_due, progress.chats_walked = 120, 300, 100
    progress.messages, progress.walks_finished, progress.walk_pages_finished = 2500, 100, 150
    with ProgressBar(console) as bar:
        assert bar.enabled
        bar.update(progress)
    text = buffer.getvalue()
    for part in ("fetching messages", "chats 100/300", "messages 2,500", "req/s", "ETA"):
        assert part in text, text
    # 200 chats left at 1.5 pages each, at 3 requests/s.
    assert progress.remaining_requests() == 300
    assert progress.eta(now=1.0) == 100.0
    assert format_duration(100.0) == "1:40"


def test_eta_uses_the_observed_rate_when_it_is_lower_than_the_limit() -> None:
    progress = ExportProgress(rate=3.0, started=0.0)
    progress.phase, progress.mode = "listing", "full"
    progress.listing_pages_total, progress.listing_pages_read = 10, 4
    progress.requests = 20  # 1 request/s over 20 s: latency-bound
    remaining = progress.remaining_requests()
    assert remaining == 6 + 1 + 6 * 20  # listing pages, a rescan, a page per chat due
    assert progress.eta(now=20.0) == remaining / 1.0
    assert ExportProgress(rate=None).eta() is None


def test_checkpoint_is_sqlite_with_offsets(existing: tuple[Emulator, Path, Any]) -> None:
    import sqlite3

    _, out, _ = existing
    db = sqlite3.connect(out / STATE_FILE)
    (value,) = db.execute("SELECT value FROM meta WHERE key = 'messages'").fetchone()
    offsets = json.loads(value)
    assert offsets["bytes"] == (out / "messages.jsonl").stat().st_size
    assert offsets["lines"] == 8 * 5
    db.close()


def test_a_second_export_into_the_same_directory_waits_its_turn(tmp_path: Path) -> None:
    import fcntl

    emulator = Emulator(seed=2, chats=4, messages_per_chat=2, rate_limit=None)
    out = tmp_path / "out"
    assert export(emulator, out).exit_code == 0
    with open(out / ".export.lock", "a") as held:  # as a running export holds it
        fcntl.flock(held, fcntl.LOCK_EX)
        busy = export(emulator, out)
    assert busy.exit_code == 1
    assert "another export is running" in busy.stderr
    assert export(emulator, out).exit_code == 0


async def test_the_exporter_runs_without_click(tmp_path: Path) -> None:
    from smartsender_async.cli._export import Exporter, ExportOptions
    from smartsender_async.cli._store import check_directory

    emulator = Emulator(seed=12, chats=25, messages_per_chat=21, rate_limit=None)
    seen: list[str] = []
    progress = ExportProgress()
    async with emulator.client(observer=progress.observe) as client:
        exporter = Exporter(
            client,
            check_directory(tmp_path / "out"),
            ExportOptions(concurrency=2, checkpoint_interval=0),
            progress=progress,
            on_update=lambda p: seen.append(p.phase),
        )
        result = await exporter.run()
    assert (result.chats, result.messages, result.resumed) == (25, 25 * 21, False)
    assert result.run.requests == progress.requests == emulator.stats.requests == 1 + 2 + 1 + 50 + 2
    assert {"listing", "rescan", "messages", "complete"} <= set(seen)
    assert_matches_emulator(tmp_path / "out", emulator)


# --------------------------------------------------------------------------- contacts


def test_contacts_are_relisted_every_run_and_show_every_write(tmp_path: Path) -> None:
    """No updatedAt on contacts: each run lists them all, so a tag attached, a variable
    set or a contact merged away since the last run shows in contacts.jsonl."""
    import anyio

    emulator = Emulator(seed=21, chats=30, messages_per_chat=2, rate_limit=None)
    out = tmp_path / "out"
    assert export(emulator, out).exit_code == 0
    assert_matches_emulator(out, emulator)
    first, second, third = emulator.contact_ids()[:3]
    tag = emulator.tags()[0]["id"]

    async def change() -> None:
        async with emulator.client() as client:
            await client.contacts.remove_tag(first, tag)
            await client.contacts.add_tag(second, tag)
            await client.contacts.update(second, values={"city": "Odesa"})
            await client.contacts.merge(third, emulator.contact_ids()[-1])

    anyio.run(change)
    gone = set(emulator.contact_ids()) ^ set(
        json.loads(x)["id"] for x in ((out / "contacts.jsonl").read_text().splitlines())
    )
    emulator.stats.reset()
    assert export(emulator, out).exit_code == 0
    assert emulator.stats.by_endpoint[CONTACTS] == contact_pages(emulator)
    assert "GET /contacts/{contactId}" not in emulator.stats.by_endpoint  # the list sufficed
    assert_contacts_match(out, emulator)
    lines = {
        json.loads(x)["id"]: json.loads(x)
        for x in (out / "contacts.jsonl").read_text().splitlines()
    }
    assert tag in [t["id"] for t in lines[second]["tags"]]
    assert tag not in [t["id"] for t in lines[first]["tags"]]
    assert {"name": "city", "value": "Odesa"} in lines[second]["variables"]
    assert not gone & lines.keys()


class _BareContacts(httpx.AsyncBaseTransport):
    """A transport whose GET /contacts items lack tags, funnels and variables (a server
    whose list is thinner than its Contact object); everything else is the emulator's."""

    def __init__(self, inner: Any, drop: tuple[str, ...]) -> None:
        self.inner = inner
        self.drop = drop

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if request.method == "GET" and request.url.path.endswith("/contacts"):
            await response.aread()
            body = json.loads(response.content)
            for item in body["collection"]:
                for key in self.drop:
                    item.pop(key, None)
            return httpx.Response(response.status_code, json=body)
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


@pytest.mark.parametrize("drop", [("tags",), ("tags", "funnels", "variables")])
async def test_list_items_without_tags_funnels_or_variables_cost_one_get_each(
    tmp_path: Path, drop: tuple[str, ...]
) -> None:
    from smartsender_async.cli._export import Exporter, ExportOptions
    from smartsender_async.cli._store import check_directory

    emulator = Emulator(seed=22, chats=25, messages_per_chat=1, rate_limit=None)
    async with emulator.client(transport=_BareContacts(emulator.transport(), drop)) as client:
        result = await Exporter(
            client, check_directory(tmp_path / "out"), ExportOptions(checkpoint_interval=0)
        ).run()
    assert result.contacts == 25
    by = emulator.stats.by_endpoint
    assert by[CONTACTS] == 2
    assert by["GET /contacts/{contactId}"] == 25  # one get each: it carries all three
    assert "GET /contacts/{contactId}/info" not in by
    assert "GET /contacts/{contactId}/tags" not in by
    assert_contacts_match(tmp_path / "out", emulator)


def test_no_contacts_leaves_the_last_contacts_file_and_says_which_run_wrote_it(
    tmp_path: Path,
) -> None:
    emulator = Emulator(seed=23, chats=22, messages_per_chat=1, rate_limit=None)
    out = tmp_path / "out"
    assert export(emulator, out, "--no-contacts").exit_code == 0
    assert not (out / "contacts.jsonl").exists()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["files"]["contacts.jsonl"] is None
    assert manifest["runs"][0]["contacts"] is False
    assert (out / "project.json").exists()
    assert export(emulator, out).exit_code == 0
    assert_contacts_match(out, emulator)
    emulator.stats.reset()
    assert export(emulator, out, "--no-contacts").exit_code == 0
    assert CONTACTS not in emulator.stats.by_endpoint
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["files"]["contacts.jsonl"] == {"lines": 22, "run": 2}
