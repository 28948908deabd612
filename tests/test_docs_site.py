"""The documentation site: its shape (four parts, every page in the nav, the pages other
branches write present as stubs at least), the API reference covering every exported name,
and a strict build that fails on a broken link, a missing reference or a docstring warning.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import smartsender_async
from smartsender_async._version import __version__
from tests._docs import DOCS, ROOT

MKDOCS_YML = ROOT / "mkdocs.yml"
API_PAGE = DOCS / "reference" / "api.md"
DIRECTIVE = re.compile(r"^::: (smartsender_async\.[\w.]+)\s*$", re.MULTILINE)
NAV_ENTRY = re.compile(r"^\s*- (?:[^:\n]+: )?([\w./-]+\.md)\s*$", re.MULTILINE)
HAS_MKDOCS = importlib.util.find_spec("mkdocs") is not None


def nav_files() -> list[str]:
    text = MKDOCS_YML.read_text(encoding="utf-8")
    return NAV_ENTRY.findall(text[text.index("\nnav:") :])


def nav_parts() -> list[str]:
    text = MKDOCS_YML.read_text(encoding="utf-8")
    nav = text[text.index("\nnav:") :]
    return re.findall(r"^  - ([^:\n]+):\s*$", nav, re.MULTILINE)


def test_the_site_has_the_four_parts() -> None:
    parts = nav_parts()
    for part in ("Guides", "Reference", "Explanation"):
        assert part in parts, parts
    assert "getting-started.md" in nav_files()


def test_every_page_is_in_the_nav_and_every_nav_entry_exists() -> None:
    pages = {p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md")}
    listed = nav_files()
    assert len(listed) == len(set(listed)), "a page is listed twice"
    assert set(listed) == pages


@pytest.mark.parametrize(
    "page",
    [
        "guides/streams.md",
        "guides/rate-limits.md",
        "guides/retries.md",
        "guides/errors.md",
        "guides/testing.md",
        "guides/integrations.md",
        "guides/workers.md",
        "guides/export.md",
        "guides/trio.md",
        "guides/logging.md",
        "guides/performance.md",
        "reference/api.md",
        "reference/cli.md",
        "explanation/limiter.md",
        "explanation/exactly-once.md",
        "explanation/emulator.md",
        "explanation/benchmarks.md",
    ],
)
def test_the_issue_s_pages_exist(page: str) -> None:
    text = (DOCS / page).read_text(encoding="utf-8")
    assert text.startswith("# ") and len(text.splitlines()) >= 3


def test_the_api_reference_documents_every_exported_name() -> None:
    text = API_PAGE.read_text(encoding="utf-8")
    documented = DIRECTIVE.findall(text)
    assert len(documented) == len(set(documented)), "a name is documented twice"
    exported = {f"smartsender_async.{name}" for name in smartsender_async.__all__}
    assert exported <= set(documented), exported - set(documented)
    # Beside the exports, only the resource namespaces (`client.chats`, ...).
    others = set(documented) - exported
    assert all(name.startswith("smartsender_async.resources.") for name in others), others
    # ...and names each one in its summary table, linked to its entry.
    for name in smartsender_async.__all__:
        assert f"[`{name}`][smartsender_async.{name}]" in text, name


def test_the_cli_reference_is_generated_from_the_click_app() -> None:
    text = (DOCS / "reference" / "cli.md").read_text(encoding="utf-8")
    assert "::: mkdocs-click" in text
    assert ":module: smartsender_async.cli._app" in text and ":command: cli" in text


def test_mkdocstrings_reads_google_docstrings_and_warns() -> None:
    text = MKDOCS_YML.read_text(encoding="utf-8")
    assert "docstring_style: google" in text
    assert "strict: true" in text
    assert "warn_unknown_params: true" in text


def test_changelog_starts_from_the_current_version() -> None:
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert "Keep a Changelog" in changelog
    unreleased = changelog.index("## [Unreleased]")
    current = changelog.index(f"## [{__version__}]")
    assert unreleased < current
    for issue in range(13, 21):
        assert f"#{issue}" in changelog[unreleased:current], issue


def test_contributing_says_the_rules_and_the_docstring_style() -> None:
    text = (ROOT / "CONTRIBUTING.md").read_text(encoding="utf-8")
    for needle in ("Google", "token", "a test per bug", "ratio", "mkdocs build --strict"):
        assert needle.lower() in text.lower(), needle


@pytest.fixture(scope="module")
def built_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not HAS_MKDOCS:
        pytest.skip("the docs extra is not installed")
    site = tmp_path_factory.mktemp("site")
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env=_quiet_env(),
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "WARNING" not in done.stderr, done.stderr
    return site


def _quiet_env() -> dict[str, Any]:
    import os

    return {**os.environ, "NO_MKDOCS_2_WARNING": "1"}


def test_the_strict_build_renders_every_exported_name(built_site: Path) -> None:
    html = (built_site / "reference" / "api" / "index.html").read_text(encoding="utf-8")
    missing = [n for n in smartsender_async.__all__ if f'id="smartsender_async.{n}"' not in html]
    assert not missing, missing


def test_the_strict_build_renders_the_cli(built_site: Path) -> None:
    html = (built_site / "reference" / "cli" / "index.html").read_text(encoding="utf-8")
    for command in ("export", "chats", "messages", "send", "emulator serve"):
        assert f"smartsender {command}" in html, command
    assert "SMARTSENDER_TOKEN" in html  # the options' help, as click prints it
    assert "Sentinel" not in html  # mkdocs-click's table style shows click 8.2+'s UNSET


def test_the_strict_build_fails_on_a_broken_link_or_anchor(tmp_path: Path) -> None:
    if not HAS_MKDOCS:
        pytest.skip("the docs extra is not installed")
    # A copy of the site, identical but for one link to a page that does not exist.
    shutil.copytree(DOCS, tmp_path / "docs")
    shutil.copy(MKDOCS_YML, tmp_path / "mkdocs.yml")
    for name in ("CHANGELOG.md", "CONTRIBUTING.md"):
        shutil.copy(ROOT / name, tmp_path / name)
    config = (tmp_path / "mkdocs.yml").read_text(encoding="utf-8")
    config = config.replace("paths: [.]", f"paths: [{ROOT.as_posix()!r}]")
    (tmp_path / "mkdocs.yml").write_text(config, encoding="utf-8")
    guide = tmp_path / "docs" / "guides" / "trio.md"
    guide.write_text(
        guide.read_text()
        + "\nSee [nowhere](no-such-page.md) and [no anchor](streams.md#no-such-anchor).\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "s")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env=_quiet_env(),
    )
    assert done.returncode != 0
    errors = [line for line in done.stderr.splitlines() if "WARNING" in line or "ERROR" in line]
    assert len(errors) == 2, done.stderr  # the two bad links, nothing else
    assert any("no-such-page.md" in line for line in errors)
    assert any("no-such-anchor" in line for line in errors)


def test_older_rest_markup_reads_as_markdown() -> None:
    spec = importlib.util.spec_from_file_location(
        "sphinx_markup", DOCS / "_ext" / "sphinx_markup.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    text = (
        "Raises :class:`ConfigurationError`; see :meth:`~smartsender_async.SmartSender.aclose`"
        " and :py:func:`.pooled_transport`, done like this::\n\n    code::\n"
    )
    assert module.markdown(text) == (
        "Raises `ConfigurationError`; see `smartsender_async.SmartSender.aclose`"
        " and `pooled_transport`, done like this:\n\n    code:\n"
    )
    assert module.markdown("a `plain` span and a time 12::30 stay") == (
        "a `plain` span and a time 12::30 stay"
    )


def test_the_rendered_reference_has_no_rest_roles(built_site: Path) -> None:
    html = (built_site / "reference" / "api" / "index.html").read_text(encoding="utf-8")
    assert not re.search(r":(class|meth|func|data|attr|exc):", html)


#: Public callables whose docstrings this branch brought to the contributor guide's
#: standard (Google style: arguments, what it raises, an example); the other modules'
#: docstrings belong to other branches and are converted there.
GOOGLE_STYLE = {
    "smartsender_async.outgoing": ("Text", "Picture", "Location", "ContactCard"),
    "smartsender_async.contrib.fastapi": ("smartsender_lifespan", "get_smartsender"),
    "smartsender_async.contrib.aiohttp": ("smartsender_ctx", "get_smartsender"),
    "smartsender_async.resources.chats": (
        "ChatsResource.list",
        "ChatsResource.get",
        "ChatsResource.read",
        "ChatsResource.close",
        "ChatsResource.assign",
        "ChatsResource.messages",
        "ChatsResource.stream",
        "ChatsResource.stream_messages",
        "ChatsResource.stream_all_messages",
    ),
    "smartsender_async.resources.contacts": (
        "ContactsResource.list",
        "ContactsResource.stream",
        "ContactsResource.search",
        "ContactsResource.stream_search",
        "ContactsResource.get",
        "ContactsResource.info",
        "ContactsResource.chat",
        "ContactsResource.gates",
        "ContactsResource.stream_gates",
        "ContactsResource.messages",
        "ContactsResource.stream_messages",
        "ContactsResource.send",
        "ContactsResource.update",
        "ContactsResource.fire",
        "ContactsResource.merge",
        "ContactsResource.tags",
        "ContactsResource.stream_tags",
        "ContactsResource.add_tag",
        "ContactsResource.remove_tag",
        "ContactsResource.funnels",
        "ContactsResource.stream_funnels",
        "ContactsResource.subscribe",
        "ContactsResource.unsubscribe",
        "ContactsResource.groups",
        "ContactsResource.stream_groups",
        "ContactsResource.add_group",
        "ContactsResource.remove_group",
        "ContactsResource.cart",
        "ContactsResource.stream_cart",
        "ContactsResource.invoices",
        "ContactsResource.stream_invoices",
        "ContactsResource.invoice",
        "ContactsResource.create_invoice",
        "ContactsResource.pay_invoice",
    ),
    "smartsender_async.resources.gates": (
        "GatesResource.edit_message",
        "GatesResource.delete_messages",
    ),
    "smartsender_async.resources.operators": ("OperatorsResource.involve",),
    "smartsender_async.resources.tags": (
        "TagsResource.create",
        "TagsResource.update",
        "TagsResource.delete",
    ),
    "smartsender_async.resources.cashiers": ("CashiersResource.get",),
    "smartsender_async.resources.definitions": (
        "DefinitionsResource.get",
        "DefinitionsResource.create",
        "DefinitionsResource.update",
        "DefinitionsResource.delete",
    ),
    "smartsender_async.resources.variables": (
        "VariablesResource.create",
        "VariablesResource.update",
        "VariablesResource.delete",
    ),
    "smartsender_async.resources.channels": (
        "ChannelsResource.get",
        "ChannelsResource.set_active",
        "ChannelsResource.create_gate",
    ),
    "smartsender_async.client": ("SmartSender.request",),
    "smartsender_async.ratelimit": (
        "RateLimit",
        "RateLimiter.acquire",
        "RateLimiter.lock",
        "InMemoryRateLimiter.acquire",
        "InMemoryRateLimiter.acquire_split",
        "InMemoryRateLimiter.lock",
    ),
    "smartsender_async.ratelimit_redis": (
        "RedisRateLimiter.acquire",
        "RedisRateLimiter.acquire_split",
        "RedisRateLimiter.lock",
    ),
    "smartsender_async.retry": ("RetryPolicy",),
    "smartsender_async.pagination": ("PageStream", "FanOutStream"),
    "smartsender_async.resources._shapes": (
        "Listing.list",
        "Listing.stream",
        "SearchableListing.list",
        "SearchableListing.stream",
    ),
    "smartsender_async.resources.products": (
        "ProductsResource.create",
        "ProductsResource.update",
        "ProductsResource.delete",
    ),
}


@pytest.mark.parametrize("module", sorted(GOOGLE_STYLE))
def test_public_callables_document_args_raises_and_an_example(module: str) -> None:
    griffe = pytest.importorskip("griffe")
    loaded = griffe.load(module, search_paths=[str(ROOT)], docstring_parser="google")
    for name in GOOGLE_STYLE[module]:
        docstring = loaded[name].docstring
        assert docstring is not None, name
        parsed = docstring.parsed
        kinds = {section.kind.value for section in parsed}
        arguments = "attributes" if loaded[name].is_class else "parameters"
        assert {arguments, "raises"} <= kinds, (name, kinds)
        titles = {getattr(section, "title", None) for section in parsed}
        assert "Example" in titles or "examples" in kinds, (name, titles)
        assert not re.search(r":(class|func|meth|data):`", docstring.value), name


_FENCE = re.compile(r"```python\n(.*?)```", re.DOTALL)


@pytest.mark.parametrize("module", sorted(GOOGLE_STYLE))
def test_docstring_examples_are_valid_python(module: str) -> None:
    """Docstring examples are not run (they assume a `client` in scope), so at least each
    compiles as the body of an async function: a typo in one fails here, not in a reader's
    editor."""
    import ast
    import textwrap

    path = ROOT / (module.replace(".", "/") + ".py")
    tree = ast.parse(path.read_text(encoding="utf-8"))
    blocks = 0
    for node in ast.walk(tree):
        if not isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for block in _FENCE.findall(ast.get_docstring(node) or ""):
            body = textwrap.indent(textwrap.dedent(block), "    ")
            compile(f"async def example():\n{body}", f"{path.name}:{node.name}", "exec")
            blocks += 1
    assert blocks, f"{module} has no docstring example"
