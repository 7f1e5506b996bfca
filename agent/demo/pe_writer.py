"""A minimal PE32+ writer: a do-nothing executable with a chosen VERSIONINFO resource.

Used to generate harmless look-alikes for the demo folder, benchmarks and fuzz seeds without a Windows
tool chain. The program's only instruction is ``ret``.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping

_FILE_ALIGN = 0x200
_SECT_ALIGN = 0x1000
_RT_VERSION = 16


def _align(n: int, a: int) -> int:
    return (n + a - 1) // a * a


def _pad4(b: bytearray) -> None:
    while len(b) % 4:
        b += b"\0"


def _node(key: str, value: bytes, value_len: int, wtype: int, children: bytes = b"") -> bytes:
    """One VERSIONINFO block: header, UTF-16 key, aligned value, aligned children."""
    body = bytearray()
    body += (key + "\0").encode("utf-16-le")
    _pad4_from(body, 6)
    body += value
    _pad4_from(body, 6)
    body += children
    return struct.pack("<HHH", 6 + len(body), value_len, wtype) + bytes(body)


def _pad4_from(body: bytearray, offset: int) -> None:
    while (offset + len(body)) % 4:
        body += b"\0"


def version_info(strings: Mapping[str, str], version: tuple[int, int, int, int] = (1, 0, 0, 0)) -> bytes:
    ms, ls = (version[0] << 16) | version[1], (version[2] << 16) | version[3]
    fixed = struct.pack("<13I", 0xFEEF04BD, 0x00010000, ms, ls, ms, ls, 0x3F, 0, 0x4, 0x1, 0, 0, 0)
    entries = bytearray()
    for k, v in strings.items():
        entries += _node(k, (v + "\0").encode("utf-16-le"), len(v) + 1, 1)
        _pad4(entries)
    table = _node("040904B0", b"", 0, 1, bytes(entries))
    sfi = bytearray(_node("StringFileInfo", b"", 0, 1, table))
    _pad4(sfi)
    var = _node("Translation", struct.pack("<HH", 0x0409, 0x04B0), 4, 0)
    vfi = _node("VarFileInfo", b"", 0, 1, var)
    return _node("VS_VERSION_INFO", fixed, len(fixed), 0, bytes(sfi) + vfi)


def _resource_section(blob: bytes, rva: int) -> bytes:
    """Resource tree RT_VERSION → ID 1 → LANG 0x409 → data."""
    def directory(entry_id: int, target: int, is_dir: bool) -> bytes:
        head = struct.pack("<IIHHHH", 0, 0, 0, 0, 0, 1)
        return head + struct.pack("<II", entry_id, target | (0x80000000 if is_dir else 0))

    d1 = directory(_RT_VERSION, 0x18, True)
    d2 = directory(1, 0x30, True)
    d3 = directory(0x409, 0x48, False)
    data_entry = struct.pack("<IIII", rva + 0x58, len(blob), 0, 0)
    return d1 + d2 + d3 + data_entry + blob


def build_pe(strings: Mapping[str, str], *, dll: bool = False, overlay: bytes = b"") -> bytes:
    """Return a valid, unsigned PE32+ image whose VERSIONINFO carries ``strings``."""
    text_rva, rsrc_rva = 0x1000, 0x2000
    text = b"\xc3".ljust(_FILE_ALIGN, b"\xcc")
    rsrc = _resource_section(version_info(strings), rsrc_rva)
    rsrc_raw = rsrc.ljust(_align(len(rsrc), _FILE_ALIGN), b"\0")
    headers_size = 0x400
    size_of_image = _align(rsrc_rva + len(rsrc), _SECT_ALIGN)

    dos = bytearray(0x40)
    dos[0:2] = b"MZ"
    struct.pack_into("<I", dos, 0x3C, 0x40)
    characteristics = 0x0022 | (0x2000 if dll else 0)
    coff = struct.pack("<HHIIIHH", 0x8664, 2, 0, 0, 0, 240, characteristics)
    opt = struct.pack(
        "<HBBIIIIIQIIHHHHHHIIIIHHQQQQII",
        0x20B, 14, 0, len(text), len(rsrc_raw), 0, text_rva, text_rva,
        0x140000000, _SECT_ALIGN, _FILE_ALIGN, 6, 0, 1, 0, 6, 0, 0,
        size_of_image, headers_size, 0, 2, 0x8160, 0x100000, 0x1000, 0x100000, 0x1000, 0, 16,
    )
    dirs = bytearray(16 * 8)
    struct.pack_into("<II", dirs, 2 * 8, rsrc_rva, len(rsrc))
    sections = b"".join([
        struct.pack("<8sIIIIIIHHI", b".text", len(text), text_rva, len(text), headers_size, 0, 0, 0, 0,
                    0x60000020),
        struct.pack("<8sIIIIIIHHI", b".rsrc", len(rsrc), rsrc_rva, len(rsrc_raw), headers_size + len(text),
                    0, 0, 0, 0, 0x40000040),
    ])
    header = bytes(dos) + b"PE\0\0" + coff + opt + bytes(dirs) + sections
    return header.ljust(headers_size, b"\0") + text + rsrc_raw + overlay
