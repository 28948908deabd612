"""The one cattrs converter that turns Smart Sender JSON into models and back.

Decoding is on the hot path of every call (a 20-chat page holds ~120 objects), so the
structure hooks are generated per class, as straight-line Python, by a hook factory
registered on :data:`converter`:

* camelCase wire keys map to snake_case attributes (``unreadMessages`` → ``unread_messages``);
* ids accept JSON numbers and numeric strings;
* timestamps accept ``2019-10-23 16:16:38`` (taken as UTC), RFC 3339 with ``Z`` or an
  offset, and unix seconds, and always become aware UTC datetimes;
* keys a class does not map are kept in its ``extra`` mapping (nothing is lost);
* message ``content`` is a tagged union on ``content.type`` with a fallback class.

The generated hooks validate only what they must.  When one fails, :func:`structure`
re-walks the data slowly to name the exact field (``collection[3].gates[0].id``) and raises
:class:`DecodeError`; the client turns that into a ``ResponseDecodeError``.
"""

from __future__ import annotations

import json
import re
import sys
import threading
import types
import typing
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import Any, TypeVar, Union, get_args, get_origin

import attrs
import cattrs

from smartsender_async.models.chats import Channel
from smartsender_async.models.common import EMPTY, Cursor, Page
from smartsender_async.models.messages import (
    CONTENT_TYPES,
    Button,
    Content,
    MediaGroupContent,
    MessageContent,
    Sender,
    TelegramInvoiceContent,
    TransientContent,
    UnknownContent,
)

_fast_loads: Callable[[bytes | str], Any] | None
try:  # an optional speed-up: parses a page in half the time of the json module
    from orjson import loads as _fast_loads
except ImportError:  # pragma: no cover - depends on the environment
    _fast_loads = None

__all__ = [
    "JSON_BACKEND",
    "DecodeError",
    "converter",
    "format_timestamp",
    "loads",
    "parse_timestamp",
    "structure",
]

T = TypeVar("T")
UTC = timezone.utc
_MISSING: Any = object()


#: How much of a decode problem (and of the field path) a message keeps.
_MAX_PROBLEM_CHARS = 300


class DecodeError(ValueError):
    """Data did not fit the model; ``path`` names the offending field."""

    def __init__(self, path: str, problem: str) -> None:
        # The problem quotes the server's value, which may be megabytes: keep it short.
        if len(problem) > _MAX_PROBLEM_CHARS:
            problem = problem[: _MAX_PROBLEM_CHARS - 3] + "..."
        if len(path) > _MAX_PROBLEM_CHARS:
            path = path[: _MAX_PROBLEM_CHARS - 3] + "..."
        super().__init__(f"{path or '<root>'}: {problem}")
        self.path = path
        self.problem = problem


# --------------------------------------------------------------------------- JSON

#: Which parser :func:`loads` uses first: ``"orjson"`` when it is installed, else ``"json"``.
JSON_BACKEND = "json" if _fast_loads is None else "orjson"


def loads(content: bytes | str) -> Any:
    """Parse a response body: orjson when installed, else the ``json`` module.

    Whatever orjson refuses (``NaN``, lone surrogates, a BOM) is handed to
    :func:`json.loads`, so a body parses exactly when the json module accepts it, and a body
    neither accepts raises the json module's ``ValueError``.  One difference remains:
    orjson reads integers beyond 64 bits as floats (the API's ids are far below that).
    """
    if _fast_loads is not None:
        try:
            return _fast_loads(content)
        except ValueError:
            pass
    try:
        return json.loads(content)
    except RecursionError:  # a nesting bomb such as b"[" * 50_000
        raise ValueError("JSON nested too deeply") from None


# --------------------------------------------------------------------------- scalars


def to_int(value: Any) -> int:
    """An id or count: a JSON integer or a numeric string (never a bool)."""
    cls = value.__class__
    if cls is int:
        return int(value)
    if cls is str:
        text = value.strip()
        if text.lstrip("+-").isdigit():
            return int(text)
    elif cls is float and value.is_integer():
        return int(value)
    raise TypeError(f"expected an integer, got {value!r}")


def _opt_int(value: Any) -> int | None:
    return None if value is None else to_int(value)


def _opt_str(value: Any) -> str | None:
    if value is None or value.__class__ is str:
        return value
    if value.__class__ in (int, float):
        return str(value)
    raise TypeError(f"expected a string, got {value!r}")


def _opt_bool(value: Any) -> bool | None:
    if value is None or value is True or value is False:
        return value
    if value in (0, 1) and value.__class__ is int:
        return bool(value)
    if value.__class__ is str and value.lower() in ("true", "false", "0", "1"):
        return value.lower() in ("true", "1")
    raise TypeError(f"expected a boolean, got {value!r}")


def _str(value: Any) -> str:
    if value.__class__ is str:
        return value
    if value.__class__ in (int, float):
        return str(value)
    raise TypeError(f"expected a string, got {value!r}")


def _bool(value: Any) -> bool:
    result = _opt_bool(value)
    if result is None:
        raise TypeError("expected a boolean, got None")
    return result


