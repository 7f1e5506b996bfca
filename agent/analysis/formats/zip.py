"""ZIP archives (also jar/apk/ipa/docx/xlsx): list the members and hand their bytes to the engine.

The engine recurses into the members and tracks depth; this module handles one level and keeps every
budget in ``ctx.limits`` while doing it. The central directory and local headers are parsed here (not with
``zipfile``) so that nothing the archive declares is trusted: sizes are checked against the bytes really
produced, inflation is streamed and cut at the budget, overlapping entries ("non-recursive" zip bombs that
reuse one compressed kernel) are detected before anything is inflated, and the entry count is capped before
any per-entry object is built. Member names are only labels: they are never used as file-system paths.
"""

from __future__ import annotations

import bz2
import re
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

from agent.analysis.context import AnalysisContext, Buffer, Limits
from agent.analysis.facts import FormatResult, Member, Reason

CHUNK = 64 * 1024  # compressed bytes fed to the decompressor at a time
RATIO_FLOOR = 1024 * 1024  # ratios only count past 1 MiB: tiny files of zeros compress 1000:1 innocently
ENTRY_CAP_FACTOR = 10  # central-directory entries parsed: max_members * this (bounds parse cost)
MAX_NAMES = 1000  # member names listed in facts (bundle discovery needs the layout, not every file)
MAX_NAME_BYTES = 4096  # longer names are cut (the format allows 65,535)
MAX_COMMENT = 256
MAX_BUNDLES = 32

_EOCD = b"PK\x05\x06"
_EOCD64_LOCATOR = b"PK\x06\x07"
_EOCD64 = b"PK\x06\x06"
_CENTRAL = b"PK\x01\x02"
_LOCAL = b"PK\x03\x04"
_DESCRIPTOR = b"PK\x07\x08"
_EOCD_SEARCH = 22 + 65_535  # EOCD record + the longest possible comment
_STORED, _DEFLATED, _BZIP2 = 0, 8, 12
_METHOD_NAMES = {0: "stored", 8: "deflate", 9: "deflate64", 12: "bzip2", 14: "lzma", 93: "zstd", 95: "xz", 99: "aes"}
_S_IFMT, _S_IFLNK, _S_IFDIR = 0o170000, 0o120000, 0o040000
_APP_ROOT = re.compile(r"^(?:.*?/)?([^/]+\.app)/Contents/")

_BOMB = "ARCHIVE_BOMB"
_Inflated = tuple[bytes, bool] | None  # (payload, complete) or None when the member cannot be read


@dataclass
class _Entry:
    name: str
    flags: int
    method: int
    crc: int
    csize: int
    usize: int
    offset: int  # local header offset, corrected for data prepended to the archive
    external: int
    is_dir: bool


