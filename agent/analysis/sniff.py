"""Identify a file's type from its bytes, not its name.

Attackers rename files (``invoice.pdf`` that is a PE, ``zoom_sdk.txt`` that is a script), so the name is
only a tie-breaker between text kinds. ``identify`` looks at the first few KB (and the last 512 bytes for a
DMG trailer), is total (any input gives a type, it never raises) and costs well under a millisecond.

Types are plain strings the engine dispatches on: see ``TYPES``.
"""

from __future__ import annotations

import re
import struct

from agent.analysis.context import Buffer

TYPES = frozenset(
    {
        "pe", "msi", "office-legacy", "macho", "macho-fat", "elf", "zip", "lnk", "applescript-compiled",
        "script:applescript", "script:shell", "script:powershell", "script:vbs", "script:batch",
        "script:javascript", "script:python", "plist", "pdf", "image", "media", "gzip", "7z", "rar", "dmg",
        "text", "data",
    }
)  # fmt: skip

HEAD_BYTES = 4096  # every magic, a shebang and the first script statements; text checks cost ~linear in this
TAIL_BYTES = 4096  # script markers after AppleScript-style blank-line padding sit at the end
_ZIP_EOCD_SEARCH = 65_557  # EOCD (22 bytes) + the longest zip comment (65,535): where a prefixed zip ends

_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


def _guid_le(text: str) -> bytes:
    """GUID string -> the mixed-endian bytes stored on disk (Data1-3 little-endian)."""
    parts = text.strip("{}").split("-")
    return (
        int(parts[0], 16).to_bytes(4, "little")
        + int(parts[1], 16).to_bytes(2, "little")
        + int(parts[2], 16).to_bytes(2, "little")
        + bytes.fromhex(parts[3] + parts[4])
    )


# MSI root storage CLSIDs: an OLE file whose root entry carries one of these is an installer.
_MSI_CLSIDS = frozenset(
    _guid_le(g)
    for g in (
        "{000C1084-0000-0000-C000-000000000046}",  # installer package (.msi)
        "{000C1086-0000-0000-C000-000000000046}",  # patch (.msp)
        "{000C1082-0000-0000-C000-000000000046}",  # transform (.mst)
    )
)
_LNK_CLSID = _guid_le("{00021401-0000-0000-C000-000000000046}")

_MACHO_MAGICS = (b"\xfe\xed\xfa\xce", b"\xce\xfa\xed\xfe", b"\xfe\xed\xfa\xcf", b"\xcf\xfa\xed\xfe")
_FAT_MAGICS = (b"\xca\xfe\xba\xbe", b"\xca\xfe\xba\xbf")  # fat32, fat64
# CPU types seen in fat headers (low 24 bits, ABI64 bit stripped): x86, mc98000, arm, ppc, arm64_32...
_MACHO_CPUS = frozenset({7, 10, 12, 18, 14, 13, 6, 8})
_MAX_FAT_ARCHS = 32  # real universal binaries hold 1-4; Java class versions start at 45 here

_MEDIA_FTYP_AT_4 = (b"ftyp", b"moov", b"mdat", b"wide", b"free", b"skip")

_SCRIPT_EXTS: dict[str, str] = {
    "applescript": "script:applescript",
    "scpt": "script:applescript",
    "sh": "script:shell",
    "bash": "script:shell",
    "zsh": "script:shell",
    "command": "script:shell",
    "tool": "script:shell",
    "ps1": "script:powershell",
    "psm1": "script:powershell",
    "psd1": "script:powershell",
    "vbs": "script:vbs",
    "vbe": "script:vbs",
    "wsf": "script:vbs",
    "bat": "script:batch",
    "cmd": "script:batch",
    "js": "script:javascript",
    "mjs": "script:javascript",
    "cjs": "script:javascript",
    "jse": "script:javascript",
    "py": "script:python",
    "pyw": "script:python",
}

