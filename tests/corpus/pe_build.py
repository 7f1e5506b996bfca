"""Build real PE32+ EXEs/DLLs with a chosen VERSIONINFO, using binutils-mingw-w64 (as, windres, ld).

No C compiler: the code is two instructions of assembly; windres compiles the resource script. Builds are
cached by content hash under ``tests/.cache/pe`` so repeated runs cost nothing.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

AS = "x86_64-w64-mingw32-as"
LD = "x86_64-w64-mingw32-ld"
WINDRES = "x86_64-w64-mingw32-windres"

_ASM = """\
    .text
    .globl start
start:
    xorl %eax, %eax
    ret
    .section .rdata,"dr"
    .ascii "lureguard test binary; see https://example.invalid/\\0"
"""


def _rc_string(value: str) -> str:
    if not value.isascii():
        raise ValueError("keep VERSIONINFO test values ASCII (windres runs without a preprocessor here)")
    return '"' + value.replace('"', '""') + '"'


def version_rc(strings: Mapping[str, str], version: tuple[int, int, int, int] = (1, 0, 0, 0)) -> str:
    v = ",".join(str(n) for n in version)
    values = "\n".join(f"      VALUE {_rc_string(k)}, {_rc_string(s)}" for k, s in strings.items())
    return f"""1 VERSIONINFO
FILEVERSION {v}
PRODUCTVERSION {v}
FILEOS 0x40004
FILETYPE 0x1
BEGIN
  BLOCK "StringFileInfo"
  BEGIN
    BLOCK "040904b0"
    BEGIN
{values}
    END
  END
  BLOCK "VarFileInfo"
  BEGIN
    VALUE "Translation", 0x409, 1200
  END
END
"""


def build_pe(
    cache: Path,
    strings: Mapping[str, str] | None = None,
    *,
    dll: bool = False,
    version: tuple[int, int, int, int] = (1, 0, 0, 0),
) -> Path:
    """A PE32+ image (cached). ``strings`` become the VERSIONINFO string table (None: no resources)."""
    for tool in (AS, LD, WINDRES):
        if shutil.which(tool) is None:
            raise RuntimeError(f"{tool} not found: apt-get install binutils-mingw-w64-x86-64")
    rc = version_rc(strings, version) if strings is not None else None
    key = hashlib.sha256(json.dumps([_ASM, rc, dll]).encode()).hexdigest()[:16]
    out = cache / "pe" / f"{key}.{'dll' if dll else 'exe'}"
    if out.exists():
        return out
    work = cache / "pe" / f"{key}.work"
    work.mkdir(parents=True, exist_ok=True)
    (work / "a.s").write_text(_ASM)
    subprocess.run([AS, "-o", str(work / "a.o"), str(work / "a.s")], check=True)
    objs = [str(work / "a.o")]
    if rc is not None:
        (work / "v.rc").write_text(rc)
        subprocess.run(
            [WINDRES, "--preprocessor=cat", "-O", "coff", "-i", str(work / "v.rc"), "-o", str(work / "v.o")],
            check=True,
        )
        objs.append(str(work / "v.o"))
    kind = ["--dll"] if dll else ["--subsystem", "windows"]
    tmp = work / out.name
    # -s: no COFF symbol table (it would look like an overlay); fixed timestamp: reproducible builds.
    subprocess.run([LD, "-s", "--no-insert-timestamp", "-o", str(tmp), *kind, "-e", "start", *objs], check=True)
    tmp.replace(out)
    shutil.rmtree(work, ignore_errors=True)
    return out
