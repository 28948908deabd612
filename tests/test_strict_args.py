"""Strict ids and flags everywhere (issue 13 item 9).

The parameters come from introspection, not from a list: every public method of every
resource reachable from a ``SmartSender`` (``client.chats``, ``client.contacts``, ... and
any resource hanging off those), every parameter named ``id`` or ``*_id`` and every
parameter annotated ``bool``.  Methods added later are covered without touching this file.

For each (method, parameter), a control call with a good value must reach the transport
(else the case is skipped: this file cannot build the method's other arguments).  Then
each bad value must raise ``TypeError`` or ``ValueError`` naming the parameter, with no
request sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from smartsender_async import SmartSender, SmartSenderError
from smartsender_async.resources._base import Resource, check_bool, check_id

#: One body every endpoint can decode: a page, an object with an id, an acknowledgement.
UNIVERSAL = {
    "id": 5,
    "state": True,
    "cursor": {"page": 1, "pages": 1},
    "collection": [],
}

BAD_IDS: list[Any] = [
    True,
    False,
    "١٢",  # Arabic-Indic digits: str.isdigit() and int() accept them
    "１２",  # fullwidth digits
    "12a",
    " 12",
    "12 ",
    "+12",
    "-1",
    "1_000",
    "",
    0,
    -5,
    1.5,
    5.0,
    None,
    b"12",
]
BAD_BOOLS: list[Any] = ["no", "yes", "false", "", 0, 1, None, 1.0, [], "True"]


class Counting(httpx.AsyncBaseTransport):
    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(200, json=UNIVERSAL)


def _resources(client: SmartSender) -> Iterator[tuple[str, Resource]]:
    """Every resource reachable from ``client``, by dotted name."""
    seen: set[int] = set()
    stack: list[tuple[str, Any]] = [("client", client)]
    while stack:
        name, obj = stack.pop()
        for attr in dir(obj):
            if attr.startswith("_"):
                continue
            try:
                value = inspect.getattr_static(obj, attr)
            except AttributeError:
                continue
            if isinstance(value, Resource) and id(value) not in seen:
                seen.add(id(value))
                yield f"{name}.{attr}", value
                stack.append((f"{name}.{attr}", value))


def _is_bool(parameter: inspect.Parameter) -> bool:
    annotation = parameter.annotation
    return annotation is bool or (isinstance(annotation, str) and annotation == "bool")


def _is_id(parameter: inspect.Parameter) -> bool:
    return parameter.name == "id" or parameter.name.endswith("_id")


def _cases() -> list[Any]:
    client = SmartSender("t0ken", transport=Counting(), rate_limit=None, retry=None)
    cases = []
    for where, resource in _resources(client):
        for method_name, method in inspect.getmembers(type(resource), inspect.isfunction):
            if method_name.startswith("_"):
                continue
            for parameter in inspect.signature(method).parameters.values():
                if parameter.name == "self":
                    continue
                if _is_id(parameter):
                    kind = "id"
                elif _is_bool(parameter):
                    kind = "bool"
                else:
                    continue
                cases.append(
                    pytest.param(
                        type(resource),
                        method_name,
                        parameter.name,
                        kind,
                        id=f"{where}.{method_name}({parameter.name})",
                    )
                )
    asyncio.run(client.aclose())
    return cases


CASES = _cases()


def test_introspection_finds_the_known_methods() -> None:
    ids = {case.id for case in CASES}
    assert "client.chats.get(chat_id)" in ids
    assert "client.chats.messages(activities)" in ids
    assert "client.contacts.send(contact_id)" in ids
    assert "client.gates.edit(gate_id)" in ids or any(i.startswith("client.gates.") for i in ids)


def _value_for(parameter: inspect.Parameter) -> Any:
    """A plausible good value for a parameter this test is not about."""
    if _is_id(parameter):
        return 5
    if _is_bool(parameter):
        return False
    annotation = str(parameter.annotation)
    if parameter.name.endswith("_ids") or annotation.startswith(("Sequence", "Iterable", "list")):
        return [5]
    if "str" in annotation:
        return "hello"
    if "int" in annotation:
        return 1
    if "Mapping" in annotation or "dict" in annotation:
        return {"name": "x"}
    return "hello"


#: Arguments a parameter only works with (tried when a plain control call is refused).
COMPANIONS: dict[str, dict[str, Any]] = {"operator_id": {"selector": "private"}}


def _call(
    resource: Resource, method_name: str, name: str, value: Any, companions: bool = False
) -> Any:
    method = getattr(resource, method_name)
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    extra = COMPANIONS.get(name, {}) if companions else {}
    for parameter in inspect.signature(method).parameters.values():
        if parameter.name == name:
            given = value
        elif parameter.name in extra:
            given = extra[parameter.name]
        elif parameter.default is not inspect.Parameter.empty or parameter.kind in (
            parameter.VAR_POSITIONAL,
            parameter.VAR_KEYWORD,
        ):
            continue
        else:
            given = _value_for(parameter)
        if parameter.kind == parameter.KEYWORD_ONLY:
            kwargs[parameter.name] = given
        else:
            args.append(given)
    return method(*args, **kwargs)


async def _run(
    resource: Resource, method_name: str, name: str, value: Any, companions: bool = False
) -> None:
    """Call the method and drive what it returns: await it, or take one item."""
    result = _call(resource, method_name, name, value, companions)
    if inspect.isawaitable(result):
        await result
    elif hasattr(result, "__aiter__"):
        iterator = result.__aiter__()
        try:
            await iterator.__anext__()
        except StopAsyncIteration:
            pass
        finally:
            close = getattr(iterator, "aclose", None) or getattr(result, "aclose", None)
            if close is not None:
                await close()


@pytest.mark.parametrize(("cls", "method_name", "name", "kind"), CASES)
async def test_bad_ids_and_flags_are_refused_before_any_request(
    cls: type[Resource], method_name: str, name: str, kind: str
) -> None:
    transport = Counting()
    async with SmartSender("t0ken", transport=transport, rate_limit=None, retry=None) as client:
        resource = next(r for _, r in _resources(client) if type(r) is cls)
        good = 5 if kind == "id" else True
        companions = False
        try:
            await _run(resource, method_name, name, good)
        except SmartSenderError:
            pass  # the server's answer did not fit; the request was sent, which is the point
        except (TypeError, ValueError) as exc:
            if name not in COMPANIONS:
                pytest.skip(f"cannot build the other arguments of {method_name}: {exc}")
            companions = True
            with contextlib.suppress(SmartSenderError):
                await _run(resource, method_name, name, good, companions)
        if not transport.requests:
            pytest.skip(f"{method_name} sent nothing with good arguments")
        if kind == "id":
            transport.requests.clear()
            with contextlib.suppress(SmartSenderError):  # ASCII digit strings are ids
                await _run(resource, method_name, name, "5", companions)
            assert transport.requests, "an ASCII-digit string id must be accepted"
        optional = inspect.signature(getattr(resource, method_name)).parameters[name].default
        for bad in BAD_IDS if kind == "id" else BAD_BOOLS:
            if bad is None and optional is None:
                continue  # None is how an optional argument is left out
            transport.requests.clear()
            with pytest.raises((TypeError, ValueError)) as info:
                await _run(resource, method_name, name, bad, companions)
            assert name in str(info.value), (bad, str(info.value))
            assert transport.requests == [], f"{bad!r} for {name} was sent"


# ------------------------------------------------------------------ the helpers themselves


@pytest.mark.parametrize("bad", BAD_IDS)
def test_check_id_refuses(bad: Any) -> None:
    with pytest.raises((TypeError, ValueError), match="chat_id"):
        check_id("chat_id", bad)


@pytest.mark.parametrize(("good", "expected"), [(5, 5), ("5", 5), ("0012", 12), (2**40, 2**40)])
def test_check_id_accepts(good: Any, expected: int) -> None:
    assert check_id("chat_id", good) == expected


@pytest.mark.parametrize("bad", BAD_BOOLS)
def test_check_bool_refuses(bad: Any) -> None:
    with pytest.raises(TypeError, match="flag"):
        check_bool("flag", bad)
