"""Options declared once: type, default, help, allowed values, flag, help group.

A config option is a dataclass field made with `option(...)`; its annotation is its type.
From these declarations come the command-line flags of train.py (`add_flags`,
`overrides_from_flags`), grouped in --help by `group`, the checks of every config value
(`check_value`: wrong type, value outside the allowed set or range, each a one-line error
naming the key), and the options reference in the docs (`reference_markdown`). Rules that
tie two options together stay in `tfseg.config.validate_config`.
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from dataclasses import dataclass
from typing import Any

from tfseg.errors import TfsegError


@dataclass(frozen=True)
class Option:
    """One declared option.

    Attributes:
        key: str. Dotted config key, e.g. "train.epochs".
        type: the annotation, e.g. int, `str | None`, `list[int]`.
        default: the default value.
        help: str. One sentence for --help and the reference.
        choices: tuple or None. The allowed values (of each item, for lists).
        low: number or None. Smallest allowed value (inclusive).
        high: number or None. Largest allowed value (inclusive).
        above: number or None. Values must be greater than this.
        below: number or None. Values must be smaller than this.
        flag: str or None. The train.py flag, e.g. "--epochs"; None means YAML only.
        metavar: str, tuple or None. How --help shows the flag's value(s).
        nargs: int, str or None. argparse nargs for list options.
        resumable: bool. May change when a run is resumed.
        group: str. The --help group of its flag, e.g. "training".
        default_text: str or None. What the default means, for --help and the reference,
            where the value says little (None: "the built-in demo data").
    """

    key: str
    type: Any
    default: Any
    help: str
    choices: tuple | None = None
    low: float | None = None
    high: float | None = None
    above: float | None = None
    below: float | None = None
    flag: str | None = None
    metavar: str | tuple | None = None
    nargs: int | str | None = None
    resumable: bool = False
    group: str = ""
    default_text: str | None = None


_DEFAULT_FLAG = object()


def option(
    default: Any,
    help: str,  # noqa: A002 (the argparse name)
    *,
    choices: typing.Sequence | None = None,
    low: float | None = None,
    high: float | None = None,
    above: float | None = None,
    below: float | None = None,
    flag: Any = _DEFAULT_FLAG,
    metavar: str | tuple | None = None,
    nargs: int | str | None = None,
    resumable: bool = False,
    group: str | None = None,
    default_text: str | None = None,
) -> Any:
    """A dataclass field carrying its option declaration (see `Option`).

    `flag` defaults to `--<name with dashes>`; pass None for a YAML-only option. `group`
    defaults to the section's (`declared_options`). Mutable defaults (lists, dicts) are
    copied for every instance.
    """
    metadata = {
        "help": help, "choices": tuple(choices) if choices is not None else None, "low": low, "high": high,
        "above": above, "below": below, "flag": flag, "metavar": metavar, "nargs": nargs, "resumable": resumable,
        "group": group, "default_text": default_text,
    }
    if isinstance(default, (list, dict)):
        return dataclasses.field(default_factory=lambda: type(default)(default), metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def declared_options(section: str, cls: type, group: str) -> list[Option]:
    """The `Option`s of one config section (a dataclass whose fields were made by `option`),
    in the --help `group` unless their declaration names another."""
    hints = typing.get_type_hints(cls)
    found = []
    for field in dataclasses.fields(cls):
        meta = dict(field.metadata)
        default = field.default_factory() if field.default is dataclasses.MISSING else field.default
        flag = meta.pop("flag", None)
        if flag is _DEFAULT_FLAG:
            flag = "--" + field.name.replace("_", "-")
        meta["group"] = meta["group"] or group
        found.append(Option(key=f"{section}.{field.name}", type=hints[field.name], default=default, flag=flag, **meta))
    return found


def _type_name(hint: Any) -> str:
    """`int`, `str or None`, `list of int`, … for messages and the reference."""
    if hint is type(None):
        return "None"
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(arg) for arg in args)
    if origin is list:
        return f"list of {_type_name(args[0])}" if args else "list"
    if origin is dict:
        return "mapping"
    return getattr(hint, "__name__", str(hint))


def _matches(value: Any, hint: Any) -> tuple[bool, Any]:
    """(whether `value` fits `hint`, the value coerced: int → float, tuple → list)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        for arg in args:
            fits, coerced = _matches(value, arg)
            if fits:
                return True, coerced
        return False, value
    if hint is type(None):
        return value is None, value
    if origin is list or hint is list:
        if not isinstance(value, (list, tuple)):
            return False, value
        items = [_matches(item, args[0]) if args else (True, item) for item in value]
        return all(fits for fits, _ in items), [coerced for _, coerced in items]
    if origin is dict or hint is dict:
        return isinstance(value, dict), value
    if hint is float:
        fits = isinstance(value, (int, float)) and not isinstance(value, bool)
        return fits, float(value) if fits else value
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool), value
    return isinstance(value, hint), value


def check_value(spec: Option, value: Any) -> Any:
    """Checks a value against its declaration and returns it coerced (int → float, tuple → list).

    Raises:
        TfsegError: wrong type, a value (or list item) outside `choices`, or outside [low, high];
            the message names the key.
    """
    fits, value = _matches(value, spec.type)
    if not fits:
        raise TfsegError(f"config key {spec.key}: expected {_type_name(spec.type)}, got {value!r}")
    items = value if isinstance(value, list) else [value]
    for item in items:
        if item is None:  # the type allows it (checked above): a default left to be decided
            continue
        if spec.choices is not None and item not in spec.choices:
            raise TfsegError(f"{spec.key}: expected one of {list(spec.choices)}, got {item!r}")
        if isinstance(item, (int, float)) and not isinstance(item, bool) and not _in_range(spec, item):
            raise TfsegError(f"{spec.key}: expected a value {_range_text(spec)}, got {item!r}")
    return value


