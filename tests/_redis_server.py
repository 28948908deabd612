"""A throwaway ``redis-server`` for tests: free loopback port, no persistence.

Without ``redis-server`` on PATH (or at /usr/bin) the calling test is skipped with the
reason printed, except under CI (env ``CI`` set), where it fails: CI must install it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

#: Upper bound on the wait for the server to say it is ready.
START_TIMEOUT_S = 30


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def redis_server() -> Iterator[str]:
    """A throwaway redis-server on a free loopback port, no persistence; yields its URL."""
    binary = shutil.which("redis-server") or (
        "/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists() else None
    )
    if binary is None:
        reason = "redis-server is not installed (apt-get install redis-server)"
        if os.environ.get("CI"):
            pytest.fail(f"{reason}; CI must install it")
        print(f"SKIP: {reason}")
        pytest.skip(reason)
    port = free_port()
    process = subprocess.Popen(
        [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    ready = threading.Event()
    log: list[str] = []

    def drain() -> None:  # read the log to the end so the server never blocks on it
        assert process.stdout is not None
        for line in process.stdout:
            log.append(line)
            if "Ready to accept connections" in line:
                ready.set()
        ready.set()  # exited

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        if not ready.wait(START_TIMEOUT_S) or process.poll() is not None:
            raise RuntimeError("redis-server did not start:\n" + "".join(log))
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(START_TIMEOUT_S)
        reader.join(START_TIMEOUT_S)
        if process.stdout is not None:
            process.stdout.close()
