"""Attacks on the emulator's new state and routes: hostile bodies and paths, many threads
writing at once, and the serve command's options."""

from __future__ import annotations

import json
import threading
from typing import Any

import anyio
import httpx
import pytest

from smartsender_async.testing import Emulator
from smartsender_async.testing.__main__ import build_parser

JSON = {"content-type": "application/json"}


def call(emulator: Emulator, method: str, path: str, body: bytes = b"", query: str = "") -> Any:
    async def go() -> Any:
        headers = {"authorization": f"Bearer {emulator.token}", **JSON}
        return await emulator.handle(method, path, query, headers, body)

    return anyio.run(go)


@pytest.fixture
def emulator() -> Emulator:
    return Emulator(chats=6, messages_per_chat=4, rate_limit=None)


@pytest.mark.parametrize("body", [b"null", b"5", b'"x"', b"[1, 2]", b"[{}]", b"{", b"\xff"])
def test_bodies_that_are_not_objects_are_refused_and_change_nothing(
    emulator: Emulator, body: bytes
) -> None:
    cid = emulator.contact_ids()[0]
    before = emulator.contact(cid)
    answer = call(emulator, "PUT", f"/v1/contacts/{cid}", body)
    assert answer.status in (400, 422)
    assert emulator.contact(cid) == before


@pytest.mark.parametrize(
    "path",
    [
        "/v1/contacts/90100000/funnels/..%2F..%2Fme",
        "/v1/contacts/90100000/tags/-1",
        "/v1/contacts/90100000/tags/1e3",
        "/v1/contacts/99999999999999999999999/info",
        "/v1/tags/%20",
        "/v1/channels/0/gates",
        "/v1/contacts/90100000/invoices/%00",
    ],
)
def test_hostile_paths_are_404(emulator: Emulator, path: str) -> None:
    method = (
        "GET"
        if path.endswith(("info", "%00"))
        else "PUT"
        if path.startswith("/v1/tags")
        else "POST"
    )
    assert call(emulator, method, path, b"{}").status == 404


def test_hostile_values_are_stored_verbatim_or_refused(emulator: Emulator) -> None:
    cid = emulator.contact_ids()[1]
    values = {"emoji 🎉": "ü" * 5000, "nested": {"a": [1, {"b": None}]}, "n": 1.5}
    body = httpx.Request("PUT", "/", json={"values": values}).content
    assert call(emulator, "PUT", f"/v1/contacts/{cid}", body).status == 200
    info = emulator.contact_info(cid)
    assert info["emoji 🎉"] == "ü" * 5000 and info["nested"] == {"a": [1, {"b": None}]}
    long_name = httpx.Request("POST", "/", json={"name": "x" * 256}).content
    assert call(emulator, "POST", "/v1/tags", long_name).status == 422
    for bad in ({"firstName": 5}, {"phone": "0501112233"}, {"values": [1]}):
        raw = httpx.Request("PUT", "/", json=bad).content
        assert call(emulator, "PUT", f"/v1/contacts/{cid}", raw).status == 422, bad


def test_form_encoded_writes_work_like_json(emulator: Emulator) -> None:
    cid = emulator.contact_ids()[2]

    async def go() -> int:
        headers = {
            "authorization": f"Bearer {emulator.token}",
            "content-type": "application/x-www-form-urlencoded",
        }
        answer = await emulator.handle(
            "PUT", f"/v1/contacts/{cid}", "", headers, b"values%5Bcity%5D=Rivne"
        )
        return answer.status

    assert anyio.run(go) == 200
    assert emulator.contact_info(cid)["city"] == "Rivne"


def test_many_threads_writing_at_once_lose_nothing(emulator: Emulator) -> None:
    cid = emulator.contact_ids()[0]
    wa = next(c for c in emulator.channels() if c["type"] == "whatsapp")["id"]
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def worker(n: int) -> None:
        try:
            start.wait()
            for k in range(25):
                name = f"e{n}-{k}".encode()
                assert (
                    call(
                        emulator, "POST", f"/v1/contacts/{cid}/fire", b'{"name":"' + name + b'"}'
                    ).status
                    == 200
                )
                gate = b'{"identifier":"380500000001","firstName":"Same"}'
                assert call(emulator, "POST", f"/v1/channels/{wa}/gates", gate).status == 200
        except BaseException as exc:  # collected and re-raised in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    fired = emulator.fired(cid)
    assert len(fired) == 200 and len(set(fired)) == 200
    # The idempotent gate creation made exactly one contact, whatever the interleaving.
    assert len(emulator.contact_ids()) == 6 + 1


def test_deleting_then_editing_a_message_is_refused(emulator: Emulator) -> None:
    chat = emulator.chat_ids()[0]
    sent = call(
        emulator,
        "POST",
        f"/v1/contacts/{emulator.contact_id_of(chat)}/send",
        b'{"type":"text","content":"hi"}',
    )
    message = json.loads(sent.body)
    gate = message["gate"]["id"]
    ids = b'{"messageIds":[%d]}' % message["id"]
    assert call(emulator, "DELETE", f"/v1/gates/{gate}/messages", ids).status == 200
    edit = b'{"messageId":%d,"text":"again"}' % message["id"]
    assert call(emulator, "PUT", f"/v1/gates/{gate}/messages", edit).status == 422
    assert emulator.message(message["id"])["content"]["type"] == "transient"


def test_a_deleted_tag_cannot_be_attached_and_leaves_contacts(emulator: Emulator) -> None:
    cid = emulator.contact_ids()[0]
    made = call(emulator, "POST", "/v1/tags", b'{"name":"temp"}')
    tag_id = json.loads(made.body)["id"]
    assert call(emulator, "POST", f"/v1/contacts/{cid}/tags/{tag_id}", b"[]").status == 200
    assert call(emulator, "DELETE", f"/v1/tags/{tag_id}").status == 200
    assert tag_id not in [t["id"] for t in emulator.contact(cid)["tags"]]
    assert call(emulator, "POST", f"/v1/contacts/{cid}/tags/{tag_id}").status == 404


def test_serve_command_takes_the_fidelity_options() -> None:
    args = build_parser().parse_args(
        [
            "serve",
            "--bad-token-status",
            "403",
            "--message-limitation-max",
            "100",
            "--transient-timestamp",
            "iso",
        ]
    )
    assert (args.bad_token_status, args.message_limitation_max, args.transient_timestamp) == (
        403,
        100,
        "iso",
    )
    for bad in (["--bad-token-status", "404"], ["--message-limitation-max", "101"]):
        with pytest.raises(SystemExit):
            build_parser().parse_args(["serve", *bad])
