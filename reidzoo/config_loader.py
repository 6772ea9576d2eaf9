"""One loader for every config dataclass: YAML plus `key=value` overrides, checked against the field types.

    cfg = load_config(PretrainConfig, "configs/pretrain/cpu_smoke.yaml", ["epochs=3", "augment.hue=0.05"])

Rules, the same for pre-training, fine-tuning and any later config:
- an unknown key fails, naming the closest known keys (nested ones as `section.key`);
- every value is checked against its field's type (int, float, bool, str, Optional, List/Tuple/Dict of
  those, Literal, nested dataclasses); a wrong one fails in one line naming the key and the type;
- `key=value` overrides are parsed as YAML unless the field is a string (`output_dir=2024` stays text),
  and dotted keys (`augment.blur_p=[1,0.1,0.5]`) reach into nested sections;
- a dataclass may check value ranges in `__post_init__` with `check_ranges` (`epochs=-1` fails in one
  line, naming the file or override it came from).
"""
from __future__ import annotations

import collections.abc as cabc
import dataclasses
import difflib
import typing
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Type, TypeVar, Union

import yaml

T = TypeVar("T")
_NONE = type(None)


class ConfigError(ValueError):
    """A config that cannot be read: unknown key, wrong type, malformed override (one-line message)."""


class _Raw(str):
    """A command-line value not yet parsed: its meaning depends on the field it lands in."""


def field_types(cls: type) -> Dict[str, Any]:
    """Resolved type of every init field of a config dataclass."""
    hints = typing.get_type_hints(cls)
    return {f.name: hints.get(f.name, Any) for f in dataclasses.fields(cls) if f.init}


def known_keys(cls: type, prefix: str = "") -> List[str]:
    """Every settable key of a config dataclass, nested sections as `section.key`."""
    out = []
    for name, tp in field_types(cls).items():
        out.append(prefix + name)
        if dataclasses.is_dataclass(tp):
            out += known_keys(tp, f"{prefix}{name}.")
    return out


def _unknown(key: str, cls: type, prefix: str, source: str) -> ConfigError:
    names = known_keys(cls)
    close = difflib.get_close_matches(key, names, n=3)
    # a key that lives in a nested section (`local_crops` -> `augment.local_crops`) is a likely slip too
    close += [n for n in names if n.rsplit(".", 1)[-1] == key and n not in close]
    hint = f" (did you mean {', '.join(prefix + c for c in close)}?)" if close else ""
    return ConfigError(f"{source}: unknown key {prefix + key!r}{hint}")


def describe(tp: Any) -> str:
    """A type as a user reads it: 'an integer', 'a list of 2 numbers', 'one of adamw, sgd'."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is Any:
        return "anything"
    if tp is bool:
        return "true or false"
    if tp is int:
        return "an integer"
    if tp is float:
        return "a number"
    if tp is str:
        return "a string"
    if origin is Union:
        arms = [describe(a) for a in args if a is not _NONE]
        return " or ".join(arms) + (" or null" if _NONE in args else "")
    if origin is typing.Literal:
        return "one of " + ", ".join(str(a) for a in args)
    if (origin or tp) in (list, tuple, cabc.Sequence):
        if origin is tuple and args and args[-1] is not Ellipsis:
            return f"a list of {len(args)} " + _plural(args[0])
        return "a list" + (f" of {_plural(args[0])}" if args else "")
    if (origin or tp) in (dict, cabc.Mapping):
        return "a mapping"
    if dataclasses.is_dataclass(tp):
        return f"a mapping of {tp.__name__} settings"
    return getattr(tp, "__name__", str(tp))


def _plural(tp: Any) -> str:
    return {int: "integers", float: "numbers", str: "strings", bool: "booleans"}.get(tp, describe(tp))


def _check(value: Any, tp: Any, key: str, source: str) -> Any:
    """`value` converted to `tp` (list -> tuple, int -> float, parsed override); ConfigError if it is not one."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if isinstance(value, _Raw):
        takes_text = tp is str or (origin is Union and str in args)
        if takes_text and value.strip().lower() not in ("null", "none", "~"):
            return str(value)
        try:
            value = yaml.safe_load(value) if value.strip() else None
        except yaml.YAMLError:
            raise ConfigError(f"{source}: {key}={value!r} is not valid YAML; expected {describe(tp)}") from None
        if isinstance(value, str) and value.lower() == "none":
            value = None

    def bad() -> ConfigError:
        return ConfigError(f"{source}: {key} must be {describe(tp)}, got {value!r}")

    if tp is Any:
        return value
    if origin is Union:
        if value is None and _NONE in args:
            return None
        for arm in (a for a in args if a is not _NONE):
            try:
                return _check(value, arm, key, source)
            except ConfigError:
                pass
        raise bad()
    if origin is typing.Literal:
        if value in args:
            return value
        raise bad()
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise bad()
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise bad()
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):  # YAML 1.1 reads `1e-6` (no dot) as text
            try:
                return float(value)
            except ValueError:
                pass
        raise bad()
    if tp is str:
        if isinstance(value, str):
            return value
        raise bad()
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if isinstance(value, Mapping):
            return config_from_dict(tp, value, source, prefix=f"{key}.")
        raise bad()
    seq_origin = origin or tp
    if seq_origin in (list, tuple, cabc.Sequence):
        if not isinstance(value, (list, tuple)):
            raise bad()
        if seq_origin is tuple and args and args[-1] is not Ellipsis:
            if len(value) != len(args):
                raise bad()
            items = [_check(v, a, f"{key}[{i}]", source) for i, (v, a) in enumerate(zip(value, args))]
        else:
            elem = args[0] if args else Any
            items = [_check(v, elem, f"{key}[{i}]", source) for i, v in enumerate(value)]
        return tuple(items) if seq_origin is tuple else items
    if seq_origin in (dict, cabc.Mapping):
        if not isinstance(value, Mapping):
            raise bad()
        vt = args[1] if len(args) == 2 else Any
        return {k: _check(v, vt, f"{key}.{k}", source) for k, v in value.items()}
    if isinstance(tp, type) and isinstance(value, tp):
        return value
    raise bad()


