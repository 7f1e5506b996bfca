"""Authenticode for PE files, MSI packages and PowerShell scripts.

Each entry point finds the PKCS#7 signature in its format, computes the file's Authenticode digest the way
the signer did, and lets ``cms.verify_cms`` check signature, timestamp and chain. They return None for an
unsigned file and SignatureFacts otherwise; malformed input becomes MALFORMED, never an exception.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import struct
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from agent.analysis.context import Buffer
from agent.analysis.facts import SignatureFacts, SigStatus
from agent.analysis.sig import msi_digest
from agent.analysis.sig.cms import HASHES, ContentCheck, encapsulated_content, nested_signatures, verify_cms
from agent.analysis.sig.spc import (
    OID_SPC_INDIRECT_DATA,
    OID_SPC_PE_IMAGE_DATA,
    OID_SPC_SIPINFO,
    SIP_MSI,
    SIP_POWERSHELL,
    IndirectData,
    parse_indirect_data,
)
from agent.analysis.sig.trust import Program, TrustStore

KIND = "authenticode"
KIND_POWERSHELL = "powershell"

# Budgets for hostile files.
MAX_CERT_ENTRIES = 8  # WIN_CERTIFICATE entries read (real files have one)
MAX_NESTED = 8  # nested signatures verified besides the primary
MAX_SIGNATURE_BYTES = 16 * 1024 * 1024  # one PKCS#7 blob; real ones are 5-30 KB
_CHUNK = 1 << 20  # hash in 1 MiB slices: cache-friendly when several digests are computed at once

# algorithms (asn1crypto names) -> file digests; called lazily so only needed digests are computed.
Compute = Callable[[Iterable[str]], dict[str, bytes]]

WIN_CERT_REVISION_2 = 0x0200
WIN_CERT_TYPE_PKCS_SIGNED_DATA = 0x0002


# ----------------------------------------------------------------------------------------------- PE


@dataclass(frozen=True)
class PeLayout:
    """Where the Authenticode-excluded fields of a PE are (offsets in the file)."""

    checksum_offset: int
    security_dir_offset: int | None  # the data-directory entry (8 bytes), if the header has one
    cert_table_offset: int  # 0 when there is no certificate table
    cert_table_size: int
    file_size: int


def pe_layout(data: Buffer) -> PeLayout | None:
    """Locate CheckSum, the security directory entry and the certificate table; None if not a PE."""
    size = len(data)
    if size < 0x40 or data[:2] != b"MZ":
        return None
    (e_lfanew,) = struct.unpack_from("<I", data, 0x3C)
    if e_lfanew + 24 + 2 > size or data[e_lfanew : e_lfanew + 4] != b"PE\0\0":
        return None
    (opt_size,) = struct.unpack_from("<H", data, e_lfanew + 20)
    opt = e_lfanew + 24
    (magic,) = struct.unpack_from("<H", data, opt)
    if magic == 0x10B:
        dirs = opt + 96
    elif magic == 0x20B:
        dirs = opt + 112
    else:
        return None
    checksum = opt + 64
    if checksum + 4 > size or opt_size < 68:
        return None
    secdir: int | None = None
    cert_off = cert_size = 0
    if dirs <= size - 4 and dirs + 4 * 8 + 8 <= min(opt + opt_size, size):
        (count,) = struct.unpack_from("<I", data, dirs - 4)
        if count >= 5:
            secdir = dirs + 4 * 8
            cert_off, cert_size = struct.unpack_from("<II", data, secdir)
    return PeLayout(checksum, secdir, cert_off if cert_size else 0, cert_size, size)


def _ranges(layout: PeLayout) -> list[tuple[int, int]]:
    """Byte ranges the PE Authenticode digest covers: all but CheckSum, the security entry, the table."""
    cuts = [(layout.checksum_offset, 4)]
    if layout.security_dir_offset is not None:
        cuts.append((layout.security_dir_offset, 8))
    if layout.cert_table_size:
        cuts.append((layout.cert_table_offset, layout.cert_table_size))
    out: list[tuple[int, int]] = []
    pos = 0
    for start, length in sorted(cuts):
        if start > pos:
            out.append((pos, start))
        pos = max(pos, start + length)
    if pos < layout.file_size:
        out.append((pos, layout.file_size))
    return out


def hash_ranges(data: Buffer, ranges: Sequence[tuple[int, int]], algorithms: Iterable[str]) -> dict[str, bytes]:
    """Digest of the concatenated ranges for each algorithm, in one pass over the buffer (no copies)."""
    hashers = {name: hashlib.new(HASHES[name]) for name in set(algorithms)}
    with memoryview(data) as view:
        for start, end in ranges:
            for off in range(start, end, _CHUNK):
                chunk = view[off : min(off + _CHUNK, end)]
                for h in hashers.values():
                    h.update(chunk)
                chunk.release()
    return {name: h.digest() for name, h in hashers.items()}


def pe_authentihash(data: Buffer, algorithm: str = "sha256") -> bytes | None:
    """The Authenticode digest of a PE as signed (a cross-check against other tools' "authentihash")."""
    layout = pe_layout(data)
    if layout is None:
        return None
    return hash_ranges(data, _ranges(layout), [algorithm])[algorithm]


def _win_certificates(data: Buffer, layout: PeLayout) -> tuple[list[bytes], list[str], int]:
    """PKCS#7 blobs from the WIN_CERTIFICATE table, problems, and unused bytes inside the table."""
    problems: list[str] = []
    blobs: list[bytes] = []
    pos, end = layout.cert_table_offset, layout.cert_table_offset + layout.cert_table_size
    used = 0
    while pos + 8 <= end and len(blobs) + len(problems) < MAX_CERT_ENTRIES:
        length, revision, cert_type = struct.unpack_from("<IHH", data, pos)
        if length <= 8 or pos + length > end:
            problems.append(f"malformed: WIN_CERTIFICATE length {length} at {pos:#x} does not fit the table")
            break
        if length - 8 > MAX_SIGNATURE_BYTES:
            problems.append(f"malformed: WIN_CERTIFICATE of {length} bytes exceeds the budget")
            break
        if revision != WIN_CERT_REVISION_2 or cert_type != WIN_CERT_TYPE_PKCS_SIGNED_DATA:
            problems.append(f"WIN_CERTIFICATE revision {revision:#x} type {cert_type} ignored")
        else:
            blobs.append(bytes(data[pos + 8 : pos + length]))
        used = pos + length - layout.cert_table_offset
        pos += (length + 7) & ~7  # entries are 8-byte aligned
    slack = layout.cert_table_size - ((used + 7) & ~7)
    return blobs, problems, max(slack, 0)


def _indirect_or_none(der: bytes) -> IndirectData | None:
    """The SpcIndirectDataContent of a signature, read cheaply to know which digests to compute."""
    try:
        oid, tlv = encapsulated_content(der)
        if oid != OID_SPC_INDIRECT_DATA or tlv is None:
            return None
        return parse_indirect_data(tlv)
    except Exception:  # hostile DER: the full verification below reports it
        return None


def _digest_check(
    expected_type: str, sip: bytes | None, digests: dict[str, bytes], compute: Compute
) -> ContentCheck:
    """A ContentCheck comparing the signed SpcIndirectDataContent with the file's digest."""

    def check(content_type: str, content: bytes) -> list[str]:
        if content_type != OID_SPC_INDIRECT_DATA:
            return [f"malformed: content type {content_type} is not SpcIndirectDataContent"]
        try:
            idc = parse_indirect_data(content)
        except ValueError as exc:
            return [f"malformed: SpcIndirectDataContent unreadable: {str(exc).splitlines()[0][:120]}"]
        if idc.data_type != expected_type:
            return [f"signed data type {idc.data_type} does not match this file format"]
        if sip is not None and idc.sip_uuid != sip:
            return ["signed SIP GUID does not match this file format"]
        if idc.digest_algorithm not in HASHES:
            return [f"malformed: unsupported digest algorithm {idc.digest_algorithm}"]
        if idc.digest_algorithm not in digests:
            digests.update(compute([idc.digest_algorithm]))
        actual = digests.get(idc.digest_algorithm)
        if actual is None:  # the file could not be read far enough to hash it
            return ["malformed: the file's digest could not be computed"]
        if actual != idc.digest:
            return [
                f"file digest mismatch ({idc.digest_algorithm}): signed {idc.digest.hex()}, "
                f"file {actual.hex()}: the file was changed after signing"
            ]
        return []

    return check


def _nested_summary(facts: SignatureFacts) -> dict[str, Any]:
    return {
        "status": str(facts.status),
        "signer_org": facts.signer_org,
        "signer_cn": facts.signer_cn,
        "digest_algorithm": facts.digest_algorithm,
        "timestamp": facts.timestamp,
        "problems": list(facts.problems),
    }


def _verify_all(
    blobs: list[bytes],
    *,
    expected_type: str,
    sip: bytes | None,
    compute: Compute,
    trust: TrustStore,
    now: datetime,
    kind: str,
    extra: dict[str, Any],
    problems: list[str],
) -> SignatureFacts:
    """Verify the primary signature and summarise the nested ones (primary decides the status)."""
    primary = blobs[0]
    others = (nested_signatures(primary) + blobs[1:])[:MAX_NESTED]
    wanted = {i.digest_algorithm for i in map(_indirect_or_none, [primary, *others]) if i is not None}
    digests: dict[str, bytes] = compute([a for a in wanted if a in HASHES]) if wanted else {}
    check = _digest_check(expected_type, sip, digests, compute)
    facts = verify_cms(
        primary,
        detached_content=None,
        trust=trust,
        program=Program.MICROSOFT,
        now=now,
        kind=kind,
        content_check=check,
    )
    if others:
        extra["nested"] = [
            _nested_summary(
                verify_cms(
                    o,
                    detached_content=None,
                    trust=trust,
                    program=Program.MICROSOFT,
                    now=now,
                    kind=kind,
                    content_check=check,
                )
            )
            for o in others
        ]
    if facts.digest_algorithm in digests:
        extra["authentihash"] = digests[facts.digest_algorithm].hex()
    status = facts.status
    if any(p.startswith("malformed") for p in problems) and status is SigStatus.VALID:
        status = SigStatus.MALFORMED
    return replace(
        facts,
        status=status,
        problems=tuple(dict.fromkeys([*problems, *facts.problems])),
        extra={**facts.extra, **extra},
    )


def verify_pe(
    data: Buffer, *, trust: TrustStore, now: datetime, layout: PeLayout | None = None
) -> SignatureFacts | None:
    """Authenticode of a PE image. None when the file has no certificate table."""
    layout = layout or pe_layout(data)
    if layout is None or not layout.cert_table_size:
        return None
    end = layout.cert_table_offset + layout.cert_table_size
    if layout.cert_table_offset < layout.checksum_offset or end > layout.file_size:
        return SignatureFacts(
            kind=KIND,
            status=SigStatus.MALFORMED,
            problems=(
                f"malformed: certificate table {layout.cert_table_offset:#x}+{layout.cert_table_size:#x} "
                f"lies outside the file ({layout.file_size:#x} bytes)",
            ),
        )
    blobs, problems, slack = _win_certificates(data, layout)
    if not blobs:
        return SignatureFacts(
            kind=KIND,
            status=SigStatus.MALFORMED,
            problems=tuple(problems or ["malformed: no PKCS#7 signature in the certificate table"]),
        )
    extra: dict[str, Any] = {}
    if slack > 8:
        # Bytes in the table that no signature covers: a known way to smuggle data into a signed file.
        extra["cert_table_slack_bytes"] = slack
    if end < layout.file_size:
        problems.append(f"{layout.file_size - end} bytes follow the certificate table (not covered by the signature)")
    ranges = _ranges(layout)

    def compute(algorithms: Iterable[str]) -> dict[str, bytes]:
        return hash_ranges(data, ranges, algorithms)

    return _verify_all(
        blobs,
        expected_type=OID_SPC_PE_IMAGE_DATA,
        sip=None,
        compute=compute,
        trust=trust,
        now=now,
        kind=KIND,
        extra=extra,
        problems=problems,
    )


# ---------------------------------------------------------------------------------------------- MSI


def verify_msi(ole: Any, *, trust: TrustStore, now: datetime) -> SignatureFacts | None:
    """Authenticode of an MSI opened with olefile. None when there is no \\x05DigitalSignature stream."""
    names = {e.name: e for e in ole.root.kids}
    entry = names.get(msi_digest.DIGITAL_SIGNATURE)
    if entry is None:
        return None
    if entry.size > MAX_SIGNATURE_BYTES:
        return SignatureFacts(
            kind=KIND, status=SigStatus.MALFORMED, problems=("malformed: DigitalSignature stream exceeds the budget",)
        )
    try:
        der = ole.openstream([msi_digest.DIGITAL_SIGNATURE]).read()
        ex_entry = names.get(msi_digest.MSI_DIGITAL_SIGNATURE_EX)
        ex_value = ole.openstream([msi_digest.MSI_DIGITAL_SIGNATURE_EX]).read(1024) if ex_entry else None
    except (OSError, ValueError) as exc:
        return SignatureFacts(kind=KIND, status=SigStatus.MALFORMED, problems=(f"malformed: {exc}",))
    problems: list[str] = []

    def compute(algorithms: Iterable[str]) -> dict[str, bytes]:
        algos = list(algorithms)
        try:
            out = msi_digest.content_digests(ole, [HASHES[a] for a in algos], ex_value is not None)
        except (msi_digest.MsiDigestError, OSError, ValueError) as exc:
            problems.append(f"malformed: storage tree unreadable: {exc}")
            return {}
        if ex_value is not None:
            for a in algos:
                if msi_digest.prehash(ole.root, HASHES[a]) != ex_value and len(ex_value) == len(out[HASHES[a]]):
                    problems.append("MsiDigitalSignatureEx does not match the package's metadata")
        return {a: out[HASHES[a]] for a in algos}

    extra: dict[str, Any] = {"msi_dse": ex_value is not None}
    facts = _verify_all(
        [der],
        expected_type=OID_SPC_SIPINFO,
        sip=SIP_MSI,
        compute=compute,
        trust=trust,
        now=now,
        kind=KIND,
        extra=extra,
        problems=problems,
    )
    if any(p.startswith("MsiDigitalSignatureEx") for p in problems) and facts.status is SigStatus.VALID:
        facts = replace(facts, status=SigStatus.BAD_DIGEST)
    return facts


# ---------------------------------------------------------------------------------------- PowerShell

_PS_HEADER = "# SIG # Begin signature block"
_PS_FOOTER = "# SIG # End signature block"
_B64_LINE = re.compile(r"^# ([A-Za-z0-9+/=]*)\r?$")


def _decode_script(data: bytes) -> str:
    """Text of the script: UTF-16LE when it starts with that BOM, else UTF-8 (as osslsigncode reads it)."""
    if data[:2] == b"\xff\xfe":
        return data.decode("utf-16-le", "replace")
    return data.decode("utf-8", "replace")


def verify_powershell(data: bytes, *, trust: TrustStore, now: datetime) -> SignatureFacts | None:
    """Authenticode signature block of a PowerShell script (.ps1/.psm1/.psd1). None when unsigned.

    The signed content is the script text before the block (from its preceding line break on) as
    UTF-16LE, which is how the PowerShell SIP and osslsigncode hash it.
    """
    text = _decode_script(data)
    lines = text.split("\n")
    header = next((i for i, line in enumerate(lines) if line.rstrip("\r") == _PS_HEADER), None)
    if header is None or header == 0:
        return None
    problems: list[str] = []
    b64: list[str] = []
    footer = None
    for i in range(header + 1, len(lines)):
        line = lines[i].rstrip("\r")
        if line == _PS_FOOTER:
            footer = i
            break
        m = _B64_LINE.match(line)
        if not m:
            problems.append(f"malformed: line {i + 1} of the signature block is not base64")
            break
        b64.append(m.group(1))
    if footer is None and not problems:
        problems.append("malformed: signature block has no end line")
    if problems:
        return SignatureFacts(kind=KIND_POWERSHELL, status=SigStatus.MALFORMED, problems=tuple(problems))
    trailing = "\n".join(lines[footer + 1 :]) if footer is not None else ""
    if trailing.strip():
        problems.append("text follows the signature block (not covered by the signature)")
    try:
        der = base64.b64decode("".join(b64), validate=True)
    except (binascii.Error, ValueError):
        return SignatureFacts(
            kind=KIND_POWERSHELL,
            status=SigStatus.MALFORMED,
            problems=("malformed: signature block is not valid base64",),
        )
    # Signed text ends before the line break that precedes the header line (CRLF if the header has CR).
    signed_text = "\n".join(lines[:header])
    if lines[header].endswith("\r") and signed_text.endswith("\r"):
        signed_text = signed_text[:-1]
    # A BOM (UTF-8 or UTF-16) is part of the signed text: it decodes to U+FEFF and re-encodes as FF FE.
    signed_utf16 = signed_text.encode("utf-16-le", "surrogatepass")

    def compute(algorithms: Iterable[str]) -> dict[str, bytes]:
        return {a: hashlib.new(HASHES[a], signed_utf16).digest() for a in algorithms}

    facts = _verify_all(
        [der],
        expected_type=OID_SPC_SIPINFO,
        sip=SIP_POWERSHELL,
        compute=compute,
        trust=trust,
        now=now,
        kind=KIND_POWERSHELL,
        extra={},
        problems=problems,
    )
    if trailing.strip() and facts.status is SigStatus.VALID:
        facts = replace(facts, status=SigStatus.BAD_DIGEST)
    return facts
