"""Genuine Microsoft-signed DLLs from the ``msvc-runtime`` wheel on PyPI (the Visual C++ runtime).

Fetched once with ``pip download`` into ``tests/.cache/msvc`` and unpacked there. If it cannot be fetched
the test session fails loudly: these files are the only real-world proof that Microsoft chains verify.
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

PACKAGE = "msvc-runtime==14.44.35112"
DLLS = ("vcruntime140.dll", "vcruntime140_1.dll", "msvcp140.dll")


def msvc_dlls(cache: Path) -> dict[str, Path]:
    """name -> path of each DLL in ``DLLS``; raises RuntimeError when the wheel cannot be fetched."""
    out = cache / "msvc"
    found = {name: out / name for name in DLLS}
    if all(p.exists() for p in found.values()):
        return found
    out.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "--platform",
            "win_amd64",
            "--python-version",
            "3.11",
            "--disable-pip-version-check",
            "-q",
            PACKAGE,
            "-d",
            str(out),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    wheels = sorted(out.glob("msvc_runtime-*.whl"))
    if proc.returncode != 0 or not wheels:
        raise RuntimeError(
            f"cannot fetch {PACKAGE} from PyPI (needed for genuine Microsoft signatures): {proc.stderr.strip()[-500:]}"
        )
    with zipfile.ZipFile(wheels[-1]) as zf:
        for info in zf.infolist():
            base = info.filename.rsplit("/", 1)[-1]
            if base in DLLS and not found[base].exists():
                found[base].write_bytes(zf.read(info))
    missing = [n for n, p in found.items() if not p.exists()]
    if missing:
        raise RuntimeError(f"{PACKAGE} wheel lacks {missing}")
    return found