def _float(value: Any) -> float:
    result = _opt_float(value)
    if result is None:
        raise TypeError("expected a number, got None")
    return result


def _opt_float(value: Any) -> float | None:
    if value is None:
        return None
    if value.__class__ in (int, float):
        return float(value)
    if value.__class__ is str:
        return float(value)
    raise TypeError(f"expected a number, got {value!r}")


def _opt_map(value: Any) -> Mapping[str, Any] | None:
    if value is None or value.__class__ is dict:
        return value
    if value == []:  # PHP encodes an empty associative array as []
        return EMPTY
    raise TypeError(f"expected an object, got {value!r}")


def _map(value: Any) -> Mapping[str, Any]:
    result = _opt_map(value)
    return EMPTY if result is None else result


def _any(value: Any) -> Any:
    return value


_fromiso = datetime.fromisoformat
_OFFSET_NO_COLON = re.compile(r"([+-]\d{2})(\d{2})$")
_FRACTION = re.compile(r"\.(\d+)")


def parse_timestamp(value: Any) -> datetime | None:
    """Parse a Smart Sender timestamp into an aware UTC datetime (``None`` stays ``None``).

    Accepts ``2019-10-23 16:16:38`` (no zone: UTC), ``2024-05-17T09:41:03.000000Z``,
    explicit offsets (``+02:00``, ``+0200``), fractions of any length, and unix seconds.
    """
    if value is None:
        return None
    if value.__class__ is str:
        text: str = value
        try:
            if text[-1:] in ("Z", "z"):
                return _fromiso(text[:-1]).replace(tzinfo=UTC)
            parsed = _fromiso(text)
        except ValueError:
            parsed = _parse_timestamp_slow(text)
        if parsed.tzinfo is None:
            return parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC)
    if value.__class__ in (int, float):
        return datetime.fromtimestamp(value, UTC)
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    raise TypeError(f"expected a timestamp, got {value!r}")


def _parse_timestamp_slow(text: str) -> datetime:
    cleaned = text.strip()
    if cleaned[-1:] in ("Z", "z"):
        cleaned = cleaned[:-1] + "+00:00"
    cleaned = _OFFSET_NO_COLON.sub(r"\1:\2", cleaned)
    # Python 3.10's fromisoformat takes only 3 or 6 fraction digits: make it exactly 6.
    cleaned = _FRACTION.sub(lambda m: "." + (m.group(1) + "000000")[:6], cleaned, count=1)
    try:
        return _fromiso(cleaned)
    except ValueError:
        raise ValueError(f"expected a timestamp, got {text!r}") from None


