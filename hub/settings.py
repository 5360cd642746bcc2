"""Hub settings: one TOML file, ``SCANHUB_*`` environment variables over it, flags over both.

The file (docs/operations.md, "Settings") is the first of:

1. the file named by ``SCANHUB_CONFIG`` (it must exist);
2. ``scanhub.toml`` in the working directory;
3. ``~/.config/scanhub/scanhub.toml``.

Only that one file is read.  It holds top-level keys::

    db = "postgresql://scanhub@127.0.0.1/scanhub"
    broker = "mqtts://scanhub-hub@broker.example.com:8883"

A value is taken from the command's flag, else its environment variable, else the file, else
the default.  ``resolve()`` says which, for ``scanhub config show``.  Secrets (passwords in URLs,
``SCANHUB_BROKER_PASSWORD``) are never kept in the file and are redacted when shown.
"""
from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from hub.errors import HubError

FILE_NAME = "scanhub.toml"
CONFIG_ENV = "SCANHUB_CONFIG"


@dataclass(frozen=True)
class Setting:
    name: str
    env: str
    default: str | None
    doc: str
    in_file: bool = True       # may be written in the file (secrets may not)
    secret: bool = False       # shown as ***


SETTINGS: tuple[Setting, ...] = (
    Setting("db", "SCANHUB_DB", "hub.db",
            "hub store: a SQLite path or postgresql://user@host:port/name (flag --db)"),
    Setting("broker", "SCANHUB_BROKER", None,
            "MQTT broker of `scanhub hub run`, mqtt[s]://[user@]host[:port]; unset: the hub starts "
            "its own Mosquitto (flag --broker)"),
    Setting("broker_password", "SCANHUB_BROKER_PASSWORD", None,
            "the broker user's password (or --broker-password-file); never in the file",
            in_file=False, secret=True),
    Setting("metrics", "SCANHUB_METRICS", None,
            "where `scanhub hub run` serves Prometheus metrics, HOST:PORT (e.g. 127.0.0.1:9464); "
            "unset: no endpoint (flag --metrics)"),
)
BY_NAME = {s.name: s for s in SETTINGS}


class SettingsError(HubError):
    """The settings file cannot be used (missing, not TOML, unknown keys, wrong values)."""


@dataclass(frozen=True)
class Value:
    name: str
    value: str | None
    source: str        # "default", "file PATH", "env NAME"

    def shown(self) -> str | None:
        return redact(self.name, self.value)


def search_paths(cwd: str | None = None) -> list[Path]:
    """Where the file is looked for, in order (without ``SCANHUB_CONFIG``)."""
    return [Path(cwd or os.getcwd()) / FILE_NAME, Path.home() / ".config" / "scanhub" / FILE_NAME]


def find_file(env=None, cwd: str | None = None) -> Path | None:
    env = os.environ if env is None else env
    named = env.get(CONFIG_ENV)
    if named:
        path = Path(named)
        if not path.is_file():
            raise SettingsError(f"{CONFIG_ENV}={named}: no such file")
        return path
    for path in search_paths(cwd):
        if path.is_file():
            return path
    return None


def read_file(path: Path) -> dict[str, str]:
    """The file's settings, checked.  Relative SQLite paths are taken from the file's folder."""
    try:
        with open(path, "rb") as f:
            raw = tomllib.load(f)
    except tomllib.TOMLDecodeError as e:
        raise SettingsError(f"{path}: not valid TOML: {e}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise SettingsError(f"{path}: cannot be read: {e}") from None
    out = {}
    for key, value in raw.items():
        setting = BY_NAME.get(key)
        if setting is None:
            known = ", ".join(s.name for s in SETTINGS if s.in_file)
            raise SettingsError(f"{path}: unknown setting {key!r} (known: {known})")
        if not setting.in_file:
            raise SettingsError(f"{path}: {key} is a secret and does not belong in the file: "
                                f"set {setting.env} or use --broker-password-file")
        if not isinstance(value, str) or not value.strip():
            raise SettingsError(f"{path}: {key} must be a non-empty string, not {value!r}")
        out[key] = value.strip()
    if "db" in out:
        out["db"] = _from_folder(out["db"], path.parent)
    return out


def _from_folder(db: str, folder: Path) -> str:
    """A relative SQLite path in the file means relative to the file, not to wherever the
    command happens to run."""
    if "://" in db and not db.startswith("sqlite:///"):
        return db
    prefix, path = ("sqlite:///", db[len("sqlite:///"):]) if db.startswith("sqlite:///") else ("", db)
    if os.path.isabs(path) or path == ":memory:":
        return db
    return prefix + str(folder.absolute() / path)


def resolve(env=None, cwd: str | None = None) -> tuple[Path | None, dict[str, Value]]:
    """The settings file in use (or None) and every setting's value with its source."""
    env = os.environ if env is None else env
    path = find_file(env, cwd)
    in_file = read_file(path) if path else {}
    values = {}
    for s in SETTINGS:
        if env.get(s.env):
            values[s.name] = Value(s.name, env[s.env], f"env {s.env}")
        elif s.name in in_file:
            values[s.name] = Value(s.name, in_file[s.name], f"file {path}")
        else:
            values[s.name] = Value(s.name, s.default, "default")
    return path, values


def value(name: str) -> str | None:
    """The value of setting ``name`` in force when no flag gives it."""
    return resolve()[1][name].value


def redact(name: str, value: str | None) -> str | None:
    """``value`` as it may be shown: a secret setting as ``***``, a URL without its password."""
    if value is None:
        return None
    if BY_NAME[name].secret:
        return "***"
    if "://" not in value:
        return value
    parts = urlsplit(value)
    if parts.password is None:
        return value
    netloc = parts.netloc.rsplit("@", 1)
    user = netloc[0].split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc[1]}"))
