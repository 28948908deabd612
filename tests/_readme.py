"""Read the sections of README.md or a docs page, and run python fragments in one namespace."""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"

_BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)
_HEADING = re.compile(r"^(#{1,6}) (.+?)\s*$", re.MULTILINE)
_FENCE = re.compile(r"^```.*?^```", re.DOTALL | re.MULTILINE)  # comments there are no headings


def section(title: str, path: Path = README) -> str:
    """The text of the section headed ``title`` (any level), up to the next heading of the
    same or a higher level.  Fails loudly when the heading is missing."""
    text = path.read_text(encoding="utf-8")
    fences = [m.span() for m in _FENCE.finditer(text)]
    headings = [
        m for m in _HEADING.finditer(text) if not any(a <= m.start() < b for a, b in fences)
    ]
    for i, match in enumerate(headings):
        if match.group(2) == title:
            level = len(match.group(1))
            end = len(text)
            for later in headings[i + 1 :]:
                if len(later.group(1)) <= level:
                    end = later.start()
                    break
            return text[match.end() : end]
    raise AssertionError(f"{path.name} has no section headed {title!r}")


def python_blocks(text: str) -> list[str]:
    """The ```python blocks of ``text``, in order."""
    return _BLOCK.findall(text)


async def run_fragments(blocks: list[str], namespace: dict[str, Any], name: str) -> None:
    """Run blocks one after another in one namespace, allowing top-level ``await``."""
    for number, source in enumerate(blocks, 1):
        code = compile(
            source, f"README:{name}:{number}", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
        )
        result = eval(code, namespace)
        if inspect.isawaitable(result):
            await result
