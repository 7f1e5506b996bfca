"""Apple code signatures embedded in Mach-O (LC_CODE_SIGNATURE): parse, check integrity, verify the CMS.

Layout (all big-endian, whatever the Mach-O byte order): a SuperBlob 0xfade0cc0 indexes blobs by slot —
CodeDirectory (slot 0, plus alternates at 0x1000.. with stronger hashes), Requirements (2), Entitlements
(5, XML plist) and DER entitlements (7), and the CMS wrapper (0x10000) whose detached content is the slot-0
CodeDirectory. The CodeDirectory hashes every page of the slice up to ``codeLimit`` (code slots) and the
other blobs / bundle files (special slots, negative indices). Identity (Team ID) is proven only by a CMS
that chains to Apple's roots; an ad-hoc CodeDirectory may say anything.
"""

from __future__ import annotations

import hashlib
import plistlib
import struct
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from asn1crypto import cms as asn1_cms
from asn1crypto import core
from cryptography import x509
from cryptography.x509.oid import NameOID

from agent.analysis.context import AnalysisContext, Buffer
from agent.analysis.facts import Reason, SignatureFacts, SigStatus
from agent.analysis.sig.cms import verify_cms
from agent.analysis.sig.trust import Program, name_attr

KIND = "apple-codesign"

# Blob magics.
SUPERBLOB_MAGIC = 0xFADE0CC0
CODEDIRECTORY_MAGIC = 0xFADE0C02
REQUIREMENTS_MAGIC = 0xFADE0C01
ENTITLEMENTS_MAGIC = 0xFADE7171
DER_ENTITLEMENTS_MAGIC = 0xFADE7172
BLOBWRAPPER_MAGIC = 0xFADE0B01

# SuperBlob slots.
SLOT_CODEDIRECTORY = 0
SLOT_INFO_PLIST = 1
SLOT_REQUIREMENTS = 2
SLOT_RESOURCEDIR = 3
SLOT_ENTITLEMENTS = 5
SLOT_DER_ENTITLEMENTS = 7
SLOT_ALTERNATE_CD = 0x1000
MAX_ALTERNATE_CDS = 5  # Apple reserves 0x1000..0x1004
SLOT_CMS = 0x10000

# CodeDirectory flags, named as `codesign -d` prints them.
CD_FLAGS: dict[int, str] = {
    0x1: "host",
    0x2: "adhoc",
    0x4: "get-task-allow",
    0x8: "installer",
    0x10: "forced-lv",
    0x20: "invalid-allowed",
    0x100: "hard",
    0x200: "kill",
    0x400: "expires",
    0x800: "restrict",
    0x1000: "enforcement",
    0x2000: "library-validation",
    0x10000: "runtime",
    0x20000: "linker-signed",
}
CS_ADHOC = 0x2

# hashType -> (hashlib name, digest size)
HASH_TYPES: dict[int, tuple[str, int]] = {
    1: ("sha1", 20),
    2: ("sha256", 32),
    3: ("sha256", 20),  # SHA-256 truncated to 20 bytes
    4: ("sha384", 48),
}
HASH_STRENGTH = {1: 0, 3: 1, 2: 2, 4: 3}

SPECIAL_SLOT_NAMES = {
    SLOT_INFO_PLIST: "Info.plist",
    SLOT_REQUIREMENTS: "requirements",
    SLOT_RESOURCEDIR: "CodeResources",
    SLOT_ENTITLEMENTS: "entitlements",
    SLOT_DER_ENTITLEMENTS: "DER entitlements",
}

# Budgets. Genuine signatures are small and regular; a hostile one must not make us loop or hash forever.
MAX_SIGNATURE_BYTES = 64 * 1024 * 1024  # a 2 GiB binary with SHA-1 + SHA-256 CDs needs ~26 MiB
MAX_BLOBS = 64  # real SuperBlobs index fewer than 12 blobs
MAX_IDENT_BYTES = 1024  # identifiers and Team IDs are short reverse-DNS / 10-char strings
MAX_SPECIAL_SLOTS = 64  # Apple defines fewer than 16
MAX_PAGES = 1 << 19  # 2 GiB of 4 KiB pages per CodeDirectory: bounds hashing work and Python loop
MIN_PAGE_SHIFT, MAX_PAGE_SHIFT = 9, 20  # codesign uses 12 (4 KiB) or 14 (16 KiB); 0 means "one page"
MAX_ENTITLEMENT_BYTES = 1024 * 1024  # entitlements plists are a few KB
MAX_ENTITLEMENT_KEYS = 64  # keys reported in facts
MAX_BAD_PAGE_INDICES = 16  # bad page numbers listed in facts (the count is exact)

