"""The HTTP library seam: httpx (the default) or its maintained fork httpx2.

httpx 0.28 is frozen upstream; httpx2 (with httpcore2) is a same-API fork whose classes
are distinct: ``httpx2.TransportError`` is not an ``httpx.TransportError``.  Everything
that must know which library is in use asks this module:

* :func:`resolve` picks the backend of a :class:`~smartsender_async.SmartSender`: the one
  its ``http_client=`` or ``transport=`` belongs to, else its ``http=`` argument, else the
  ``SMARTSENDER_HTTP`` environment variable, else httpx.  Nothing is chosen from what
  happens to be installed, and a mix (an httpx2 client with an httpx transport, or
  ``http="httpx"`` with an httpx2 client) is refused with :class:`BackendMismatchError`.
* the exception tuples (:data:`TRANSPORT_ERRORS`, :data:`TIMEOUTS`, :data:`NEVER_SENT`,
  :data:`MAYBE_SENT`, :data:`RESPONSE_NOT_READ`) hold the classes of both libraries, so
  that the retry step and the error mapping treat an httpx2 failure exactly as the
  httpx one of the same name.
* :func:`module_of` tells which library built a request or response, so that copies
  (the redacted request on an exception) are made with the same library.

The SDK's code is written, and type-checked, against httpx's API; httpx2 objects pass
through it unchanged because the API is the same.  After ``httpx2.alias_httpx()`` both
names are one library, and every answer here is the same for both.
"""

from __future__ import annotations

import os
import types
from typing import TYPE_CHECKING, Any, Literal, cast

import httpx

if TYPE_CHECKING:
    import httpx2

__all__ = [
    "BACKENDS",
    "HTTP_ENV",
    "MAYBE_SENT",
    "NEVER_SENT",
    "RESPONSE_NOT_READ",
    "TIMEOUTS",
    "TRANSPORT_ERRORS",
    "Backend",
    "BackendMismatchError",
    "BackendName",
    "backend_of_client",
    "backend_of_transport",
    "convert_timeout",
    "default_backend",
    "get_backend",
    "installed",
    "module_of",
    "pool_module",
    "resolve",
]

BackendName = Literal["httpx", "httpx2"]
#: The names :func:`get_backend` accepts.
BACKENDS: tuple[BackendName, ...] = ("httpx", "httpx2")
#: The environment variable naming the default backend (``httpx`` or ``httpx2``).
HTTP_ENV = "SMARTSENDER_HTTP"

try:
    import httpx2 as _httpx2
except ImportError:  # the [httpx2] extra is not installed
    _httpx2_module: types.ModuleType | None = None
else:
    _httpx2_module = _httpx2

# The libraries loaded, httpx first; one entry when httpx2.alias_httpx() made them one.
_MODULES: tuple[types.ModuleType, ...] = tuple(
    dict.fromkeys(m for m in (httpx, _httpx2_module) if m is not None)
)


class BackendMismatchError(ValueError):
    """The HTTP objects given to the SDK belong to different libraries (httpx and httpx2),
    or to a library other than the one named by ``http=``, or the backend is unknown or
    not installed.  ``SmartSender`` raises it as
    :class:`smartsender_async.client.BackendMismatchError`, a ``ConfigurationError``."""


class Backend:
    """One HTTP library: its name, the httpx-like module and its httpcore-like module.

    ``http`` is ``httpx`` or ``httpx2``; ``core`` is ``httpcore`` or ``httpcore2``.  Use
    :func:`get_backend` to get one.
    """

    __slots__ = ("core", "http", "name")

    def __init__(self, name: BackendName, http: types.ModuleType, core: types.ModuleType) -> None:
        self.name: BackendName = name
        self.http = http
        self.core = core

    def __repr__(self) -> str:
        return f"<Backend {self.name}>"


_CACHE: dict[str, Backend] = {}


def get_backend(name: str) -> Backend:
    """The :class:`Backend` called ``name`` (``"httpx"`` or ``"httpx2"``).

    Raises:
        BackendMismatchError: an unknown name, or httpx2 when it is not installed.
    """
    backend = _CACHE.get(name)
    if backend is not None:
        return backend
    if name == "httpx":
        import httpcore

        backend = Backend("httpx", httpx, httpcore)
    elif name == "httpx2":
        if _httpx2_module is None:
            raise BackendMismatchError(
                "http='httpx2' needs the httpx2 package: pip install 'smartsender-async[httpx2]'"
            )
        import httpcore2

        backend = Backend("httpx2", _httpx2_module, httpcore2)
    else:
        raise BackendMismatchError(f"http must be 'httpx' or 'httpx2', got {name!r}")
    _CACHE[name] = backend
    return backend


