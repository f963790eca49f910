"""UPPERCASE constants at a script's top, overridable from the command line.

A script declares its hyperparameters as plain module constants, then calls
``config = apply_overrides(globals())``. Each constant ``EPOCHS`` can be set as
``--epochs 5`` or ``--epochs=5``. Unknown keys and values that do not parse as the
constant's type are errors that list the valid keys, so a typo never silently runs
the default. ``--help`` (or ``-h``) prints the script's docstring and every constant
with its default, type, allowed values and the comment written beside it, then exits 0.

A constant whose value differs between settings is written as a dict keyed by setting,
``MAX_LEN = {"coldstart": 10, "longtail": 50}``: after parsing, it becomes the value of the
chosen ``SETTING``; ``--max_len 20`` sets it for whichever setting runs.
"""
from __future__ import annotations

import ast
import re
import sys
from pathlib import Path
from typing import Any, Mapping, Sequence

_SIMPLE = (bool, int, float, str)


class ConfigError(SystemExit):
    """A bad command-line override: uncaught, it exits printing the message (status 1)."""

    def __init__(self, msg: str):
        super().__init__(f"error: {msg}")
        self.msg = msg

    def __str__(self) -> str:
        return self.msg


def _per_setting(value: Any) -> bool:
    return isinstance(value, dict) and bool(value) and all(isinstance(v, _SIMPLE) for v in value.values())


def _assigned(namespace: Mapping[str, Any]) -> set[str] | None:
    """The names a script's own source assigns outside functions and classes (None without a source
    file). An UPPERCASE name it imports is another module's constant: setting the script's copy
    would change nothing that module computes, so it is no option of the script."""
    path = namespace.get("__file__")
    if not path or not Path(path).exists():
        return None
    names, todo = set(), list(ast.parse(Path(path).read_text()).body)
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            continue
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        todo.extend(ast.iter_child_nodes(node))
    return names


def _tunables(namespace: Mapping[str, Any]) -> dict[str, Any]:
    own = _assigned(namespace)
    return {k: v for k, v in namespace.items()
            if k.isupper() and not k.startswith("_") and (own is None or k in own)
            and (isinstance(v, _SIMPLE) or v is None or _per_setting(v) or isinstance(v, (list, tuple)))}


def parse_value(key: str, text: str, default: Any) -> Any:
    """Parse ``text`` as the type of ``default``; raise ConfigError if it does not fit."""
    if _per_setting(default):
        default = next(iter(default.values()))
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
                    extra: Sequence[dict[str, Any]] = (), epilog: str = "") -> dict[str, Any]:
    """Override ``namespace``'s UPPERCASE constants from ``argv`` (default: sys.argv[1:]).

    Updates ``namespace`` in place and returns ``{lowercase key: value}`` of every
    tunable constant, for logging. ``choices`` restricts some keys to listed values.
    ``extra`` namespaces (e.g. method modules) contribute their constants too.
    Per-setting dicts are resolved for ``namespace["SETTING"]``. ``--help`` prints
    :func:`help_text` (with ``epilog`` at its end) and exits 0.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    if "-h" in argv or "--help" in argv:
        print(help_text(namespace, choices, extra, epilog))
        raise SystemExit(0)
    owner = {}
    for ns in (*extra, namespace):
        owner.update({k: ns for k in _tunables(ns)})
    tunables = {k: ns[k] for k, ns in owner.items()}
    valid = sorted(k.lower() for k in tunables)
    i = 0
    while i < len(argv):
        arg = argv[i]
        if not arg.startswith("--") or arg == "--":
            raise ConfigError(f"unexpected argument {arg!r}; options are --key value or --key=value "
                              f"(--help lists them). Valid keys: {', '.join(valid)}")
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
    setting = tunables.get("SETTING")
    for name, value in list(tunables.items()):
        if _per_setting(value):
            if setting not in value:
                raise ConfigError(f"{name} has no value for setting {setting!r} (it has {sorted(value)}); "
                                  f"pass --{name.lower()} explicitly")
            owner[name][name] = tunables[name] = value[setting]
    if choices:
        for name, allowed in choices.items():
            if name in tunables and tunables[name] not in allowed:
                raise ConfigError(f"{name} must be one of {list(allowed)}, got {tunables[name]!r}")
    return {k.lower(): v for k, v in tunables.items()}


# ---------------------------------------------------------------- --help

def _comments(namespace: Mapping[str, Any]) -> dict[str, str]:
    """NAME -> the comment beside its assignment (and comment lines right under it) in the source."""
    path = namespace.get("__file__")
    if not path or not Path(path).exists():
        return {}
    lines = Path(path).read_text().splitlines()
    out = {}
    for k, line in enumerate(lines):
        m = re.match(r"^([A-Z][A-Z0-9_]*(?:\s*,\s*[A-Z][A-Z0-9_]*)*)\s*=[^=]", line)
        if not m:
            continue
        parts = [line.split("#", 1)[1].strip()] if "#" in line else []
        for nxt in lines[k + 1:]:
            if not re.match(r"^\s+#", nxt):
                break
            parts.append(nxt.strip().lstrip("#").strip())
        for name in re.split(r"\s*,\s*", m.group(1)):
            out.setdefault(name, " ".join(parts))
    return out


def _show(value: Any) -> str:
    if _per_setting(value):
        return " | ".join(f"{k}: {v!r}" for k, v in value.items())
    return repr(value)


def _kind(value: Any) -> str:
    if _per_setting(value):
        value = next(iter(value.values()))
    if isinstance(value, (list, tuple)):
        return f"list of {type(value[0]).__name__ if value else 'str'}"
    return "str" if value is None else type(value).__name__


def _options(namespace: Mapping[str, Any], choices: Mapping[str, Sequence[Any]] | None) -> list[str]:
    notes = _comments(namespace)
    rows = []
    for name, value in _tunables(namespace).items():
        allowed = f"  one of {list(choices[name])}" if choices and name in choices else ""
        rows.append(f"  --{name.lower():22s} {_kind(value):6s} default {_show(value)}{allowed}")
        if notes.get(name):
            rows.append(f"  {'':22s}   {notes[name]}")
    return rows


def help_text(namespace: Mapping[str, Any], choices: Mapping[str, Sequence[Any]] | None = None,
              extra: Sequence[dict[str, Any]] = (), epilog: str = "") -> str:
    """The script's docstring, then every option: --key, type, default, allowed values, comment."""
    where = Path(namespace["__file__"]).name if namespace.get("__file__") else "this command"
    parts = [(namespace.get("__doc__") or "").strip(), "",
             f"Options (UPPERCASE constants at the top of {where}; --key value or --key=value; "
             f"a value shown per setting applies to the --setting that runs):", *_options(namespace, choices)]
    for ns in extra:
        rows = _options(ns, choices)
        if rows:
            origin = ns.get("__name__", "module").replace(".", "/") + ".py"
            parts += ["", f"Options of {origin}:", *rows]
    if epilog:
        parts += ["", epilog.strip()]
    return "\n".join(parts).strip() + "\n"
