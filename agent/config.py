"""The agent's configuration: one typed, frozen object read from TOML and passed down.

Only the parts the offline scanner uses exist so far::

    [trust]
    roots = ["/etc/lureguard/corp-codesign-root.pem"]   # extra code-signing roots (PEM)

    [rules]
    dir = "/var/lib/lureguard/rules"                      # YARA rules (default: the bundled pack)

    [analysis]
    vendors = "/etc/lureguard/vendors.toml"              # vendor table (default: the bundled one)

Relative paths are resolved against the configuration file's folder.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class ConfigError(Exception):
    """The configuration file is missing, not TOML, or has a wrong key or type; the message says which."""


@dataclass(frozen=True)
class AgentConfig:
    trust_roots: tuple[Path, ...] = ()
    rules_dir: Path | None = None
    vendors_file: Path | None = None


_KNOWN = {"trust": {"roots"}, "rules": {"dir"}, "analysis": {"vendors"}}


def load_config(path: Path) -> AgentConfig:
    try:
        with path.open("rb") as fh:
            doc = tomllib.load(fh)
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc.strerror or exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config {path} is not valid TOML: {exc}") from exc
    for section, value in doc.items():
        if section not in _KNOWN:
            raise ConfigError(f"config {path}: unknown section [{section}]")
        if not isinstance(value, dict):
            raise ConfigError(f"config {path}: [{section}] must be a table")
        unknown = set(value) - _KNOWN[section]
        if unknown:
            raise ConfigError(f"config {path}: unknown key(s) {', '.join(sorted(unknown))} in [{section}]")
    base = path.resolve().parent

    def one(section: str, key: str) -> Path | None:
        value: Any = doc.get(section, {}).get(key)
        if value is None:
            return None
        if not isinstance(value, str):
            raise ConfigError(f"config {path}: {section}.{key} must be a string path")
        return base / value

    roots: Any = doc.get("trust", {}).get("roots", [])
    if not isinstance(roots, list) or not all(isinstance(r, str) for r in roots):
        raise ConfigError(f"config {path}: trust.roots must be a list of paths")
    return AgentConfig(
        trust_roots=tuple(base / r for r in roots),
        rules_dir=one("rules", "dir"),
        vendors_file=one("analysis", "vendors"),
    )