def installed() -> list[Backend]:
    """httpx, and httpx2 when it is installed (distinct from httpx)."""
    found = [get_backend("httpx")]
    if _httpx2_module is not None and _httpx2_module is not httpx:
        found.append(get_backend("httpx2"))
    return found


def _name_of(obj: object, base: str) -> BackendName | None:
    """Which library's ``base`` class ``obj`` is an instance of (httpx2 first, so that
    after ``alias_httpx()`` the answer is httpx2), or ``None`` for neither."""
    if _httpx2_module is not None and isinstance(obj, getattr(_httpx2_module, base)):
        return "httpx2" if _httpx2_module is not httpx else "httpx"
    if isinstance(obj, getattr(httpx, base)):
        return "httpx"
    return None


def backend_of_transport(transport: object) -> BackendName | None:
    """The library ``transport`` subclasses ``AsyncBaseTransport`` of; ``None`` when it
    subclasses neither (a duck-typed transport takes the client's library)."""
    return _name_of(transport, "AsyncBaseTransport")


def backend_of_client(client: object) -> BackendName:
    """The library of an ``AsyncClient``, checked against the transports it holds.

    Raises:
        TypeError: ``client`` is neither an ``httpx.AsyncClient`` nor an
            ``httpx2.AsyncClient``.
        BackendMismatchError: a transport (or mount) of the client belongs to the other
            library: requests would cross between the two and fail deep inside them.
    """
    name = _name_of(client, "AsyncClient")
    if name is None:
        raise TypeError(
            "http_client must be an httpx.AsyncClient or an httpx2.AsyncClient, "
            f"got {type(client).__name__}"
        )
    # httpx has no public accessor for these; read defensively, only to check.
    transports = [getattr(client, "_transport", None)]
    transports += list((getattr(client, "_mounts", None) or {}).values())
    for transport in transports:
        other = backend_of_transport(transport) if transport is not None else None
        if other is not None and other != name:
            raise BackendMismatchError(
                f"http_client is an {name}.AsyncClient but one of its transports is an "
                f"{other} transport ({type(transport).__name__}); build the client and its "
                f"transports with the same library"
            )
    return name


def resolve(
    http: str | None, http_client: object | None = None, transport: object | None = None
) -> Backend:
    """The backend of a client: of ``http_client`` or ``transport`` when given (checked
    against ``http``), else ``http``, else ``$SMARTSENDER_HTTP``, else httpx.

    Raises:
        BackendMismatchError: a mix of libraries, or an unknown/uninstalled backend.
        TypeError: ``http_client`` is not an async client of either library.
    """
    if http is not None and not isinstance(http, str):
        raise TypeError(f"http must be 'httpx' or 'httpx2', got {http!r}")
    found: BackendName | None = None
    what = ""
    if http_client is not None:
        found, what = backend_of_client(http_client), "http_client"
    elif transport is not None:
        found, what = backend_of_transport(transport), "transport"
    if found is not None:
        if http is not None and get_backend(http) is not get_backend(found):
            raise BackendMismatchError(
                f"http={http!r} but {what} belongs to {found}; pass objects of one library "
                "(or leave http= out: the backend is the one the client belongs to)"
            )
        return get_backend(found)
    if http is not None:
        return get_backend(http)
    return default_backend()


def default_backend() -> Backend:
    """``$SMARTSENDER_HTTP`` (``httpx`` or ``httpx2``) when set, else httpx.

    Raises:
        BackendMismatchError: the variable names an unknown or uninstalled backend.
    """
    name = os.environ.get(HTTP_ENV, "").strip() or "httpx"
    try:
        return get_backend(name)
    except BackendMismatchError as exc:
        raise BackendMismatchError(f"${HTTP_ENV}: {exc}") from None


