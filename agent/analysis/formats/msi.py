"""MSI (Windows Installer) facts: SummaryInformation, the Property table, custom actions, the signature.

An MSI is an OLE compound file. Database tables live in streams whose names are compressed into CJK code
points (two name characters per UTF-16 unit); every string cell is an index into the package's string
pool (``_StringPool`` lengths + ``_StringData`` bytes). Tables are stored column by column.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass
from typing import Any

import olefile

from agent.analysis.context import AnalysisContext, Buffer
from agent.analysis.facts import FormatResult
from agent.analysis.sig import authenticode

MAX_STRINGS = 200_000  # string-pool entries read (large MSIs have ~20k)
MAX_STRING_DATA = 32 * 1024 * 1024  # bytes of _StringData read
MAX_ROWS = 20_000  # rows read from one table
MAX_TABLE_BYTES = 16 * 1024 * 1024  # one table stream
MAX_VALUE = 1024  # characters kept per reported value
MAX_CUSTOM_ACTIONS = 200  # custom-action rows reported

PROPERTY_KEYS = (
    "Manufacturer",
    "ProductName",
    "ProductVersion",
    "ProductCode",
    "UpgradeCode",
    "ProductLanguage",
    "ARPHELPLINK",
    "ARPURLINFOABOUT",
    "ARPCONTACT",
    "ARPCOMMENTS",
)
CLAIM_PROPERTIES = ("Manufacturer", "ProductName")
CLAIM_SUMMARY = ("Author", "Subject", "Title")

_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz._"
_MSITYPE_STRING = 0x0800
_MSITYPE_TEMPORARY = 0x4000

# SummaryInformation property ids (MS-OLEPS / MSI "Summary Information Stream Property Set").
_SUMMARY = {
    2: "Title",
    3: "Subject",
    4: "Author",
    5: "Keywords",
    6: "Comments",
    7: "Template",
    8: "LastSavedBy",
    9: "RevisionNumber",
    18: "CreatingApplication",
}

# Custom action type, low 6 bits: what runs and where it comes from (MSI "Custom Action Types").
_CA_KINDS = {
    1: "dll-binary",
    2: "exe-binary",
    5: "jscript-binary",
    6: "vbscript-binary",
    7: "install",
    17: "dll-file",
    18: "exe-file",
    19: "error",
    21: "jscript-file",
    22: "vbscript-file",
    34: "exe-directory",
    35: "set-directory",
    37: "jscript-inline",
    38: "vbscript-inline",
    50: "exe-property",
    51: "set-property",
    53: "jscript-property",
    54: "vbscript-property",
}


def decode_stream_name(name: str) -> str:
    """MSI stream name -> table/stream name ("!" prefixes database tables)."""
    out: list[str] = []
    for ch in name:
        c = ord(ch)
        if 0x3800 <= c < 0x4800:
            c -= 0x3800
            out.append(_ALPHABET[c & 0x3F])
            out.append(_ALPHABET[(c >> 6) & 0x3F])
        elif 0x4800 <= c < 0x4840:
            out.append(_ALPHABET[c - 0x4800])
        elif c == 0x4840:
            out.append("!")
        else:
            out.append(ch)
    return "".join(out)


@dataclass
class _StringPool:
    strings: list[str]
    ref_size: int  # 2, or 3 for "long string references" in very large packages

    def get(self, index: int) -> str | None:
        return self.strings[index] if 0 < index < len(self.strings) else None


def _codec(codepage: int) -> str:
    if codepage in (0, 1252):
        return "cp1252"
    if codepage == 65001:
        return "utf-8"
    try:
        "".encode(f"cp{codepage}")
    except LookupError:
        return "cp1252"
    return f"cp{codepage}"


def _read_pool(pool: bytes, data: bytes) -> _StringPool:
    """Wine's msi_load_string_table: (length, refcount) pairs; a zero length carries a 32-bit length."""
    if len(pool) < 4:
        return _StringPool([""], 2)
    words = struct.unpack(f"<{len(pool) // 2}H", pool[: len(pool) // 2 * 2])
    codepage = words[0] | ((words[1] & ~0x8000) << 16)
    ref_size = 3 if words[1] & 0x8000 else 2
    codec = _codec(codepage)
    strings = [""]  # id 0 is "no string"
    count = len(words) // 2
    i, offset = 1, 0
    while i < count and len(strings) < MAX_STRINGS:
        length, refs = words[i * 2], words[i * 2 + 1]
        if length == 0 and refs == 0:
            strings.append("")
            i += 1
            continue
        if length == 0:  # over 64 KB: the next pair holds the length's low word, refs its high word
            if i * 2 + 3 >= len(words):
                break
            length = (words[i * 2 + 3] << 16) + words[i * 2 + 2]
            i += 2
        else:
            i += 1
        strings.append(data[offset : offset + length].decode(codec, "replace"))
        offset += length
    return _StringPool(strings, ref_size)


def _read_table(raw: bytes, widths: list[int]) -> list[list[int]]:
    """Split a column-major table stream into rows of raw cell integers."""
    row_size = sum(widths)
    if row_size == 0 or len(raw) % row_size:
        raise ValueError(f"table size {len(raw)} is not a multiple of its row size {row_size}")
    rows = min(len(raw) // row_size, MAX_ROWS)
    total = len(raw) // row_size
    out = [[0] * len(widths) for _ in range(rows)]
    col_start = 0
    for c, w in enumerate(widths):
        for r in range(rows):
            off = col_start + r * w
            out[r][c] = int.from_bytes(raw[off : off + w], "little")
        col_start += total * w
    return out


class _Db:
    """Table access for one package."""

    def __init__(self, ole: Any, streams: dict[str, list[str]]) -> None:
        self.ole = ole
        self.streams = streams
        pool = self._stream("!_StringPool", MAX_STRINGS * 4 + 4)
        data = self._stream("!_StringData", MAX_STRING_DATA)
        self.pool = _read_pool(pool or b"", data or b"")
        self.columns = self._columns()

    def _stream(self, name: str, limit: int) -> bytes | None:
        path = self.streams.get(name)
        if path is None:
            return None
        if self.ole.get_size(path) > limit:
            raise ValueError(f"{name} exceeds {limit} bytes")
        data: bytes = self.ole.openstream(path).read()
        return data

    def _columns(self) -> dict[str, list[tuple[int, str, int]]]:
        """table -> [(number, column name, type)] from the _Columns system table."""
        raw = self._stream("!_Columns", MAX_TABLE_BYTES)
        if not raw:
            return {}
        ref = self.pool.ref_size
        cols: dict[str, list[tuple[int, str, int]]] = {}
        for table, number, col, ctype in _read_table(raw, [ref, 2, ref, 2]):
            t, c = self.pool.get(table), self.pool.get(col)
            if t and c:
                cols.setdefault(t, []).append((number ^ 0x8000, c, ctype ^ 0x8000))
        for spec in cols.values():
            spec.sort()
        return cols

    def rows(self, table: str) -> list[dict[str, str | int | None]]:
        spec = [c for c in self.columns.get(table, []) if not c[2] & _MSITYPE_TEMPORARY]
        raw = self._stream("!" + table, MAX_TABLE_BYTES)
        if not spec or raw is None:
            return []
        widths = [self.pool.ref_size if t & _MSITYPE_STRING else (4 if (t & 0xFF) == 4 else 2) for _, _, t in spec]
        out: list[dict[str, str | int | None]] = []
        for cells in _read_table(raw, widths):
            row: dict[str, str | int | None] = {}
            for (_, cname, ctype), w, cell in zip(spec, widths, cells, strict=True):
                if ctype & _MSITYPE_STRING:
                    row[cname] = self.pool.get(cell)
                elif cell == 0:
                    row[cname] = None  # integers are stored offset by 0x8000 / 0x80000000; 0 means NULL
                else:
                    row[cname] = cell - (0x8000 if w == 2 else 0x80000000)
            out.append(row)
        return out


def _summary(ole: Any) -> dict[str, str]:
    if not ole.exists("\x05SummaryInformation"):
        return {}
    props = ole.getproperties("\x05SummaryInformation")
    codepage = props.get(1)
    codec = _codec(codepage if isinstance(codepage, int) else 0)
    out: dict[str, str] = {}
    for pid, key in _SUMMARY.items():
        value = props.get(pid)
        if isinstance(value, bytes):
            value = value.decode(codec, "replace")
        if isinstance(value, str) and value.strip("\x00 "):
            out[key] = value.replace("\x00", "").strip()[:MAX_VALUE]
    return out


def analyze(data: Buffer, name: str, ctx: AnalysisContext) -> FormatResult:
    """Facts about an MSI package. Never raises: what cannot be parsed becomes an anomaly."""
    result = FormatResult(type="msi")
    try:
        # olefile reads from a file-like object: an mmap is one; bytes are wrapped without a copy.
        ole = olefile.OleFileIO(io.BytesIO(data) if isinstance(data, bytes) else data)
    except Exception as exc:  # olefile raises OSError and, on hostile input, assorted others
        result.anomalies.append(f"not a readable compound file: {str(exc)[:200]}")
        return result
    streams: dict[str, list[str]] = {}
    try:
        for path in ole.listdir(streams=True, storages=False):
            if len(path) == 1:
                streams[decode_stream_name(path[0])] = path
    except Exception as exc:  # a broken directory still may hold a signature
        result.anomalies.append(f"compound-file directory unreadable: {str(exc)[:200]}")
    result.facts["streams"] = len(streams)
    if "!_StringPool" not in streams or "!_Tables" not in streams:
        result.anomalies.append("compound file without an installer database (no _StringPool/_Tables)")

    try:
        summary = _summary(ole)
    except Exception as exc:  # property sets are attacker-controlled
        result.anomalies.append(f"SummaryInformation unreadable: {str(exc)[:200]}")
        summary = {}
    if summary:
        result.facts["summary"] = summary
        for key in CLAIM_SUMMARY:
            if summary.get(key):
                result.claim_fields.append((f"msi:summary:{key}", summary[key]))

    try:
        db = _Db(ole, streams)
        _properties(db, result)
        _custom_actions(db, result)
    except Exception as exc:  # tables are attacker-controlled; keep whatever was read
        result.anomalies.append(f"MSI database unreadable: {str(exc)[:200]}")

    try:
        result.signature = authenticode.verify_msi(ole, trust=ctx.trust, now=ctx.now)
    except Exception as exc:  # verify_msi is total by design; this guards the handler contract regardless
        result.anomalies.append(f"signature check failed unexpectedly: {type(exc).__name__}: {str(exc)[:200]}")
    return result


def _properties(db: _Db, result: FormatResult) -> None:
    props: dict[str, str] = {}
    for row in db.rows("Property"):
        key, value = row.get("Property"), row.get("Value")
        if isinstance(key, str) and isinstance(value, str) and key in PROPERTY_KEYS:
            props[key] = value[:MAX_VALUE]
    if props:
        result.facts["properties"] = props
    for key in CLAIM_PROPERTIES:
        if props.get(key):
            result.claim_fields.append((f"msi:{key}", props[key]))


def _custom_actions(db: _Db, result: FormatResult) -> None:
    actions: list[dict[str, Any]] = []
    for row in db.rows("CustomAction")[:MAX_CUSTOM_ACTIONS]:
        ca_type = row.get("Type")
        base = ca_type & 0x3F if isinstance(ca_type, int) else None
        actions.append(
            {
                "action": row.get("Action"),
                "type": ca_type,
                "kind": _CA_KINDS.get(base, "other") if base is not None else None,
                "source": _clip(row.get("Source")),
                "target": _clip(row.get("Target")),
            }
        )
    if actions:
        result.facts["custom_actions"] = actions


def _clip(value: str | int | None) -> str | int | None:
    return value[:MAX_VALUE] if isinstance(value, str) else value
