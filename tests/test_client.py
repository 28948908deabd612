"""The client against respx: exact requests, error mapping, validation, secrets, lifecycle."""

from __future__ import annotations

import gc
import json
import logging
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import anyio
import httpx
import pytest
import respx

from smartsender_async import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    ContactCard,
    File,
    Location,
    NotFoundError,
    PermissionDeniedError,
    Picture,
    RateLimitedError,
    ResponseDecodeError,
    ServerError,
    SmartSender,
    Text,
    UnprocessableEntityError,
    __version__,
)
from smartsender_async import outgoing as out
from smartsender_async.models import Chat, Contact, Message, Operator, Page

BASE = "https://api.smartsender.com/v1"
TOKEN = "tok-SECRET-1234567890"
PAGE: dict[str, Any] = {"cursor": {"page": 1, "pages": 1}, "collection": []}
MESSAGE = {"id": 77, "content": {"type": "text", "resource": {"parameters": {"content": "hi"}}}}
ACK = {"state": True}


@pytest.fixture
def mock() -> respx.MockRouter:
    with respx.mock(base_url=BASE, assert_all_called=False) as router:
        yield router


@pytest.fixture
async def client() -> AsyncIterator[SmartSender]:
    async with SmartSender(TOKEN, retry=None, rate_limit=None) as c:
        yield c


def sent(mock: respx.MockRouter) -> httpx.Request:
    assert mock.calls.call_count == 1
    return mock.calls.last.request


def query(request: httpx.Request) -> dict[str, str]:
    return dict(request.url.params)


def body(request: httpx.Request) -> Any:
    return json.loads(request.content)


# --------------------------------------------------------------------------- configuration


def test_token_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMARTSENDER_TOKEN", "from-env")
    monkeypatch.setenv("SMARTSENDER_BASE_URL", "http://127.0.0.1:1/v1")
    client = SmartSender(rate_limit=None)
    assert client.base_url == "http://127.0.0.1:1/v1"
    anyio.run(client.aclose)


def test_default_base_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SMARTSENDER_BASE_URL", raising=False)
    client = SmartSender(TOKEN)
    assert client.base_url == "https://api.smartsender.com/v1"
    anyio.run(client.aclose)


def test_missing_token_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SMARTSENDER_TOKEN", raising=False)
    with pytest.raises(ConfigurationError, match="SMARTSENDER_TOKEN"):
        SmartSender()


@pytest.mark.parametrize("bad", ["", "   "])
def test_empty_token_rejected(bad: str) -> None:
    with pytest.raises(ConfigurationError):
        SmartSender(bad)


def test_http_client_and_transport_exclusive() -> None:
    with pytest.raises(ConfigurationError):
        SmartSender(
            TOKEN, http_client=httpx.AsyncClient(), transport=httpx.MockTransport(lambda r: None)
        )  # type: ignore[arg-type,return-value]


async def test_headers(mock: respx.MockRouter, client: SmartSender) -> None:
    mock.get("/chats/1").respond(json={"id": 1})
    await client.chats.get(1)
    headers = sent(mock).headers
    assert headers["authorization"] == f"Bearer {TOKEN}"
    assert headers["accept"] == "application/json"
    assert headers["user-agent"] == f"smartsender-async/{__version__}"


# --------------------------------------------------------------------------- endpoints


async def test_chats_list_default_query(mock: respx.MockRouter, client: SmartSender) -> None:
    mock.get("/chats").respond(json=PAGE)
    page = await client.chats.list()
    assert isinstance(page, Page)
    request = sent(mock)
    assert request.method == "GET"
    assert request.url.path == "/v1/chats"
    assert query(request) == {"page": "1", "limitation": "20"}


async def test_chats_list_filters(mock: respx.MockRouter, client: SmartSender) -> None:
    mock.get("/chats").respond(json=PAGE)
    await client.chats.list(2, 5, term="ann", state="closed", selector="private", operator_id=12)
    assert query(sent(mock)) == {
        "page": "2",
        "limitation": "5",
        "term": "ann",
        "state": "closed",
        "selector[name]": "private",
        "selector[operatorId]": "12",
    }