# Shebang interpreter (basename, after an optional `env [-S]`) -> type.
_SHEBANG = re.compile(rb"^#![ \t]*(?:\S*/)?(?:env[ \t]+(?:-\S+[ \t]+)*)?([A-Za-z0-9_.+-]+)")
_SHEBANG_KINDS: dict[str, str] = {
    "sh": "script:shell",
    "bash": "script:shell",
    "zsh": "script:shell",
    "dash": "script:shell",
    "ksh": "script:shell",
    "osascript": "script:applescript",
    "pwsh": "script:powershell",
    "powershell": "script:powershell",
    "node": "script:javascript",
    "nodejs": "script:javascript",
    "deno": "script:javascript",
    "bun": "script:javascript",
}

# Syntax markers per script kind: (needle, confirming regex or None, weight). Weight 3 = strong (rarely
# seen elsewhere), 1 = weak. The needle is a lower-case literal found with `in` (fast substring search);
# the regex, run only when the needle is present, checks the shape. Regexes start with a literal (a line
# start is written "\n" and searched in "\n" + text): sre then skips ahead with a fast literal scan, while
# a leading ^ (MULTILINE) or \b is tried at every position and costs 10x more.
_Marker = tuple[str, "re.Pattern[str] | None", int]


def _m(needle: str, pattern: str | None, weight: int, flags: int = 0) -> _Marker:
    return (needle, re.compile(pattern, flags) if pattern else None, weight)


_I = re.IGNORECASE
_MARKERS: dict[str, tuple[_Marker, ...]] = {
    "script:applescript": (
        _m("do shell script", None, 3),
        _m("tell application", r"tell application\b", 3),
        _m("display dialog", None, 3),
        _m("end tell", r"\n[ \t]*end tell\b", 3),
        _m("open location", r"open location\b", 3),
        _m("display notification", None, 3),
        _m("run script", r"run script\b", 1),
        _m("on run", r"\n[ \t]*on run\b", 1),
        _m("set ", r"\n[ \t]*set \w+ to\b", 1),
    ),
    "script:powershell": (
        _m("invoke-expression", None, 3),
        _m("iex", r"iex\b", 1, _I),
        _m("$env:", r"\$env:\w", 3, _I),  # not openssl.cnf's $ENV::HOME
        _m("new-object", r"new-object\s", 3, _I),
        _m("param", r"\n[ \t]*param\s*\(", 3, _I),
        _m("write-host", None, 3),
        _m("invoke-webrequest", None, 3),
        _m("start-process", None, 3),
        _m("-childitem", r"get-childitem\b", 3, _I),
        _m("-content", r"(?:get|set|add)-content\b", 3, _I),
        _m("-executionpolicy", None, 3),
        _m("[system.", r"\[system\.[\w.]+\]::", 3, _I),
    ),
    "script:vbs": (
        _m("createobject", r"createobject\s*\(", 3, _I),
        _m("wscript.", r"wscript\.", 3, _I),
        _m("dim ", r"\n[ \t]*dim\s+\w+", 1, _I),
        _m("end ", r"\n[ \t]*end\s+(?:sub|function)\b", 3, _I),
        _m("on error resume next", None, 3),
        _m("set ", r"\n[ \t]*set\s+\w+\s*=\s*\w", 1, _I),
    ),
    "script:batch": (
        _m("@echo", r"\n[ \t]*@echo\s+off\b", 3, _I),
        _m("%~dp0", None, 3),
        _m("%errorlevel%", None, 3),
        _m("set ", r"\n[ \t]*set\s+(?:/[ap]\s+)?\"?\w+=", 1, _I),
        _m("goto", r"\n[ \t]*goto\s+:?\w", 1, _I),
        _m("rem ", r"\n[ \t]*rem\s", 1, _I),
        _m("start", r"\n[ \t]*start\s+\"\"", 1, _I),
    ),
    "script:javascript": (
        _m("require", r"require\s*\(\s*['\"]", 3),
        _m("module.exports", None, 3),
        _m("console.log", None, 3),
        _m("process.", r"process\.(?:env|argv|platform)\b", 3),
        _m("string.fromcharcode", None, 3),
        _m("function", r"function\s*\w*\s*\(", 1),
        _m("=>", None, 1),
        _m("const ", r"\n[ \t]*(?:const|let)\s+\w+\s*=", 1),
    ),
    "script:python": (
        _m("from ", r"\n[ \t]*from [\w.]+ import\b", 3),
        _m("def ", r"\n[ \t]*def \w+\s*\([^\n]*\)\s*(?:->[^:\n]*)?:", 3),
        _m("__main__", r"if __name__ == ['\"]__main__['\"]", 3),
        _m("import ", r"\n[ \t]*import \w+", 1),
    ),
    "script:shell": (
        _m("fi", r"\n[ \t]*(?:fi|done|esac)[ \t]*(?:\n|$)", 3),
        _m("if [", r"\n[ \t]*if \[\[? ", 3),
        _m("osascript -e", None, 3),
        _m("curl", r"\n[ \t]*(?:sudo\s+)?(?:curl|wget)\s+-", 1),
        _m("chmod", r"chmod\s+[+0-7ugoa]", 1),
        _m("export ", r"\n[ \t]*export\s+\w+=", 1),
        _m("$(", None, 1),
        _m("echo ", r"\n[ \t]*echo\s", 1),
    ),
}
_MIN_SCRIPT_SCORE = 3  # without a matching extension: one strong marker or three weak ones
# Kinds in the order that wins a tie no extension breaks (the stronger execution risk first).
_TIE_ORDER = tuple(_MARKERS)