def format_timestamp(value: datetime) -> str:
    """Format an aware datetime the way the API emits it: ``2024-05-17T09:41:03.000000Z``."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    # isoformat, not strftime: strftime's %Y does not zero-pad years before 1000 on Linux.
    return value.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


# --------------------------------------------------------------------------- field specs


def camel(name: str) -> str:
    """``unread_messages`` → ``unreadMessages``."""
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


@attrs.frozen
class _FieldSpec:
    attr: str
    key: str
    required: bool
    kind: str  # scalar | record | records | content | maps
    convert: Callable[[Any], Any]
    default: Any


_SCALARS: dict[Any, Callable[[Any], Any]] = {
    int: to_int,
    str: _str,
    bool: _bool,
    float: _float,
    int | None: _opt_int,
    str | None: _opt_str,
    bool | None: _opt_bool,
    float | None: _opt_float,
    datetime | None: parse_timestamp,
    Mapping[str, Any]: _map,
    Mapping[str, Any] | None: _opt_map,
    Any: _any,
}


def _is_content_union(tp: Any) -> bool:
    members = {a for a in get_args(tp) if a is not type(None)}
    return bool(members) and members == set(get_args(MessageContent))


def _is_record(tp: Any) -> bool:
    return attrs.has(tp) and "extra" in attrs.fields_dict(tp)


def _strip_optional(tp: Any) -> Any:
    if get_origin(tp) in (Union, types.UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return tp


def _specs(cls: type[Any]) -> list[_FieldSpec]:
    hints = typing.get_type_hints(cls)
    specs = []
    for field in attrs.fields(cls):
        if not field.init or field.name == "extra":
            continue
        tp = hints[field.name]
        # The wire key comes from the init name: a private ``_score`` is sent as "score".
        wire = camel(field.alias or field.name)
        required = field.default is attrs.NOTHING
        default = None if required else field.default
        inner = _strip_optional(tp)
        if tp in _SCALARS:
            spec = _FieldSpec(field.name, wire, required, "scalar", _SCALARS[tp], default)
        elif _is_content_union(tp):
            spec = _FieldSpec(field.name, wire, required, "content", structure_content, default)
        elif _is_record(inner):
            spec = _FieldSpec(field.name, wire, required, "record", _record_fn(inner), default)
        elif (
            get_origin(tp) is tuple
            and _is_record(get_args(tp)[0])
            and field.metadata.get("one_or_many")
        ):
            # The wire holds one object or a list of them (an invoice's ``essence``).
            convert = _one_or_many(_record_fn(get_args(tp)[0]))
            spec = _FieldSpec(field.name, wire, required, "scalar", convert, default)
        elif get_origin(tp) is tuple and _is_record(get_args(tp)[0]):
            spec = _FieldSpec(
                field.name,
                wire,
                required,
                "records",
                _record_fn(get_args(tp)[0]),
                default,
            )
        elif get_origin(tp) is tuple and get_args(tp)[0] == Mapping[str, Any]:
            spec = _FieldSpec(field.name, wire, required, "maps", _map, default)
        else:
            # A type the SDK's models do not use (a user's subclass, say): cattrs decodes it.
            spec = _FieldSpec(field.name, wire, required, "scalar", _via_cattrs(tp), default)
        specs.append(spec)
    return specs


def _via_cattrs(tp: Any) -> Callable[[Any], Any]:
    def convert(value: Any) -> Any:
        return converter.structure(value, tp)

    return convert


def _one_or_many(item: Callable[[Any], Any]) -> Callable[[Any], tuple[Any, ...]]:
    """A tuple from one object or a list of objects; ``[]`` and ``{}`` give ``()``."""

    def convert(value: Any) -> tuple[Any, ...]:
        if value.__class__ is dict:
            return (item(value),) if value else ()
        if value.__class__ is list:
            return tuple([item(x) for x in value])
        raise TypeError(f"expected an object or a list, got {value!r:.80}")

    return convert


# --------------------------------------------------------------------------- codegen

#: Hooks are generated on first use, once, under this lock: threads that decode their
#: first page at the same moment wait for one thread to build the hooks (issue 13: 8
#: threads racing on cold hooks saw half-built ones).  Built hooks are read without it.
_BUILD_LOCK = threading.RLock()
_RECORD_FNS: dict[type[Any], Callable[[Any], Any]] = {}
_RECORD_SPECS: dict[type[Any], list[_FieldSpec]] = {}
# Hooks being generated (by the thread holding _BUILD_LOCK), for self-referencing models.
_BUILDING: dict[type[Any], Callable[[Any], Any]] = {}


def _record_fn(cls: type[Any]) -> Callable[[Any], Any]:
    fn = _RECORD_FNS.get(cls)
    if fn is not None:
        return fn
    with _BUILD_LOCK:
        fn = _RECORD_FNS.get(cls) or _BUILDING.get(cls)
        if fn is not None:
            return fn

        # A trampoline stands in while the hook is built, so self-referencing models
        # terminate; it is never published, and waits for the build if called early.
        def trampoline(value: Any) -> Any:
            hook = _RECORD_FNS.get(cls)
            if hook is None:
                with _BUILD_LOCK:
                    hook = _RECORD_FNS[cls]
            return hook(value)

        _BUILDING[cls] = trampoline
        try:
            fn = _generate_record_fn(cls)
        finally:
            del _BUILDING[cls]
        _RECORD_FNS[cls] = fn
    return fn


_TWINS: dict[type[Any], type[Any] | None] = {}


def _twin(cls: type[Any]) -> type[Any] | None:
    """A mutable twin of ``cls`` to build instances in, or ``None`` when ``cls`` must be built
    through its ``__init__``.

    A frozen attrs class refuses attribute assignment, and its ``__init__`` pays one
    ``object.__setattr__`` call per field.  The twin is a subclass that adds no slots and
    restores plain assignment, so a generated hook fills a new twin with ordinary slot stores
    (which the interpreter specialises) and then sets ``__class__`` to ``cls``: what comes
    out is a plain ``cls`` instance, built in under a third of the time ``__init__`` takes.
    That is only equivalent while ``__init__`` does nothing else: no validators, converters,
    factory defaults or ``__attrs_post_init__``.
    """
    if cls in _TWINS:
        return _TWINS[cls]
    with _BUILD_LOCK:
        if cls not in _TWINS:
            _TWINS[cls] = _make_twin(cls)
    return _TWINS[cls]


def _make_twin(cls: type[Any]) -> type[Any] | None:
    twin: type[Any] | None = None
    # Only the SDK's own models: a user's subclass may do anything in __init__ (or in an
    # attrs hook this check does not know), so it is built through its __init__.
    own = cls.__module__.startswith("smartsender_async.") and "__slots__" in cls.__dict__
    if own and not hasattr(cls, "__attrs_post_init__") and not hasattr(cls, "__attrs_pre_init__"):
        plain = all(
            field.validator is None
            and field.converter is None
            and not isinstance(field.default, attrs.Factory)  # type: ignore[arg-type]
            and isinstance(getattr(cls, field.name, None), types.MemberDescriptorType)
            for field in attrs.fields(cls)
        )
        if plain:
            # __setattr__ and __delattr__ share one type slot: both must be object's for
            # attribute stores on the twin to take the interpreter's fast path.
            namespace = {
                "__slots__": (),
                "__setattr__": object.__setattr__,
                "__delattr__": object.__delattr__,
                "__module__": __name__,
                "__qualname__": f"_Building{cls.__name__}",
            }
            twin = type(f"_Building{cls.__name__}", (cls,), namespace)
    return twin


# Straight-line conversions, inlined into the generated hooks for the common types; the
# helper is only called for the rare form (a numeric string id, a 0/1 boolean, ...).
_INLINE: dict[Callable[[Any], Any], str] = {
    to_int: "{v} if {v}.__class__ is int else {conv}({v})",
    _opt_int: "{v} if {v} is None or {v}.__class__ is int else {conv}({v})",
    _opt_str: "{v} if {v} is None or {v}.__class__ is str else {conv}({v})",
    _opt_bool: "{v} if {v} is None or {v} is True or {v} is False else {conv}({v})",
    _opt_map: "{v} if {v} is None or {v}.__class__ is dict else {conv}({v})",
    _any: "{v}",
}

if sys.version_info >= (3, 11):
    # 3.11's fromisoformat reads every RFC 3339 form the API sends (``Z``, offsets, any
    # fraction length) in ~0.1 us and returns the ``timezone.utc`` singleton for UTC.
    # Anything it rejects, leaves naive or gives another zone goes to parse_timestamp.
    _TIMESTAMP_LINES = (
        "if {v} is not None:",
        "    if {v}.__class__ is str:",
        "        try:",
        "            {v} = _fromiso({v})",
        "        except ValueError:",
        "            {v} = _ts({v})",
        "        else:",
        "            if {v}.tzinfo is not _UTC:",
        "                {v} = _ts({v})",
        "    else:",
        "        {v} = _ts({v})",
    )
else:  # pragma: no cover - exercised on 3.10 only
    _TIMESTAMP_LINES = ("if {v} is not None:", "    {v} = _ts({v})")


#: How deep nested records are inlined into their parent's hook (Chat → Gate → Channel).
_INLINE_DEPTH = 3


def _field_lines(
    spec: _FieldSpec, n: str, src: str, ns: dict[str, Any], stack: tuple[type[Any], ...]
) -> list[str]:
    """Lines that read ``spec``'s key from the dict ``src`` into ``v{n}``, converted."""
    v = f"v{n}"
    conv = f"_c{n}"
    ns[conv] = spec.convert
    ns[f"_d{n}"] = spec.default
    get = f"{src}[{spec.key!r}]" if spec.required else f"{src}.get({spec.key!r})"
    lines = [f"{v} = {get}"]
    if spec.kind == "records" and _can_inline(spec, stack):
        # Inline the item's hook into a loop: one Python call less per item.
        inner = get_args(typing.get_type_hints(stack[-1])[spec.attr])[0]
        item, items = f"x{n}", f"l{n}"
        lines += [
            f"if {v} is None:",
            f"    {v} = _d{n}",
            f"elif {v}.__class__ is not list:",
            f"    _not_list({v})",
            "else:",
            f"    {items} = []",
            f"    for {item} in {v}:",
            f"        if {item}.__class__ is not dict:",
            f"            _not_object({item})",
            *(
                "        " + line
                for line in _record_block(inner, item, item, f"{n}_", ns, (*stack, inner))
            ),
            f"        {items}.append({item})",
            f"    {v} = _tuple({items})",
        ]
    elif spec.kind in ("records", "maps"):
        lines.append(
            f"{v} = _d{n} if {v} is None else _tuple([{conv}(x) for x in {v}])"
            f" if {v}.__class__ is list else _not_list({v})"
        )
    elif spec.convert is parse_timestamp:
        lines.extend(line.format(v=v) for line in _TIMESTAMP_LINES)
    elif spec.kind == "record":
        inner = _strip_optional(typing.get_type_hints(stack[-1])[spec.attr])
        # PHP encodes an empty object as [], so [] where an object belongs means "none".
        if not _can_inline(spec, stack):
            lines.append(f"{v} = _d{n} if {v} is None or {v} == [] else {conv}({v})")
        else:
            # Inline the nested record's hook: one Python call less per nested object.
            lines += [
                f"if {v} is None:",
                f"    {v} = _d{n}",
                f"elif {v}.__class__ is not dict:",
                f"    {v} = _d{n} if {v} == [] else _not_object({v})",
                "else:",
                *(
                    "    " + line
                    for line in _record_block(inner, v, v, f"{n}_", ns, (*stack, inner))
                ),
            ]
    elif spec.kind == "content" and not spec.required:
        # Like any object, PHP encodes an empty content object as [].
        lines.append(f"{v} = _d{n} if {v} is None or {v} == [] else {conv}({v})")
    elif spec.convert in _INLINE and (spec.required or spec.default is None):
        lines.append(f"{v} = " + _INLINE[spec.convert].format(v=v, conv=conv))
    elif spec.required:
        lines.append(f"{v} = {conv}({v})")
    else:
        lines.append(f"{v} = _d{n} if {v} is None else {conv}({v})")
    return lines


