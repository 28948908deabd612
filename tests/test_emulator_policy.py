"""The emulator's quota and lock policy (on a fake clock), counters, faults, churn,
determinism and scale."""

from __future__ import annotations

import tracemalloc
from typing import Any

import anyio
import httpx
import pytest

from smartsender_async.testing import Emulator, FakeClock, Faults

AUTH = {"authorization": "Bearer emulator-token"}


async def call(
    emulator: Emulator, path: str = "/v1/chats", query: str = "", token: str = "emulator-token"
) -> Any:
    return await emulator.handle("GET", path, query, {"authorization": f"Bearer {token}"}, b"")


def locked_message(seconds: int) -> bytes:
    return (
        b'{"error":{"code":423,"message":"Too many requests. Please, try again in '
        + str(seconds).encode()
        + b' seconds"}}'
    )


# ---------------------------------------------------------------------- quota and lock


async def test_the_181st_request_in_a_minute_is_locked_for_60_seconds() -> None:
    clock = FakeClock()
    emulator = Emulator(chats=5, clock=clock)
    for _ in range(180):
        assert (await call(emulator)).status == 200
        clock.advance(0.1)
    refused = await call(emulator)
    assert (refused.status, refused.body) == (423, locked_message(60))
    assert dict(refused.headers).get("retry-after") is None
    assert (emulator.stats.locked, emulator.stats.lock_events) == (1, 1)


async def test_lock_policy_escalates_and_caps_on_a_scaled_clock() -> None:
    clock = FakeClock()
    emulator = Emulator(chats=5, clock=clock, rate_limit=(30, 2.0))
    expected_locks = [2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 24, 24]
    for breach, lock in enumerate(expected_locks, start=1):
        for _ in range(30):
            assert (await call(emulator)).status == 200
        refused = await call(emulator)
        assert (refused.status, refused.body) == (423, locked_message(lock))
        assert emulator.stats.lock_events == breach
        # During the lock every request is refused with the time left, rounded up...
        clock.advance(lock - 0.5)
        assert (await call(emulator)).body == locked_message(1)
        clock.advance(0.49)
        assert (await call(emulator)).body == locked_message(1)
        # ...and the lock ends on time, not extended by the refused requests.
        clock.advance(0.01)
    assert emulator.stats.locked == 3 * len(expected_locks)
    assert emulator.quota is not None and emulator.quota.breaches("emulator-token") == 14


async def test_the_window_slides() -> None:
    clock = FakeClock()
    emulator = Emulator(chats=5, clock=clock, rate_limit=(30, 2.0))
    for _ in range(15):
        assert (await call(emulator)).status == 200
    clock.advance(1.5)
    for _ in range(15):
        assert (await call(emulator)).status == 200
    clock.advance(0.4)  # t=1.9: all 30 still inside the window
    assert (await call(emulator)).status == 423
    emulator.reset_quota()
    clock.advance(10)
    for _ in range(15):
        await call(emulator)
    clock.advance(1.5)
    for _ in range(15):
        await call(emulator)
    clock.advance(0.5)  # t=2.0 after the first 15: they left the window
    for _ in range(15):
        assert (await call(emulator)).status == 200
    assert (await call(emulator)).status == 423


async def test_refused_requests_do_not_count_toward_the_window() -> None:
    clock = FakeClock()
    emulator = Emulator(chats=5, clock=clock, rate_limit=(3, 2.0))
    for _ in range(3):
        await call(emulator)
    assert (await call(emulator)).status == 423
    for _ in range(50):
        clock.advance(0.01)
        assert (await call(emulator)).status == 423
    clock.advance(1.5)
    assert [(await call(emulator)).status for _ in range(4)] == [200, 200, 200, 423]


async def test_retry_after_header_is_a_switch() -> None:
    clock = FakeClock()
    emulator = Emulator(chats=5, clock=clock, rate_limit=(2, 2.0), retry_after_header=True)
    await call(emulator)
    await call(emulator)
    refused = await call(emulator)
    assert ("retry-after", "2") in refused.headers
    clock.advance(0.7)
    assert ("retry-after", "2") in (await call(emulator)).headers
    clock.advance(0.4)
    assert ("retry-after", "1") in (await call(emulator)).headers


