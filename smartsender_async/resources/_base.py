"""What every resource shares: a reference to the client and argument checks.

Checks run before any I/O and raise `TypeError` or `ValueError` naming the argument.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from smartsender_async.client import SmartSender

__all__ = [
    "MAX_LIMITATION",
    "Resource",
    "check_bool",
    "check_id",
    "check_text",
    "page_params",
]

#: The API's largest page size ("Maximum available limitation reached" above it).
MAX_LIMITATION = 20


class Resource:
    """Base class of `client.chats`, `client.contacts` and the others."""

    __slots__ = ("_client",)

    def __init__(self, client: SmartSender) -> None:
        self._client = client

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"


def check_id(name: str, value: Any) -> int:
    """A positive integer id: an `int` or a string of ASCII digits (`"48213"`).

    Bools, floats, signs, spaces and other scripts' digits (`"١٢"`, which
    `str.isdigit` and `int()` both accept) are refused.
    """
    if isinstance(value, bool):
        raise TypeError(f"{name} must be an int, got {value!r}")
    if isinstance(value, str):
        if not (value.isascii() and value.isdigit()):
            raise TypeError(f"{name} must be an int or a string of ASCII digits, got {value!r}")
        value = int(value)
    if not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be a positive id, got {value}")
    return value


def check_bool(name: str, value: Any) -> bool:
    """A real `bool`: `"no"`, `0` and `None` are refused, not read as truth values."""
    if value is True or value is False:
        return value
    raise TypeError(f"{name} must be a bool (True or False), got {value!r}")


def check_int(name: str, value: Any, low: int, high: int | None = None) -> int:
    """An integer in `low..high`."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {value!r}")
    if value < low or (high is not None and value > high):
        bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise ValueError(f"{name} must be {bounds}, got {value}")
    return value


def check_text(name: str, value: Any) -> str:
    """A non-empty string."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, got {value!r}")
    if not value.strip():
        raise ValueError(f"{name} must not be empty")
    return value


def check_choice(name: str, value: Any, choices: tuple[str, ...]) -> str:
    """One of `choices`."""
    if value not in choices or not isinstance(value, str):
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}, got {value!r}")
    return value


def page_params(page: Any, limitation: Any, *, activities: bool = False) -> dict[str, Any]:
    """`page` (>= 1) and `limitation` (1..20) as query parameters, plus
    `activities=1` when asked (message lists: include system/activity messages)."""
    params: dict[str, Any] = {
        "page": check_int("page", page, 1),
        "limitation": check_int("limitation", limitation, 1, MAX_LIMITATION),
    }
    if check_bool("activities", activities):
        params["activities"] = 1
    return params
