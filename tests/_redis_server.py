"""A throwaway ``redis-server`` for tests: free loopback port, no persistence.

Without ``redis-server`` on PATH (or at /usr/bin) the calling test is skipped with the
reason printed, except under CI (env ``CI`` set), where it fails: CI must install it.

:class:`RedisServer` also injects the faults of the limiter's fault suite: ``kill -9``
and a restart on the same port (state lost), ``SIGSTOP``/``SIGCONT`` (a frozen server).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

#: Upper bound on the wait for the server to say it is ready.
START_TIMEOUT_S = 30


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def redis_binary() -> str:
    """The ``redis-server`` path; skips the test (fails it under CI) when there is none."""
    binary = shutil.which("redis-server") or (
        "/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists() else None
    )
    if binary is None:
        reason = "redis-server is not installed (apt-get install redis-server)"
        if os.environ.get("CI"):
            pytest.fail(f"{reason}; CI must install it")
        print(f"SKIP: {reason}")
        pytest.skip(reason)
    return binary


class RedisServer:
    """One ``redis-server`` process on a fixed loopback port, restartable.

    Args:
        args: extra command-line settings, e.g. ``["--maxmemory-policy", "allkeys-lru"]``.
    """

    def __init__(self, args: Sequence[str] = ()) -> None:
        self.binary = redis_binary()
        self.port = free_port()
        self.args = list(args)
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[str] | None = None
        self._reader: threading.Thread | None = None
        self.log: list[str] = []

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        command = [self.binary, "--bind", "127.0.0.1", "--port", str(self.port)]
        command += ["--save", "", "--appendonly", "no", *self.args]
        process = self.process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        ready = threading.Event()
        log = self.log

        def drain() -> None:  # read the log to the end so the server never blocks on it
            assert process.stdout is not None
            for line in process.stdout:
                log.append(line)
                if "Ready to accept connections" in line:
                    ready.set()
            ready.set()  # exited

        self._reader = threading.Thread(target=drain, daemon=True)
        self._reader.start()
        if not ready.wait(START_TIMEOUT_S) or process.poll() is not None:
            raise RuntimeError("redis-server did not start:\n" + "".join(self.log))

    def kill(self) -> None:
        """``kill -9``: the server and everything it held are gone at once."""
        self._end(signal.SIGKILL)

    def restart(self) -> None:
        """``kill -9``, then a fresh (empty) server on the same port."""
        self.kill()
        self.start()

    def pause(self) -> None:
        """``SIGSTOP``: the server stops answering; connections stay open."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """``SIGCONT`` after :meth:`pause`."""
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        """Stop the server (``SIGCONT`` first, in case it is paused)."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
        self._end(signal.SIGTERM)

    def _end(self, sig: int) -> None:
        process = self.process
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(sig)
        process.wait(START_TIMEOUT_S)
        if self._reader is not None:
            self._reader.join(START_TIMEOUT_S)
        if process.stdout is not None:
            process.stdout.close()
        self.process = None


@contextlib.contextmanager
def running_redis(args: Sequence[str] = ()) -> Iterator[RedisServer]:
    """A started :class:`RedisServer`, stopped afterwards."""
    server = RedisServer(args)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@contextlib.contextmanager
def redis_server() -> Iterator[str]:
    """A throwaway redis-server on a free loopback port, no persistence; yields its URL."""
    with running_redis() as server:
        yield server.url