async def test_chats_list_unread(mock: respx.MockRouter, client: SmartSender) -> None:
    mock.get("/chats").respond(json=PAGE)
    await client.chats.list(selector="unread", state="open")
    assert query(sent(mock)) == {
        "page": "1",
        "limitation": "20",
        "selector[name]": "unread",
        "state": "open",
    }


async def test_chats_get(mock: respx.MockRouter, client: SmartSender) -> None:
    mock.get("/chats/48213").respond(json={"id": 48213, "name": "Iryna"})
    chat = await client.chats.get(48213)
    assert isinstance(chat, Chat)
    assert chat.name == "Iryna"
    assert chat.response_info is not None and chat.response_info.retries_taken == 0


async def test_chats_get_accepts_numeric_string(
    mock: respx.MockRouter, client: SmartSender
) -> None:
    mock.get("/chats/5").respond(json={"id": 5})
    await client.chats.get("5")  # type: ignore[arg-type]
    assert sent(mock).url.path == "/v1/chats/5"


@pytest.mark.parametrize("action", ["read", "close"])
async def test_chats_read_close(mock: respx.MockRouter, client: SmartSender, action: str) -> None:
    mock.put(f"/chats/9/{action}").respond(json=ACK)
    assert await getattr(client.chats, action)(9) is None
    request = sent(mock)
    assert request.method == "PUT"
    assert request.content == b""


async def test_chats_assign(mock: respx.MockRouter, client: SmartSender) -> None:
    mock.post("/chats/9/forward/3").respond(json=ACK)
    assert await client.chats.assign(9, 3, text="VIP, please") is None
    request = sent(mock)
    assert request.method == "POST"
    assert body(request) == {"text": "VIP, please"}
    assert request.headers["content-type"] == "application/json"


async def test_chats_messages(mock: respx.MockRouter, client: SmartSender) -> None:
    mock.get("/chats/9/messages").respond(
        json={"cursor": {"page": 2, "pages": 3}, "collection": [MESSAGE]}
    )
    page = await client.chats.messages(9, 2, 10)
    assert query(sent(mock)) == {"page": "2", "limitation": "10"}
    assert isinstance(page.items[0], Message)
    assert page.items[0].text == "hi"


async def test_chats_messages_activities(mock: respx.MockRouter, client: SmartSender) -> None:
    mock.get("/chats/9/messages").respond(json=PAGE)
    await client.chats.messages(9, activities=True)
    assert query(sent(mock))["activities"] == "1"


async def test_contacts_get_chat_messages(mock: respx.MockRouter, client: SmartSender) -> None:
    mock.get("/contacts/4").respond(json={"id": 4, "fullName": "Ann"})
    mock.get("/contacts/4/chat").respond(json={"id": 40})
    mock.get("/contacts/4/messages").respond(json=PAGE)
    contact = await client.contacts.get(4)
    assert isinstance(contact, Contact) and contact.full_name == "Ann"
    chat = await client.contacts.chat(4)
    assert chat.id == 40
    await client.contacts.messages(4, 3, 7, activities=True)
    assert query(mock.calls.last.request) == {"page": "3", "limitation": "7", "activities": "1"}


async def test_contacts_search(mock: respx.MockRouter, client: SmartSender) -> None:
    mock.get("/contacts/search").respond(
        json={"cursor": {"page": 1, "pages": 1}, "collection": [{"id": 4}]}
    )
    page = await client.contacts.search("ann", limitation=10)
    assert query(sent(mock)) == {"page": "1", "limitation": "10", "term": "ann"}
    assert page.items[0].id == 4