def _can_inline(spec: _FieldSpec, stack: tuple[type[Any], ...]) -> bool:
    """Whether the record (or each record of the tuple) in ``spec`` is built inline."""
    hint = typing.get_type_hints(stack[-1])[spec.attr]
    inner = get_args(hint)[0] if spec.kind == "records" else _strip_optional(hint)
    return inner not in stack and len(stack) < _INLINE_DEPTH


def _not_list(value: Any) -> Any:
    raise TypeError(f"expected a list, got {value!r:.80}")


def _not_object(value: Any) -> Any:
    raise TypeError(f"expected an object, got {value!r:.80}")


def _record_block(
    cls: type[Any],
    src: str,
    dst: str,
    prefix: str,
    ns: dict[str, Any],
    stack: tuple[type[Any], ...],
) -> list[str]:
    """Lines that build a ``cls`` from the dict in variable ``src`` into variable ``dst``.

    Every name the block uses carries ``prefix``, so blocks of nested records can be
    inlined into their parent's without clashing.
    """
    specs = _RECORD_SPECS.get(cls) or _specs(cls)
    _RECORD_SPECS[cls] = specs
    twin = _twin(cls)
    obj = f"o{prefix}"
    ns[f"_cls{prefix}"] = cls
    ns[f"_known{prefix}"] = frozenset(s.key for s in specs).issuperset
    if cls in _INTERNED and twin is not None:
        return _interned_block(cls, twin, specs, src, dst, prefix, ns, stack)
    lines = []
    for i, spec in enumerate(specs):
        lines += _field_lines(spec, f"{prefix}{i}", src, ns, stack)
    extra = f"_EMPTY if _known{prefix}({src}) else _extra({src}, _known{prefix})"
    if twin is None:
        # Through __init__, by keyword: a subclass's fields may come in any order (its
        # own after the inherited ``extra``, keyword-only ones, private ones by alias).
        aliases = {f.name: f.alias or f.name for f in attrs.fields(cls)}
        args = ", ".join(
            [f"{aliases[spec.attr]}=v{prefix}{i}" for i, spec in enumerate(specs)]
            + [f"{aliases['extra']}={extra}"]
        )
        return [*lines, f"{dst} = _cls{prefix}({args})"]
    ns[f"_twin{prefix}"] = twin
    lines.append(f"{obj} = _new(_twin{prefix})")
    lines += [f"{obj}.{spec.attr} = v{prefix}{i}" for i, spec in enumerate(specs)]
    lines.append(f"{obj}.extra = {extra}")
    # Attributes outside __init__ (response_info) still need their default in the slot.
    for field in attrs.fields(cls):
        if not field.init:
            ns[f"_d{prefix}_{field.name}"] = field.default
            lines.append(f"{obj}.{field.name} = _d{prefix}_{field.name}")
    lines += [f"{obj}.__class__ = _cls{prefix}", f"{dst} = {obj}"]
    return lines