def identify(data: Buffer, name: str) -> str:
    """Return the content type of ``data`` (one of ``TYPES``). Never raises."""
    try:
        return _identify(data, name)
    except Exception:  # a sniffer must be total; a bug here must not hide a file from the scan
        return "data"


def _identify(data: Buffer, name: str) -> str:
    size = len(data)
    head = bytes(data[:HEAD_BYTES])
    binary = _binary_magic(data, head, size)
    if binary is not None:
        return binary
    if size >= 512 and data[size - 512 : size - 508] == b"koly":
        return "dmg"  # UDIF trailer; the image body before it can be any bytes
    text = _decode_head(head)
    if text is not None:
        return _text_kind(data, text, name, size)
    if _zip_eocd_near_end(data, size):
        return "zip"  # a zip with junk prepended still extracts with most tools
    return "data"


# Fixed magic at offset 0 -> type. Order does not matter: no prefix here is a prefix of another.
_PREFIX_MAGICS: tuple[tuple[bytes, str], ...] = (
    (b"\x7fELF", "elf"),
    (b"PK\x03\x04", "zip"),
    (b"PK\x05\x06", "zip"),  # empty archive
    (b"PK\x07\x08", "zip"),  # spanned-archive marker before the first entry
    (b"\x4c\x00\x00\x00" + _LNK_CLSID, "lnk"),  # HeaderSize 0x4C + LinkCLSID
    (b"FasdUAS", "applescript-compiled"),
    (b"bplist00", "plist"),
    (b"\x89PNG\r\n\x1a\n", "image"),
    (b"\xff\xd8\xff", "image"),
    (b"GIF87a", "image"),
    (b"GIF89a", "image"),
    (b"OggS", "media"),
    (b"fLaC", "media"),
    (b"\x1a\x45\xdf\xa3", "media"),  # Matroska / WebM
    (b"ID3", "media"),
    (b"\xff\xfb", "media"),  # MPEG audio frame sync
    (b"\xff\xf3", "media"),
    (b"\xff\xf2", "media"),
    (b"\xff\xf1", "media"),  # AAC ADTS
    (b"\x1f\x8b\x08", "gzip"),
    (b"7z\xbc\xaf\x27\x1c", "7z"),
    (b"Rar!\x1a\x07", "rar"),
)
_RIFF_KINDS = {b"WEBP": "image", b"WAVE": "media", b"AVI ": "media"}


