"""PE (EXE/DLL) facts: header, sections, overlay, VERSIONINFO claims and the Authenticode signature.

pefile runs with ``fast_load`` and parses only the resource directory (for VERSIONINFO): a full load
costs seconds on a 100 MB installer. ``PE.close()`` is deliberately not called: it triggers a full garbage
collection (see PERF_NOTES); the object is simply dropped. The signature is checked by
``sig.authenticode`` straight from the buffer, so a signed file costs one hashing pass.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pefile

from agent.analysis.context import AnalysisContext, Buffer
from agent.analysis.facts import FormatResult
from agent.analysis.sig import authenticode

MAX_WARNINGS = 20  # pefile warnings kept as anomalies; hostile files can produce thousands
MAX_SECTIONS_REPORTED = 96  # the PE loader accepts 96 sections; more is itself an anomaly
MAX_VERSION_STRINGS = 64  # VERSIONINFO string entries kept (real files have ~10)
MAX_VERSION_VALUE = 1024  # characters per VERSIONINFO value
OVERLAY_SNIFF = 64  # bytes of the overlay read to name its type (NSIS puts its magic at +8)

# VERSIONINFO keys where a brand is claimed.
CLAIM_KEYS = ("CompanyName", "ProductName", "FileDescription", "OriginalFilename", "InternalName", "LegalCopyright")

_MACHINES = {0x14C: "i386", 0x8664: "amd64", 0xAA64: "arm64", 0x1C4: "armnt", 0x200: "ia64", 0xA641: "arm64ec"}
_SUBSYSTEMS = {
    1: "native",
    2: "windows_gui",
    3: "windows_cui",
    9: "windows_ce_gui",
    10: "efi_application",
    14: "xbox",
    16: "windows_boot_application",
}
_OVERLAY_MAGIC = (
    (b"PK\x03\x04", "zip"),
    (b"7z\xbc\xaf\x27\x1c", "7z"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "ole"),  # MSI (or another compound file)
    (b"MSCF", "cab"),
    (b"MZ", "pe"),
    (b"Rar!\x1a\x07", "rar"),
    (b"\x1f\x8b", "gzip"),
)
_IMAGE_FILE_DLL = 0x2000


def _overlay_type(head: bytes) -> str:
    for magic, name in _OVERLAY_MAGIC:
        if head.startswith(magic):
            return name
    # NSIS stores its header signature a few bytes in: "\xef\xbe\xad\xdeNullsoftInst".
    if b"NullsoftInst" in head:
        return "nsis"
    return "unknown"


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return str(value).replace("\x00", "").strip()[:MAX_VERSION_VALUE]


def _version_strings(pe: Any) -> dict[str, str]:
    out: dict[str, str] = {}
    for file_info in getattr(pe, "FileInfo", None) or []:
        for entry in file_info if isinstance(file_info, list) else [file_info]:
            for table in getattr(entry, "StringTable", None) or []:
                for key, value in table.entries.items():
                    if len(out) >= MAX_VERSION_STRINGS:
                        return out
                    k, v = _text(key), _text(value)
                    if k and v and k not in out:
                        out[k] = v
    return out


def _section_name(raw: bytes) -> str:
    return raw.rstrip(b"\x00").decode("latin-1")


def analyze(data: Buffer, name: str, ctx: AnalysisContext) -> FormatResult:
    """Facts about a PE image. Never raises: what cannot be parsed becomes an anomaly."""
    result = FormatResult(type="pe")
    layout = authenticode.pe_layout(data)
    try:
        pe = pefile.PE(data=data, fast_load=True)
    except Exception as exc:  # pefile raises PEFormatError and, on hostile input, assorted others
        result.anomalies.append(f"not a parseable PE: {str(exc)[:200]}")
        _signature(data, ctx, layout, result)
        return result
    try:
        _headers(pe, data, layout, result)
    except Exception as exc:  # keep what we have; hostile headers may trip any attribute access
        result.anomalies.append(f"PE header parsing stopped: {str(exc)[:200]}")
    try:
        pe.parse_data_directories(directories=[pefile.DIRECTORY_ENTRY["IMAGE_DIRECTORY_ENTRY_RESOURCE"]])
        strings = _version_strings(pe)
    except Exception as exc:  # resources are attacker-controlled trees
        result.anomalies.append(f"resource directory unreadable: {str(exc)[:200]}")
        strings = {}
    if strings:
        result.facts["versioninfo"] = strings
        for key in CLAIM_KEYS:
            if strings.get(key):
                result.claim_fields.append((f"versioninfo:{key}", strings[key]))
    warnings = pe.get_warnings()
    result.anomalies.extend(f"pefile: {w[:200]}" for w in warnings[:MAX_WARNINGS])
    if len(warnings) > MAX_WARNINGS:
        result.anomalies.append(f"pefile: {len(warnings) - MAX_WARNINGS} more warnings")
    _signature(data, ctx, layout, result)
    return result


def _signature(data: Buffer, ctx: AnalysisContext, layout: authenticode.PeLayout | None, result: FormatResult) -> None:
    try:
        result.signature = authenticode.verify_pe(data, trust=ctx.trust, now=ctx.now, layout=layout)
    except Exception as exc:  # verify_pe is total by design; this guards the handler contract regardless
        result.anomalies.append(f"signature check failed unexpectedly: {type(exc).__name__}: {str(exc)[:200]}")


def _headers(pe: Any, data: Buffer, layout: authenticode.PeLayout | None, result: FormatResult) -> None:
    fh, oh = pe.FILE_HEADER, pe.OPTIONAL_HEADER
    facts = result.facts
    facts["machine"] = _MACHINES.get(fh.Machine, f"{fh.Machine:#x}")
    facts["dll"] = bool(fh.Characteristics & _IMAGE_FILE_DLL)
    facts["pe32_plus"] = oh.Magic == 0x20B
    facts["subsystem"] = _SUBSYSTEMS.get(oh.Subsystem, str(oh.Subsystem))
    facts["timestamp"] = datetime.fromtimestamp(fh.TimeDateStamp, UTC).isoformat()
    facts["entry_point"] = oh.AddressOfEntryPoint

    sections: list[dict[str, Any]] = []
    end_of_sections = oh.SizeOfHeaders
    entry_section: str | None = None
    for s in pe.sections[:MAX_SECTIONS_REPORTED]:
        sname = _section_name(s.Name)
        sections.append(
            {
                "name": sname,
                "raw_size": s.SizeOfRawData,
                "virtual_size": s.Misc_VirtualSize,
                "characteristics": s.Characteristics,
            }
        )
        if s.SizeOfRawData:
            end_of_sections = max(end_of_sections, s.PointerToRawData + s.SizeOfRawData)
        size = max(s.Misc_VirtualSize, s.SizeOfRawData)
        if entry_section is None and s.VirtualAddress <= oh.AddressOfEntryPoint < s.VirtualAddress + size:
            entry_section = sname
    facts["sections"] = sections
    facts["entry_section"] = entry_section
    if len(pe.sections) > MAX_SECTIONS_REPORTED:
        result.anomalies.append(f"{len(pe.sections)} sections (only {MAX_SECTIONS_REPORTED} reported)")
    if oh.AddressOfEntryPoint and entry_section is None:
        result.anomalies.append("entry point lies outside every section")

    # Overlay: bytes after the last section, not counting the Authenticode certificate table.
    size = len(data)
    overlay_end = size
    if layout is not None and layout.cert_table_size and layout.cert_table_offset >= end_of_sections:
        overlay_end = min(size, layout.cert_table_offset)
        trailing = size - (layout.cert_table_offset + layout.cert_table_size)
        if trailing > 0:
            facts["after_certificate_table"] = trailing
    if end_of_sections > size:
        result.anomalies.append(f"sections extend past the end of the file ({end_of_sections} > {size})")
    elif overlay_end > end_of_sections:
        head = bytes(data[end_of_sections : min(overlay_end, end_of_sections + OVERLAY_SNIFF)])
        # Signers pad to 8 bytes before the certificate table: zero padding alone is no overlay.
        if overlay_end - end_of_sections >= 8 or head.strip(b"\x00"):
            facts["overlay"] = {
                "offset": end_of_sections,
                "size": overlay_end - end_of_sections,
                "type": _overlay_type(bytes(data[end_of_sections : min(overlay_end, end_of_sections + OVERLAY_SNIFF)])),
            }
    if layout is not None and layout.cert_table_size:
        facts["certificate_table"] = {"offset": layout.cert_table_offset, "size": layout.cert_table_size}