#: Small value records that repeat across a page (a project's few channels, a chat's
#: senders): one frozen instance is shared per distinct value instead of building a new
#: one each time.  Only records with no ``extra`` keys are shared; the cache is bounded.
_INTERN_LIMIT = 4096
_INTERNED: frozenset[type[Any]] = frozenset((Channel, Sender))


def _interned_block(
    cls: type[Any],
    twin: type[Any],
    specs: list[_FieldSpec],
    src: str,
    dst: str,
    prefix: str,
    ns: dict[str, Any],
    stack: tuple[type[Any], ...],
) -> list[str]:
    """Like :func:`_record_block`, but reuses an equal instance built before."""
    obj = f"o{prefix}"
    cache: dict[tuple[Any, ...], Any] = {}
    ns[f"_cache{prefix}"] = cache
    ns[f"_twin{prefix}"] = twin
    ns["_INTERN_LIMIT"] = _INTERN_LIMIT
    lines: list[str] = []
    names = []
    for i, spec in enumerate(specs):
        n = f"{prefix}{i}"
        lines += _field_lines(spec, n, src, ns, stack)
        names.append(f"v{n}")
    key = f"k{prefix}"
    lines += [
        f"if _known{prefix}({src}):",
        f"    {key} = ({', '.join(names)},)",
        f"    {obj} = _cache{prefix}.get({key})",
        "else:",
        f"    {key} = None",
        f"    {obj} = None",
        f"if {obj} is None:",
        f"    {obj} = _new(_twin{prefix})",
        *(f"    {obj}.{spec.attr} = {name}" for spec, name in zip(specs, names, strict=True)),
        f"    if {key} is None:",
        f"        {obj}.extra = _extra({src}, _known{prefix})",
        f"        {obj}.__class__ = _cls{prefix}",
        "    else:",
        f"        {obj}.extra = _EMPTY",
        f"        {obj}.__class__ = _cls{prefix}",
        f"        if len(_cache{prefix}) < _INTERN_LIMIT:",
        f"            _cache{prefix}[{key}] = {obj}",
        f"{dst} = {obj}",
    ]
    return lines


def _extra(data: dict[str, Any], known: Callable[[Any], bool]) -> dict[str, Any]:
    keys: frozenset[str] = known.__self__  # type: ignore[attr-defined]
    return {k: v for k, v in data.items() if k not in keys}


