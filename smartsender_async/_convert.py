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

import re
import types
import typing
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import Any, TypeVar, Union, get_args, get_origin

import attrs
import cattrs

from smartsender_async.models.common import EMPTY, Cursor, Page
from smartsender_async.models.messages import (
    CONTENT_TYPES,
    Button,
    Content,
    MediaGroupContent,
    MessageContent,
    TelegramInvoiceContent,
    TransientContent,
    UnknownContent,
)

__all__ = ["DecodeError", "converter", "format_timestamp", "parse_timestamp", "structure"]

T = TypeVar("T")
UTC = timezone.utc
_MISSING: Any = object()


class DecodeError(ValueError):
    """Data did not fit the model; ``path`` names the offending field."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path or '<root>'}: {problem}")
        self.path = path
        self.problem = problem


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
_LONG_FRACTION = re.compile(r"(\.\d{6})\d+")


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
    cleaned = _LONG_FRACTION.sub(r"\1", cleaned)
    try:
        return _fromiso(cleaned)
    except ValueError:
        raise ValueError(f"expected a timestamp, got {text!r}") from None


def format_timestamp(value: datetime) -> str:
    """Format an aware datetime the way the API emits it: ``2024-05-17T09:41:03.000000Z``."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


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
        required = field.default is attrs.NOTHING
        default = None if required else field.default
        inner = _strip_optional(tp)
        if tp in _SCALARS:
            spec = _FieldSpec(
                field.name, camel(field.name), required, "scalar", _SCALARS[tp], default
            )
        elif _is_content_union(tp):
            spec = _FieldSpec(
                field.name, camel(field.name), required, "content", structure_content, default
            )
        elif _is_record(inner):
            spec = _FieldSpec(
                field.name, camel(field.name), required, "record", _record_fn(inner), default
            )
        elif get_origin(tp) is tuple and _is_record(get_args(tp)[0]):
            spec = _FieldSpec(
                field.name,
                camel(field.name),
                required,
                "records",
                _record_fn(get_args(tp)[0]),
                default,
            )
        elif get_origin(tp) is tuple and get_args(tp)[0] == Mapping[str, Any]:
            spec = _FieldSpec(field.name, camel(field.name), required, "maps", _map, default)
        else:  # pragma: no cover - a model declared a type this module does not know
            raise TypeError(f"{cls.__name__}.{field.name}: no decoder for {tp!r}")
        specs.append(spec)
    return specs


# --------------------------------------------------------------------------- codegen

_RECORD_FNS: dict[type[Any], Callable[[Any], Any]] = {}
_RECORD_SPECS: dict[type[Any], list[_FieldSpec]] = {}


def _record_fn(cls: type[Any]) -> Callable[[Any], Any]:
    fn = _RECORD_FNS.get(cls)
    if fn is None:
        # Register a trampoline first so self-referencing models terminate.
        def trampoline(value: Any) -> Any:
            return _RECORD_FNS[cls](value)

        _RECORD_FNS[cls] = trampoline
        _RECORD_FNS[cls] = fn = _generate_record_fn(cls)
    return fn


def _generate_record_fn(cls: type[Any]) -> Callable[[Any], Any]:
    specs = _specs(cls)
    _RECORD_SPECS[cls] = specs
    known = frozenset(s.key for s in specs)
    ns: dict[str, Any] = {"_cls": cls, "_known": known, "_EMPTY": EMPTY, "_tuple": tuple}
    lines = [
        "def structure(d):",
        "    if d.__class__ is not dict:",
        "        raise TypeError('expected an object, got ' + repr(d)[:80])",
        "    if d.keys() <= _known:",
        "        extra = _EMPTY",
        "    else:",
        "        extra = {k: v for k, v in d.items() if k not in _known}",
    ]
    args = []
    for i, spec in enumerate(specs):
        conv = f"_c{i}"
        ns[conv] = spec.convert
        ns[f"_d{i}"] = spec.default
        var = f"f{i}"
        args.append(var)
        if spec.required:
            getter = f"d[{spec.key!r}]"
            lines.append(f"    v = {getter}")
        else:
            lines.append(f"    v = d.get({spec.key!r})")
        if spec.kind == "records" or spec.kind == "maps":
            lines.append(f"    {var} = () if v is None else _tuple([{conv}(x) for x in v])")
        elif spec.convert is _opt_str:
            lines.append(f"    {var} = v if v is None or v.__class__ is str else {conv}(v)")
        elif spec.convert is _any:
            lines.append(f"    {var} = v")
        elif spec.required:
            lines.append(f"    {var} = {conv}(v)")
        else:
            lines.append(f"    {var} = _d{i} if v is None else {conv}(v)")
    args.append("extra")
    lines.append(f"    return _cls({', '.join(args)})")
    exec("\n".join(lines), ns)
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


