"""A griffe extension for the API reference: reads the reST spellings that older docstrings
still use as the Markdown the reference renders.

The docstring style is Google with Markdown (CONTRIBUTING.md).  Some docstrings predate that
and write ``:class:`SmartSender```, ``:meth:`send``` or end a paragraph with ``::`` before
an indented example.  mkdocstrings would print those roles literally
(":class:SmartSender"), so this turns a role into a code span (its target, without a
leading ``~`` or ``.``) and a paragraph-ending ``::`` into ``:``; the indented block after
it is already a Markdown code block.  It changes nothing else, and it is not a licence to
write new reST: new docstrings use Markdown.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:py:)?(?:class|meth|func|data|attr|exc|mod|obj|const):`~?\.?([^`]+)`")
_LITERAL = re.compile(r"(?<=\S)::[ \t]*$", re.MULTILINE)


def markdown(text: str) -> str:
    """``text`` with reST roles as code spans and paragraph-ending ``::`` as ``:``."""
    return _LITERAL.sub(":", _ROLE.sub(r"`\1`", text))


class SphinxMarkup(griffe.Extension):
    """Rewrites each docstring once, when griffe loads its object."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = markdown(obj.docstring.value)