def _generate_record_fn(cls: type[Any]) -> Callable[[Any], Any]:
    ns: dict[str, Any] = {
        "_new": object.__new__,
        "_EMPTY": EMPTY,
        "_tuple": tuple,
        "_extra": _extra,
        "_not_list": _not_list,
        "_not_object": _not_object,
        "_fromiso": _fromiso,
        "_ts": parse_timestamp,
        "_UTC": UTC,
    }
    body = [
        "if d.__class__ is not dict:",
        "    _not_object(d)",
        *_record_block(cls, "d", "o", "", ns, (cls,)),
        "return o",
    ]
    source = "def structure(d):\n" + "".join(f"    {line}\n" for line in body)
    exec(source, ns)
    fn: Callable[[Any], Any] = ns["structure"]
    fn.__qualname__ = fn.__name__ = f"structure_{cls.__name__}"
    return fn


# --------------------------------------------------------------------------- content


def _buttons(raw: Any) -> tuple[Button, ...]:
    if not raw:
        return ()
    out = []
    for item in raw:
        params = item.get("parameters") if item.__class__ is dict else None
        params = params if params.__class__ is dict else EMPTY
        out.append(Button(text=_opt_str(params.get("text")), parameters=params))
    return tuple(out)


_ContentFn = Callable[[dict[str, Any], Mapping[str, Any], Any], Any]


def _generate_content_fn(cls: type[Content]) -> _ContentFn:
    """A hook for one content class, called with the content dict, its parameters and its
    buttons (the tag dispatch and ``resource`` unwrapping happen once, in the caller)."""
    hints = typing.get_type_hints(cls)
    fields = [
        (f.name, camel(f.name), _SCALARS[hints[f.name]])
        for f in attrs.fields(cls)
        if f.name not in ("buttons", "raw")
    ]
    twin = _twin(cls)
    ns: dict[str, Any] = {"_cls": cls, "_twin": twin, "_new": object.__new__, "_buttons": _buttons}
    body = []
    for i, (_name, key, conv) in enumerate(fields):
        ns[f"_c{i}"] = conv
        inline = _INLINE.get(conv, "{conv}({v})")
        body += [f"v{i} = p.get({key!r})", f"v{i} = " + inline.format(v=f"v{i}", conv=f"_c{i}")]
    body.append("b = _buttons(b) if b else ()")
    if twin is not None:
        body += [
            "o = _new(_twin)",
            *(f"o.{name} = v{i}" for i, (name, _, _) in enumerate(fields)),
            "o.buttons = b",
            "o.raw = d",
            "o.__class__ = _cls",
            "return o",
        ]
    else:  # pragma: no cover - every content class is slotted
        args = "".join(f"{name}=v{i}, " for i, (name, _, _) in enumerate(fields))
        body.append(f"return _cls({args}buttons=b, raw=d)")
    source = "def structure(d, p, b):\n" + "".join(f"    {line}\n" for line in body)
    exec(source, ns)
    fn: _ContentFn = ns["structure"]
    fn.__qualname__ = fn.__name__ = f"structure_{cls.__name__}"
    return fn


def _special_content_fn(
    cls: type[Content], build: Callable[[Mapping[str, Any]], dict[str, Any]]
) -> _ContentFn:
    def structure(data: dict[str, Any], params: Mapping[str, Any], buttons: Any) -> Any:
        return cls(**build(params), buttons=_buttons(buttons) if buttons else (), raw=data)

    return structure


def _transient_params(params: Mapping[str, Any]) -> dict[str, Any]:
    original = params.get("original")
    context = params.get("context")
    return {
        "original": structure_content(original) if original.__class__ is dict else None,
        "timestamp": context.get("timestamp") if context.__class__ is dict else None,
    }


def _media_group_params(params: Mapping[str, Any]) -> dict[str, Any]:
    urls = []
    for item in params.get("media") or ():
        url = item.get("url") if item.__class__ is dict else None
        if url is None and item.__class__ is dict:
            inner = (item.get("resource") or {}).get("parameters") or {}
            url = inner.get("url")
        if url is not None:
            urls.append(_opt_str(url))
    return {"urls": tuple(urls)}


def _invoice_params(params: Mapping[str, Any]) -> dict[str, Any]:
    receipt = params.get("receipt")
    receipt = receipt if receipt.__class__ is dict else EMPTY
    return {
        "title": _opt_str(receipt.get("title")),
        "description": _opt_str(receipt.get("description")),
    }


_SPECIAL_BUILDERS: dict[type[Content], Callable[[Mapping[str, Any]], dict[str, Any]]] = {
    TransientContent: _transient_params,
    MediaGroupContent: _media_group_params,
    TelegramInvoiceContent: _invoice_params,
}
_CONTENT_FNS: dict[str, _ContentFn] = {
    tag: _special_content_fn(cls, _SPECIAL_BUILDERS[cls])
    if cls in _SPECIAL_BUILDERS
    else _generate_content_fn(cls)
    for tag, cls in CONTENT_TYPES.items()
}


def structure_content(data: Any) -> MessageContent:
    """Decode a message ``content`` dict into its tagged class (or :class:`UnknownContent`)."""
    if data.__class__ is not dict:
        raise TypeError(f"expected an object, got {data!r:.80}")
    tag = data.get("type")
    fn = _CONTENT_FNS.get(tag) if tag.__class__ is str else None
    if fn is None:
        return UnknownContent(type="" if tag is None else str(tag), raw=data)
    resource = data.get("resource")
    if resource.__class__ is not dict:
        resource = EMPTY
    params = resource.get("parameters")
    if params.__class__ is not dict:
        params = EMPTY
    return fn(data, params, resource.get("buttons"))  # type: ignore[no-any-return]


