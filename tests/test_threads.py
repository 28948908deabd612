"""Threads (issue 13): the converter's hooks are built once, under a lock, so 8 threads that
decode their first page at the same moment all get it right.  Each run needs a cold
process (hooks are built on first use): one interpreter imports the package, checks that
no hook is built yet, and forks 12 children that each run the 8-thread race (fork keeps
the test fast: one import instead of 12)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
THREADS = 8
PROCESSES = 12

RACE = textwrap.dedent(
    """
    import os, sys, threading
    from smartsender_async import converter
    from smartsender_async import _convert
    from smartsender_async._convert import structure
    from smartsender_async.models import Chat, Contact, Message, Operator, Page

    THREADS, PROCESSES = int(sys.argv[1]), int(sys.argv[2])
    assert not _convert._RECORD_FNS and not _convert._PAGE_FNS, "hooks built at import"
    chat = {
        "id": 7, "name": "Iryna", "unreadMessages": 2,
        "contact": {"originalId": 90, "fullName": "Iryna"},
        "gates": [{"id": 3, "subscribed": True, "channel": {"type": "telegram", "name": "b"}}],
        "createdAt": "2025-11-02T08:14:55.000000Z", "updatedAt": "2026-03-18 16:40:12",
    }
    message = {
        "id": 9, "content": {"type": "text", "resource": {"parameters": {"content": "hi"}}},
        "sender": {"type": "contact", "fullName": "I"}, "gate": chat["gates"][0],
        "createdAt": "2026-03-18T16:40:12Z",
    }
    chats = {"cursor": {"page": 1, "pages": 1}, "collection": [chat] * 20}
    messages = {"cursor": {"page": 1, "pages": 1}, "collection": [message] * 20}
    barrier = threading.Barrier(THREADS)
    failures = []

    def work(n):
        try:
            barrier.wait()
            # Half the threads go through the public converter, half through structure().
            decode = converter.structure if n % 2 else structure
            page = decode(chats, Page[Chat])
            assert [c.id for c in page.items] == [7] * 20, page
            assert page.items[0].gates[0].channel.type == "telegram"
            assert page.items[0].contact.original_id == 90
            assert page.items[0].unread_messages == 2
            got = decode(messages, Page[Message])
            assert got.items[0].text == "hi" and got.items[0].is_inbound
            assert decode({"id": 4, "info": {"fullName": "Op"}}, Operator).id == 4
            assert decode({"id": 5, "fullName": "C"}, Contact).full_name == "C"
        except BaseException as exc:
            failures.append(f"thread {n}: {type(exc).__name__}: {exc}")

    def race():
        threads = [threading.Thread(target=work, args=(n,)) for n in range(THREADS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if failures:
            print("\\n".join(failures), flush=True)
            return 1
        return 0

    children = []
    for _ in range(PROCESSES):
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                code = race()
            finally:
                os._exit(code)
        children.append(pid)
    failed = 0
    for pid in children:
        _, status = os.waitpid(pid, 0)
        failed += os.waitstatus_to_exitcode(status) != 0
    print(f"{failed} of {PROCESSES} processes failed", flush=True)
    sys.exit(1 if failed else 0)
    """
)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_eight_threads_decode_their_first_pages_in_twelve_cold_processes() -> None:
    result = subprocess.run(
        [sys.executable, "-c", RACE, str(THREADS), str(PROCESSES)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"0 of {PROCESSES} processes failed" in result.stdout
