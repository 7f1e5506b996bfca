"""Turn command-line paths into scan tasks without following links or opening special files."""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Task:
    path: str
    kind: str  # "file" | "bundle"


@dataclass
class WalkErrors:
    messages: list[str]


def _is_bundle(path: Path) -> bool:
    return path.suffix.lower() == ".app" and (path / "Contents" / "Info.plist").is_file()


def walk(paths: Sequence[str], errors: WalkErrors) -> Iterator[Task]:
    """Yield tasks for files and ``.app`` bundles under ``paths``, in a stable order.

    Directory walks never follow symbolic links (loops, and links out of the scanned tree); FIFOs, sockets
    and devices are skipped because opening them can block forever or read without end.
    """
    for raw in paths:
        p = Path(raw)
        try:
            st = p.stat()
        except OSError as exc:
            errors.messages.append(f"{raw}: {exc.strerror or exc}")
            continue
        if stat.S_ISDIR(st.st_mode):
            yield from _walk_dir(p, errors)
        elif stat.S_ISREG(st.st_mode):
            yield Task(str(p), "file")
        else:
            errors.messages.append(f"{raw}: not a regular file or directory; skipped")


def _walk_dir(root: Path, errors: WalkErrors) -> Iterator[Task]:
    if _is_bundle(root):
        yield Task(str(root), "bundle")

    def onerror(exc: OSError) -> None:
        errors.messages.append(f"{exc.filename}: {exc.strerror or exc}")

    for dirpath, dirnames, filenames in os.walk(root, onerror=onerror, followlinks=False):
        dirnames.sort()
        for d in dirnames:
            sub = Path(dirpath, d)
            if not sub.is_symlink() and _is_bundle(sub):
                yield Task(str(sub), "bundle")
        for f in sorted(filenames):
            fp = Path(dirpath, f)
            try:
                st = fp.lstat()
            except OSError as exc:
                errors.messages.append(f"{fp}: {exc.strerror or exc}")
                continue
            if stat.S_ISREG(st.st_mode):
                yield Task(str(fp), "file")
            elif not stat.S_ISLNK(st.st_mode):
                log.info("skipping special file %s", fp)