def check_ranges(cfg: Any, minimum: Optional[Mapping[str, float]] = None, positive: Sequence[str] = (),
                 fraction: Sequence[str] = ()) -> None:
    """ConfigError for the first key out of range: `minimum[k] <= v`, `v > 0` (positive), `0 <= v <= 1`
    (fraction). None values and list elements are checked element by element; None passes."""
    def values(key: str) -> List[Any]:
        v = getattr(cfg, key)
        return [x for x in (v if isinstance(v, (list, tuple)) else [v]) if x is not None]
    for key, lo in (minimum or {}).items():
        for v in values(key):
            if v < lo:
                raise ConfigError(f"{key} must be >= {lo}, got {getattr(cfg, key)!r}")
    for key in positive:
        for v in values(key):
            if not v > 0:
                raise ConfigError(f"{key} must be > 0, got {getattr(cfg, key)!r}")
    for key in fraction:
        for v in values(key):
            if not 0 <= v <= 1:
                raise ConfigError(f"{key} must be between 0 and 1, got {getattr(cfg, key)!r}")


def config_from_dict(cls: Type[T], data: Optional[Mapping[str, Any]], source: str = "config",
                     base: Optional[T] = None, prefix: str = "") -> T:
    """`base` (default: the class defaults) with `data`'s keys set, each checked against its field type."""
    types = field_types(cls)
    base = base if base is not None else cls()
    if data is not None and not isinstance(data, Mapping):
        raise ConfigError(f"{source}: {prefix.rstrip('.') or 'the config'} must be a mapping of settings")
    changes = {}
    for key, value in (data or {}).items():
        if key not in types:
            raise _unknown(str(key), cls, prefix, source)
        tp = types[key]
        if dataclasses.is_dataclass(tp) and isinstance(value, Mapping):
            # a nested section only changes the keys it names
            changes[key] = config_from_dict(tp, value, source, getattr(base, key), f"{prefix}{key}.")
        else:
            changes[key] = _check(value, tp, prefix + key, source)
    try:
        return dataclasses.replace(base, **changes)
    except ConfigError as exc:  # a range check in __post_init__: say where the value came from
        raise ConfigError(f"{source}: {prefix}{exc}") from None


def parse_overrides(items: Sequence[str]) -> Dict[str, Any]:
    """`["epochs=3", "augment.hue=0.05"]` -> nested mapping of not-yet-parsed values."""
    out: Dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"override {item!r} must look like key=value (e.g. epochs=3)")
        key, value = item.split("=", 1)
        parts = [p.strip() for p in key.split(".")]
        if not all(parts):
            raise ConfigError(f"override {item!r}: empty key")
        node = out
        for p in parts[:-1]:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {item!r}: {p} is set twice")
        node[parts[-1]] = _Raw(value)
    return out


def merge(base: Dict[str, Any], update: Mapping[str, Any]) -> Dict[str, Any]:
    """`base` updated by `update`, nested mappings merged key by key."""
    out = dict(base)
    for k, v in update.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), Mapping):
            out[k] = merge(dict(out[k]), v)
        else:
            out[k] = v
    return out


def read_yaml(path: Union[str, Path]) -> Dict[str, Any]:
    """A YAML file's mapping of settings (empty file: no settings)."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"config {p} does not exist")
    try:
        data = yaml.safe_load(p.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{p}:{where} is not valid YAML ({getattr(exc, 'problem', exc)})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{p} must hold a mapping of settings, not {type(data).__name__}")
    return data


def load_config(cls: Type[T], path: Optional[Union[str, Path]] = None, overrides: Sequence[str] = (),
                base: Optional[T] = None) -> T:
    """`base` (or the defaults), then the YAML file at `path`, then `key=value` overrides."""
    data = read_yaml(path) if path else {}
    source = str(path) if path else "overrides"
    cfg = config_from_dict(cls, data, source, base)
    extra = parse_overrides(overrides)
    return config_from_dict(cls, extra, "override", cfg) if extra else cfg


def config_to_dict(cfg: Any) -> Dict[str, Any]:
    """Plain YAML/JSON-safe data of a config (tuples become lists, sections nested mappings)."""
    def plain(v: Any) -> Any:
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        return v
    return plain(dataclasses.asdict(cfg))