class _Budget:
    """What is left of the expansion budgets for this archive."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.total = 0
        self.exhausted = False


def analyze(data: Buffer, name: str, ctx: AnalysisContext) -> FormatResult:
    result = FormatResult(type="zip")
    try:
        _analyze(data, ctx.limits, result)
    except Exception as exc:  # a parser bug must cost facts, not the scan
        result.anomalies.append(f"zip: parser error {type(exc).__name__}: {exc}")
    return result


def _analyze(data: Buffer, limits: Limits, result: FormatResult) -> None:
    entries, declared = _central_directory(data, limits, result)
    if entries is None:
        result.anomalies.append("zip: no readable central directory; walking local headers")
        entries = _walk_local_headers(data, limits, result)
        declared = len(entries)
    _describe(entries, declared, result)
    overlapping = _overlaps(data, entries, result)
    budget = _Budget(limits)
    seen: set[str] = set()
    files = 0
    for index, entry in enumerate(entries):
        if entry.is_dir or (entry.external >> 16) & _S_IFMT == _S_IFLNK:
            continue
        if entry.name in seen:
            result.anomalies.append(f"zip: duplicate member name {entry.name!r} (extractors disagree on which wins)")
        seen.add(entry.name)
        files += 1
        if files > limits.max_members:
            break
        if index in overlapping:
            continue
        if entry.flags & 0x1:
            continue  # encrypted: reported in _describe, no password to try
        if budget.exhausted:
            break
        payload = _extract(data, entry, budget, result)
        if payload is not None:
            result.members.append(Member(entry.name, payload))
    if files > limits.max_members:
        _member_limit(result, limits, declared)
    result.facts["members_extracted"] = len(result.members)
    result.facts["expanded_bytes"] = budget.total
    _finish(result)


def _member_limit(result: FormatResult, limits: Limits, declared: int) -> None:
    # A zipped project (node_modules) easily holds thousands of files: past the member budget the scan is
    # merely incomplete (weak evidence); only an absurd count is treated as a resource-exhaustion bomb.
    if declared > limits.max_members * ENTRY_CAP_FACTOR:
        _bomb(result, f"{declared} entries")
    else:
        result.indicators.append(
            Reason(
                "ARCHIVE_MEMBER_LIMIT",
                f"Only the first {limits.max_members} of {declared} members were scanned.",
                None,
                10,
            )
        )


# --- central directory ---------------------------------------------------------------------------------


def _central_directory(data: Buffer, limits: Limits, result: FormatResult) -> tuple[list[_Entry] | None, int]:
    size = len(data)
    tail_start = max(0, size - _EOCD_SEARCH)
    tail = bytes(data[tail_start:])
    at = tail.rfind(_EOCD)
    while at >= 0 and at + 22 > len(tail):
        at = tail.rfind(_EOCD, 0, at)
    if at < 0:
        return None, 0
    eocd = tail_start + at
    (_disk, _cd_disk, _n_disk, total, cd_size, cd_offset, comment_len) = struct.unpack_from("<HHHHIIH", data, eocd + 4)
    comment = bytes(data[eocd + 22 : eocd + 22 + min(comment_len, MAX_COMMENT)])
    if comment:
        result.facts["comment"] = comment.decode("utf-8", "replace")
    cd_end = eocd
    if eocd >= 20 and data[eocd - 20 : eocd - 16] == _EOCD64_LOCATOR:
        (off64,) = struct.unpack_from("<Q", data, eocd - 20 + 8)
        if off64 + 56 <= size and data[off64 : off64 + 4] == _EOCD64:
            total, cd_size, cd_offset = struct.unpack_from("<QQQ", data, off64 + 32)
            cd_end = off64
            result.facts["zip64"] = True
    # Data prepended to the archive (self-extractor stub, polyglot) shifts every offset by the same amount.
    delta = cd_end - cd_size - cd_offset
    if delta < 0 or cd_end - cd_size < 0:
        result.anomalies.append("zip: central directory size/offset point outside the file")
        return None, 0
    if delta > 0:
        result.facts["prefix_bytes"] = delta
    cap = limits.max_members * ENTRY_CAP_FACTOR
    entries: list[_Entry] = []
    pos = cd_end - cd_size
    while pos + 46 <= cd_end and len(entries) < cap:
        if data[pos : pos + 4] != _CENTRAL:
            result.anomalies.append(f"zip: central directory entry {len(entries)} has a bad signature")
            break
        entry, pos = _central_entry(data, pos, delta, result)
        entries.append(entry)
    if len(entries) >= cap and total > cap:
        result.anomalies.append(f"zip: {total} entries declared; parsed the first {cap}")
    elif total != len(entries):
        result.anomalies.append(f"zip: {total} entries declared but {len(entries)} found")
    if not entries and total:
        return None, 0
    return entries, max(total, len(entries))


def _central_entry(data: Buffer, pos: int, delta: int, result: FormatResult) -> tuple[_Entry, int]:
    (_made_by, _need, flags, method, _time, _date, crc, csize, usize, n_len, x_len, c_len, _disk, _int_attr,
     external, offset) = struct.unpack_from("<HHHHHHIIIHHHHHII", data, pos + 4)  # fmt: skip
    raw_name = bytes(data[pos + 46 : pos + 46 + min(n_len, MAX_NAME_BYTES)])
    extra = bytes(data[pos + 46 + n_len : pos + 46 + n_len + x_len])
    if 0xFFFFFFFF in (csize, usize, offset):
        usize, csize, offset = _zip64_extra(extra, usize, csize, offset)
    name = _decode_name(raw_name, flags)
    if n_len > MAX_NAME_BYTES:
        result.anomalies.append(f"zip: member name of {n_len} bytes cut to {MAX_NAME_BYTES}")
    is_dir = name.endswith("/") or (external >> 16) & _S_IFMT == _S_IFDIR
    entry = _Entry(name, flags, method, crc, csize, usize, offset + delta, external, is_dir)
    return entry, pos + 46 + n_len + x_len + c_len


def _zip64_extra(extra: bytes, usize: int, csize: int, offset: int) -> tuple[int, int, int]:
    pos = 0
    while pos + 4 <= len(extra):
        tag, length = struct.unpack_from("<HH", extra, pos)
        if tag == 0x0001:
            field = extra[pos + 4 : pos + 4 + length]
            values = [struct.unpack_from("<Q", field, i)[0] for i in range(0, len(field) - 7, 8)]
            it = iter(values)
            # Only the fields that are 0xFFFFFFFF in the fixed record are present, in this order.
            usize = next(it, usize) if usize == 0xFFFFFFFF else usize
            csize = next(it, csize) if csize == 0xFFFFFFFF else csize
            offset = next(it, offset) if offset == 0xFFFFFFFF else offset
            break
        pos += 4 + length
    return usize, csize, offset


def _decode_name(raw: bytes, flags: int) -> str:
    if flags & 0x800:  # language encoding flag: UTF-8
        return raw.decode("utf-8", "replace")
    try:
        return raw.decode("utf-8")  # many tools write UTF-8 without setting the flag
    except UnicodeDecodeError:
        return raw.decode("cp437")


def _walk_local_headers(data: Buffer, limits: Limits, result: FormatResult) -> list[_Entry]:
    """Recover entries from local headers alone (no central directory: truncated or tampered archive)."""
    entries: list[_Entry] = []
    pos = bytes(data[: 1 << 20]).find(_LOCAL)
    size = len(data)
    while pos >= 0 and pos + 30 <= size and len(entries) < limits.max_members:
        if data[pos : pos + 4] != _LOCAL:
            break
        (_need, flags, method, _time, _date, crc, csize, usize, n_len, x_len) = struct.unpack_from(
            "<HHHHHIIIHH", data, pos + 4
        )
        name = _decode_name(bytes(data[pos + 30 : pos + 30 + min(n_len, MAX_NAME_BYTES)]), flags)
        entry_at = pos
        start = pos + 30 + n_len + x_len
        if flags & 0x8 and csize == 0:
            csize = _deflate_length(data, start, limits.max_member_bytes) if method == _DEFLATED else -1
            if csize < 0:
                result.anomalies.append(f"zip: cannot find the end of {name!r} without a central directory")
                entries.append(_Entry(name, flags, method, crc, 0, 0, pos, 0, name.endswith("/")))
                break
        pos = start + csize
        if flags & 0x8:  # sizes and CRC follow the data, in a descriptor (signature optional)
            at = pos + 4 if data[pos : pos + 4] == _DESCRIPTOR else pos
            if at + 12 <= size:
                crc, _csize, usize = struct.unpack_from("<III", data, at)
            pos = at + 12
        entries.append(_Entry(name, flags, method, crc, csize, usize, entry_at, 0, name.endswith("/")))
    return entries


def _deflate_length(data: Buffer, start: int, limit: int) -> int:
    """Compressed length of the deflate stream at ``start``, or -1 (not found within ``limit`` output bytes).

    Without a central directory the only way to find where a member ends is to inflate it; the output is
    discarded and bounded, so a streamed bomb costs at most ``limit`` bytes of work.
    """
    d = zlib.decompressobj(-15)
    pos = start
    produced = 0
    try:
        while pos < len(data) and not d.eof and produced <= limit:
            produced += len(d.decompress(bytes(data[pos : pos + CHUNK]), CHUNK))
            while d.unconsumed_tail and not d.eof and produced <= limit:
                produced += len(d.decompress(d.unconsumed_tail, CHUNK))
            pos += CHUNK
    except zlib.error:
        return -1
    if not d.eof:
        return -1
    return min(pos, len(data)) - start - len(d.unused_data)


# --- facts ---------------------------------------------------------------------------------------------


def _describe(entries: list[_Entry], declared: int, result: FormatResult) -> None:
    facts = result.facts
    names = [e.name for e in entries]
    facts["entries"] = declared
    facts["files"] = sum(1 for e in entries if not e.is_dir)
    facts["dirs"] = sum(1 for e in entries if e.is_dir)
    facts["names"] = names[:MAX_NAMES]
    facts["names_truncated"] = len(names) > MAX_NAMES
    facts["methods"] = sorted({_METHOD_NAMES.get(e.method, str(e.method)) for e in entries})
    facts["container"] = _container_kind(set(names[:50_000]))
    bundles = sorted({m.group(1) for n in names if (m := _APP_ROOT.match(n)) is not None})
    if bundles:
        facts["app_bundles"] = bundles[:MAX_BUNDLES]
    symlinks = [e.name for e in entries if (e.external >> 16) & _S_IFMT == _S_IFLNK]
    if symlinks:
        facts["symlinks"] = len(symlinks)
    encrypted = [e.name for e in entries if e.flags & 0x1 and not e.is_dir]
    if encrypted:
        facts["encrypted_members"] = encrypted[:MAX_NAMES]
        result.indicators.append(
            Reason(
                "ARCHIVE_ENCRYPTED",
                f"{len(encrypted)} member(s) are password-protected and cannot be scanned.",
                "T1027",
                10,
            )
        )
    traversal = [n for n in names if _is_traversal(n)]
    if traversal:
        facts["traversal_names"] = traversal[:MAX_NAMES]
        result.anomalies.append(f"zip: {len(traversal)} member name(s) escape the extraction folder")


def _container_kind(names: set[str]) -> str:
    if "[Content_Types].xml" in names:
        return "ooxml"
    if "AndroidManifest.xml" in names and "classes.dex" in names:
        return "apk"
    if any(n.startswith("Payload/") and ".app/" in n for n in names):
        return "ipa"
    if "META-INF/MANIFEST.MF" in names:
        return "jar"
    return "zip"


def _is_traversal(name: str) -> bool:
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
        return True
    return ".." in re.split(r"[/\\]", name)


def _bomb(result: FormatResult, why: str) -> None:
    """Record one more bomb trait; all traits end up in a single ARCHIVE_BOMB reason (see ``_finish``)."""
    result.facts.setdefault("bomb_traits", []).append(why)


def _finish(result: FormatResult) -> None:
    traits = result.facts.get("bomb_traits")
    if traits:
        result.indicators.append(
            Reason(_BOMB, f"Zip bomb: {'; '.join(traits)}. Scanned what was read before the budget.", "T1027", 40)
        )


def _overlaps(data: Buffer, entries: list[_Entry], result: FormatResult) -> set[int]:
    """Indexes of entries whose bytes overlap an earlier entry's (several names for one compressed kernel)."""
    spans = []
    for i, e in enumerate(entries):
        if e.is_dir and e.csize == 0:
            continue
        n_len, x_len = (
            struct.unpack_from("<HH", data, e.offset + 26) if e.offset >= 0 and e.offset + 30 <= len(data) else (0, 0)
        )
        spans.append((e.offset, e.offset + 30 + n_len + x_len + e.csize, i))
    spans.sort()
    overlapping: set[int] = set()
    end = -1
    for start, stop, i in spans:
        if start < end:
            overlapping.add(i)
        end = max(end, stop)
    if overlapping:
        _bomb(result, f"{len(overlapping)} entries overlap other entries' data")
    return overlapping


