"""``python -m smartsender_async.testing serve``: run the emulator on loopback sockets.

Prints exactly one line to stdout, the base URL (``http://127.0.0.1:PORT/v1``), once
the server accepts connections; runs until interrupted.  Needs the ``testing`` extra.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from smartsender_async.testing._app import MAX_LIMITATION
from smartsender_async.testing._asgi import base_url, bind_socket, make_server
from smartsender_async.testing._data import TRANSIENT_FORMS
from smartsender_async.testing._emulator import DEFAULT_TOKEN, Emulator
from smartsender_async.testing._policy import Faults


def _quota(text: str) -> tuple[int, float] | None:
    if text.lower() in ("off", "none", "0"):
        return None
    try:
        limit, _, period = text.partition("/")
        quota = int(limit), float(period or 60)
    except ValueError:
        quota = (0, 0.0)
    if quota[0] < 1 or not quota[1] > 0:
        raise argparse.ArgumentTypeError(
            f"expected LIMIT/PERIOD_S with LIMIT >= 1 and PERIOD_S > 0, or 'off'; got {text!r}"
        )
    return quota


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m smartsender_async.testing",
        description="Smart Sender API emulator.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the emulator over HTTP on loopback")
    add = serve.add_argument
    add("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    add("--port", type=int, default=0, help="port; 0 picks a free one (default)")
    add("--seed", type=int, default=0)
    add("--chats", type=int, default=1000)
    add("--messages-per-chat", type=int, default=40)
    add("--operators", type=int, default=5)
    add("--token", default=DEFAULT_TOKEN, help=f"the valid bearer token (default {DEFAULT_TOKEN})")
    add(
        "--extra-token",
        action="append",
        default=[],
        metavar="TOKEN",
        help="another valid token (repeatable)",
    )
    add(
        "--any-token",
        action="store_true",
        help="accept every bearer token, each with its own quota",
    )
    add(
        "--quota",
        type=_quota,
        default=(180, 60.0),
        metavar="R/P",
        help="R requests per P seconds per token, or 'off' (default 180/60)",
    )
    add("--retry-after", action="store_true", help="send Retry-After with 423 responses")
    add("--latency-ms", type=float, default=0.0, help="fixed delay added to every response")
    add("--jitter-ms", type=float, default=0.0, help="up to this much random extra delay")
    add("--error-rate", type=float, default=0.0, help="fraction of requests answered 500/502/503")
    add(
        "--slow-rate",
        type=float,
        default=0.0,
        help="fraction of requests answered after --slow-seconds",
    )
    add("--slow-seconds", type=float, default=30.0)
    add("--drop-rate", type=float, default=0.0, help="fraction of connections dropped mid-response")
    add(
        "--churn-per-s", type=float, default=0.0, help="inbound messages per second in random chats"
    )
    add(
        "--bad-token-status",
        type=int,
        choices=(401, 403),
        default=401,
        help="status of a missing or wrong token (default 401; most real clients check 403)",
    )
    add(
        "--message-limitation-max",
        type=int,
        choices=range(MAX_LIMITATION, 101),
        default=MAX_LIMITATION,
        metavar="N",
        help=f"largest limitation the message lists take, {MAX_LIMITATION}..100 "
        f"(default {MAX_LIMITATION})",
    )
    add(
        "--transient-timestamp",
        choices=TRANSIENT_FORMS,
        default="seconds",
        help="form of a deleted message's context.timestamp (default seconds)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    emulator = Emulator(
        seed=args.seed,
        chats=args.chats,
        messages_per_chat=args.messages_per_chat,
        operators=args.operators,
        token=args.token,
        tokens=args.extra_token,
        accept_any_token=args.any_token,
        rate_limit=args.quota,
        retry_after_header=args.retry_after,
        faults=Faults(
            latency=args.latency_ms / 1000,
            jitter=args.jitter_ms / 1000,
            error_rate=args.error_rate,
            slow_rate=args.slow_rate,
            slow_seconds=args.slow_seconds,
            drop_rate=args.drop_rate,
        ),
        churn_per_s=args.churn_per_s,
        bad_token_status=args.bad_token_status,
        message_limitation_max=args.message_limitation_max,
        transient_timestamp=args.transient_timestamp,
    )
    sock = bind_socket(args.host, args.port)
    url = base_url(sock)

    def announce() -> None:
        sys.stdout.write(url + "\n")
        sys.stdout.flush()

    server = make_server(emulator, on_ready=announce)
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
