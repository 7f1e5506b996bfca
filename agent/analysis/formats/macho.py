"""Mach-O executables, thin (32/64-bit, either byte order) and fat/universal, with their code signatures.

Facts: CPU types, file type, load commands (segments, dylibs, rpaths, build version), and the embedded
code signature (see ``apple_codesign``). A fat file is analysed slice by slice; its signature is the
worst slice's. 0xcafebabe is also the magic of Java class files: a fat header is accepted only with a
small architecture count and slices that fit the file.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from agent.analysis.context import AnalysisContext, Buffer
from agent.analysis.facts import FormatResult, Reason, SignatureFacts
from agent.analysis.formats import apple_codesign
from agent.analysis.formats.apple_codesign import Slice

TYPE_THIN = "macho"
TYPE_FAT = "macho-fat"

# Thin magics as the first four bytes appear on disk -> (endianness prefix, 64-bit).
_THIN_MAGICS: dict[bytes, tuple[str, bool]] = {
    b"\xce\xfa\xed\xfe": ("<", False),  # MH_MAGIC, little-endian (i386, armv7)
    b"\xcf\xfa\xed\xfe": ("<", True),  # MH_MAGIC_64, little-endian (x86_64, arm64)
    b"\xfe\xed\xfa\xce": (">", False),  # MH_MAGIC, big-endian (ppc)
    b"\xfe\xed\xfa\xcf": (">", True),  # MH_MAGIC_64, big-endian (ppc64)
}
FAT_MAGIC = b"\xca\xfe\xba\xbe"
FAT_MAGIC_64 = b"\xca\xfe\xba\xbf"

# Budgets. Genuine binaries stay far below these; beyond them the file is hostile or not Mach-O.
MAX_FAT_ARCHS = 32  # real universal binaries carry 2-5 slices; Java's major version (>= 45) reads as more
MAX_NCMDS = 4096  # large genuine binaries have a few hundred load commands
MAX_SIZEOFCMDS = 4 * 1024 * 1024  # load commands of genuine binaries fit in tens of KB
MAX_LISTED = 256  # segments / dylibs / rpaths kept in facts
MAX_PATH_BYTES = 4096  # a dylib path or rpath (PATH_MAX on macOS is 1024)

CPU_TYPES: dict[int, str] = {
    7: "i386",
    0x01000007: "x86_64",
    12: "arm",
    0x0100000C: "arm64",
    0x0200000C: "arm64_32",
    18: "ppc",
    0x01000012: "ppc64",
}
FILE_TYPES: dict[int, str] = {
    1: "object",
    2: "execute",
    3: "fvmlib",
    4: "core",
    5: "preload",
    6: "dylib",
    7: "dylinker",
    8: "bundle",
    9: "dylib_stub",
    10: "dsym",
    11: "kext_bundle",
    12: "fileset",
}
PLATFORMS: dict[int, str] = {
    1: "macos",
    2: "ios",
    3: "tvos",
    4: "watchos",
    5: "bridgeos",
    6: "maccatalyst",
    7: "ios-simulator",
    8: "tvos-simulator",
    9: "watchos-simulator",
    10: "driverkit",
    11: "visionos",
    12: "visionos-simulator",
}

LC_REQ_DYLD = 0x80000000
LC_SEGMENT = 0x1
LC_SEGMENT_64 = 0x19
LC_LOAD_DYLIB = 0xC
LC_ID_DYLIB = 0xD
LC_LOAD_DYLINKER = 0xE
LC_UUID = 0x1B
LC_CODE_SIGNATURE = 0x1D
LC_LAZY_LOAD_DYLIB = 0x20
LC_ENCRYPTION_INFO = 0x21
LC_VERSION_MIN_MACOSX = 0x24
LC_VERSION_MIN_IPHONEOS = 0x25
LC_ENCRYPTION_INFO_64 = 0x2C
LC_BUILD_VERSION = 0x32
LC_LOAD_WEAK_DYLIB = 0x18 | LC_REQ_DYLD
LC_RPATH = 0x1C | LC_REQ_DYLD
LC_REEXPORT_DYLIB = 0x1F | LC_REQ_DYLD
LC_LOAD_UPWARD_DYLIB = 0x23 | LC_REQ_DYLD
LC_MAIN = 0x28 | LC_REQ_DYLD
_DYLIB_CMDS = {
    LC_LOAD_DYLIB: "load",
    LC_LOAD_WEAK_DYLIB: "weak",
    LC_REEXPORT_DYLIB: "reexport",
    LC_LAZY_LOAD_DYLIB: "lazy",
    LC_LOAD_UPWARD_DYLIB: "upward",
}


def cpu_name(cputype: int, subtype: int = 0) -> str:
    name = CPU_TYPES.get(cputype, f"cpu-0x{cputype:x}")
    if name == "arm64" and subtype & 0x00FFFFFF == 2:
        return "arm64e"
    return name


def _version(v: int) -> str:
    """Mach-O packs X.Y.Z as xxxx.yy.zz nibbles."""
    return f"{v >> 16}.{(v >> 8) & 0xFF}.{v & 0xFF}"


def _bytes_at(buf: Buffer, start: int, end: int) -> bytes:
    return bytes(buf[start:end])


def _cstr(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0][:MAX_PATH_BYTES].decode("utf-8", "replace")


def sniff(head: bytes, size: int | None = None) -> str | None:
    """``"thin"`` / ``"fat"`` when ``head`` (at least 8 bytes; 4 KiB for fat) starts a Mach-O, else None."""
    if head[:4] in _THIN_MAGICS:
        return "thin"
    if head[:4] in (FAT_MAGIC, FAT_MAGIC_64) and len(head) >= 8 and _fat_plausible(head, size):
        return "fat"
    return None


def _fat_plausible(head: bytes, size: int | None) -> bool:
    """Tell a fat header from a Java class file (same magic; then u16 minor, u16 major >= 45)."""
    nfat = int.from_bytes(head[4:8], "big")
    if not 1 <= nfat <= MAX_FAT_ARCHS:
        return False
    is64 = head[:4] == FAT_MAGIC_64
    entry = 32 if is64 else 20
    hdr_end = 8 + nfat * entry
    for i in range(nfat):
        off = 8 + i * entry
        if off + entry > len(head):
            break  # entries beyond what we were given cannot be checked here
        if is64:
            _cpu, _sub, offset, length, align = struct.unpack_from(">iIQQI", head, off)
        else:
            _cpu, _sub, offset, length, align = struct.unpack_from(">iIIII", head, off)
        if offset < hdr_end or length == 0 or align > 31:
            return False
        if size is not None and offset >= size:
            return False
    return True


def _looks_like_java(data: Buffer) -> bool:
    if len(data) < 10 or _bytes_at(data, 0, 4) != FAT_MAGIC:
        return False
    minor, major = struct.unpack_from(">HH", data, 4)
    return bool(45 <= major <= 100 and minor < 0x100)


@dataclass
class _Thin:
    facts: dict[str, Any] = field(default_factory=dict)
    claim_fields: list[tuple[str, str]] = field(default_factory=list)
    signature: SignatureFacts | None = None
    anomalies: list[str] = field(default_factory=list)
    indicators: list[Reason] = field(default_factory=list)


def _parse_thin(sl: Slice, ctx: AnalysisContext, bundle_files: Mapping[int, bytes] | None, where: str) -> _Thin:
    out = _Thin()
    buf, base, length = sl.buf, sl.base, sl.length
    magic = _bytes_at(buf, base, base + 4)
    if magic not in _THIN_MAGICS:
        out.anomalies.append(f"{where}: not a thin Mach-O (magic {magic.hex()})")
        return out
    e, is64 = _THIN_MAGICS[magic]
    hdr_size = 32 if is64 else 28
    if length < hdr_size:
        out.anomalies.append(f"{where}: truncated header ({length} bytes)")
        return out
    cputype, cpusub, filetype, ncmds, sizeofcmds, flags = struct.unpack_from(e + "iIIIII", buf, base + 4)
    f = out.facts
    f.update(
        bits=64 if is64 else 32,
        endian="little" if e == "<" else "big",
        cputype=cpu_name(cputype, cpusub),
        cpusubtype=cpusub & 0x00FFFFFF,
        filetype=FILE_TYPES.get(filetype, f"0x{filetype:x}"),
        ncmds=ncmds,
        sizeofcmds=sizeofcmds,
        flags=f"0x{flags:x}",
    )
    if ncmds > MAX_NCMDS:
        out.anomalies.append(f"{where}: ncmds {ncmds} exceeds the budget of {MAX_NCMDS}; rest ignored")
        ncmds = MAX_NCMDS
    if sizeofcmds > MAX_SIZEOFCMDS:
        out.anomalies.append(f"{where}: sizeofcmds {sizeofcmds} exceeds the budget of {MAX_SIZEOFCMDS}")
        sizeofcmds = MAX_SIZEOFCMDS
    if hdr_size + sizeofcmds > length:
        out.anomalies.append(f"{where}: load commands ({sizeofcmds} bytes) run past the end of the file")
        sizeofcmds = length - hdr_size
    cmds_end = hdr_size + sizeofcmds

    segments: list[dict[str, Any]] = []
    dylibs: list[dict[str, str]] = []
    rpaths: list[str] = []
    code_sig: tuple[int, int] | None = None
    off = hdr_size
    parsed = 0
    u32 = struct.Struct(e + "II")
    for i in range(ncmds):
        if off + 8 > cmds_end:
            out.anomalies.append(f"{where}: load command {i} of {ncmds} lies beyond sizeofcmds")
            break
        cmd, cmdsize = u32.unpack_from(buf, base + off)
        if cmdsize < 8 or off + cmdsize > cmds_end:
            out.anomalies.append(f"{where}: load command {i} (0x{cmd:x}) has bad size {cmdsize}")
            break
        if cmdsize % 4:
            out.anomalies.append(f"{where}: load command {i} (0x{cmd:x}) size {cmdsize} is not aligned")
        body = _bytes_at(buf, base + off, base + off + cmdsize)
        parsed += 1
        try:
            if cmd in (LC_SEGMENT, LC_SEGMENT_64):
                if cmd == LC_SEGMENT_64:
                    name, vmaddr, vmsize, fileoff, filesize = struct.unpack_from(e + "16sQQQQ", body, 8)
                else:
                    name, vmaddr, vmsize, fileoff, filesize = struct.unpack_from(e + "16sIIII", body, 8)
                seg_name = _cstr(name)
                if len(segments) < MAX_LISTED:
                    segments.append(
                        {
                            "name": seg_name,
                            "vmaddr": vmaddr,
                            "vmsize": vmsize,
                            "fileoff": fileoff,
                            "filesize": filesize,
                        }
                    )
                if filesize and fileoff + filesize > length:
                    out.anomalies.append(
                        f"{where}: segment {seg_name!r} ({fileoff}+{filesize}) runs past the end of the file"
                    )
            elif cmd in _DYLIB_CMDS or cmd == LC_ID_DYLIB:
                (name_off,) = struct.unpack_from(e + "I", body, 8)
                path = _cstr(body[name_off:]) if 8 <= name_off < cmdsize else ""
                if not path:
                    out.anomalies.append(f"{where}: dylib command {i} has a bad name offset {name_off}")
                elif cmd == LC_ID_DYLIB:
                    f["install_name"] = path
                elif len(dylibs) < MAX_LISTED:
                    dylibs.append({"path": path, "kind": _DYLIB_CMDS[cmd]})
            elif cmd == LC_RPATH:
                (name_off,) = struct.unpack_from(e + "I", body, 8)
                if 8 <= name_off < cmdsize and len(rpaths) < MAX_LISTED:
                    rpaths.append(_cstr(body[name_off:]))
            elif cmd == LC_CODE_SIGNATURE:
                dataoff, datasize = struct.unpack_from(e + "II", body, 8)
                if code_sig is not None:
                    out.anomalies.append(f"{where}: more than one LC_CODE_SIGNATURE; the first is used")
                else:
                    code_sig = (dataoff, datasize)
            elif cmd == LC_BUILD_VERSION:
                platform, minos, sdk = struct.unpack_from(e + "III", body, 8)
                f["platform"] = PLATFORMS.get(platform, str(platform))
                f["min_os"] = _version(minos)
                f["sdk"] = _version(sdk)
            elif cmd in (LC_VERSION_MIN_MACOSX, LC_VERSION_MIN_IPHONEOS):
                version, sdk = struct.unpack_from(e + "II", body, 8)
                f.setdefault("platform", "macos" if cmd == LC_VERSION_MIN_MACOSX else "ios")
                f.setdefault("min_os", _version(version))
                f.setdefault("sdk", _version(sdk))
            elif cmd == LC_UUID:
                f["uuid"] = body[8:24].hex()
            elif cmd == LC_MAIN:
                (f["entryoff"],) = struct.unpack_from(e + "Q", body, 8)
            elif cmd == LC_LOAD_DYLINKER:
                (name_off,) = struct.unpack_from(e + "I", body, 8)
                if 8 <= name_off < cmdsize:
                    f["dylinker"] = _cstr(body[name_off:])
            elif cmd in (LC_ENCRYPTION_INFO, LC_ENCRYPTION_INFO_64):
                (cryptid,) = struct.unpack_from(e + "I", body, 16)
                f["encrypted"] = cryptid != 0
        except struct.error:
            out.anomalies.append(f"{where}: load command {i} (0x{cmd:x}) is too short for its type")
        off += cmdsize
    f["load_commands_parsed"] = parsed
    f["segments"] = segments
    f["dylibs"] = dylibs
    if rpaths:
        f["rpaths"] = rpaths

    if code_sig is None:
        f["code_signature"] = None
        out.signature = apple_codesign.unsigned()
        return out
    sig_off, sig_size = code_sig
    f["code_signature"] = {"offset": sig_off, "size": sig_size}
    linkedit = next((s for s in segments if s["name"] == "__LINKEDIT"), None)
    if linkedit is None or not (
        linkedit["fileoff"] <= sig_off and sig_off + sig_size <= linkedit["fileoff"] + linkedit["filesize"]
    ):
        out.anomalies.append(f"{where}: code signature lies outside __LINKEDIT")
    trailing = length - (sig_off + sig_size)
    if trailing > 0:
        f["bytes_after_signature"] = trailing
        out.anomalies.append(f"{where}: {trailing} bytes follow the code signature")
    cs = apple_codesign.evaluate(sl, sig_off, sig_size, ctx, bundle_files)
    f["codesign"] = cs.facts
    out.signature = cs.signature
    out.claim_fields.extend(cs.claim_fields)
    out.anomalies.extend(f"{where}: {a}" for a in cs.anomalies)
    out.indicators.extend(cs.indicators)
    return out


def _worst(sigs: list[SignatureFacts]) -> SignatureFacts:
    return max(sigs, key=lambda s: apple_codesign.status_rank(s.status))


def _parse_fat(data: Buffer, name: str, ctx: AnalysisContext, bundle_files: Mapping[int, bytes] | None) -> FormatResult:
    res = FormatResult(type=TYPE_FAT)
    is64 = _bytes_at(data, 0, 4) == FAT_MAGIC_64
    nfat = int.from_bytes(_bytes_at(data, 4, 8), "big")
    entry, fmt = (32, ">iIQQI") if is64 else (20, ">iIIII")
    hdr_end = 8 + nfat * entry
    size = len(data)
    slices: list[dict[str, Any]] = []
    sigs: list[SignatureFacts] = []
    ranges: list[tuple[int, int]] = []
    for i in range(nfat):
        if 8 + (i + 1) * entry > size:
            res.anomalies.append(f"fat header truncated at architecture {i} of {nfat}")
            break
        cputype, cpusub, offset, length, align = struct.unpack_from(fmt, data, 8 + i * entry)
        where = f"slice {i} ({cpu_name(cputype, cpusub)})"
        info: dict[str, Any] = {
            "cputype": cpu_name(cputype, cpusub),
            "offset": offset,
            "size": length,
            "align": align,
        }
        slices.append(info)
        if offset < hdr_end or offset >= size:
            res.anomalies.append(f"{where}: offset {offset} outside the file")
            continue
        if offset + length > size:
            res.anomalies.append(f"{where}: {offset}+{length} runs past the end of the file ({size}); truncated")
            length = size - offset
        if any(offset < b and a < offset + length for a, b in ranges):
            res.anomalies.append(f"{where}: overlaps another slice")
        ranges.append((offset, offset + length))
        head = _bytes_at(data, offset, offset + 4)
        if head not in _THIN_MAGICS:
            info["format"] = "fat" if head in (FAT_MAGIC, FAT_MAGIC_64) else "other"
            res.anomalies.append(f"{where}: not a thin Mach-O (magic {head.hex()})")
            continue
        thin = _parse_thin(Slice(data, offset, length), ctx, bundle_files, where)
        info.update(thin.facts)
        if thin.facts.get("cputype") != cpu_name(cputype, cpusub):
            res.anomalies.append(f"{where}: slice header says {thin.facts.get('cputype')}")
        res.anomalies.extend(thin.anomalies)
        res.indicators.extend(r for r in thin.indicators if r not in res.indicators)
        for cf in thin.claim_fields:
            if cf not in res.claim_fields:
                res.claim_fields.append(cf)
        if thin.signature is not None:
            sigs.append(thin.signature)
            info["signature"] = thin.signature.to_json()
    res.facts.update(fat=True, fat64=is64, nfat_arch=nfat, slices=slices, cputypes=[s["cputype"] for s in slices])
    if sigs:
        worst = _worst(sigs)
        teams = {s.team_id for s in sigs}
        extra = dict(worst.extra)
        extra["slices"] = [s.to_json() for s in sigs]
        problems = list(worst.problems)
        team_id = worst.team_id
        if len(teams) > 1:
            problems.append("slices are signed by different Team IDs")
            team_id = None
        res.signature = SignatureFacts(
            kind=worst.kind,
            status=worst.status,
            problems=tuple(problems),
            signer_org=worst.signer_org,
            signer_cn=worst.signer_cn,
            issuer=worst.issuer,
            thumbprint_sha1=worst.thumbprint_sha1,
            thumbprint_sha256=worst.thumbprint_sha256,
            chain=worst.chain,
            root=worst.root,
            timestamp=worst.timestamp,
            team_id=team_id,
            digest_algorithm=worst.digest_algorithm,
            extra=extra,
        )
    else:
        res.anomalies.append(f"{name}: fat file without a readable Mach-O slice")
    return res


def _analyze(data: Buffer, name: str, ctx: AnalysisContext, bundle_files: Mapping[int, bytes] | None) -> FormatResult:
    head = _bytes_at(data, 0, 4096)
    kind = sniff(head, len(data))
    if kind == "thin":
        thin = _parse_thin(Slice(data, 0, len(data)), ctx, bundle_files, "mach-o")
        return FormatResult(
            type=TYPE_THIN,
            facts=thin.facts,
            claim_fields=thin.claim_fields,
            signature=thin.signature,
            anomalies=thin.anomalies,
            indicators=thin.indicators,
        )
    if kind == "fat":
        return _parse_fat(data, name, ctx, bundle_files)
    if _looks_like_java(data):
        return FormatResult(type="java-class", facts={"java_major": struct.unpack_from(">H", data, 6)[0]})
    return FormatResult(type="unknown", anomalies=[f"{name}: not a Mach-O file"])


def analyze(data: Buffer, name: str, ctx: AnalysisContext) -> FormatResult:
    """Facts about a Mach-O file; never raises on malformed input (defects go to ``anomalies``)."""
    return analyze_with_bundle(data, name, ctx)


def analyze_with_bundle(
    data: Buffer, name: str, ctx: AnalysisContext, bundle_files: Mapping[int, bytes] | None = None
) -> FormatResult:
    """``analyze`` plus the bundle files the signature seals (special slot -> bytes: 1 Info.plist,
    3 CodeResources) so that those seals are checked too."""
    try:
        return _analyze(data, name, ctx, bundle_files)
    except (struct.error, ValueError, IndexError, OverflowError) as exc:
        # Belt and braces: every read above is bounds-checked, but a hostile file must never crash a scan.
        return FormatResult(type=TYPE_THIN, anomalies=[f"{name}: parse aborted ({type(exc).__name__}: {exc})"])
