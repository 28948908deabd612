"""smartsender-async: the asyncio SDK for the Smart Sender messenger platform REST API.

Start with :class:`SmartSender`::

    async with SmartSender() as client:       # token from SMARTSENDER_TOKEN
        async for chat in client.chats.stream(state="open"):
            print(chat.id, chat.name)
"""

from smartsender_async._convert import converter
from smartsender_async._http import pooled_transport
from smartsender_async._version import __version__
from smartsender_async.client import (
    DEFAULT_BASE_URL,
    ConfigurationError,
    EventLoopMismatchError,
    SmartSender,
    UnclosedClientWarning,
)
from smartsender_async.errors import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    ResponseDecodeError,
    ServerError,
    SmartSenderError,
    UnprocessableEntityError,
)
from smartsender_async.models import (
    Channel,
    Chat,
    ChatContact,
    Contact,
    Cursor,
    Gate,
    Message,
    Operator,
    Page,
    ResponseInfo,
    Sender,
)
from smartsender_async.outgoing import (
    Animation,
    Audio,
    ContactCard,
    File,
    Location,
    Picture,
    Text,
    Video,
    Voice,
)
from smartsender_async.pagination import FanOutStream, PageStream
from smartsender_async.ratelimit import (
    InMemoryRateLimiter,
    LockGateClosedError,
    RateLimit,
    RateLimiter,
)
from smartsender_async.ratelimit_redis import RateLimiterUnavailableError, RedisRateLimiter
from smartsender_async.retry import RequestEvent, RetryPolicy

__all__ = [
    "DEFAULT_BASE_URL",
    "APIConnectionError",
    "APIError",
    "APITimeoutError",
    "Animation",
    "Audio",
    "AuthenticationError",
    "BadRequestError",
    "Channel",
    "Chat",
    "ChatContact",
    "ConfigurationError",
    "Contact",
    "ContactCard",
    "Cursor",
    "EventLoopMismatchError",
    "FanOutStream",
    "File",
    "Gate",
    "InMemoryRateLimiter",
    "Location",
    "LockGateClosedError",
    "Message",
    "NotFoundError",
    "Operator",
    "Page",
    "PageStream",
    "PermissionDeniedError",
    "Picture",
    "RateLimit",
    "RateLimitedError",
    "RateLimiter",
    "RateLimiterUnavailableError",
    "RedisRateLimiter",
    "RequestEvent",
    "ResponseDecodeError",
    "ResponseInfo",
    "RetryPolicy",
    "Sender",
    "ServerError",
    "SmartSender",
    "SmartSenderError",
    "Text",
    "UnclosedClientWarning",
    "UnprocessableEntityError",
    "Video",
    "Voice",
    "__version__",
    "converter",
    "pooled_transport",
]
