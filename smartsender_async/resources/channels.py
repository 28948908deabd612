"""`client.channels`: the project's messenger channels (list, stream, get, switch on and
off, create a gate)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from smartsender_async.models.chats import ChannelDetails, Gate
from smartsender_async.resources._base import check_bool, check_id, check_text
from smartsender_async.resources._shapes import Listing
from smartsender_async.resources.contacts import check_values

__all__ = ["ChannelsResource"]

_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_PHONE = re.compile(r"\+\d{6,15}")
_MAX_NAME = 255


def _check_name(name: str, value: Any) -> str:
    text = check_text(name, value)
    if len(text) > _MAX_NAME:
        raise ValueError(f"{name} must be at most {_MAX_NAME} characters, got {len(text)}")
    return text


def _gate_body(
    identifier: Any,
    first_name: Any,
    last_name: Any,
    email: Any,
    phone: Any,
    parameters: Any,
) -> dict[str, Any]:
    if isinstance(identifier, int) and not isinstance(identifier, bool):
        identifier = str(identifier)
    body: dict[str, Any] = {
        "identifier": check_text("identifier", identifier),
        "firstName": _check_name("first_name", first_name),
    }
    if last_name is not None:
        body["lastName"] = _check_name("last_name", last_name)
    if email is not None:
        if not _EMAIL.fullmatch(check_text("email", email)):
            raise ValueError(f"email must be an e-mail address, got {email!r}")
        body["email"] = email
    if phone is not None:
        if not _PHONE.fullmatch(check_text("phone", phone)):
            raise ValueError(f"phone must be in international form, '+' and digits, got {phone!r}")
        body["phone"] = phone
    if parameters is not None:
        body["parameters"] = check_values(parameters)
    return body


class ChannelsResource(Listing[ChannelDetails], area="channels"):
    """Channels: `/channels` and `/channels/{channelId}`, reached as `client.channels`.

    `list()` and `stream()` read the project's messenger channels.

    Example:
        ```python
        async for channel in client.channels.stream():
            print(channel.id, channel.type, channel.active)
        ```
    """

    __slots__ = ()

    async def get(self, channel_id: int) -> ChannelDetails:
        """One channel (`GET /channels/{channelId}`).

        Args:
            channel_id: the channel's id.

        Returns:
            The channel.

        Raises:
            TypeError: `channel_id` is not an int or a string of ASCII digits (no request is sent).
            ValueError: `channel_id` is not positive (no request is sent).
            NotFoundError: no channel has this id.
            APIError: any other error answer (a subclass per status, such as `AuthenticationError`).
            APIConnectionError: the server could not be reached (after the retries).
            ResponseDecodeError: the answer is not the JSON the SDK expects.

        Example:
            ```python
            channel = await client.channels.get(4)
            print(channel.type, channel.link)
            ```
        """
        ids = (check_id("channel_id", channel_id),)
        return await self._get(ChannelDetails, "channels.get", "/channels/{channelId}", ids)

    async def set_active(self, channel_id: int, active: bool) -> None:
        """Switch a channel on or off (`PUT /channels/{channelId}` with `{"state": active}`).

        Args:
            channel_id: the channel's id.
            active: `True` to switch it on, `False` to switch it off.

        Raises:
            TypeError: `channel_id` is not an int or a string of ASCII digits, or `active` not a
                bool (no request is sent).
            ValueError: `channel_id` is not positive (no request is sent).
            WriteRejectedError: the server answered `{"state": false}`.
            NotFoundError: no channel has this id.
            APIError: any other error answer (a subclass per status, such as `AuthenticationError`).
            APIConnectionError: the server could not be reached (after the retries).
            ResponseDecodeError: the answer is not the JSON the SDK expects.

        Example:
            ```python
            await client.channels.set_active(4, False)
            ```
        """
        ids = (check_id("channel_id", channel_id),)
        body = {"state": check_bool("active", active)}
        await self._ack("PUT", "channels.set_active", "/channels/{channelId}", ids, body)

    async def create_gate(
        self,
        channel_id: int,
        *,
        identifier: str,
        first_name: str,
        last_name: str | None = None,
        email: str | None = None,
        phone: str | None = None,
        parameters: Mapping[str, Any] | None = None,
    ) -> Gate:
        """Open a gate for a messenger user and its contact (`POST /channels/{channelId}/gates`).

        Idempotent on the server: an existing gate with the same `identifier` is returned, so the
        call is retried like a read. Documented for WhatsApp channels only; what other channel types
        answer is unknown.

        Args:
            channel_id: the channel's id.
            identifier: the user's id in the messenger (for WhatsApp, the phone number); an int is
                sent as its digits.
            first_name: required, at most 255 characters.
            last_name: at most 255 characters.
            email: an e-mail address (sent as `email`; the documented name was lost).
            phone: international form, `+` and digits.
            parameters: contact variables to set, name → value.

        Returns:
            The gate, with its channel.

        Raises:
            TypeError: `channel_id` is not an int or a string of ASCII digits, a text argument is
                not a str, or `parameters` not a mapping (no request is sent).
            ValueError: `channel_id` is not positive, `identifier` or `first_name` is empty, a name
                is longer than 255 characters, or `email` or `phone` is malformed (no request is
                sent).
            NotFoundError: no channel has this id.
            APIError: any other error answer (a subclass per status, such as `AuthenticationError`).
            APIConnectionError: the server could not be reached (after the retries).
            ResponseDecodeError: the answer is not the JSON the SDK expects.

        Example:
            ```python
            gate = await client.channels.create_gate(
                4, identifier="380501234567", first_name="Ann", phone="+380501234567"
            )
            print(gate.id)
            ```
        """
        ids = (check_id("channel_id", channel_id),)
        body = _gate_body(identifier, first_name, last_name, email, phone, parameters)
        template = "/channels/{channelId}/gates"
        return await self._create(
            Gate, "POST", "channels.create_gate", template, ids, body, idempotent=True
        )