# --- extraction ----------------------------------------------------------------------------------------


def _extract(data: Buffer, entry: _Entry, budget: _Budget, result: FormatResult) -> bytes | None:
    limits = budget.limits
    off = entry.offset
    if off < 0 or off + 30 > len(data) or data[off : off + 4] != _LOCAL:
        result.anomalies.append(f"zip: no local header for {entry.name!r}")
        return None
    n_len, x_len = struct.unpack_from("<HH", data, off + 26)
    local_name = _decode_name(bytes(data[off + 30 : off + 30 + min(n_len, MAX_NAME_BYTES)]), entry.flags)
    if local_name != entry.name:
        result.anomalies.append(f"zip: local header names {local_name!r} but the directory names {entry.name!r}")
    start = off + 30 + n_len + x_len
    stop = min(len(data), start + entry.csize)
    if start + entry.csize > len(data):
        result.anomalies.append(f"zip: {entry.name!r} is truncated")
    room = min(limits.max_member_bytes, limits.max_total_expanded - budget.total)
    ratio_cap = max(RATIO_FLOOR, limits.max_ratio * max(entry.csize, 1))
    cap = min(room, ratio_cap)
    out = _inflate(data, (start, stop), entry, cap, result)
    if out is None:
        return None
    payload, complete = out
    budget.total += len(payload)
    if not complete:
        if len(payload) >= ratio_cap and ratio_cap <= room:
            _bomb(result, f"{entry.name!r} expands more than {limits.max_ratio}:1")
        elif len(payload) >= limits.max_member_bytes:
            result.anomalies.append(f"zip: {entry.name!r} cut at {limits.max_member_bytes} bytes")
        else:
            budget.exhausted = True
            _bomb(result, f"members expand past {limits.max_total_expanded} bytes in total")
        result.facts.setdefault("truncated_members", []).append(entry.name)
    elif zlib.crc32(payload) != entry.crc:
        result.anomalies.append(f"zip: CRC mismatch for {entry.name!r}")
    if complete and entry.usize != len(payload):
        result.anomalies.append(f"zip: {entry.name!r} declares {entry.usize} bytes but holds {len(payload)}")
    return payload