OID_CDHASHES_PLIST = "1.2.840.113635.100.9.1"  # signed attribute: plist {"cdhashes": [20-byte data...]}
OID_CDHASHES2 = "1.2.840.113635.100.9.2"  # signed attribute: SEQUENCE {hashAlg OID, full hash}

_U32x3 = struct.Struct(">III")
_U32x2 = struct.Struct(">II")


@dataclass(frozen=True)
class CodeDirectory:
    slot: int
    raw: bytes  # the whole blob, header included (what the CMS signs and the cdhash covers)
    version: int
    flags: int
    hash_offset: int
    n_special_slots: int
    n_code_slots: int
    code_limit: int
    hash_size: int
    hash_type: int
    platform: int
    page_shift: int
    identifier: str | None
    team_id: str | None
    exec_seg_flags: int | None
    runtime: int | None

    @property
    def hash_name(self) -> str | None:
        ht = HASH_TYPES.get(self.hash_type)
        return ht[0] if ht else None

    def digest(self, data: bytes | memoryview) -> bytes:
        name = self.hash_name or "sha256"
        return hashlib.new(name, data).digest()[: self.hash_size]

    @property
    def cdhash(self) -> str:
        return self.digest(self.raw)[:20].hex() if self.hash_name else hashlib.sha256(self.raw).hexdigest()[:40]

    def special_hash(self, slot: int) -> bytes | None:
        """The hash sealed for special slot ``slot`` (None when the slot is beyond nSpecialSlots)."""
        if slot < 1 or slot > self.n_special_slots:
            return None
        off = self.hash_offset - slot * self.hash_size
        if off < 0 or off + self.hash_size > len(self.raw):
            return None
        return self.raw[off : off + self.hash_size]

    def code_hash(self, index: int) -> bytes | None:
        off = self.hash_offset + index * self.hash_size
        if off + self.hash_size > len(self.raw):
            return None
        return self.raw[off : off + self.hash_size]

    @property
    def flag_names(self) -> list[str]:
        names = [n for bit, n in CD_FLAGS.items() if self.flags & bit]
        unknown = self.flags & ~sum(CD_FLAGS)
        if unknown:
            names.append(f"0x{unknown:x}")
        return names


@dataclass
class Slice:
    """Where the signed code lives: ``buf[base : base + length]`` is the Mach-O slice."""

    buf: Buffer
    base: int
    length: int


@dataclass
class CodeSignResult:
    signature: SignatureFacts
    facts: dict[str, Any] = field(default_factory=dict)
    claim_fields: list[tuple[str, str]] = field(default_factory=list)
    anomalies: list[str] = field(default_factory=list)
    indicators: list[Reason] = field(default_factory=list)


def unsigned() -> SignatureFacts:
    return SignatureFacts(kind=KIND, status=SigStatus.UNSIGNED)


def _cstr(raw: bytes, off: int, anomalies: list[str], what: str) -> str | None:
    if off <= 0 or off >= len(raw):
        anomalies.append(f"code signature: {what} offset {off} outside the CodeDirectory")
        return None
    end = raw.find(b"\0", off, off + MAX_IDENT_BYTES)
    if end < 0:
        anomalies.append(f"code signature: {what} is not NUL-terminated within {MAX_IDENT_BYTES} bytes")
        end = min(len(raw), off + MAX_IDENT_BYTES)
    return raw[off:end].decode("utf-8", "replace")