def _binary_magic(data: Buffer, head: bytes, size: int) -> str | None:
    magic4 = head[:4]
    if head[:2] == b"MZ":
        return "pe" if _is_pe(data, head, size) else None
    if head[:8] == _OLE_MAGIC:
        return "msi" if _ole_root_clsid(data, head, size) in _MSI_CLSIDS else "office-legacy"
    if magic4 in _MACHO_MAGICS:
        return "macho"
    if magic4 in _FAT_MAGICS:
        # Java class files share 0xcafebabe; their version field makes nfat_arch implausible.
        return "macho-fat" if _is_fat_macho(head, size) else None
    for magic, kind in _PREFIX_MAGICS:
        if head.startswith(magic):
            return kind
    if magic4 == b"RIFF" and head[8:12] in _RIFF_KINDS:
        return _RIFF_KINDS[head[8:12]]
    if head[4:8] in _MEDIA_FTYP_AT_4 or magic4 == b"FORM":
        return "media"  # ISO BMFF (mp4/mov/m4a), QuickTime atoms, AIFF
    if _is_bmp(head, size) or _is_ico(head):
        return "image"
    pdf_at = head.find(b"%PDF-", 0, 1024)  # readers accept the header anywhere in the first KB
    if pdf_at == 0 or (pdf_at > 0 and b"\x00" not in head[:pdf_at]):
        return "pdf"
    return None


def _is_bmp(head: bytes, size: int) -> bool:
    # "BM" alone starts too much text; the header's file size must match (or be zero).
    return head[:2] == b"BM" and len(head) >= 14 and struct.unpack_from("<I", head, 2)[0] in (size, 0)


def _is_ico(head: bytes) -> bool:
    # reserved 0, type 1, image count > 0, first entry's reserved byte 0
    if head[:4] != b"\x00\x00\x01\x00" or len(head) < 22:
        return False
    return head[4] > 0 and head[5] == 0 and head[9] == 0


def _is_pe(data: Buffer, head: bytes, size: int) -> bool:
    if len(head) < 0x40:
        return False
    e_lfanew = struct.unpack_from("<I", head, 0x3C)[0]
    return e_lfanew + 4 <= size and data[e_lfanew : e_lfanew + 4] == b"PE\x00\x00"


def _ole_root_clsid(data: Buffer, head: bytes, size: int) -> bytes | None:
    """CLSID of the root directory entry (the first entry of the first directory sector)."""
    if len(head) < 0x34:
        return None
    shift = struct.unpack_from("<H", head, 0x1E)[0]
    if shift not in (9, 12):  # 512- or 4096-byte sectors; anything else is malformed
        return None
    first_dir = struct.unpack_from("<I", head, 0x30)[0]
    off = (first_dir + 1) << shift
    if off + 0x60 > size:
        return None
    return bytes(data[off + 0x50 : off + 0x60])