def _inflate(data: Buffer, span: tuple[int, int], entry: _Entry, cap: int, result: FormatResult) -> _Inflated:
    """(bytes, complete): at most ``cap`` bytes of the member; complete is False when cut at ``cap``."""
    start, stop = span
    if entry.method == _STORED:
        return bytes(data[start : min(stop, start + cap)]), stop - start <= cap
    if entry.method not in (_DEFLATED, _BZIP2):
        name = _METHOD_NAMES.get(entry.method, str(entry.method))
        result.anomalies.append(f"zip: {entry.name!r} uses unsupported compression {name}")
        return None
    parts: list[bytes] = []
    chunks = _deflate_chunks if entry.method == _DEFLATED else _bz2_chunks
    try:
        # ask for one byte more than the cap: getting it proves the member is bigger than the budget
        parts.extend(chunks(data, start, stop, cap + 1))
    except (zlib.error, OSError, EOFError, ValueError) as exc:
        result.anomalies.append(f"zip: {entry.name!r} does not decompress ({exc})")
    payload = b"".join(parts)
    if len(payload) > cap:
        return payload[:cap], False
    return payload, True


def _deflate_chunks(data: Buffer, start: int, stop: int, limit: int) -> Iterator[bytes]:
    """Inflated pieces of a raw deflate stream, ``limit`` bytes at most in total."""
    d = zlib.decompressobj(-15)
    pos = start
    produced = 0
    while not d.eof and produced < limit:
        if d.unconsumed_tail:
            pending = d.unconsumed_tail
        elif pos < stop:
            pending = bytes(data[pos : min(stop, pos + CHUNK)])
            pos += len(pending)
        else:
            raise EOFError("compressed data ends before the end of the stream")
        out = d.decompress(pending, limit - produced)
        produced += len(out)
        yield out


def _bz2_chunks(data: Buffer, start: int, stop: int, limit: int) -> Iterator[bytes]:
    """Decompressed pieces of a bzip2 stream, ``limit`` bytes at most in total."""
    d = bz2.BZ2Decompressor()
    pos = start
    produced = 0
    while not d.eof and produced < limit:
        if not d.needs_input:  # output is still buffered inside the decompressor
            out = d.decompress(b"", limit - produced)
        elif pos < stop:
            pending = bytes(data[pos : min(stop, pos + CHUNK)])
            pos += len(pending)
            out = d.decompress(pending, limit - produced)
        else:
            raise EOFError("compressed data ends before the end of the stream")
        produced += len(out)
        yield out
