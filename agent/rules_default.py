"""Where the starter YARA rule set lives: the checkout's ``yara_rules/`` or the copy shipped in the wheel."""

from __future__ import annotations

from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


def default_rules_dir() -> Path:
    """The rules directory bundled with this agent.

    From a source checkout (``pyproject.toml`` beside the package) this is the top-level ``yara_rules/``,
    so edits to the rules are picked up without reinstalling. From an installed wheel it is the copy
    shipped as package data in ``agent/yara_rules/``. Only these two fixed places are considered: rules
    are never looked up on ``sys.path`` or in the working directory, where anyone could plant a folder.
    """
    checkout = _PACKAGE_DIR.parent
    if (checkout / "pyproject.toml").is_file() and (checkout / "yara_rules").is_dir():
        return checkout / "yara_rules"
    return _PACKAGE_DIR / "yara_rules"