def _is_fat_macho(head: bytes, size: int) -> bool:
    if len(head) < 28:
        return False
    fat64 = head[3] == 0xBF
    nfat = struct.unpack_from(">I", head, 4)[0]
    if not 0 < nfat <= _MAX_FAT_ARCHS:
        return False
    entry = 32 if fat64 else 20
    for i in range(min(nfat, (len(head) - 8) // entry)):
        at = 8 + i * entry
        cputype = struct.unpack_from(">I", head, at)[0]
        if fat64:
            offset, length, align = struct.unpack_from(">QQI", head, at + 8)
        else:
            offset, length, align = struct.unpack_from(">III", head, at + 8)
        if cputype & 0x00FFFFFF not in _MACHO_CPUS or align > 16:
            return False
        if offset < 8 + nfat * entry or offset > size or length == 0:
            return False
    return True


def _decode_head(head: bytes) -> str | None:
    """Decode the head if it looks like text; None for binary data."""
    if not head:
        return None
    if head[:3] == b"\xef\xbb\xbf":
        return _printable(head[3:].decode("utf-8", "replace"))
    if head[:2] in (b"\xff\xfe", b"\xfe\xff"):
        enc = "utf-16-le" if head[:2] == b"\xff\xfe" else "utf-16-be"
        body = head[2 : 2 + (len(head) - 2) // 2 * 2]
        return _printable(body.decode(enc, "replace"))
    sample = head[:512]
    if len(sample) >= 8 and sample.count(0) * 4 >= len(sample):
        # BOM-less UTF-16 (ASCII text leaves every other byte zero)
        odd_zero = sample[1::2].count(0) >= len(sample) // 2 * 0.9
        even_zero = sample[0::2].count(0) >= len(sample) // 2 * 0.9
        if odd_zero != even_zero:
            enc = "utf-16-le" if odd_zero else "utf-16-be"
            return _printable(head[: len(head) // 2 * 2].decode(enc, "replace"))
        return None
    if b"\x00" in head:
        return None
    try:
        return _printable(head.decode("utf-8"))
    except UnicodeDecodeError as err:
        if err.start >= len(head) - 3:  # the head cut a multi-byte character in two
            return _printable(head[: err.start].decode("utf-8", "replace"))
    return _printable(head.decode("latin-1"))  # legacy 8-bit text (latin-1 / cp1252 scripts)


_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1a\x1c-\x1f\x7f\ufffd]")


def _printable(text: str) -> str | None:
    if not text:
        return None
    bad = len(_CONTROL.findall(text))
    return text if bad * 50 <= len(text) else None  # at most 2 % control or undecodable characters


def _text_kind(data: Buffer, text: str, name: str, size: int) -> str:
    first = text.lstrip("\ufeff")[:256].encode("utf-8", "replace")
    if first.startswith(b"#!"):
        m = _SHEBANG.match(first)
        if m is not None:
            interp = re.sub(rb"[\d.]+$", b"", m.group(1)).decode("ascii", "replace")
            if interp == "python":
                return "script:python"
            kind = _SHEBANG_KINDS.get(interp)
            if kind is not None:
                return kind
    low = text[:1024].lower()
    if "<plist" in low and ("<!doctype plist" in low or "<?xml" in low):
        return "plist"
    sample = text
    if size > HEAD_BYTES:
        tail = _decode_head(bytes(data[max(HEAD_BYTES, size - TAIL_BYTES) :]))
        if tail:
            sample = text + "\n" + tail
    scores = _script_scores(sample)
    ext_kind = _SCRIPT_EXTS.get(name.rsplit(".", 1)[-1].lower()) if "." in name else None
    best = max(scores.values())
    if ext_kind is not None and scores[ext_kind] == best:
        return ext_kind  # the extension breaks the tie (including "no markers at all")
    if best < _MIN_SCRIPT_SCORE:
        return "text"
    return next(kind for kind in _TIE_ORDER if scores[kind] == best)


def _script_scores(text: str) -> dict[str, int]:
    low = text.lower()
    text = "\n" + text  # so that "\n" in a pattern also matches the first line
    scores: dict[str, int] = {}
    for kind, markers in _MARKERS.items():
        scores[kind] = sum(
            weight
            for needle, pattern, weight in markers
            if needle in low and (pattern is None or pattern.search(text) is not None)
        )
    return scores


def _zip_eocd_near_end(data: Buffer, size: int) -> bool:
    start = max(0, size - _ZIP_EOCD_SEARCH)
    tail = bytes(data[start:])
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or at + 22 > len(tail):
        return False
    cd_size: int = struct.unpack_from("<I", tail, at + 12)[0]
    return 0 < cd_size <= start + at  # a central directory fits before the EOCD
