"""ELF basic facts from the headers, without lief (which reads the whole file and costs ~50 ms).

Fake "Linux clients" (no official Teams client exists for Linux) are ELF files; the facts here describe
them: class, machine, type, entry point, interpreter, needed libraries, stripped or not. Every offset read
from the file is bounds-checked; problems become anomalies, never exceptions.
"""

from __future__ import annotations

import struct
from typing import Any, NamedTuple

from agent.analysis.context import AnalysisContext, Buffer
from agent.analysis.facts import FormatResult

MAX_PROGRAM_HEADERS = 512  # real binaries have < 20; e_phnum is 16-bit but PN_XNUM can claim more
MAX_SECTION_HEADERS = 4096  # large C++ binaries reach a few thousand; each costs one small read
MAX_NEEDED = 128  # DT_NEEDED entries reported
MAX_DYNAMIC_ENTRIES = 4096  # dynamic section entries walked
MAX_STRING = 4096  # one NUL-terminated string (interpreter path, library name, section name)

_TYPES = {0: "none", 1: "rel", 2: "exec", 3: "dyn", 4: "core"}
_MACHINES = {
    0x03: "x86",
    0x08: "mips",
    0x14: "ppc",
    0x15: "ppc64",
    0x16: "s390",
    0x28: "arm",
    0x2A: "superh",
    0x32: "ia64",
    0x3E: "x86_64",
    0xB7: "aarch64",
    0xF3: "riscv",
    0xF7: "bpf",
    0x102: "loongarch",
}
_OSABI = {0: "sysv", 3: "linux", 6: "solaris", 9: "freebsd", 12: "openbsd"}
_PT_LOAD, _PT_DYNAMIC, _PT_INTERP = 1, 2, 3
_SHT_SYMTAB, _SHT_DYNSYM = 2, 11
_DT_NULL, _DT_NEEDED, _DT_STRTAB, _DT_SONAME = 0, 1, 5, 14


_Segment = tuple[int, int, int, int]  # p_type, p_offset, p_vaddr, p_filesz


class _Header(NamedTuple):
    """Where the header tables are (from the ELF file header)."""

    phoff: int
    phentsize: int
    phnum: int
    shoff: int
    shentsize: int
    shnum: int
    shstrndx: int


class _Elf:
    """Header reader bound to one buffer's class and byte order."""

    def __init__(self, data: Buffer, is64: bool, endian: str) -> None:
        self.data = data
        self.size = len(data)
        self.is64 = is64
        self.e = endian
        self.word = "Q" if is64 else "I"

    def unpack(self, fmt: str, off: int) -> tuple[int, ...] | None:
        fmt = self.e + fmt
        if off < 0 or off + struct.calcsize(fmt) > self.size:
            return None
        return struct.unpack_from(fmt, self.data, off)

    def cstring(self, off: int) -> str | None:
        if off < 0 or off >= self.size:
            return None
        chunk = bytes(self.data[off : off + MAX_STRING])
        end = chunk.find(b"\x00")
        return chunk[: end if end >= 0 else len(chunk)].decode("utf-8", "replace")


def analyze(data: Buffer, name: str, ctx: AnalysisContext) -> FormatResult:
    result = FormatResult(type="elf")
    try:
        _analyze(data, result)
    except Exception as exc:  # a parser bug must cost facts, not the scan
        result.anomalies.append(f"elf: parser error {type(exc).__name__}: {exc}")
    return result


def _analyze(data: Buffer, result: FormatResult) -> None:
    facts = result.facts
    if len(data) < 16 or data[:4] != b"\x7fELF":
        result.anomalies.append("elf: missing ELF magic")
        return
    ei_class, ei_data, _ver, ei_osabi = data[4], data[5], data[6], data[7]
    if ei_class not in (1, 2) or ei_data not in (1, 2):
        result.anomalies.append(f"elf: invalid class {ei_class} or data encoding {ei_data}")
        return
    elf = _Elf(data, ei_class == 2, "<" if ei_data == 1 else ">")
    facts["class"] = 64 if elf.is64 else 32
    facts["endianness"] = "little" if ei_data == 1 else "big"
    facts["osabi"] = _OSABI.get(ei_osabi, str(ei_osabi))
    raw = elf.unpack("HHI" + elf.word * 3 + "IHHHHHH", 16)
    if raw is None:
        result.anomalies.append("elf: truncated file header")
        return
    e_type, e_machine, _e_version, e_entry, e_phoff, e_shoff = raw[:6]
    _flags, _ehsize, e_phentsize, e_phnum, e_shentsize, e_shnum, e_shstrndx = raw[6:]
    hdr = _Header(e_phoff, e_phentsize, e_phnum, e_shoff, e_shentsize, e_shnum, e_shstrndx)
    facts["type"] = _TYPES.get(e_type, f"0x{e_type:x}")
    facts["machine"] = _MACHINES.get(e_machine, f"0x{e_machine:x}")
    facts["entry"] = e_entry
    sections = _section_headers(elf, hdr, result)
    segments = _program_headers(elf, hdr, sections, result)
    facts["program_headers"] = len(segments)
    facts["section_headers"] = len(sections)
    names = {s["name"] for s in sections}
    types = {s["type"] for s in sections}
    facts["stripped"] = _SHT_SYMTAB not in types
    facts["sections"] = sorted(n for n in names if n)[:64]
    interp = next((s for s in segments if s[0] == _PT_INTERP), None)
    if interp is not None:
        facts["interpreter"] = elf.cstring(interp[1])
    dynamic = next((s for s in segments if s[0] == _PT_DYNAMIC), None)
    if dynamic is not None:
        _dynamic(elf, dynamic, segments, result)
    if e_type == 2 and interp is None and dynamic is None:
        facts["static"] = True