async def test_contacts_list(mock: respx.MockRouter, client: SmartSender) -> None:
    mock.get("/contacts").respond(json=PAGE)
    await client.contacts.list(2)
    assert query(sent(mock)) == {"page": "2", "limitation": "20"}


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("hello", {"type": "text", "content": "hello"}),
        (Text("hello"), {"type": "text", "content": "hello"}),
        (Picture("https://x/p.jpg"), {"type": "picture", "media": "https://x/p.jpg"}),
        (File("https://x/f.pdf"), {"type": "file", "media": "https://x/f.pdf"}),
        (out.Video("https://x/v.mp4"), {"type": "video", "media": "https://x/v.mp4"}),
        (out.Audio("https://x/a.mp3"), {"type": "audio", "media": "https://x/a.mp3"}),
        (out.Voice("https://x/v.ogg"), {"type": "voice", "media": "https://x/v.ogg"}),
        (out.Animation("https://x/a.gif"), {"type": "animation", "media": "https://x/a.gif"}),
        (
            Location(50.45, 30.52, title="Office"),
            {"type": "location", "title": "Office", "latitude": 50.45, "longitude": 30.52},
        ),
        (
            ContactCard("Ann Lee", "+380501112233"),
            {"type": "contact", "fullName": "Ann Lee", "phoneNumber": "+380501112233"},
        ),
    ],
)
async def test_contacts_send_every_type(
    mock: respx.MockRouter, client: SmartSender, message: Any, expected: dict[str, Any]
) -> None:
    mock.post("/contacts/4/send").respond(json=MESSAGE)
    result = await client.contacts.send(4, message)
    assert isinstance(result, Message) and result.id == 77
    sent_body = body(sent(mock))
    watermark = sent_body.pop("watermark")
    assert isinstance(watermark, int) and watermark > 1_600_000_000
    assert sent_body == expected


async def test_send_explicit_watermark(mock: respx.MockRouter, client: SmartSender) -> None:
    mock.post("/contacts/4/send").respond(json=MESSAGE)
    await client.contacts.send(4, Text("x", watermark=1))
    assert body(sent(mock))["watermark"] == 1


async def test_operators_list(mock: respx.MockRouter, client: SmartSender) -> None:
    mock.get("/operators").respond(
        json={
            "cursor": {"page": 1, "pages": 1},
            "collection": [{"id": 3, "info": {"fullName": "Olga"}}],
        }
    )
    page = await client.operators.list()
    assert isinstance(page.items[0], Operator) and page.items[0].full_name == "Olga"
    assert query(sent(mock)) == {"page": "1", "limitation": "20"}


async def test_gates_edit_and_delete(mock: respx.MockRouter, client: SmartSender) -> None:
    mock.put("/gates/7/messages").respond(json=ACK)
    mock.delete("/gates/7/messages").respond(json=ACK)
    await client.gates.edit_message(7, 55, "fixed typo")
    assert body(mock.calls.last.request) == {"text": "fixed typo", "messageId": 55}
    await client.gates.delete_messages(7, [55, 56])
    request = mock.calls.last.request
    assert request.method == "DELETE"
    assert body(request) == {"messageIds": [55, 56]}


@pytest.mark.parametrize("answer", [{"state": False}, {}, [], {"state": "yes"}])
async def test_ack_other_than_state_true_raises(
    mock: respx.MockRouter, client: SmartSender, answer: Any
) -> None:
    mock.put("/chats/9/read").respond(json=answer)
    with pytest.raises(ResponseDecodeError) as info:
        await client.chats.read(9)
    assert info.value.status_code == 200


async def test_request_escape_hatch(mock: respx.MockRouter, client: SmartSender) -> None:
    mock.get("/tags").respond(json={"cursor": {"page": 1, "pages": 1}, "collection": [{"id": 1}]})
    data = await client.request("GET", "/tags", params={"page": 1})
    assert data["collection"] == [{"id": 1}]


# --------------------------------------------------------------------------- bad input


def _call(name: str, *args: Any, **kwargs: Any) -> Callable[[SmartSender], Awaitable[Any]]:
    def run(client: SmartSender) -> Awaitable[Any]:
        resource, method = name.split(".")
        return getattr(getattr(client, resource), method)(*args, **kwargs)  # type: ignore[no-any-return]

    return run


