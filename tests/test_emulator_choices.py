"""The emulator's list of behaviours (``CHOICES``) is the one source for its docs page, and
each option it names exists.

The table in ``docs/explanation/emulator.md`` between the ``choices`` markers must be
exactly :func:`table`; when CHOICES changes, paste the table this test prints.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from smartsender_async.testing import Emulator
from smartsender_async.testing._choices import CHOICES, Behaviour

PAGE = Path(__file__).resolve().parent.parent / "docs" / "explanation" / "emulator.md"
START, END = "<!-- choices:start -->", "<!-- choices:end -->"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def table(choices: tuple[Behaviour, ...] = CHOICES) -> str:
    """The Markdown table of every behaviour, in CHOICES order."""
    rows = [
        "| behaviour | evidence | what the emulator does | to change it |",
        "|---|---|---|---|",
    ]
    for item in choices:
        option = f"`{_cell(item.option)}`" if item.option else ""
        rows.append(f"| `{item.name}` | {item.evidence} | {_cell(item.summary)} | {option} |")
    return "\n".join(rows)


def test_the_docs_page_shows_every_behaviour_from_choices() -> None:
    text = PAGE.read_text(encoding="utf-8")
    assert START in text and END in text
    block = text.split(START, 1)[1].split(END, 1)[0].strip()
    expected = table()
    assert block == expected, "docs/explanation/emulator.md is stale; its table is:\n" + expected


def test_names_are_unique_and_evidence_is_known() -> None:
    names = [c.name for c in CHOICES]
    assert len(names) == len(set(names))
    assert {c.evidence for c in CHOICES} <= {"documented", "seen", "inferred", "choice"}
    for item in CHOICES:
        assert item.summary.endswith("."), item.name


def test_every_emulator_option_named_exists() -> None:
    parameters = set(inspect.signature(Emulator).parameters)
    named = {
        match
        for item in CHOICES
        if item.option
        for match in re.findall(r"Emulator\((\w+)=", item.option)
    }
    assert named, "no option found"
    assert named <= parameters, named - parameters


@pytest.mark.parametrize(
    "option",
    ["bad_token_status", "message_limitation_max", "transient_timestamp"],
)
def test_the_fidelity_options_are_in_choices_and_the_docstring(option: str) -> None:
    assert any(item.option and option in item.option for item in CHOICES)
    doc = inspect.getdoc(Emulator) or ""
    assert option in doc
    assert "CHOICES" in doc and "docs/explanation/emulator.md" in doc


if __name__ == "__main__":  # print the table to paste into the page
    print(table())
