"""The request-cost formula of docs/guides/export.md, checked against the emulator's
counters: a full run, an incremental run, ``--full``, and the boundary second.

    requests = 1 (GET /me)
             + listing pages: floor(A / 20) + 1, at most the list's page count
               (A: chats whose updatedAt is at or after the previous run's newest second)
             + 1 rescan page when the listing read more than one page
             + for each due chat: min(floor((n + h) / 20) + 1, its message pages)
               (n: its new messages, activities included; h: the messages already
               exported in its newest exported second, usually 1: the walk reads on
               until it sees a message older than that second)
             + contact pages: max(ceil(contacts / 20), 1), every run (none with
               --no-contacts): contacts cannot be listed by change

Due chats: those with a new updatedAt, plus those the previous run left unsettled (its
chats in the newest second it saw: the server had not yet shown a later second, so
nothing proved that second over).
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from click.testing import CliRunner

from smartsender_async.cli import cli
from smartsender_async.testing import Emulator

PAGE = 20
MESSAGES = "GET /chats/{chatId}/messages"
CONTACTS = "GET /contacts"


def export(emulator: Emulator, out: Path, *extra: str) -> None:
    result = CliRunner().invoke(cli, ["--emulator", "export", str(out), *extra], obj=emulator)
    assert result.exit_code == 0, result.output


def newest_second(emulator: Emulator) -> list[int]:
    ids = emulator.chat_ids()
    top = emulator.chat_status(ids[0]).updated_at
    return [c for c in ids if emulator.chat_status(c).updated_at == top]


def in_newest_second(emulator: Emulator, chat_id: int) -> int:
    stamps = [emulator.message(m)["createdAt"] for m in emulator.message_ids(chat_id)]
    return stamps.count(stamps[0]) if stamps else 0


def contact_pages(emulator: Emulator) -> int:
    return max(1, math.ceil(len(emulator.contact_ids()) / PAGE))


def message_pages(emulator: Emulator, chat_id: int) -> int:
    return max(1, math.ceil(len(emulator.message_ids(chat_id, activities=True)) / PAGE))


def test_full_run_cost(tmp_path: Path) -> None:
    emulator = Emulator(seed=51, chats=47, messages_per_chat=33, rate_limit=None)
    export(emulator, tmp_path / "out")
    pages = math.ceil(47 / PAGE)
    expected = 1 + pages + (1 if pages > 1 else 0)
    expected += sum(message_pages(emulator, c) for c in emulator.chat_ids())
    expected += contact_pages(emulator)
    assert emulator.stats.requests == expected
    assert dict(emulator.stats.by_endpoint)["GET /chats"] == pages + 1
    assert dict(emulator.stats.by_endpoint)[CONTACTS] == math.ceil(47 / PAGE)  # one per chat


def test_no_contacts_skips_the_contact_pages(tmp_path: Path) -> None:
    emulator = Emulator(seed=51, chats=47, messages_per_chat=3, rate_limit=None)
    export(emulator, tmp_path / "out", "--no-contacts")
    assert CONTACTS not in emulator.stats.by_endpoint
    assert not (tmp_path / "out" / "contacts.jsonl").exists()


@pytest.mark.parametrize(
    ("changed", "new", "from_head"),
    [
        (5, 18, False),  # 1 + 1 + 5 pages + the boundary chat's page = 8
        (5, 18, True),  # the boundary chat is among the changed ones: 7
        (5, 19, False),  # 19 new + the one at the mark fill page 1: a second page each
        (1, 45, False),
        (19, 1, False),  # 19 changed + the boundary chat fill page 1: page 2 is read
        (25, 2, False),  # two listing pages, so one rescan page
    ],
)
def test_incremental_run_cost(tmp_path: Path, changed: int, new: int, from_head: bool) -> None:
    emulator = Emulator(seed=52, chats=60, messages_per_chat=25, rate_limit=None)
    out = tmp_path / "out"
    export(emulator, out)
    boundary = newest_second(emulator)
    ids = emulator.chat_ids()
    chosen = ids[:changed] if from_head else ids[10 : 10 + changed]
    h = {c: in_newest_second(emulator, c) for c in chosen}
    for chat_id in chosen:
        for k in range(new):
            emulator.add_inbound_message(chat_id, f"new {k}")
    emulator.stats.reset()
    export(emulator, out)

    unsettled = [c for c in boundary if c not in chosen]
    at_or_after_mark = changed + len(unsettled)
    listing = min(at_or_after_mark // PAGE + 1, math.ceil(60 / PAGE))
    rescan = 1 if listing > 1 else 0
    walks = sum(min((new + h[c]) // PAGE + 1, message_pages(emulator, c)) for c in chosen)
    walks += len(unsettled)  # page 1 again, nothing new on it
    assert dict(emulator.stats.by_endpoint) == {
        "GET /me": 1,
        "GET /chats": listing + rescan,
        MESSAGES: walks,
        CONTACTS: contact_pages(emulator),  # 60 contacts: 3 pages
    }
    if (changed, new) == (5, 18):
        assert emulator.stats.requests == (7 if from_head else 8) + 3
    if (changed, new) == (5, 19):
        assert emulator.stats.requests == 1 + 1 + 5 * 2 + len(unsettled) + 3


def test_unchanged_project_costs_three_requests_then_full_relists(tmp_path: Path) -> None:
    emulator = Emulator(seed=53, chats=45, messages_per_chat=5, rate_limit=None)
    out = tmp_path / "out"
    export(emulator, out)
    assert len(newest_second(emulator)) == 1
    emulator.stats.reset()
    export(emulator, out)
    # /me, listing page 1, the boundary chat's page 1, and the 3 contact pages
    assert emulator.stats.requests == 3 + 3
    emulator.stats.reset()
    export(emulator, out, "--full")
    # --full: every listing page and a rescan; messages only for due chats.
    assert dict(emulator.stats.by_endpoint) == {
        "GET /me": 1,
        "GET /chats": 3 + 1,
        MESSAGES: 1,
        CONTACTS: 3,
    }
    emulator.stats.reset()
    export(emulator, out, "--no-contacts")
    assert emulator.stats.requests == 3  # /me, listing page 1, the boundary chat's page 1