BAD_CALLS = [
    (_call("chats.list", 0), ValueError, "page"),
    (_call("chats.list", 1, 0), ValueError, "limitation"),
    (_call("chats.list", 1, 21), ValueError, "limitation"),
    (_call("chats.list", "1"), TypeError, "page"),
    (_call("chats.list", state="pending"), ValueError, "state"),
    (_call("chats.list", selector="mine"), ValueError, "selector"),
    (_call("chats.list", selector="private"), ValueError, "operator_id"),
    (_call("chats.list", operator_id=3), ValueError, "operator_id"),
    (_call("chats.list", selector="private", operator_id=0), ValueError, "operator_id"),
    (_call("chats.list", term=""), ValueError, "term"),
    (_call("chats.get", 0), ValueError, "chat_id"),
    (_call("chats.get", -5), ValueError, "chat_id"),
    (_call("chats.get", None), TypeError, "chat_id"),
    (_call("chats.get", True), TypeError, "chat_id"),
    (_call("chats.read", 0), ValueError, "chat_id"),
    (_call("chats.assign", 1, 0), ValueError, "operator_id"),
    (_call("chats.assign", 1, 2, text=""), ValueError, "text"),
    (_call("chats.messages", 1, limitation=50), ValueError, "limitation"),
    (_call("contacts.search", ""), ValueError, "term"),
    (_call("contacts.get", "abc"), TypeError, "contact_id"),
    (_call("contacts.send", 4, ""), ValueError, "content"),
    (_call("contacts.send", 4, 42), TypeError, "message"),
    (_call("contacts.send", 0, "hi"), ValueError, "contact_id"),
    (_call("gates.edit_message", 1, 2, ""), ValueError, "text"),
    (_call("gates.edit_message", 1, 0, "x"), ValueError, "message_id"),
    (_call("gates.delete_messages", 1, []), ValueError, "message_ids"),
    (_call("gates.delete_messages", 1, [0]), ValueError, "message_ids"),
    (_call("gates.delete_messages", 0, [1]), ValueError, "gate_id"),
    (_call("operators.list", limitation=100), ValueError, "limitation"),
]


@pytest.mark.parametrize(("call", "exc", "name"), BAD_CALLS)
async def test_bad_input_rejected_before_any_request(
    mock: respx.MockRouter, client: SmartSender, call: Any, exc: type[Exception], name: str
) -> None:
    mock.route().respond(json=PAGE)
    with pytest.raises(exc, match=name):
        await call(client)
    assert mock.calls.call_count == 0


@pytest.mark.parametrize(
    ("build", "exc", "name"),
    [
        (lambda: Text(""), ValueError, "content"),
        (lambda: Picture(""), ValueError, "url"),
        (lambda: Location(None, 30.0, "Office"), ValueError, "latitude"),  # type: ignore[arg-type]
        (lambda: Location(91.0, 30.0, "Office"), ValueError, "latitude"),
        (lambda: Location(50.0, float("nan"), "Office"), ValueError, "longitude"),
        (lambda: Location(50.0, 30.0, ""), ValueError, "title"),
        (lambda: ContactCard("", "+1"), ValueError, "full_name"),
        (lambda: ContactCard("Ann", ""), ValueError, "phone_number"),
        (lambda: Text("x", watermark=-1), ValueError, "watermark"),
    ],
)
def test_outgoing_validation(build: Callable[[], Any], exc: type[Exception], name: str) -> None:
    with pytest.raises(exc, match=name):
        build()


def test_location_without_coordinates() -> None:
    with pytest.raises(TypeError):
        Location()  # type: ignore[call-arg]


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (422, UnprocessableEntityError),
        (423, RateLimitedError),
        (429, RateLimitedError),
        (500, ServerError),
        (502, ServerError),
        (503, ServerError),
        (418, APIError),
    ],
)
async def test_status_maps_to_exception(
    mock: respx.MockRouter, client: SmartSender, status: int, cls: type[APIError]
) -> None:
    mock.get("/chats/1").respond(status, json={"error": {"code": status, "message": "Nope"}})
    with pytest.raises(cls) as info:
        await client.chats.get(1)
    err = info.value
    assert type(err) is cls
    assert err.status_code == status
    assert err.message == "Nope"
    assert err.response is not None and err.response.status_code == status
    assert err.retries_taken == 0


async def test_validation_description(mock: respx.MockRouter, client: SmartSender) -> None:
    mock.get("/chats").respond(
        422,
        json={
            "error": {
                "code": 422,
                "message": "Unprocessable entity",
                "description": {"term": ["too long"]},
            }
        },
    )
    with pytest.raises(UnprocessableEntityError) as info:
        await client.chats.list()
    assert info.value.description == {"term": ["too long"]}