def _content_builder(cls: type[Content]) -> Callable[[Mapping[str, Any]], dict[str, Any]]:
    hints = typing.get_type_hints(cls)
    fields = [
        (f.name, camel(f.name), _SCALARS[hints[f.name]])
        for f in attrs.fields(cls)
        if f.name not in ("buttons", "raw") and hints[f.name] in _SCALARS
    ]

    def build(params: Mapping[str, Any]) -> dict[str, Any]:
        return {name: conv(params.get(key)) for name, key, conv in fields}

    return build


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
_CONTENT_BUILDERS = {
    tag: (cls, _SPECIAL_BUILDERS.get(cls) or _content_builder(cls))
    for tag, cls in CONTENT_TYPES.items()
}


def structure_content(data: Any) -> MessageContent:
    """Decode a message ``content`` dict into its tagged class (or :class:`UnknownContent`)."""
    if data.__class__ is not dict:
        raise TypeError(f"expected an object, got {data!r:.80}")
    tag = data.get("type")
    entry = _CONTENT_BUILDERS.get(tag) if tag.__class__ is str else None
    if entry is None:
        return UnknownContent(type="" if tag is None else str(tag), raw=data)
    cls, build = entry
    resource = data.get("resource")
    if resource.__class__ is not dict:
        resource = EMPTY
    params = resource.get("parameters")
    if params.__class__ is not dict:
        params = EMPTY
    buttons = resource.get("buttons")
    return cls(  # type: ignore[return-value]
        **build(params), buttons=_buttons(buttons) if buttons else (), raw=data
    )


# --------------------------------------------------------------------------- pages


_PAGE_FNS: dict[Any, Callable[[Any], Any]] = {}
_PAGE_KNOWN = frozenset(("cursor", "collection"))


def _page_fn(item_type: Any) -> Callable[[Any], Any]:
    fn = _PAGE_FNS.get(item_type)
    if fn is not None:
        return fn
    item_fn = (
        _record_fn(item_type)
        if _is_record(item_type)
        else (lambda v: converter.structure(v, item_type))
    )
    cursor_fn = _record_fn(Cursor)

    def structure_page(d: Any) -> Page[Any]:
        if d.__class__ is not dict:
            raise TypeError(f"expected a page object, got {d!r:.80}")
        cursor = cursor_fn(d["cursor"])
        collection = d["collection"]
        items = () if collection is None else tuple([item_fn(x) for x in collection])
        extra = (
            EMPTY
            if d.keys() <= _PAGE_KNOWN
            else {k: v for k, v in d.items() if k not in _PAGE_KNOWN}
        )
        return Page(cursor, items, extra)

    _PAGE_FNS[item_type] = structure_page
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
        out[camel(field.name)] = _unstructure_value(getattr(obj, field.name))
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
        if content.timestamp is not None:
            params["context"] = {"timestamp": content.timestamp}
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
        return converter.structure(data, tp)  # type: ignore[no-any-return]
    except Exception as exc:
        path, problem = _locate(data, tp, "")
        if not problem:
            problem = f"{type(exc).__name__}: {exc}"
        raise DecodeError(path, problem) from None


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
