"""Read the few files of an ``.app`` directory that ``app_bundle.analyze_bundle`` needs, within budgets.

Only Info.plist, the main executable and _CodeSignature/CodeResources are read. A hostile bundle may hold
symlinks to devices or FIFOs, or to files outside the bundle: only regular files inside the bundle root
are opened, without blocking, and never beyond their budget.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from agent.analysis.formats.app_bundle import (
    CODE_RESOURCES,
    INFO_PLIST,
    MACOS_DIR,
    MAX_PLIST_BYTES,
    executable_name,
    parse_info_plist,
)

MAX_CODE_RESOURCES_BYTES = 16 * 1024 * 1024  # a large app's CodeResources is a few MB of XML
MAX_MACOS_ENTRIES = 64  # Contents/MacOS entries looked at when CFBundleExecutable is missing


def _read_regular(root: Path, rel: str, limit: int) -> bytes | None:
    """Bytes of ``root/rel`` if it is a regular file inside ``root`` no larger than ``limit``."""
    try:
        base = root.resolve(strict=True)
        target = (root / rel).resolve(strict=True)
    except (OSError, RuntimeError):  # missing, or a symlink loop
        return None
    if not target.is_relative_to(base):
        return None
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(target, flags)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size > limit:
            return None
        with os.fdopen(fd, "rb", closefd=False) as fh:
            data = fh.read(limit + 1)
        return data if len(data) <= limit else None
    except OSError:
        return None
    finally:
        os.close(fd)


def _only_executable(root: Path) -> str | None:
    try:
        with os.scandir(root / MACOS_DIR) as it:
            names = []
            for n, entry in enumerate(it):
                if n >= MAX_MACOS_ENTRIES:
                    return None
                names.append(entry.name)
    except OSError:
        return None
    return names[0] if len(names) == 1 else None


def read_bundle(root: Path, max_bytes: int) -> dict[str, bytes]:
    """Key files of the bundle at ``root`` (relative path -> bytes). Files over budget are left out;
    ``analyze_bundle`` then reports them missing. ``max_bytes`` caps the main executable."""
    files: dict[str, bytes] = {}
    plist = _read_regular(root, INFO_PLIST, MAX_PLIST_BYTES)
    exe: str | None = None
    if plist is not None:
        files[INFO_PLIST] = plist
        exe = executable_name(parse_info_plist(plist, []), [])
    if exe is None:
        exe = _only_executable(root)
    if exe is not None:
        data = _read_regular(root, MACOS_DIR + exe, max_bytes)
        if data is not None:
            files[MACOS_DIR + exe] = data
    resources = _read_regular(root, CODE_RESOURCES, MAX_CODE_RESOURCES_BYTES)
    if resources is not None:
        files[CODE_RESOURCES] = resources
    return files