async def test_rate_lock_retry_after_from_body(mock: respx.MockRouter, client: SmartSender) -> None:
    mock.get("/chats/1").respond(
        423,
        json={
            "error": {"code": 423, "message": "Too many requests. Please, try again in 120 seconds"}
        },
    )
    with pytest.raises(RateLimitedError) as info:
        await client.chats.get(1)
    assert info.value.retry_after == 120
    assert "120" in str(info.value)


async def test_rate_lock_retry_after_header(mock: respx.MockRouter, client: SmartSender) -> None:
    mock.get("/chats/1").respond(429, headers={"Retry-After": "7"}, json={})
    with pytest.raises(RateLimitedError) as info:
        await client.chats.get(1)
    assert info.value.retry_after == 7


async def test_html_502(mock: respx.MockRouter, client: SmartSender) -> None:
    html = "<html><body><h1>502 Bad Gateway</h1>nginx</body></html>"
    mock.get("/chats/1").respond(502, text=html, headers={"content-type": "text/html"})
    with pytest.raises(ServerError) as info:
        await client.chats.get(1)
    assert info.value.status_code == 502
    assert "502 Bad Gateway" in info.value.raw_body
    assert info.value.body is None


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"", "empty"),
        (b'{"cursor": {"page": 1, "pa', "not JSON"),
        (b"<html>oops</html>", "not JSON"),
    ],
)
async def test_undecodable_success_bodies(
    mock: respx.MockRouter, client: SmartSender, content: bytes, problem: str
) -> None:
    mock.get("/chats").respond(200, content=content)
    with pytest.raises(ResponseDecodeError, match=problem) as info:
        await client.chats.list()
    assert info.value.status_code == 200
    assert info.value.raw_body == content.decode()


@pytest.mark.parametrize(
    "payload",
    [
        {"collection": []},
        {"cursor": {"page": 1, "pages": 1}, "collection": [{"name": "no id"}]},
        {"cursor": {"page": 1, "pages": 1}, "collection": [{"id": "x1"}]},
        [1, 2, 3],
        {"error": "no code"},
    ],
)
async def test_unexpected_shapes_are_typed(
    mock: respx.MockRouter, client: SmartSender, payload: Any
) -> None:
    mock.get("/chats").respond(json=payload)
    with pytest.raises(ResponseDecodeError) as info:
        await client.chats.list()
    assert json.loads(info.value.raw_body) == payload


async def test_decode_error_keeps_the_response(mock: respx.MockRouter, client: SmartSender) -> None:
    mock.get("/chats").respond(200, text="<html>oops</html>")
    with pytest.raises(ResponseDecodeError) as info:
        await client.chats.list()
    assert info.value.response is not None and info.value.response.status_code == 200
    assert info.value.response.request.headers["authorization"] == "[redacted]"


@pytest.mark.parametrize(("code", "cls"), [(404, NotFoundError), (500, ServerError)])
async def test_error_envelope_under_200_is_typed_by_its_code(
    mock: respx.MockRouter, client: SmartSender, code: int, cls: type[APIError]
) -> None:
    mock.get("/chats/1").respond(200, json={"error": {"code": code, "message": "Not found"}})
    with pytest.raises(cls) as info:
        await client.chats.get(1)
    assert info.value.status_code == code
    assert info.value.message == "Not found"


async def test_huge_error_body_is_truncated(mock: respx.MockRouter, client: SmartSender) -> None:
    mock.get("/chats/1").respond(500, text="x" * 1_000_000)
    with pytest.raises(ServerError) as info:
        await client.chats.get(1)
    assert len(info.value.raw_body) <= 2000


async def test_connection_errors_are_wrapped(mock: respx.MockRouter, client: SmartSender) -> None:
    mock.get("/chats/1").mock(side_effect=httpx.ConnectError("refused"))
    with pytest.raises(APIConnectionError):
        await client.chats.get(1)
    mock.get("/chats/2").mock(side_effect=httpx.ReadTimeout("slow"))
    with pytest.raises(APITimeoutError):
        await client.chats.get(2)


# --------------------------------------------------------------------------- secrets


