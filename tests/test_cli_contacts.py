"""``smartsender contacts`` and ``smartsender contact ID [set|tag|untag|fire]`` against an
emulator shared across invocations (``obj=``), and on the demo project (no token)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from smartsender_async.cli import cli
from smartsender_async.testing import Emulator

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def emulator() -> Emulator:
    return Emulator(seed=5, chats=25, messages_per_chat=4, rate_limit=None)


@pytest.fixture
def cid(emulator: Emulator) -> int:
    return emulator.contact_ids()[3]


def run(emulator: Emulator, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--emulator", *args], obj=emulator)


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def requests(emulator: Emulator, key: str) -> int:
    return emulator.stats.by_endpoint[key]


def test_contacts_lists_and_searches(emulator: Emulator) -> None:
    listed = run(emulator, "contacts", "--limit", "0", "--json")
    assert listed.exit_code == 0, listed.output
    assert [c["id"] for c in json_lines(listed.stdout)] == emulator.contact_ids()
    table = run(emulator, "contacts", "--limit", "3")
    first = emulator.contact(emulator.contact_ids()[0])
    assert str(first["id"]) in table.stdout and first["email"] in table.stdout
    target = emulator.contact(emulator.contact_ids()[7])
    for args in ([target["phone"]], ["--term", target["phone"]]):
        found = run(emulator, "contacts", *args, "--json")
        assert found.exit_code == 0, found.output
        assert [c["id"] for c in json_lines(found.stdout)] == [target["id"]]
    assert requests(emulator, "GET /contacts/search") == 2
    none = run(emulator, "contacts", "no-such-person-xyz")
    assert none.exit_code == 0 and "no contacts match" in none.stderr


def test_contacts_usage_errors_send_nothing(emulator: Emulator) -> None:
    for args in (
        ["contacts", " "],
        ["contacts", "a", "--term", "b"],
        ["contacts", "--limit", "-1"],
    ):
        result = run(emulator, *args)
        assert result.exit_code == 2, (args, result.output)
    assert emulator.stats.requests == 0


def test_contact_shows_info_with_flat_variables(emulator: Emulator, cid: int) -> None:
    result = run(emulator, "contact", str(cid), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == emulator.contact_info(cid)
    table = run(emulator, "contact", str(cid))
    assert "city" in table.stdout and emulator.contact_info(cid)["city"] in table.stdout
    missing = run(emulator, "contact", "12345")
    assert missing.exit_code == 1 and "not found" in missing.stderr


def test_contact_set_writes_values_and_clears(emulator: Emulator, cid: int) -> None:
    result = run(emulator, "contact", "set", str(cid), "city=Lviv", "note=a=b", "orders=")
    assert result.exit_code == 0, result.output
    assert "set city, note" in result.stdout and "cleared orders" in result.stdout
    info = emulator.contact_info(cid)
    assert (info["city"], info["note"], info["orders"]) == ("Lviv", "a=b", None)
    assert requests(emulator, "PUT /contacts/{contactId}") == 1


@pytest.mark.parametrize("bad", [[], ["city"], ["=x"]])
def test_contact_set_usage_errors(emulator: Emulator, cid: int, bad: list[str]) -> None:
    result = run(emulator, "contact", "set", str(cid), *bad)
    assert result.exit_code == 2, result.output
    assert emulator.stats.requests == 0


def test_contact_tag_and_untag_by_name_and_id(emulator: Emulator, cid: int) -> None:
    assert 13 not in [t["id"] for t in emulator.contact(cid)["tags"]]
    tagged = run(emulator, "contact", "tag", str(cid), "new")
    assert tagged.exit_code == 0, tagged.output
    assert "attached tag 'new' (13)" in tagged.stdout
    assert {"id": 13, "name": "new"} in emulator.contact(cid)["tags"]
    assert requests(emulator, "GET /tags") == 1
    untagged = run(emulator, "contact", "untag", str(cid), "13")
    assert untagged.exit_code == 0, untagged.output
    assert 13 not in [t["id"] for t in emulator.contact(cid)["tags"]]
    assert requests(emulator, "GET /tags") == 1  # an id needs no lookup


def test_tag_names_match_exactly_and_ambiguity_is_an_error(emulator: Emulator, cid: int) -> None:
    async def make() -> None:
        async with emulator.http_client() as http:
            for name in ("vip-gold", "Gold", "gold "):
                assert (await http.post("/tags", json={"name": name})).status_code == 200

    import anyio

    anyio.run(make)
    # "vip" partially matches "vip-gold" on the server; only the exact name counts.
    assert run(emulator, "contact", "tag", str(cid), "vip").exit_code == 0
    assert 11 in [t["id"] for t in emulator.contact(cid)["tags"]]
    missing = run(emulator, "contact", "tag", str(cid), "gol")
    assert missing.exit_code == 1 and "no tag is named 'gol'" in missing.stderr
    before = requests(emulator, "POST /contacts/{contactId}/tags/{tagId}")
    # Two tags named exactly the same cannot be made through the API (names are unique),
    # so make the duplicate in the emulator's state.
    emulator.project.tags.add({"name": "Gold", "color": None, "createdAt": None})
    twice = run(emulator, "contact", "tag", str(cid), "Gold")
    assert twice.exit_code == 1 and "2 tags are named 'Gold'" in twice.stderr
    assert requests(emulator, "POST /contacts/{contactId}/tags/{tagId}") == before


def test_contact_fire(emulator: Emulator, cid: int) -> None:
    result = run(emulator, "contact", "fire", str(cid), "OrderPaid")
    assert result.exit_code == 0, result.output
    assert emulator.fired(cid) == ["OrderPaid"]
    assert run(emulator, "contact", "fire", str(cid), " ").exit_code == 2
    assert emulator.fired(cid) == ["OrderPaid"]


def test_bad_ids_are_usage_errors(emulator: Emulator) -> None:
    for args in (["contact", "0"], ["contact", "x"], ["contact", "tag", "-5", "vip"]):
        assert run(emulator, *args).exit_code == 2, args
    assert emulator.stats.requests == 0


def test_help_lists_the_commands() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    assert "contacts" in result.stdout and "contact " in result.stdout
    sub = CliRunner().invoke(cli, ["contact", "--help"])
    for name in ("set", "tag", "untag", "fire"):
        assert name in sub.stdout


def test_every_command_works_on_the_demo_project(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMARTSENDER_")}
    env["PYTHONPATH"] = str(ROOT)

    def smartsender(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "smartsender_async.cli", *args],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            timeout=120,
        )

    listed = smartsender("contacts", "--limit", "2", "--json")
    assert listed.returncode == 0, listed.stderr
    first = json_lines(listed.stdout)[0]["id"]
    for args in (
        ["contact", str(first)],
        ["contact", "set", str(first), "city=Lviv"],
        ["contact", "tag", str(first), "vip"],
        ["contact", "untag", str(first), "vip"],
        ["contact", "fire", str(first), "demo"],
        ["contacts", "a"],
    ):
        result = smartsender(*args)
        assert result.returncode == 0, (args, result.stderr)
        assert "demo project" in result.stderr


def test_a_refused_token_is_exit_1_and_never_echoed(emulator: Emulator) -> None:
    cid = str(emulator.contact_ids()[0])
    with emulator.serve() as url:
        for args in (["contacts"], ["contact", cid], ["contact", "tag", cid, "vip"]):
            result = CliRunner().invoke(cli, ["--base-url", url, "--token", "s3cret", *args])
            assert result.exit_code == 1, (args, result.output)
            assert "refused the token" in result.stderr
            assert "s3cret" not in result.output
    assert emulator.fired(int(cid)) == []


def test_empty_tag_and_odd_variable_names(emulator: Emulator, cid: int) -> None:
    assert run(emulator, "contact", "tag", str(cid), " ").exit_code == 2
    assert emulator.stats.requests == 0
    result = run(emulator, "contact", "set", str(cid), "мій код=✓", "x==")
    assert result.exit_code == 0, result.output
    info = emulator.contact_info(cid)
    assert (info["мій код"], info["x"]) == ("✓", "=")