# --------------------------------------------------------------------------- pages


_PAGE_FNS: dict[Any, Callable[[Any], Any]] = {}
_PAGE_KNOWN = frozenset(("cursor", "collection"))


def _page_fn(item_type: Any) -> Callable[[Any], Any]:
    fn = _PAGE_FNS.get(item_type)
    if fn is not None:
        return fn
    with _BUILD_LOCK:
        fn = _PAGE_FNS.get(item_type)
        if fn is None:
            fn = _PAGE_FNS[item_type] = _make_page_fn(item_type)
    return fn


def _make_page_fn(item_type: Any) -> Callable[[Any], Any]:
    item_fn = (
        _record_fn(item_type)
        if _is_record(item_type)
        else (lambda v: converter.structure(v, item_type))
    )
    cursor_fn = _record_fn(Cursor)
    twin = _twin(Page)
    assert twin is not None
    new = object.__new__

    def structure_page(d: Any) -> Page[Any]:
        if d.__class__ is not dict:
            raise TypeError(f"expected a page object, got {d!r:.80}")
        cursor = cursor_fn(d["cursor"])
        collection = d["collection"]
        if collection is None:
            items: tuple[Any, ...] = ()
        elif collection.__class__ is list:
            items = tuple([item_fn(x) for x in collection])
        else:
            _not_list(collection)
        page = new(twin)
        page.cursor = cursor
        page.items = items
        page.extra = (
            EMPTY
            if d.keys() <= _PAGE_KNOWN
            else {k: v for k, v in d.items() if k not in _PAGE_KNOWN}
        )
        page.response_info = None
        page.__class__ = Page
        return page  # type: ignore[no-any-return]

    return structure_page


# --------------------------------------------------------------------------- unstructure


def _merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        old = out.get(key)
        if isinstance(old, Mapping) and isinstance(value, Mapping):
            out[key] = _merge(old, value)
        else:
            out[key] = value
    return out


def _unstructure_value(value: Any) -> Any:
    if value is None or value.__class__ in (str, int, float, bool):
        return value
    if isinstance(value, datetime):
        return format_timestamp(value)
    if isinstance(value, Content):
        return unstructure_content(value)
    if attrs.has(value.__class__):
        return unstructure_record(value)
    if isinstance(value, tuple):
        return [_unstructure_value(v) for v in value]
    if isinstance(value, Mapping):
        return dict(value)
    return value


def unstructure_record(obj: Any) -> dict[str, Any]:
    """Encode a model back into its wire dict: camelCase keys, extra keys put back."""
    if isinstance(obj, Page):
        out: dict[str, Any] = {
            "cursor": unstructure_record(obj.cursor),
            "collection": [_unstructure_value(i) for i in obj.items],
        }
        out.update(obj.extra)
        return out
    out = {}
    for field in attrs.fields(obj.__class__):
        if not field.init or field.name == "extra":
            continue
        out[camel(field.alias or field.name)] = _unstructure_value(getattr(obj, field.name))
    extra = getattr(obj, "extra", EMPTY)
    for key, value in extra.items():
        out.setdefault(key, value)
    return out


def unstructure_content(content: Content) -> dict[str, Any]:
    """Encode a content object as ``{"type", "resource": {"parameters", "buttons"}}``.

    Values held in attributes win over ``raw``; everything else in ``raw`` is kept.
    """
    if isinstance(content, UnknownContent):
        return dict(content.raw) if content.raw else {"type": content.type}
    params: dict[str, Any] = {}
    if isinstance(content, TransientContent):
        if content.original is not None:
            params["original"] = unstructure_content(content.original)
        if content.timestamp is not None and not content.raw:
            params["context"] = {"timestamp": format_timestamp(content.timestamp)}
    elif isinstance(content, MediaGroupContent):
        if not content.raw:
            params["media"] = [{"resource": {"parameters": {"url": u}}} for u in content.urls]
    elif isinstance(content, TelegramInvoiceContent):
        params["receipt"] = {"title": content.title, "description": content.description}
    else:
        for field in attrs.fields(content.__class__):
            if field.name in ("buttons", "raw"):
                continue
            value = getattr(content, field.name)
            if value is not None and value is not EMPTY:
                params[camel(field.name)] = _unstructure_value(value)
    resource: dict[str, Any] = {"parameters": params}
    if content.buttons:
        resource["buttons"] = [
            {"parameters": _merge(b.parameters, {"text": b.text} if b.text is not None else {})}
            for b in content.buttons
        ]
    fresh = {"type": content.type, "resource": resource}
    return _merge(content.raw, fresh) if content.raw else fresh


# --------------------------------------------------------------------------- converter