def _all_text(obj: Any, seen: set[int] | None = None, depth: int = 0) -> str:
    """Everything reachable from an exception's attributes, as text."""
    seen = set() if seen is None else seen
    if id(obj) in seen or depth > 6 or type(obj).__module__.startswith("respx"):
        return ""  # respx's own records of the mocked call are test harness, not ours
    seen.add(id(obj))
    parts = [repr(obj), str(obj)]
    if isinstance(obj, httpx.Request):
        parts.append(repr(dict(obj.headers)))
        parts.append(str(obj.url))
    if isinstance(obj, httpx.Response):
        parts.append(_all_text(obj.request, seen, depth + 1))
    if isinstance(obj, BaseException):
        parts.append(_all_text(obj.__cause__, seen, depth + 1))
        parts.append(_all_text(obj.__context__, seen, depth + 1))
    for value in getattr(obj, "__dict__", {}).values():
        parts.append(_all_text(value, seen, depth + 1))
    return "\n".join(parts)


async def test_token_not_in_repr(client: SmartSender) -> None:
    assert TOKEN not in repr(client)
    assert TOKEN not in str(client)
    assert TOKEN not in repr(client.chats)


@pytest.mark.parametrize(
    "respond",
    [
        lambda route: route.respond(
            401, json={"error": {"code": 401, "message": "Unauthenticated"}}
        ),
        lambda route: route.respond(423, text="Too many requests. Please, try again in 60 seconds"),
        lambda route: route.respond(200, text="not json"),
        lambda route: route.mock(side_effect=httpx.ConnectError("boom")),
        lambda route: route.mock(side_effect=httpx.ReadTimeout("slow")),
    ],
)
async def test_token_not_in_exceptions(
    mock: respx.MockRouter, client: SmartSender, respond: Callable[[Any], Any]
) -> None:
    respond(mock.get("/chats/1"))
    with pytest.raises(Exception) as info:
        await client.chats.get(1)
    assert TOKEN not in _all_text(info.value)


async def test_token_not_in_logs(mock: respx.MockRouter, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    mock.get("/chats/1").respond(json={"id": 1})
    mock.get("/chats/2").respond(500, text="boom")
    async with SmartSender(TOKEN, rate_limit=None) as c:
        await c.chats.get(1)
        with pytest.raises(ServerError):
            await c.chats.get(2)
    assert caplog.records, "expected DEBUG records from the request path"
    for record in caplog.records:
        assert TOKEN not in record.getMessage()
        assert TOKEN not in repr(record.__dict__)


# --------------------------------------------------------------------------- lifecycle


async def test_user_client_is_not_closed(mock: respx.MockRouter) -> None:
    http = httpx.AsyncClient()
    mock.get("/chats/1").respond(json={"id": 1})
    async with SmartSender(TOKEN, http_client=http, rate_limit=None, retry=None) as c:
        await c.chats.get(1)
    assert not http.is_closed
    assert sent(mock).headers["authorization"] == f"Bearer {TOKEN}"
    await http.aclose()


async def test_owned_client_closed_and_refuses_use(mock: respx.MockRouter) -> None:
    c = SmartSender(TOKEN, rate_limit=None)
    await c.aclose()
    assert c.is_closed
    await c.aclose()  # idempotent
    with pytest.raises(Exception, match="closed"):
        await c.chats.get(1)
    assert mock.calls.call_count == 0


async def test_no_unclosed_warnings(mock: respx.MockRouter) -> None:
    mock.get("/chats/1").respond(json={"id": 1})
    gc.collect()  # earlier tests' garbage must not count here
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        async with SmartSender(TOKEN, rate_limit=None) as c:
            await c.chats.get(1)
        del c
        gc.collect()
    assert [w for w in caught if issubclass(w.category, ResourceWarning)] == []


@pytest.mark.parametrize("cls", [Picture, File, out.Video, out.Audio, out.Voice, out.Animation])
def test_media_types_take_url_or_the_wire_name_media(cls: type[Any]) -> None:
    assert cls("https://x/a") == cls(url="https://x/a") == cls(media="https://x/a")
    assert cls(media="https://x/a").to_body(5) == {
        "type": cls.type,
        "media": "https://x/a",
        "watermark": 5,
    }
    with pytest.raises(TypeError, match="url"):
        cls()
    with pytest.raises(TypeError, match="not both"):
        cls("https://x/a", media="https://x/b")
