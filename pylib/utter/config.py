"""Kaldi-style config files: one ``--option=value`` per line, ``#`` starts a comment.

Stage programs read them as extra command-line arguments (:func:`config_argv`); option
dataclasses such as ``FbankOptions`` read them as key/value pairs (:func:`config_items`).
One parser serves both, so a conf file means the same thing everywhere.
"""
from __future__ import annotations

import os
import shlex
from pathlib import Path


class ConfigError(ValueError):
    """A missing config file or a malformed line in one."""


def config_items(text: str, where: str = "<conf>") -> list[tuple[int, str, str]]:
    """``(line number, --option, value)`` for each option line; a bare ``--flag`` has value ''."""
    items = []
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if not line.startswith("--") or line == "--":
            raise ConfigError(f"{where}:{lineno}: expected --option=value, got '{line}'")
        key, _, value = line.partition("=")
        if " " in key.strip():
            raise ConfigError(f"{where}:{lineno}: expected --option=value, got '{line}'")
        items.append((lineno, key.strip(), value.strip()))
    return items


def read_config_text(path: str | os.PathLike) -> str:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    return path.read_text(encoding="utf-8")


def config_argv(path: str | os.PathLike) -> list[str]:
    """A config file as argv items (``--config=other.conf`` lines are read in place, relative to the file)."""
    argv: list[str] = []
    for _, key, value in config_items(read_config_text(path), str(path)):
        if key == "--config":
            nested = Path(value)
            if not nested.is_absolute() and not nested.exists():
                nested = Path(path).parent / nested
            argv.extend(config_argv(nested))
        elif value:
            argv.append(key)
            argv.extend(shlex.split(value) or [""])
        else:
            argv.append(key)
    return argv