def convert_timeout(backend: Backend, timeout: Any) -> Any:
    """``timeout`` as ``backend``'s ``Timeout`` when it is the other library's (a float,
    ``None`` or the backend's own pass through): ``DEFAULT_TIMEOUT`` is an httpx one."""
    if isinstance(timeout, (int, float)) or timeout is None:
        return timeout
    own = backend.http.Timeout
    if isinstance(timeout, own):
        return timeout
    for module in _MODULES:
        if isinstance(timeout, module.Timeout):
            return own(**timeout.as_dict())
    return timeout


_POOLS: dict[str, Any] = {}


def pool_module(backend: Backend) -> Any:
    """The SDK's connection pool (:mod:`smartsender_async._pool`) for ``backend``.

    One implementation serves both libraries.  ``_pool`` names httpcore through its
    module global ``httpcore`` only, looked up when its code runs; for httpx2 the same
    source file is loaded a second time as ``smartsender_async._pool_httpcore2`` with that
    global bound to ``httpcore2``, whose ``AsyncHTTPConnection``, ``Response`` and
    exceptions have the same API.  ``install()`` then checks for httpcore2's stock pool,
    and falls back to it (installs nothing) when it does not look as expected.
    """
    module = _POOLS.get(backend.name)
    if module is not None:
        return module
    from smartsender_async import _pool

    if backend.core is getattr(_pool, "httpcore"):  # noqa: B009 - httpx (or httpx2 aliased)
        module = _pool
    else:
        import importlib.util
        import sys

        name = f"smartsender_async._pool_{backend.core.__name__}"
        spec = importlib.util.spec_from_file_location(name, _pool.__file__)
        if spec is None or spec.loader is None:  # pragma: no cover - a zipped install
            raise ImportError(f"cannot load {_pool.__file__} for {backend.name}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        # The one seam: every httpcore.X in the pool's code now means httpcore2.X.
        setattr(module, "httpcore", backend.core)  # noqa: B010
    _POOLS[backend.name] = module
    return module


def module_of(obj: object) -> Any:
    """The module (``httpx`` or ``httpx2``) whose ``Request``, ``Response``, ``Headers``,
    ``URL`` or ``AsyncClient`` ``obj`` is; httpx for anything else."""
    if _httpx2_module is not None and _httpx2_module is not httpx:
        for base in ("Request", "Response", "Headers", "URL", "AsyncClient", "Timeout"):
            if isinstance(obj, getattr(_httpx2_module, base)):
                return _httpx2_module
    return httpx


def _classes(name: str) -> tuple[type[Any], ...]:
    return tuple(dict.fromkeys(getattr(module, name) for module in _MODULES))


def _union(*names: str) -> tuple[type[Any], ...]:
    return tuple(dict.fromkeys(cls for name in names for cls in _classes(name)))


# The SDK is typed against httpx's API: httpx2's classes are listed as httpx's.
#: Every transport failure, both libraries.
TRANSPORT_ERRORS = cast("tuple[type[httpx.TransportError], ...]", _classes("TransportError"))
#: Timeouts (connect, read, write, pool), both libraries.
TIMEOUTS = cast("tuple[type[httpx.TimeoutException], ...]", _classes("TimeoutException"))
#: Raised before the request left this host: safe to repeat for any call.
NEVER_SENT = cast(
    "tuple[type[httpx.TransportError], ...]",
    _union("ConnectError", "ConnectTimeout", "PoolTimeout"),
)
#: The request may have reached the server: repeat only idempotent calls.
MAYBE_SENT = cast(
    "tuple[type[httpx.TransportError], ...]",
    _union("ReadTimeout", "ReadError", "WriteTimeout", "WriteError", "RemoteProtocolError"),
)
#: ``response.text`` before the body was read.
RESPONSE_NOT_READ = cast("tuple[type[httpx.ResponseNotRead], ...]", _classes("ResponseNotRead"))
#: Request and response classes of every installed library (what errors.scrub() redacts).
REQUESTS = cast("tuple[type[httpx.Request], ...]", _classes("Request"))
RESPONSES = cast("tuple[type[httpx.Response], ...]", _classes("Response"))

if TYPE_CHECKING:
    #: What ``SmartSender(http_client=...)`` accepts.
    AnyAsyncClient = httpx.AsyncClient | httpx2.AsyncClient
    AnyTransport = httpx.AsyncBaseTransport | httpx2.AsyncBaseTransport
    AnyTimeout = httpx.Timeout | httpx2.Timeout