def _bounds(spec: Option) -> list[tuple[str, float]]:
    """The declared bounds as (operator, number) pairs."""
    pairs = [(">=", spec.low), ("<=", spec.high), (">", spec.above), ("<", spec.below)]
    return [(operator, number) for operator, number in pairs if number is not None]


def _in_range(spec: Option, value: float) -> bool:
    checks = {">=": value.__ge__, "<=": value.__le__, ">": value.__gt__, "<": value.__lt__}
    return all(checks[operator](number) for operator, number in _bounds(spec))


def _range_text(spec: Option) -> str:
    """E.g. ">= 0 and < 1"."""
    return " and ".join(f"{operator} {number:g}" for operator, number in _bounds(spec))


def bool_or_word(text: str) -> bool | str:
    """A flag value that is a bool or a word: "true"/"false" (any case) are bools."""
    return {"true": True, "false": False}.get(text.lower(), text)


def _flag_type(hint: Any) -> Any:
    """The argparse `type` of a flag: the (first non-None) scalar type of the declaration;
    `bool | str` takes true, false or a word."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if {bool, str} <= set(args):
            return bool_or_word
        return _flag_type(next(arg for arg in args if arg is not type(None)))
    if origin is list:
        return _flag_type(args[0]) if args else str
    return hint


def default_words(spec: Option) -> str:
    """What an option's default means, as --help says it: its `default_text`, else the value
    as typed on the command line (`on`/`off` for a bool, `128 128` for a list)."""
    if spec.default_text is not None:
        return spec.default_text
    if isinstance(spec.default, bool):
        return "on" if spec.default else "off"
    if isinstance(spec.default, list):
        return " ".join(map(str, spec.default))
    return str(spec.default)


def flag_help(spec: Option) -> str:
    """A flag's help: the option's, its choices when its metavar does not show them, the
    config key when the flag does not spell it (`--data` sets `data.dir`), and the default."""
    text = spec.help
    if spec.choices and spec.metavar:
        text += f"; {spec.metavar}: {', '.join(map(str, spec.choices))}"
    spelt = spec.flag == "--" + spec.key.split(".", 1)[1].replace("_", "-")
    text += f" ({'' if spelt else spec.key + '; '}default: {default_words(spec)})"
    return text.replace("%", "%%")


def add_flags(parser: argparse.ArgumentParser, specs: list[Option], groups: typing.Sequence[str]) -> None:
    """Adds one flag per option with a `flag`, in one argument group per name of `groups`
    (in --help order) that has any; unset flags parse to None (the config keeps its value).
    Choices are checked as the flags are parsed."""
    for name in groups:
        members = [spec for spec in specs if spec.group == name and spec.flag is not None]
        group = parser.add_argument_group(name) if members else None
        for spec in members:
            _add_flag(group, spec)


def _add_flag(group, spec: Option) -> None:
    scalar = _flag_type(spec.type)
    common = {"dest": spec.key, "default": None, "help": flag_help(spec)}
    if scalar is bool:
        group.add_argument(spec.flag, action=argparse.BooleanOptionalAction, **common)
    elif scalar is bool_or_word:
        group.add_argument(spec.flag, type=scalar, choices=spec.choices, **common,
                           metavar="|".join(str(choice).lower() for choice in spec.choices or ()) or None)
    else:
        name = spec.key.rsplit(".", 1)[-1].upper()
        metavar = spec.metavar or (None if spec.choices else {int: "N", float: "X"}.get(scalar, name))
        group.add_argument(spec.flag, type=scalar, nargs=spec.nargs, choices=spec.choices, metavar=metavar, **common)


def overrides_from_flags(args: argparse.Namespace, specs: list[Option]) -> dict[str, Any]:
    """{dotted key: value} of the option flags given on the command line."""
    given = {spec.key: getattr(args, spec.key) for spec in specs if spec.flag is not None}
    return {key: value for key, value in given.items() if value is not None}


def reference_markdown(specs: list[Option]) -> str:
    """The options reference (Markdown): one table per section, one row per option."""
    lines = []
    sections: dict[str, list[Option]] = {}
    for spec in specs:
        sections.setdefault(spec.key.split(".")[0], []).append(spec)
    for section, members in sections.items():
        lines += [f"## `{section}`", "", "| key | flag | type | default | allowed | meaning |", "|---|---|---|---|---|---|"]
        for spec in members:
            allowed = ", ".join(f"`{c}`" for c in spec.choices) if spec.choices else _range_text(spec)
            flag = f"`{spec.flag}`" if spec.flag else "YAML only"
            default = "`" + repr(spec.default).replace("|", "\\|") + "`"
            default += f": {spec.default_text}" if spec.default_text else ""
            resumable = "; may change on `--resume`" if spec.resumable else ""
            lines.append(
                f"| `{spec.key}` | {flag} | {_type_name(spec.type)} | {default} | {allowed} | {spec.help}{resumable} |"
            )
        lines.append("")
    return "\n".join(lines)
