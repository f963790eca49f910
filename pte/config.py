"""UPPERCASE constants at a script's top, overridable from the command line.

A script declares its hyperparameters as plain module constants, then calls
``config = apply_overrides(globals())``. Each constant ``EPOCHS`` can be set as
``--epochs 5`` or ``--epochs=5``. Unknown keys and values that do not parse as the
constant's type are errors that list the valid keys, so a typo never silently runs
the default.
"""
from __future__ import annotations

import sys
from typing import Any, Mapping, Sequence

_SIMPLE = (bool, int, float, str)


class ConfigError(SystemExit):
    """A bad command-line override: uncaught, it exits printing the message (status 1)."""

    def __init__(self, msg: str):
        super().__init__(f"error: {msg}")
        self.msg = msg

    def __str__(self) -> str:
        return self.msg


def _tunables(namespace: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in namespace.items()
            if k.isupper() and not k.startswith("_") and (isinstance(v, _SIMPLE) or v is None
                                                          or isinstance(v, (list, tuple)))}


def parse_value(key: str, text: str, default: Any) -> Any:
    """Parse ``text`` as the type of ``default``; raise ConfigError if it does not fit."""
    try:
        if isinstance(default, bool):
            low = text.lower()
            if low in ("1", "true", "yes", "on"):
                return True
            if low in ("0", "false", "no", "off"):
                return False
            raise ValueError(text)
        if isinstance(default, int):
            return int(text)
        if isinstance(default, float):
            return float(text)
        if isinstance(default, (list, tuple)):
            parts = [p for p in text.replace(",", " ").split() if p]
            elem = default[0] if default else ""
            vals = [parse_value(key, p, elem) for p in parts]
            return type(default)(vals)
        return text  # str or None default: taken as text
    except ValueError:
        kind = type(default).__name__
        raise ConfigError(f"--{key.lower()} expects {kind} (default {default!r}), got {text!r}") from None


def apply_overrides(namespace: dict[str, Any], argv: Sequence[str] | None = None,
                    choices: Mapping[str, Sequence[Any]] | None = None,
                    extra: Sequence[dict[str, Any]] = ()) -> dict[str, Any]:
    """Override ``namespace``'s UPPERCASE constants from ``argv`` (default: sys.argv[1:]).

    Updates ``namespace`` in place and returns ``{lowercase key: value}`` of every
    tunable constant, for logging. ``choices`` restricts some keys to listed values.
    ``extra`` namespaces (e.g. method modules) contribute their constants too.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    owner = {}
    for ns in (*extra, namespace):
        owner.update({k: ns for k in _tunables(ns)})
    tunables = {k: ns[k] for k, ns in owner.items()}
    valid = sorted(k.lower() for k in tunables)
    i = 0
    while i < len(argv):
        arg = argv[i]
        if not arg.startswith("--") or arg == "--":
            raise ConfigError(f"unexpected argument {arg!r}; options are --key value or --key=value. "
                              f"Valid keys: {', '.join(valid)}")
        if "=" in arg:
            key, text = arg[2:].split("=", 1)
            i += 1
        else:
            key = arg[2:]
            if i + 1 >= len(argv):
                raise ConfigError(f"--{key} needs a value")
            text = argv[i + 1]
            i += 2
        name = key.replace("-", "_").upper()
        if name not in tunables:
            raise ConfigError(f"unknown option --{key}. Valid keys: {', '.join(valid)}")
        value = parse_value(name, text, tunables[name])
        if choices and name in choices and value not in choices[name]:
            raise ConfigError(f"--{key} must be one of {list(choices[name])}, got {value!r}")
        owner[name][name] = value
        tunables[name] = value
    if choices:
        for name, allowed in choices.items():
            if name in tunables and tunables[name] not in allowed:
                raise ConfigError(f"{name} must be one of {list(allowed)}, got {tunables[name]!r}")
    return {k.lower(): v for k, v in tunables.items()}