async def test_each_token_has_its_own_quota() -> None:
    clock = FakeClock()
    emulator = Emulator(chats=5, clock=clock, rate_limit=(2, 2.0), tokens=["second"])
    for _ in range(3):
        await call(emulator)
    assert (await call(emulator)).status == 423
    assert (await call(emulator, token="second")).status == 200
    assert (await call(emulator, token="third")).status == 401
    anyone = Emulator(chats=5, clock=clock, rate_limit=(1, 2.0), accept_any_token=True)
    assert [(await call(anyone, token=t)).status for t in ("a", "b", "a", "b")] == [
        200,
        200,
        423,
        423,
    ]
    assert anyone.stats.by_token == {"a": 2, "b": 2}


async def test_unauthenticated_and_unrouted_requests_use_no_quota() -> None:
    emulator = Emulator(chats=5, clock=FakeClock(), rate_limit=(2, 2.0))
    for _ in range(5):
        assert (await call(emulator, token="nope")).status == 401
        assert (await call(emulator, path="/v1/nowhere")).status == 404
    assert [(await call(emulator)).status for _ in range(3)] == [200, 200, 423]


async def test_counters_are_exact_and_resettable() -> None:
    emulator = Emulator(chats=5, clock=FakeClock(), rate_limit=(3, 2.0))
    await call(emulator, "/v1/chats/48001/messages")
    await call(emulator, "/v1/chats/48001/messages")
    await call(emulator, "/v1/chats/48001")
    await call(emulator, "/v1/chats")
    await call(emulator, "/v1/chats", token="bad")
    await call(emulator, "/v1/nope")
    stats = emulator.stats
    assert stats.requests == 6
    assert stats.by_endpoint == {
        "GET /chats/{chatId}/messages": 2,
        "GET /chats/{chatId}": 1,
        "GET /chats": 2,
        "GET <unmatched>": 1,
    }
    assert stats.by_status == {200: 3, 423: 1, 401: 1, 404: 1}
    assert stats.by_token == {"emulator-token": 5, "bad": 1}
    assert (stats.locked, stats.lock_events) == (1, 1)
    stats.reset()
    assert (stats.requests, stats.locked, stats.lock_events, sum(stats.by_endpoint.values())) == (
        0,
        0,
        0,
        0,
    )


# ---------------------------------------------------------------------- faults


async def test_error_faults_answer_500_json_and_502_503_html() -> None:
    emulator = Emulator(chats=5, rate_limit=None, faults=Faults(error_rate=1.0))
    bodies = {}
    for _ in range(40):
        response = await call(emulator)
        bodies[response.status] = response
    assert set(bodies) == {500, 502, 503}
    assert bodies[500].body == b'{"error":{"code":500,"message":"Server Error"}}'
    for status, title in ((502, b"502 Bad Gateway"), (503, b"503 Service Temporarily Unavailable")):
        assert ("content-type", "text/html") in bodies[status].headers
        assert b"<title>" + title + b"</title>" in bodies[status].body
        assert b"nginx" in bodies[status].body
    assert emulator.stats.faults["error"] == 40


async def test_a_faulted_send_did_not_happen_unless_after_processing() -> None:
    emulator = Emulator(
        chats=5, rate_limit=None, faults=Faults(error_rate=1.0, error_statuses=(502,))
    )
    chat_id = emulator.chat_ids()[0]
    before = emulator.message_ids(chat_id)
    path = f"/v1/contacts/{emulator.contact_id_of(chat_id)}/send"
    body = b'{"type":"text","content":"hi"}'
    headers = {**AUTH, "content-type": "application/json"}
    assert (await emulator.handle("POST", path, "", headers, body)).status == 502
    assert emulator.message_ids(chat_id) == before
    emulator.faults.after_processing = True
    assert (await emulator.handle("POST", path, "", headers, body)).status == 502
    assert len(emulator.message_ids(chat_id)) == len(before) + 1
    emulator.faults.error_rate = 0.0  # switchable at run time
    assert (await emulator.handle("POST", path, "", headers, body)).status == 200


