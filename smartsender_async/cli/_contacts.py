"""``smartsender contacts`` and ``smartsender contact ID [set|tag|untag|fire]``.

``contact ID`` shows one contact (``GET /contacts/{id}/info``, variables flattened);
the subcommands write: variables, tags (by id, or by exact name found through
``tags.list(term=)``) and fired events.  Registered on the ``smartsender`` group by
``cli/_app.py``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import click
from rich.table import Table
from rich.text import Text

from smartsender_async.client import SmartSender
from smartsender_async.models.contacts import Contact

from ._app import ID, CommandError, Settings, _console, _print_stream, cli, pass_settings

__all__ = ["contact", "contacts"]


def contacts_table(found: Iterable[Contact]) -> Table:
    """Contacts as a table: id, name, e-mail, phone and tag names."""
    table = Table(box=None, header_style="bold", pad_edge=False)
    table.add_column("id", justify="right", no_wrap=True)
    table.add_column("name", overflow="fold")
    table.add_column("email", overflow="fold")
    table.add_column("phone", no_wrap=True)
    table.add_column("tags", overflow="fold")
    for item in found:
        table.add_row(
            str(item.id),
            Text(item.full_name or ""),
            Text(item.email or ""),
            Text(item.phone or ""),
            Text(", ".join(t.name for t in item.tags if t.name)),
        )
    return table


@click.command()
@click.argument("term", required=False)
@click.option("--term", "term_option", metavar="TERM", help="Search keyword (same as TERM).")
@click.option(
    "--limit",
    type=click.IntRange(min=0),
    default=20,
    show_default=True,
    help="Show at most N contacts (0: all).",
)
@click.option("--json", "as_json", is_flag=True, help="JSON Lines: one contact object per line.")
@pass_settings
def contacts(
    settings: Settings, term: str | None, term_option: str | None, limit: int, as_json: bool
) -> None:
    """List the project's contacts, or search them for TERM (name, e-mail or phone).

    The search matches partially, as the API does.
    """
    if term is not None and term_option is not None and term != term_option:
        raise click.UsageError("give the search term once (TERM or --term)")
    term = term if term is not None else term_option
    if term is not None and not term.strip():
        raise click.BadParameter("must not be empty", param_hint="TERM")
    _print_stream(
        settings,
        lambda client: (
            client.contacts.stream(limit=limit or None)
            if term is None
            else client.contacts.stream_search(term, limit=limit or None)
        ),
        as_json=as_json,
        table=contacts_table,
        empty="no contacts match" if term is not None else "no contacts",
    )


class _ContactGroup(click.Group):
    """``contact ID ...`` means ``contact show ID ...``: the subcommands take ID first."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["show", *args]
        return super().parse_args(ctx, args)


@click.group(cls=_ContactGroup)
def contact() -> None:
    """Show or change one contact: `contact ID`, `contact set ID NAME=VALUE...`,
    `contact tag ID TAG`, `contact untag ID TAG`, `contact fire ID NAME`."""


def _value_text(value: Any) -> str:
    """A value of ``/info`` on one line: lists of objects by their name (tags, funnels) or
    content (notes)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(x, dict) for x in value):
        return ", ".join(
            str(x.get("name") or x.get("content") or json.dumps(x, ensure_ascii=False))
            for x in value
        )
    return json.dumps(value, ensure_ascii=False)


@contact.command("show", hidden=True)
@click.argument("contact_id", type=ID)
@click.option("--json", "as_json", is_flag=True, help="The contact as JSON.")
@pass_settings
def show(settings: Settings, contact_id: int, as_json: bool) -> None:
    """Show one contact with its variables (`contact ID`)."""
    info = settings.run(lambda client: client.contacts.info(contact_id))
    if as_json:
        click.echo(json.dumps(info, ensure_ascii=False, separators=(",", ":")))
        return
    table = Table(box=None, show_header=False, pad_edge=False)
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")
    for key, value in info.items():
        table.add_row(str(key), Text(_value_text(value)))
    _console().print(table)


def _assignment(text: str) -> tuple[str, str | None]:
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise click.BadParameter(
            f"expected NAME=VALUE (NAME= clears the variable); got {text!r}",
            param_hint="NAME=VALUE",
        )
    return name.strip(), value if value != "" else None


@contact.command("set")
@click.argument("contact_id", type=ID)
@click.argument("assignments", nargs=-1, required=True, metavar="NAME=VALUE...")
@pass_settings
def set_values(settings: Settings, contact_id: int, assignments: tuple[str, ...]) -> None:
    """Set the contact's variables: NAME=VALUE each, NAME= to clear one."""
    values = dict(_assignment(a) for a in assignments)
    settings.run(lambda client: client.contacts.update(contact_id, values=values))
    cleared = [n for n, v in values.items() if v is None]
    changed = [n for n, v in values.items() if v is not None]
    parts = []
    if changed:
        parts.append("set " + ", ".join(changed))
    if cleared:
        parts.append("cleared " + ", ".join(cleared))
    click.echo(f"contact {contact_id}: {'; '.join(parts)}")


async def resolve_tag(client: SmartSender, tag: str) -> tuple[int, str]:
    """``(id, label)`` of a tag given by id (digits) or by its exact name.

    Raises:
        CommandError: no tag, or more than one, has that exact name.
    """
    text = tag.strip()
    if text.isascii() and text.isdigit() and int(text) > 0:  # "١٢" is a name, not tag 12
        return int(text), f"tag {int(text)}"
    exact: list[int] = []
    async with client.tags.stream(text) as stream:
        async for item in stream:
            if item.name == text and item.id is not None:
                exact.append(item.id)
    if not exact:
        raise CommandError(f"no tag is named {text!r} (names are matched exactly)")
    if len(exact) > 1:
        ids = ", ".join(str(i) for i in exact)
        raise CommandError(f"{len(exact)} tags are named {text!r} (ids {ids}): give the id")
    return exact[0], f"tag {text!r} ({exact[0]})"


def _tag_command(name: str, attach: bool) -> click.Command:
    verb = "attached" if attach else "detached"

    @click.argument("contact_id", type=ID)
    @click.argument("tag")
    @pass_settings
    def command(settings: Settings, contact_id: int, tag: str) -> None:
        if not tag.strip():
            raise click.BadParameter("must not be empty", param_hint="TAG")

        async def body(client: SmartSender) -> str:
            tag_id, label = await resolve_tag(client, tag)
            if attach:
                await client.contacts.add_tag(contact_id, tag_id)
            else:
                await client.contacts.remove_tag(contact_id, tag_id)
            return label

        label = settings.run(body)
        click.echo(f"contact {contact_id}: {verb} {label}")

    command.__doc__ = (
        f"{'Attach a tag to' if attach else 'Detach a tag from'} the contact: TAG is a tag id, "
        "or a tag's exact name."
    )
    return contact.command(name)(command)


tag = _tag_command("tag", attach=True)
untag = _tag_command("untag", attach=False)


@contact.command("fire")
@click.argument("contact_id", type=ID)
@click.argument("name")
@pass_settings
def fire(settings: Settings, contact_id: int, name: str) -> None:
    """Fire the trigger (event) NAME for the contact; NAME is case-sensitive."""
    if not name.strip():
        raise click.BadParameter("must not be empty", param_hint="NAME")
    settings.run(lambda client: client.contacts.fire(contact_id, name))
    click.echo(f"contact {contact_id}: fired {name!r}")


cli.add_command(contacts)
cli.add_command(contact)