def parse_superblob(sig: bytes, anomalies: list[str]) -> dict[int, bytes]:
    """Slot -> blob bytes (each cut to its own declared length). Empty when the SuperBlob is unusable."""
    if len(sig) < 12:
        anomalies.append("code signature: shorter than a SuperBlob header")
        return {}
    magic, length, count = _U32x3.unpack_from(sig, 0)
    if magic != SUPERBLOB_MAGIC:
        anomalies.append(f"code signature: magic 0x{magic:08x} is not an embedded SuperBlob")
        return {}
    if length > len(sig):
        anomalies.append(f"code signature: SuperBlob length {length} exceeds LC_CODE_SIGNATURE size {len(sig)}")
        length = len(sig)
    if count > MAX_BLOBS:
        anomalies.append(f"code signature: {count} blobs exceed the budget of {MAX_BLOBS}; rest ignored")
        count = MAX_BLOBS
    if 12 + 8 * count > length:
        anomalies.append("code signature: blob index runs past the SuperBlob")
        count = max(0, (length - 12) // 8)
    blobs: dict[int, bytes] = {}
    for i in range(count):
        slot, off = _U32x2.unpack_from(sig, 12 + 8 * i)
        if off < 12 + 8 * count or off + 8 > length:
            anomalies.append(f"code signature: blob for slot 0x{slot:x} at {off} lies outside the SuperBlob")
            continue
        _bmagic, blen = _U32x2.unpack_from(sig, off)
        if blen < 8 or off + blen > length:
            anomalies.append(f"code signature: blob for slot 0x{slot:x} has bad length {blen}")
            blen = max(8, min(blen, length - off))
        if slot in blobs:
            anomalies.append(f"code signature: slot 0x{slot:x} appears twice; first one kept")
            continue
        blobs[slot] = sig[off : off + blen]
    return blobs


def parse_code_directory(blob: bytes, slot: int, anomalies: list[str]) -> CodeDirectory | None:
    where = f"code signature: CodeDirectory at slot 0x{slot:x}"
    if len(blob) < 44:
        anomalies.append(f"{where} is shorter than its fixed header")
        return None
    magic, _length, version = _U32x3.unpack_from(blob, 0)
    if magic != CODEDIRECTORY_MAGIC:
        anomalies.append(f"{where} has magic 0x{magic:08x}")
        return None
    flags, hash_offset, ident_offset, n_special, n_code, code_limit = struct.unpack_from(">IIIIII", blob, 12)
    hash_size, hash_type, platform, page_shift = struct.unpack_from(">BBBB", blob, 36)

    def field_at(off: int, fmt: str, min_version: int) -> int | None:
        if version < min_version:
            return None
        if off + struct.calcsize(fmt) > len(blob):
            anomalies.append(f"{where}: version 0x{version:x} header truncated")
            return None
        value: int = struct.unpack_from(fmt, blob, off)[0]
        return value

    team_offset = field_at(48, ">I", 0x20200)
    code_limit64 = field_at(56, ">Q", 0x20300)
    exec_seg_flags = field_at(80, ">Q", 0x20400)
    runtime = field_at(88, ">I", 0x20500)
    if code_limit64:
        code_limit = code_limit64
    if hash_type not in HASH_TYPES:
        anomalies.append(f"{where}: unknown hashType {hash_type}")
    elif HASH_TYPES[hash_type][1] != hash_size:
        anomalies.append(f"{where}: hashSize {hash_size} does not fit hashType {hash_type}")
    if n_special > MAX_SPECIAL_SLOTS:
        anomalies.append(f"{where}: {n_special} special slots exceed the budget of {MAX_SPECIAL_SLOTS}")
        n_special = MAX_SPECIAL_SLOTS
    if hash_offset - n_special * hash_size < 0 or hash_offset + n_code * hash_size > len(blob):
        anomalies.append(f"{where}: hash slots run outside the blob")
    identifier = _cstr(blob, ident_offset, anomalies, "identifier")
    team_id = _cstr(blob, team_offset, anomalies, "team identifier") if team_offset else None
    return CodeDirectory(
        slot=slot,
        raw=blob,
        version=version,
        flags=flags,
        hash_offset=hash_offset,
        n_special_slots=n_special,
        n_code_slots=n_code,
        code_limit=code_limit,
        hash_size=hash_size,
        hash_type=hash_type,
        platform=platform,
        page_shift=page_shift,
        identifier=identifier,
        team_id=team_id,
        exec_seg_flags=exec_seg_flags,
        runtime=runtime,
    )


@dataclass
class PageCheck:
    checked: int = 0
    bad: int = 0
    bad_indices: list[int] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    complete: bool = True  # False when a budget stopped the check: integrity is then unknown


def check_pages(sl: Slice, cd: CodeDirectory) -> PageCheck:
    """Hash each page of the slice up to codeLimit and compare with the code slots."""
    out = PageCheck()
    if cd.hash_name is None:
        out.problems.append(f"CodeDirectory 0x{cd.slot:x}: unknown hash type {cd.hash_type}")
        out.complete = False
        return out
    if cd.page_shift == 0:
        page = max(cd.code_limit, 1)  # a single page covering everything
    elif MIN_PAGE_SHIFT <= cd.page_shift <= MAX_PAGE_SHIFT:
        page = 1 << cd.page_shift
    else:
        out.problems.append(f"CodeDirectory 0x{cd.slot:x}: page size 2^{cd.page_shift} out of range")
        out.complete = False
        return out
    expected = -(-cd.code_limit // page)
    if expected != cd.n_code_slots:
        out.problems.append(
            f"CodeDirectory 0x{cd.slot:x}: {cd.n_code_slots} code slots for a code limit needing {expected}"
        )
    if expected > MAX_PAGES:
        out.problems.append(f"CodeDirectory 0x{cd.slot:x}: {expected} pages exceed the budget of {MAX_PAGES}")
        out.complete = False
        return out
    limit = min(cd.code_limit, sl.length)
    with memoryview(sl.buf) as view:
        for i in range(expected):
            start = i * page
            want = cd.code_hash(i) if i < cd.n_code_slots else None
            end = min(start + page, cd.code_limit)
            if want is None or end > limit:  # missing slot, or page beyond the end of the file
                bad = True
            else:
                with view[sl.base + start : sl.base + end] as chunk:
                    bad = cd.digest(chunk) != want
            out.checked += 1
            if bad:
                out.bad += 1
                if len(out.bad_indices) < MAX_BAD_PAGE_INDICES:
                    out.bad_indices.append(i)
    if out.bad:
        out.problems.append(f"CodeDirectory 0x{cd.slot:x}: {out.bad} of {expected} code pages do not match")
    return out


def _parse_entitlements(blob: bytes, anomalies: list[str]) -> list[str] | None:
    body = blob[8:]
    if len(body) > MAX_ENTITLEMENT_BYTES:
        anomalies.append(f"code signature: entitlements larger than {MAX_ENTITLEMENT_BYTES} bytes not parsed")
        return None
    try:
        value = plistlib.loads(body, fmt=plistlib.FMT_XML)
    except Exception as exc:  # plistlib raises several types (InvalidFileException, ExpatError, ValueError)
        anomalies.append(f"code signature: entitlements plist unreadable ({type(exc).__name__})")
        return None
    if not isinstance(value, dict):
        anomalies.append("code signature: entitlements plist is not a dictionary")
        return None
    return sorted(str(k) for k in value)[:MAX_ENTITLEMENT_KEYS]


def _cms_details(der: bytes, thumbprint_sha256: str | None) -> tuple[str | None, list[bytes] | None]:
    """(leaf subject OU, signed cdhashes or None), read from a CMS that ``verify_cms`` has checked."""
    ou: str | None = None
    hashes_found: list[bytes] | None = None
    try:
        sd = asn1_cms.ContentInfo.load(der)["content"]
        for choice in sd["certificates"] or []:
            if choice.name != "certificate":
                continue
            cert_der = choice.chosen.dump()
            if thumbprint_sha256 and hashlib.sha256(cert_der).hexdigest() == thumbprint_sha256.lower():
                with warnings.catch_warnings():
                    # Apple's CNs ("Developer ID Application: <org> (<team>)") exceed X.520 lengths.
                    warnings.simplefilter("ignore")
                    cert = x509.load_der_x509_certificate(cert_der)
                    ou = name_attr(cert.subject, NameOID.ORGANIZATIONAL_UNIT_NAME)
        signers = list(sd["signer_infos"])
        attrs = signers[0]["signed_attrs"] if signers else None
        for attr in attrs or []:
            oid = attr["type"].dotted
            if oid == OID_CDHASHES_PLIST:
                for v in attr["values"]:
                    body = core.OctetString.load(v.dump()).native
                    pl = plistlib.loads(body)
                    hashes_found = [bytes(h) for h in pl.get("cdhashes", []) if isinstance(h, bytes)]
            elif oid == OID_CDHASHES2 and hashes_found is None:
                hashes_found = []
                for v in attr["values"]:
                    seq = core.Sequence.load(v.dump())
                    hashes_found.append(bytes(seq[1].native))
    except Exception:  # the CMS already verified; anything unparsable here just yields no extra details
        return ou, hashes_found
    return ou, hashes_found


def evaluate(
    sl: Slice,
    sig_offset: int,
    sig_size: int,
    ctx: AnalysisContext,
    bundle_files: Mapping[int, bytes] | None = None,
) -> CodeSignResult:
    """Everything the LC_CODE_SIGNATURE data proves about the slice.

    ``bundle_files`` maps special slots to the bundle files they seal (1: Info.plist, 3: CodeResources)
    when the caller has them; those seals are then checked too.
    """
    anomalies: list[str] = []
    problems: list[str] = []
    facts: dict[str, Any] = {}
    claims: list[tuple[str, str]] = []
    indicators: list[Reason] = []

    def malformed(msg: str) -> CodeSignResult:
        anomalies.append(f"code signature: {msg}")
        return CodeSignResult(
            SignatureFacts(kind=KIND, status=SigStatus.MALFORMED, problems=(*problems, f"malformed: {msg}")),
            facts,
            claims,
            anomalies,
        )

    if sig_size > MAX_SIGNATURE_BYTES:
        return malformed(f"{sig_size} bytes exceed the budget of {MAX_SIGNATURE_BYTES}")
    if sig_offset + sig_size > sl.length:
        return malformed(f"data at {sig_offset}+{sig_size} runs past the end of the slice ({sl.length})")
    sig = bytes(sl.buf[sl.base + sig_offset : sl.base + sig_offset + sig_size])
    blobs = parse_superblob(sig, anomalies)
    facts["blob_slots"] = [f"0x{s:x}" for s in sorted(blobs)]
    if SLOT_CODEDIRECTORY not in blobs:
        return malformed("no CodeDirectory")
    cds: list[CodeDirectory] = []
    for slot in [SLOT_CODEDIRECTORY, *range(SLOT_ALTERNATE_CD, SLOT_ALTERNATE_CD + MAX_ALTERNATE_CDS)]:
        if slot in blobs:
            cd = parse_code_directory(blobs[slot], slot, anomalies)
            if cd is not None:
                cds.append(cd)
    if not cds or cds[0].slot != SLOT_CODEDIRECTORY:
        return malformed("the primary CodeDirectory is unreadable")
    primary = cds[0]
    best = max(cds, key=lambda c: HASH_STRENGTH.get(c.hash_type, -1))

    facts.update(
        identifier=primary.identifier,
        team_id_claimed=primary.team_id,
        cd_version=f"0x{primary.version:x}",
        flags=primary.flag_names,
        hash_type=primary.hash_name,
        code_limit=primary.code_limit,
        page_size=(1 << primary.page_shift) if primary.page_shift else 0,
        n_code_slots=primary.n_code_slots,
        n_special_slots=primary.n_special_slots,
        cdhash=best.cdhash,
        cdhashes={f"0x{c.slot:x}": {"hash_type": c.hash_name, "cdhash": c.cdhash} for c in cds},
    )
    if primary.runtime is not None:
        facts["runtime_version"] = primary.runtime
    if primary.identifier:
        claims.append(("macho:identifier", primary.identifier))
    if primary.team_id:
        claims.append(("macho:team_id", primary.team_id))

    # The alternates must say the same thing as the primary: only the primary is bound by the CMS.
    for cd in cds[1:]:
        if (cd.identifier, cd.team_id, cd.flags) != (primary.identifier, primary.team_id, primary.flags):
            problems.append(
                f"malformed: CodeDirectory 0x{cd.slot:x} disagrees with the primary on identifier/team/flags"
            )

    digest_bad = False
    if primary.code_limit != sig_offset:
        # codesign and ld seal everything up to the signature; a gap is unsealed code or data.
        problems.append(f"code limit {primary.code_limit} does not end at the signature offset {sig_offset}")
        anomalies.append(f"code signature: code limit {primary.code_limit} != signature offset {sig_offset}")
        digest_bad = True

    # Integrity: special slots for the blobs in the signature and the bundle files we were given.
    sealed: dict[int, bytes] = {
        s: blobs[s] for s in (SLOT_REQUIREMENTS, SLOT_ENTITLEMENTS, SLOT_DER_ENTITLEMENTS) if s in blobs
    }
    for s, data in (bundle_files or {}).items():
        sealed[s] = data
    seal_state: dict[str, str] = {}
    for s in sorted(set(sealed) | {SLOT_REQUIREMENTS, SLOT_ENTITLEMENTS, SLOT_DER_ENTITLEMENTS}):
        name = SPECIAL_SLOT_NAMES.get(s, f"slot {s}")
        for cd in cds:
            want = cd.special_hash(s)
            bound = want is not None and any(want)
            have = sealed.get(s)
            if have is None:
                if bound and s not in (SLOT_INFO_PLIST, SLOT_RESOURCEDIR):
                    problems.append(f"{name} sealed by CodeDirectory 0x{cd.slot:x} but missing")
                    digest_bad = True
                state = "sealed" if bound else "absent"
            elif not bound:
                if s in (SLOT_INFO_PLIST, SLOT_RESOURCEDIR):
                    anomalies.append(f"code signature: {name} is not bound to the signature")
                    state = "not bound"
                else:
                    problems.append(f"{name} present but not sealed by CodeDirectory 0x{cd.slot:x}")
                    digest_bad = True
                    state = "unsealed"
            elif cd.digest(have) != want:
                problems.append(f"{name} does not match its hash in CodeDirectory 0x{cd.slot:x}")
                digest_bad = True
                state = "mismatch"
            else:
                state = "ok"
            if cd is primary:
                seal_state[name] = state
    facts["seals"] = seal_state

    if SLOT_ENTITLEMENTS in blobs:
        ents = _parse_entitlements(blobs[SLOT_ENTITLEMENTS], anomalies)
        if ents is not None:
            facts["entitlements"] = ents

    extra: dict[str, Any] = {
        "identifier": primary.identifier,
        "flags": primary.flag_names,
        "cdhash": best.cdhash,
    }
    if primary.team_id:
        extra["claimed_team_id"] = primary.team_id

    cms_blob = blobs.get(SLOT_CMS)
    cms_der = cms_blob[8:] if cms_blob is not None else b""
    if cms_blob is not None and int.from_bytes(cms_blob[:4], "big") != BLOBWRAPPER_MAGIC:
        problems.append("malformed: CMS slot does not hold a BlobWrapper")
    cms: SignatureFacts | None = None
    team: str | None = None
    signed_cdhashes: list[bytes] | None = None
    listed: set[bytes] = set()
    if primary.flags & CS_ADHOC or not cms_der:
        if not primary.flags & CS_ADHOC:
            anomalies.append("code signature: no CMS signature and no adhoc flag (treated as ad-hoc)")
        if cms_der:
            anomalies.append("code signature: adhoc flag set but a CMS signature is present (ignored)")
        if primary.team_id:
            indicators.append(
                Reason(
                    "MACHO_ADHOC_TEAM_ID",
                    f"Ad-hoc code signature carries a self-asserted Team ID {primary.team_id!r}.",
                    "T1553.002",
                    20,
                )
            )
        status = SigStatus.ADHOC
    else:
        cms = verify_cms(
            cms_der,
            detached_content=primary.raw,
            trust=ctx.trust,
            program=Program.APPLE,
            now=ctx.now,
            kind=KIND,
        )
        extra.update(cms.extra)
        status = cms.status
        problems[:0] = cms.problems
        ou, signed_cdhashes = _cms_details(cms_der, cms.thumbprint_sha256)
        extra["signer_team_id"] = ou
        if signed_cdhashes is not None:
            listed = {h[:20] for h in signed_cdhashes}
            for c in cds:
                if bytes.fromhex(c.cdhash) not in listed:
                    problems.append(f"CodeDirectory 0x{c.slot:x} is not among the cdhashes the CMS signs")
                    digest_bad = True
        elif len(cds) > 1:
            anomalies.append("code signature: alternate CodeDirectories but no signed cdhashes attribute")
        if status is SigStatus.VALID:
            if primary.team_id is not None and ou != primary.team_id:
                problems.append(
                    f"CodeDirectory Team ID {primary.team_id!r} differs from the signer certificate OU {ou!r}"
                )
                status = SigStatus.BAD_SIGNATURE
            elif ou is None:
                problems.append("signer certificate has no OU (Team ID)")
            else:
                team = ou

    # Integrity: code pages. The kernel enforces the strongest CodeDirectory, so that one is checked; the
    # others too when the CMS does not bind it through its signed cdhashes (else an attacker could rewrite
    # an unbound alternate to match edited code while the signed primary goes stale).
    to_check = [best]
    if cms is not None and (signed_cdhashes is None or bytes.fromhex(best.cdhash) not in listed):
        to_check = cds
    bad_pages = 0
    integrity_known = True
    for cd in to_check:
        pc = check_pages(sl, cd)
        bad_pages = max(bad_pages, pc.bad)
        integrity_known &= pc.complete
        problems.extend(pc.problems)
        if cd is best:
            facts["pages_checked"] = pc.checked
            facts["bad_page_indices"] = pc.bad_indices
    facts["bad_pages"] = extra["bad_pages"] = bad_pages
    facts["page_hashes_checked_in"] = [f"0x{cd.slot:x}" for cd in to_check]
    digest_bad |= bad_pages > 0

    if status is not SigStatus.MALFORMED and any(p.startswith("malformed") for p in problems):
        status = SigStatus.MALFORMED
    if not integrity_known:
        problems.append("malformed: code page integrity could not be checked within budget")
        status = SigStatus.MALFORMED
    if digest_bad:
        status = SigStatus.BAD_DIGEST  # the file was changed after signing, whoever signed it
    team_id = team if status is SigStatus.VALID else None
    facts["team_id"] = team_id
    facts["signature_status"] = str(status)
    final = SignatureFacts(
        kind=KIND,
        status=status,
        problems=tuple(dict.fromkeys(problems)),
        signer_org=cms.signer_org if cms else None,
        signer_cn=cms.signer_cn if cms else None,
        issuer=cms.issuer if cms else None,
        thumbprint_sha1=cms.thumbprint_sha1 if cms else None,
        thumbprint_sha256=cms.thumbprint_sha256 if cms else None,
        chain=cms.chain if cms else (),
        root=cms.root if cms else None,
        timestamp=cms.timestamp if cms else None,
        team_id=team_id,
        digest_algorithm=(cms.digest_algorithm if cms else None) or best.hash_name,
        extra=extra,
    )
    return CodeSignResult(final, facts, claims, list(dict.fromkeys(anomalies)), indicators)


# Worst first when one verdict must speak for several slices: tampering beats everything, then broken
# or untrusted signatures, then no identity at all; only VALID proves a publisher.
_STATUS_RANK = {
    SigStatus.VALID: 0,
    SigStatus.ADHOC: 1,
    SigStatus.UNSIGNED: 2,
    SigStatus.EXPIRED: 3,
    SigStatus.UNTRUSTED_ROOT: 4,
    SigStatus.MALFORMED: 5,
    SigStatus.BAD_SIGNATURE: 6,
    SigStatus.BAD_DIGEST: 7,
}


def status_rank(status: SigStatus) -> int:
    return _STATUS_RANK.get(status, 5)