async def test_fault_draws_are_seeded() -> None:
    async def run(seed: int) -> list[int]:
        emulator = Emulator(seed=seed, chats=5, rate_limit=None, faults=Faults(error_rate=0.3))
        return [(await call(emulator)).status for _ in range(60)]

    first = await run(1)
    assert first == await run(1)
    assert first != await run(2)
    assert 5 < sum(s != 200 for s in first) < 35


async def test_a_slow_response_trips_the_client_read_timeout_in_process() -> None:
    emulator = Emulator(chats=5, rate_limit=None, faults=Faults(slow_rate=1.0, slow_seconds=30))
    chat_id = emulator.chat_ids()[0]
    async with emulator.http_client(timeout=httpx.Timeout(5.0, read=0.05)) as http:
        with pytest.raises(httpx.ReadTimeout):
            await http.put(f"/chats/{chat_id}/close")
    assert emulator.chat_status(chat_id).state == "open"  # decided before processing
    assert emulator.stats.faults == {"slow": 1, "timeout": 1}
    assert emulator.stats.requests == 1 and not emulator.stats.by_status


async def test_latency_delays_every_response() -> None:
    emulator = Emulator(chats=5, rate_limit=None, faults=Faults(latency=0.2))
    async with emulator.http_client(timeout=httpx.Timeout(5.0, read=0.01)) as http:
        with pytest.raises(httpx.ReadTimeout):
            await http.get("/chats")
        with pytest.raises(httpx.ReadTimeout):  # even a 401 takes its time
            await http.get("/chats", headers={"authorization": "Bearer bad"})
    emulator.faults.latency = 0.0
    async with emulator.http_client(timeout=httpx.Timeout(5.0, read=0.01)) as http:
        assert (await http.get("/chats")).status_code == 200


async def test_drops_need_sockets() -> None:
    emulator = Emulator(chats=5, rate_limit=None, faults=Faults(drop_rate=1.0))
    assert (await call(emulator)).status == 200
    response = await emulator.handle("GET", "/v1/chats", "", AUTH, b"", sockets=True)
    assert response.drop
    assert emulator.stats.faults == {"drop": 1}


# ---------------------------------------------------------------------- churn and ordering


async def test_churn_is_clock_driven_and_moves_chats_to_page_one() -> None:
    clock = FakeClock()
    emulator = Emulator(
        seed=3, chats=200, messages_per_chat=10, rate_limit=None, clock=clock, churn_per_s=2.0
    )
    async with emulator.http_client() as http:
        page1 = [c["id"] for c in (await http.get("/chats")).json()["collection"]]
        page2 = [
            c["id"] for c in (await http.get("/chats", params={"page": 2})).json()["collection"]
        ]
        assert emulator.stats.churn_messages == 0
        clock.advance(10)
        shifted = (await http.get("/chats", params={"page": 2})).json()["collection"]
    arrived = emulator.stats.churn_messages
    assert 5 <= arrived <= 40
    assert [c["id"] for c in shifted] != page2  # the pages shifted under the reader
    head = emulator.chat_ids()[0]
    newest = emulator.message(emulator.message_ids(head)[0])
    assert newest["sender"]["type"] == "contact"
    assert newest["content"]["type"] == "text"
    assert emulator.chat(head)["updatedAt"] == newest["createdAt"]
    assert emulator.chat(head)["updatedAt"].startswith(
        "2026-03-18T12:00:"
    )  # arrived on the fake clock
    assert page1[0] != head or arrived > 1


async def test_churn_is_deterministic_and_switchable() -> None:
    def run() -> tuple[list[int], int]:
        clock = FakeClock()
        emulator = Emulator(
            seed=5, chats=100, messages_per_chat=5, rate_limit=None, clock=clock, churn_per_s=5
        )
        clock.advance(3)
        emulator.tick()
        emulator.churn_per_s = 0
        clock.advance(100)
        assert emulator.tick() == 0
        return emulator.chat_ids()[:20], emulator.stats.churn_messages

    first = run()
    assert first == run()
    assert first[1] > 0


