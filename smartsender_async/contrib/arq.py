"""arq worker integration: one client per worker process, one quota for all workers.

::

    from smartsender_async.contrib.arq import get_smartsender, on_shutdown, on_startup

    async def send_reminder(ctx, contact_id: int, text: str) -> int:
        message = await get_smartsender(ctx).contacts.send(contact_id, text)
        return message.id

    class WorkerSettings:
        functions = [send_reminder]
        on_startup = on_startup
        on_shutdown = on_shutdown

Each worker process runs one event loop; :func:`on_startup` runs in it before the first
job and :func:`on_shutdown` after the last, so the client lives and dies in that loop.
Its limiter is a :class:`~smartsender_async.ratelimit_redis.RedisRateLimiter` on the
worker's own Redis connection (``ctx["redis"]``), keyed by a digest of the token: every
worker of every host that uses the same Redis and token shares one quota and one lock
gate, so adding workers never adds requests per minute.

arq runs a job *at least once*: a worker stopped mid-job (SIGTERM, a crash, a deploy)
leaves it to be run again, and ``_job_id`` only stops duplicate *enqueues*.  A plain
``contacts.send`` in a job re-run after the server took the message sends it twice.
:func:`send_once` sends through a small ledger in Redis instead::

    async def send_reminder(ctx, contact_id: int, text: str) -> int:
        message = await send_once(ctx, contact_id, text)
        return message.id

It records an *intent* (with the id of the contact's newest message) before the request
and *done* after the answer.  A re-run that finds an intent without a done reconciles
first: it reads the contact's messages newer than that id and sends only if none of them
is an outbound message with the same content.  See docs/guides/workers.md for the window
that remains.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Literal

from smartsender_async._convert import structure, unstructure_record
from smartsender_async.client import SmartSender
from smartsender_async.errors import SmartSenderError
from smartsender_async.models.messages import Message
from smartsender_async.outgoing import OutgoingMessage, Text
from smartsender_async.ratelimit import DEFAULT_RATE_LIMIT, RateLimit
from smartsender_async.resources._base import MAX_LIMITATION, check_id, check_int

__all__ = [
    "CTX_KEY",
    "LEDGER_PREFIX",
    "LEDGER_TTL_S",
    "SendUncertainError",
    "get_smartsender",
    "on_shutdown",
    "on_startup",
    "send_once",
    "smartsender_hooks",
]

logger = logging.getLogger("smartsender_async.contrib.arq")

#: The worker ``ctx`` key the client is kept under.
CTX_KEY = "smartsender"

#: An arq ``on_startup`` / ``on_shutdown`` hook.
Hook = Callable[[dict[Any, Any]], Awaitable[None]]


def smartsender_hooks(
    *,
    rate: RateLimit = DEFAULT_RATE_LIMIT,
    redis_url: str | None = None,
    prefix: str = "smartsender:rl:",
    **client_kwargs: Any,
) -> tuple[Hook, Hook]:
    """Make an ``(on_startup, on_shutdown)`` pair for arq's ``WorkerSettings``.

    Args:
        rate: the quota per token, the same in every worker (Smart Sender's by default).
        redis_url: where the shared limiter keeps its state; by default the worker's own
            Redis connection (``ctx["redis"]``), so nothing more to configure.
        prefix: the limiter's Redis key prefix.
        client_kwargs: passed to :class:`SmartSender` (``token``, ``base_url``,
            ``retry``, ``observer``, ...); the token and base URL default to the
            ``SMARTSENDER_TOKEN`` and ``SMARTSENDER_BASE_URL`` environment variables.
            ``rate_limit`` is not accepted: the hooks build the shared limiter.

    To run your own start-up code too, call the hooks from yours::

        startup, shutdown = smartsender_hooks(rate=RateLimit(120, 60.0))

        async def on_startup(ctx):
            await startup(ctx)
            ctx["db"] = await open_db()
    """
    if "rate_limit" in client_kwargs:
        raise TypeError(
            "smartsender_hooks builds the shared RedisRateLimiter itself; configure it with "
            "rate= and redis_url= instead of rate_limit="
        )

    async def startup(ctx: dict[Any, Any]) -> None:
        from smartsender_async.ratelimit_redis import RedisRateLimiter

        if CTX_KEY in ctx:
            raise RuntimeError("this worker already has a SmartSender client in its ctx")
        where = redis_url if redis_url is not None else ctx.get("redis")
        if where is None:
            raise RuntimeError(
                "no Redis for the shared rate limiter: run under an arq worker (which puts "
                "its connection in ctx['redis']) or pass smartsender_hooks(redis_url=...)"
            )
        limiter = RedisRateLimiter(where, rate, prefix=prefix)
        try:
            ctx[CTX_KEY] = SmartSender(rate_limit=limiter, **client_kwargs)
        except BaseException:
            await limiter.aclose()
            raise

    async def shutdown(ctx: dict[Any, Any]) -> None:
        client = ctx.pop(CTX_KEY, None)
        if not isinstance(client, SmartSender):
            return
        limiter = client.rate_limiter
        try:
            await client.aclose()
        finally:
            # The client does not close a limiter it was given; this one is ours.
            if limiter is not None:
                await limiter.aclose()

    return startup, shutdown


def get_smartsender(ctx: dict[Any, Any]) -> SmartSender:
    """The worker's client, from a job's ``ctx``.

    Raises:
        RuntimeError: the worker was not started with these hooks.
    """
    client = ctx.get(CTX_KEY)
    if not isinstance(client, SmartSender):
        raise RuntimeError(
            "no SmartSender client in the worker ctx: set on_startup/on_shutdown in your "
            "WorkerSettings to the hooks of smartsender_async.contrib.arq"
        )
    return client


#: Default hooks: Smart Sender's quota, token and base URL from the environment.
on_startup, on_shutdown = smartsender_hooks()


# --------------------------------------------------------------------------- send ledger

#: Redis key prefix of the send ledger: ``<prefix><job id>:<send key>``.
LEDGER_PREFIX = "smartsender:sent:"
#: How long a ledger entry is kept: a week, far longer than arq keeps a job.
LEDGER_TTL_S = 7 * 24 * 3600
# Where send_once counts the sends of one job run (arq gives each run a fresh ctx).
_SEQ = "smartsender:send_seq"


class SendUncertainError(SmartSenderError):
    """A re-run could not tell whether an earlier run's send was delivered.

    Raised by :func:`send_once` with ``unsure="raise"`` (the default) when the contact got
    more than ``scan_pages`` pages of messages since the earlier attempt, so its message
    may be further back.  Nothing was sent.  Retry with ``unsure="send"`` to accept a
    possible duplicate, or look at the chat.
    """


def _fingerprint(content: Any) -> list[Any]:
    """What identifies a sent message's content, from a send body or a message's content
    dict (watermark and cosmetic fields left out; media compared by URL alone, since the
    API may file a picture as a document)."""
    if not isinstance(content, dict):
        return ["?"]
    kind = content.get("type")
    resource = content.get("resource")
    if isinstance(resource, dict):  # a message's content: fields under resource.parameters
        params = resource.get("parameters")
        params = params if isinstance(params, dict) else {}
        url = params.get("url")
    else:  # a send body: fields at the top, media URL as "media"
        params = content
        url = params.get("media")
    if kind in ("text", "pendingText", "input"):
        return ["text", params.get("content")]
    if kind == "location":
        return ["location", params.get("latitude"), params.get("longitude")]
    if kind == "contact":
        return ["contact", params.get("phoneNumber")]
    if url is not None:
        return ["media", url]
    return [str(kind)]


async def _newest_id(client: SmartSender, contact_id: int) -> int | None:
    page = await client.contacts.messages(contact_id, 1, 1)
    return page.items[0].id if page.items else None


async def _reconcile(
    client: SmartSender, contact_id: int, before: int | None, fingerprint: list[Any], pages: int
) -> Message | Literal[False] | None:
    """The outbound message with ``fingerprint`` newer than message ``before``; ``None``
    when there is none; ``False`` when ``pages`` pages did not reach back that far."""
    for number in range(1, pages + 1):
        page = await client.contacts.messages(contact_id, number, MAX_LIMITATION)
        for message in page.items:  # newest first
            if before is not None and message.id <= before:
                return None
            if message.is_inbound or message.content is None:
                continue
            if _fingerprint(dict(message.content.raw)) == fingerprint:
                return message
        if not page.items or page.cursor.page >= page.cursor.pages:
            return None
    return False


async def send_once(
    ctx: dict[Any, Any],
    contact_id: int,
    message: OutgoingMessage | str,
    *,
    key: str | None = None,
    unsure: Literal["raise", "send"] = "raise",
    scan_pages: int = 5,
    ttl: int = LEDGER_TTL_S,
    prefix: str = LEDGER_PREFIX,
) -> Message:
    """Send ``message`` to a contact from an arq job, once, even if the job is re-run.

    The ledger entry ``<prefix><job id>:<key>`` in the worker's Redis records an intent
    (with the id of the contact's newest message, one extra request) before the send and
    the sent message after it.  A run that finds the message done returns it without a
    request; one that finds only the intent reads the contact's messages newer than that
    id and sends only when no outbound message there has the same content.

    Args:
        ctx: the job's arq ``ctx`` (``job_id``, ``redis``, and the client from the hooks).
        contact_id: the contact to send to.
        message: a ``str`` (text) or one of :mod:`smartsender_async.outgoing`'s classes.
        key: names this send within the job; by default the sends of one run are
            numbered in order (``"1"``, ``"2"``, ...), which is right as long as the job
            makes the same sends in the same order each time it runs.
        unsure: what a re-run does when ``scan_pages`` pages of newer messages did not
            reach the intent: ``"raise"`` :class:`SendUncertainError` (at most once), or
            ``"send"`` (at least once).
        scan_pages: how many pages of 20 messages a re-run reads back, at most.
        ttl: seconds the ledger entry is kept.
        prefix: the ledger's Redis key prefix.

    Returns:
        The sent :class:`Message` (from the ledger, or found in the chat, on a re-run).

    Raises:
        SendUncertainError: see ``unsure``.
        ValueError: ``key`` was used in this job for a different contact or content.
        RuntimeError: not called from an arq job started with these hooks.
    """
    client = get_smartsender(ctx)
    redis = ctx.get("redis")
    job_id = ctx.get("job_id")
    if redis is None or job_id is None:
        raise RuntimeError("send_once needs an arq job ctx (with 'redis' and 'job_id')")
    contact_id = check_id("contact_id", contact_id)
    scan_pages = check_int("scan_pages", scan_pages, 1)
    if unsure not in ("raise", "send"):
        raise ValueError(f"unsure must be 'raise' or 'send', got {unsure!r}")
    outgoing = Text(message) if isinstance(message, str) else message
    if key is None:
        ctx[_SEQ] = ctx.get(_SEQ, 0) + 1
        key = str(ctx[_SEQ])
    elif not isinstance(key, str) or not key:
        raise TypeError(f"key must be a non-empty str, got {key!r}")
    fingerprint = _fingerprint(outgoing.to_body(0))
    ledger_key = f"{prefix}{job_id}:{key}"

    raw = await redis.get(ledger_key)
    entry: dict[str, Any]
    if raw is not None:
        entry = json.loads(raw)
        if entry.get("contact") != contact_id or entry.get("fingerprint") != fingerprint:
            raise ValueError(
                f"send key {key!r} of job {job_id!r} was used for another contact or content; "
                "give each send of a job its own key"
            )
        if entry.get("state") == "done":
            return structure(entry["message"], Message)
        found = await _reconcile(client, contact_id, entry.get("before"), fingerprint, scan_pages)
        if isinstance(found, Message):
            logger.info("job %s send %s: already delivered (message %d)", job_id, key, found.id)
            await _record_done(redis, ledger_key, entry, found, ttl)
            return found
        if found is False and unsure == "raise":
            raise SendUncertainError(
                f"job {job_id!r} send {key!r}: an earlier run may have sent this message, "
                f"but contact {contact_id} has more than {scan_pages} pages of messages "
                "since; nothing sent (pass unsure='send' to send anyway)"
            )
    else:
        entry = {
            "state": "intent",
            "contact": contact_id,
            "fingerprint": fingerprint,
            "before": await _newest_id(client, contact_id),
        }
        # Written before the send; if Redis fails here, nothing is sent.
        await redis.set(ledger_key, json.dumps(entry), ex=ttl)
    sent = await client.contacts.send(contact_id, outgoing)
    await _record_done(redis, ledger_key, entry, sent, ttl)
    return sent


async def _record_done(
    redis: Any, key: str, entry: dict[str, Any], sent: Message, ttl: int
) -> None:
    done = {**entry, "state": "done", "message": unstructure_record(sent)}
    try:
        await redis.set(key, json.dumps(done), ex=ttl)
    except Exception:
        # The message is sent: say so rather than fail the job (a re-run would reconcile).
        logger.warning("could not record a delivered send in the ledger (%s)", key, exc_info=True)