def _section_headers(elf: _Elf, hdr: _Header, result: FormatResult) -> list[dict[str, Any]]:
    shoff, shentsize, shnum, shstrndx = hdr.shoff, hdr.shentsize, hdr.shnum, hdr.shstrndx
    if shoff == 0:
        return []
    need = 0x40 if elf.is64 else 0x28
    if shentsize < need:
        result.anomalies.append(f"elf: section header size {shentsize} too small")
        return []
    fmt = "IIQQQQIIQQ" if elf.is64 else "IIIIIIIIII"
    if shnum == 0:  # SHN_UNDEF: the real count lives in section 0's sh_size (more than 0xff00 sections)
        first = elf.unpack(fmt, shoff)
        shnum = first[5] if first else 0
    if shnum > MAX_SECTION_HEADERS:
        result.anomalies.append(f"elf: {shnum} section headers, reading the first {MAX_SECTION_HEADERS}")
        shnum = MAX_SECTION_HEADERS
    raw: list[tuple[int, ...]] = []
    for i in range(shnum):
        sh = elf.unpack(fmt, shoff + i * shentsize)
        if sh is None:
            result.anomalies.append(f"elf: section header table truncated at entry {i}")
            break
        raw.append(sh)
    strtab_off: int | None = None
    if shstrndx == 0xFFFF and raw:  # SHN_XINDEX: the index is in section 0's sh_link
        shstrndx = raw[0][6]
    if 0 < shstrndx < len(raw):
        strtab_off = raw[shstrndx][4]
    sections = []
    for sh in raw:
        name = elf.cstring(strtab_off + sh[0]) if strtab_off is not None else None
        sections.append(
            {"name": name or "", "type": sh[1], "addr": sh[3], "offset": sh[4], "size": sh[5], "info": sh[7]}
        )
    return sections


def _program_headers(elf: _Elf, hdr: _Header, sections: list[dict[str, Any]], result: FormatResult) -> list[_Segment]:
    """(p_type, p_offset, p_vaddr, p_filesz) for each program header."""
    phoff, phentsize, phnum = hdr.phoff, hdr.phentsize, hdr.phnum
    if phoff == 0 or phnum == 0:
        return []
    if phnum == 0xFFFF and sections:  # PN_XNUM: the count lives in section 0's sh_info
        phnum = int(sections[0]["info"])
    if phnum > MAX_PROGRAM_HEADERS:
        result.anomalies.append(f"elf: {phnum} program headers, reading the first {MAX_PROGRAM_HEADERS}")
        phnum = MAX_PROGRAM_HEADERS
    need = 0x38 if elf.is64 else 0x20
    if phentsize < need:
        result.anomalies.append(f"elf: program header size {phentsize} too small")
        return []
    out = []
    for i in range(phnum):
        off = phoff + i * phentsize
        if elf.is64:
            ph = elf.unpack("IIQQQQ", off)  # type, flags, offset, vaddr, paddr, filesz
            if ph is not None:
                out.append((ph[0], ph[2], ph[3], ph[5]))
        else:
            ph = elf.unpack("IIIII", off)  # type, offset, vaddr, paddr, filesz
            if ph is not None:
                out.append((ph[0], ph[1], ph[2], ph[4]))
        if ph is None:
            result.anomalies.append(f"elf: program header table truncated at entry {i}")
            break
    return out


def _vaddr_to_offset(vaddr: int, segments: list[_Segment]) -> int | None:
    for p_type, p_offset, p_vaddr, p_filesz in segments:
        if p_type == _PT_LOAD and p_vaddr <= vaddr < p_vaddr + p_filesz:
            return p_offset + (vaddr - p_vaddr)
    return None


def _dynamic(elf: _Elf, dynamic: _Segment, segments: list[_Segment], result: FormatResult) -> None:
    entry_fmt = "qQ" if elf.is64 else "iI"
    entry_size = 16 if elf.is64 else 8
    count = min(dynamic[3] // entry_size, MAX_DYNAMIC_ENTRIES)
    needed_offsets: list[int] = []
    soname_offset: int | None = None
    strtab_vaddr: int | None = None
    for i in range(count):
        ent = elf.unpack(entry_fmt, dynamic[1] + i * entry_size)
        if ent is None:
            result.anomalies.append("elf: dynamic section truncated")
            break
        tag, val = ent
        if tag == _DT_NULL:
            break
        if tag == _DT_NEEDED and len(needed_offsets) < MAX_NEEDED:
            needed_offsets.append(val)
        elif tag == _DT_STRTAB:
            strtab_vaddr = val
        elif tag == _DT_SONAME:
            soname_offset = val
    if strtab_vaddr is None:
        if needed_offsets:
            result.anomalies.append("elf: DT_NEEDED without DT_STRTAB")
        return
    strtab = _vaddr_to_offset(strtab_vaddr, segments)
    if strtab is None:
        result.anomalies.append("elf: DT_STRTAB outside every loadable segment")
        return
    result.facts["needed"] = [n for n in (elf.cstring(strtab + o) for o in needed_offsets) if n is not None]
    if soname_offset is not None:
        result.facts["soname"] = elf.cstring(strtab + soname_offset)