async def test_an_inbound_message_reopens_and_raises_unread() -> None:
    clock = FakeClock()
    emulator = Emulator(chats=30, rate_limit=None, clock=clock)
    chat_id = emulator.chat_ids()[-1]
    async with emulator.http_client() as http:
        await http.put(f"/chats/{chat_id}/close")
        await http.put(f"/chats/{chat_id}/read")
        clock.advance(30)
        message = emulator.add_inbound_message(chat_id, text="Anyone there?")
        assert emulator.message_ids(chat_id)[0] == message["id"]
        status = emulator.chat_status(chat_id)
        assert (status.state, status.unread_messages) == ("open", 1)
        head = (await http.get("/chats", params={"limitation": 1, "state": "open"})).json()[
            "collection"
        ][0]
        assert head["id"] == chat_id and head["updatedAt"] == "2026-03-18T12:00:30.000000Z"


async def test_bumps_keep_every_chat_exactly_once_in_the_listing() -> None:
    clock = FakeClock()
    emulator = Emulator(seed=9, chats=57, messages_per_chat=3, rate_limit=None, clock=clock)
    order = emulator.chat_ids()
    for n, chat_id in enumerate([order[40], order[3], order[56], order[40], order[0]]):
        clock.advance(1)
        emulator.add_inbound_message(chat_id, text=str(n))
    expected = [order[0], order[40], order[56], order[3]]
    expected += [c for c in order if c not in expected]
    async with emulator.http_client() as http:
        for limitation in (1, 7, 20):
            listed: list[int] = []
            page = 1
            while True:
                body = (
                    await http.get("/chats", params={"page": page, "limitation": limitation})
                ).json()
                listed += [c["id"] for c in body["collection"]]
                if page >= body["cursor"]["pages"]:
                    break
                page += 1
            assert listed == expected == emulator.chat_ids()


# ---------------------------------------------------------------------- determinism and scale


async def test_same_seed_and_requests_give_identical_bytes() -> None:
    async def transcript(seed: int) -> list[bytes]:
        clock = FakeClock()
        emulator = Emulator(
            seed=seed,
            chats=50,
            messages_per_chat=40,
            rate_limit=(5, 2.0),
            clock=clock,
            churn_per_s=1,
        )
        out = []
        for step in range(12):
            clock.advance(0.7)
            out.append((await call(emulator, "/v1/chats", f"page={step % 3 + 1}")).body)
            out.append(
                (await call(emulator, f"/v1/chats/{48000 + step}/messages", "activities=1")).body
            )
        send = await emulator.handle(
            "POST", "/v1/contacts/90100003/send", "", {**AUTH, "content-type": "application/json"},
            b'{"type":"text","content":"x"}',
        )  # fmt: skip
        out.append(send.body)
        return out

    first = await transcript(11)
    assert first == await transcript(11)
    assert first != await transcript(12)


def peak_bytes_to_build(**kwargs: Any) -> tuple[int, Emulator]:
    tracemalloc.start()
    try:
        emulator = Emulator(rate_limit=None, **kwargs)
        return tracemalloc.get_traced_memory()[1], emulator
    finally:
        tracemalloc.stop()


def test_histories_are_not_built_up_front() -> None:
    small, _ = peak_bytes_to_build(chats=10_000, messages_per_chat=1)
    large, emulator = peak_bytes_to_build(chats=10_000, messages_per_chat=1_000)  # 10 million
    assert large < small * 1.2
    assert large < 8 * 2**20
    last = emulator.store.chat_id(emulator.store.initial[-1])
    ids = emulator.message_ids(last)
    assert len(ids) == 1_000
    assert emulator.message(ids[-1])["createdAt"] < emulator.message(ids[0])["createdAt"]


def test_a_hundred_thousand_chats_answer_on_any_page() -> None:
    emulator = Emulator(chats=100_000, messages_per_chat=100, rate_limit=None)
    assert emulator.store.n * emulator.store.m == 10_000_000

    async def pages() -> None:
        async with emulator.http_client() as http:
            last = (await http.get("/chats", params={"page": 5000})).json()
            assert last["cursor"] == {"page": 5000, "pages": 5000}
            chat_id = last["collection"][-1]["id"]
            body = (
                await http.get(f"/chats/{chat_id}/messages", params={"activities": 1, "page": 5})
            ).json()
            assert body["cursor"] == {"page": 5, "pages": 5} and len(body["collection"]) == 20

    anyio.run(pages)
