"""ELF facts, checked against real binaries on this machine and against readelf's own view of them."""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.analysis.context import AnalysisContext
from agent.analysis.formats import elf

READELF = shutil.which("readelf") or shutil.which("x86_64-w64-mingw32-readelf")


def _real_files() -> list[Path]:
    """Real binaries: a dynamic PIE (ls, env), the Python interpreter, a compiled extension module with
    DT_NEEDED entries (yara), and libc (a shared library with a SONAME)."""
    import yara

    files = [Path("/usr/bin/ls"), Path("/usr/bin/env"), Path(sys.executable).resolve(), Path(yara.__file__)]
    files += sorted(Path("/usr/lib").glob("*-linux-gnu/libc.so.6"))[:1]
    return [p for p in files if p.is_file()]


def _readelf_needed(path: Path) -> list[str]:
    assert READELF is not None
    out = subprocess.run([READELF, "-d", "-W", str(path)], capture_output=True, text=True, check=False).stdout
    return re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", out)


def _readelf_interp(path: Path) -> str | None:
    assert READELF is not None
    out = subprocess.run([READELF, "-l", "-W", str(path)], capture_output=True, text=True, check=False).stdout
    m = re.search(r"Requesting program interpreter: ([^\]]+)\]", out)
    return m.group(1) if m else None


@pytest.mark.parametrize("path", _real_files(), ids=lambda p: p.name)
def test_real_binaries_match_readelf(make_ctx: Callable[..., AnalysisContext], path: Path) -> None:
    result = elf.analyze(path.read_bytes(), path.name, make_ctx())
    f = result.facts
    assert result.anomalies == []
    assert f["class"] == 64 and f["endianness"] == "little" and f["machine"] in ("x86_64", "aarch64")
    assert f["type"] in ("dyn", "exec")
    assert f["needed"] == _readelf_needed(path)
    assert f.get("interpreter") == _readelf_interp(path)
    assert f["section_headers"] > 0 and f["program_headers"] > 0


def test_stripped_flag(make_ctx: Callable[..., AnalysisContext], tmp_path: Path) -> None:
    # Debian strips /usr/bin/ls; the other sense is checked by editing its section table (.dynsym's type
    # changed to SHT_SYMTAB makes it look unstripped).
    data = bytearray(Path("/usr/bin/ls").read_bytes())
    assert elf.analyze(bytes(data), "ls", make_ctx()).facts["stripped"] is True
    shoff = struct.unpack_from("<Q", data, 0x28)[0]
    shentsize, shnum = struct.unpack_from("<HH", data, 0x3A)
    for i in range(shnum):
        at = shoff + i * shentsize
        if struct.unpack_from("<I", data, at + 4)[0] == 11:  # SHT_DYNSYM
            struct.pack_into("<I", data, at + 4, 2)  # SHT_SYMTAB
            break
    assert elf.analyze(bytes(data), "ls", make_ctx()).facts["stripped"] is False


def _tiny_elf32_be() -> bytes:
    """A 32-bit big-endian MIPS executable header with no tables (static, like many IoT droppers)."""
    ident = b"\x7fELF" + bytes([1, 2, 1, 0]) + b"\x00" * 8
    header = struct.pack(">HHIIIIIHHHHHH", 2, 8, 1, 0x400100, 0, 0, 0, 52, 32, 0, 40, 0, 0)
    return ident + header


def test_other_class_and_byte_order(make_ctx: Callable[..., AnalysisContext]) -> None:
    f = elf.analyze(_tiny_elf32_be(), "x", make_ctx()).facts
    assert (f["class"], f["endianness"], f["machine"], f["type"], f["entry"]) == (32, "big", "mips", "exec", 0x400100)
    assert f["static"] is True and f["stripped"] is True


def _corruptions() -> list[tuple[str, bytes]]:
    ls = Path("/usr/bin/ls").read_bytes()
    huge_shnum = bytearray(ls)
    struct.pack_into("<H", huge_shnum, 0x3C, 0xFFFE)  # e_shnum beyond the file
    bad_phoff = bytearray(ls)
    struct.pack_into("<Q", bad_phoff, 0x20, len(ls) - 10)  # program headers start 10 bytes before EOF
    return [
        ("truncated", ls[:2000]),  # tables point past the end
        ("huge-shnum", bytes(huge_shnum)),
        ("bad-phoff", bytes(bad_phoff)),
        ("header-only", ls[:64]),
        ("bad-class", b"\x7fELF\x09\x01" + b"\x00" * 100),
        ("magic-only", b"\x7fELF"),
    ]


@pytest.mark.parametrize(("label", "data"), _corruptions(), ids=[c[0] for c in _corruptions()])
def test_malformed_never_raises(make_ctx: Callable[..., AnalysisContext], label: str, data: bytes) -> None:
    result = elf.analyze(data, label, make_ctx())
    assert result.type == "elf" and result.anomalies, label
    assert not any("parser error" in a for a in result.anomalies)


def test_fast_on_a_large_binary(make_ctx: Callable[..., AnalysisContext]) -> None:
    data = Path(sys.executable).resolve().read_bytes()
    start = time.perf_counter()
    for _ in range(20):
        elf.analyze(data, "python", make_ctx())
    assert (time.perf_counter() - start) / 20 < 0.01  # headers only: well under 10 ms per file


_SEED = Path("/usr/bin/ls").read_bytes()


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 1 << 20), st.integers(0, 255)), max_size=8))
def test_mutated_inputs_never_hit_a_parser_error(
    make_ctx: Callable[..., AnalysisContext], mutations: list[tuple[int, int]]
) -> None:
    # Flip bytes anywhere in a valid sample (sizes, offsets, counts, strings): every outcome must become
    # facts or anomalies, never an exception caught by the handler's last-resort guard.
    data = bytearray(_SEED)
    for pos, value in mutations:
        data[pos % len(data)] = value
    result = elf.analyze(bytes(data), "m", make_ctx())
    assert not any("parser error" in a for a in result.anomalies), result.anomalies