def _make_converter() -> cattrs.Converter:
    conv = cattrs.Converter(detailed_validation=False)

    def is_page(tp: Any) -> bool:
        return get_origin(tp) is Page

    def page_hook(tp: Any) -> Callable[[Any, Any], Any]:
        fn = _page_fn(get_args(tp)[0])
        return lambda value, _: fn(value)

    def record_hook(tp: Any) -> Callable[[Any, Any], Any]:
        fn = _record_fn(tp)
        return lambda value, _: fn(value)

    conv.register_structure_hook_factory(is_page, page_hook)
    conv.register_structure_hook_factory(_is_record, record_hook)
    conv.register_structure_hook(MessageContent, lambda value, _: structure_content(value))
    conv.register_structure_hook(datetime, lambda value, _: parse_timestamp(value))
    conv.register_unstructure_hook_factory(
        lambda tp: _is_record(tp) or is_page(tp) or tp is Page,
        lambda tp: unstructure_record,
    )
    conv.register_unstructure_hook_factory(
        lambda tp: isinstance(tp, type) and issubclass(tp, Content),
        lambda tp: unstructure_content,
    )
    conv.register_unstructure_hook(datetime, format_timestamp)
    return conv


#: The SDK's one converter. ``converter.structure(data, Page[Chat])`` decodes a page;
#: ``converter.unstructure(chat)`` gives back the wire dict, extra keys included.
converter: cattrs.Converter = _make_converter()


def structure(data: Any, tp: type[T] | Any) -> T:
    """Decode ``data`` into ``tp`` through :data:`converter`.

    Raises :class:`DecodeError` naming the first offending field when the data does not fit.
    """
    try:
        hook = _HOOKS.get(tp)
        if hook is not None:
            return hook(data)  # type: ignore[no-any-return]
        return converter.structure(data, tp)  # type: ignore[no-any-return]
    except RecursionError:
        raise DecodeError("", "nested too deeply to decode") from None
    except Exception as exc:
        # The fast hooks do not say where they failed; walk the data again slowly to find out.
        try:
            path, problem = _locate(data, tp, "")
        except RecursionError:
            path, problem = "", "nested too deeply to decode"
        except Exception as inner:  # the model itself cannot be decoded into
            path, problem = "", f"{type(inner).__name__}: {inner}"
        if not problem:
            problem = f"{type(exc).__name__}: {exc}"
        raise DecodeError(path, problem) from None


def _hook_for(tp: Any) -> Callable[[Any], Any] | None:
    """The generated hook for a model or ``Page[Model]``, skipping cattrs' dispatch."""
    if get_origin(tp) is Page:
        return _page_fn(get_args(tp)[0])
    if isinstance(tp, type) and _is_record(tp):
        return _record_fn(tp)
    return None


class _Hooks(dict[Any, "Callable[[Any], Any] | None"]):
    """``tp`` → its generated hook (``None``: use the converter), filled on first use."""

    def get(self, tp: Any, default: Any = None) -> Any:
        try:
            return self[tp]
        except KeyError:
            hook = self[tp] = _hook_for(tp)
            return hook
        except TypeError:  # an unhashable type expression
            return None


_HOOKS = _Hooks()


def _locate(data: Any, tp: Any, path: str) -> tuple[str, str]:
    """Slowly re-walk ``data`` against ``tp`` to find the first field that fails."""
    if get_origin(tp) is Page:
        if not isinstance(data, dict):
            return path, f"expected a page object, got {_short(data)}"
        for key in ("cursor", "collection"):
            if key not in data:
                return _join(path, key), "required field is missing"
        found = _locate(data["cursor"], Cursor, _join(path, "cursor"))
        if found[1]:
            return found
        items = data["collection"]
        if items is None:
            return path, ""
        if not isinstance(items, list):
            return _join(path, "collection"), f"expected a list, got {_short(items)}"
        for i, item in enumerate(items):
            found = _locate(item, get_args(tp)[0], f"{_join(path, 'collection')}[{i}]")
            if found[1]:
                return found
        return path, ""
    if _is_record(tp):
        if not isinstance(data, dict):
            return path, f"expected an object, got {_short(data)}"
        _record_fn(tp)
        for spec in _RECORD_SPECS[tp]:
            sub = _join(path, spec.key)
            if spec.key not in data:
                if spec.required:
                    return sub, "required field is missing"
                continue
            value = data[spec.key]
            if value is None:
                if spec.required:
                    return sub, "required field is null"
                continue
            if spec.kind in ("records", "maps"):
                if not isinstance(value, list):
                    return sub, f"expected a list, got {_short(value)}"
                for i, item in enumerate(value):
                    try:
                        spec.convert(item)
                    except Exception as exc:
                        if spec.kind == "records":
                            inner = typing.get_type_hints(tp)[spec.attr]
                            found = _locate(item, get_args(inner)[0], f"{sub}[{i}]")
                            if found[1]:
                                return found
                        return f"{sub}[{i}]", str(exc)
                continue
            try:
                spec.convert(value)
            except Exception as exc:
                if spec.kind == "record":
                    inner = _strip_optional(typing.get_type_hints(tp)[spec.attr])
                    found = _locate(value, inner, sub)
                    if found[1]:
                        return found
                return sub, str(exc)
        return path, ""
    try:
        converter.structure(data, tp)
    except Exception as exc:
        return path, str(exc)
    return path, ""


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
