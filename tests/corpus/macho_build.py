"""A small Mach-O writer for tests: thin x86_64/arm64 executables, code signatures, fat files, .app trees.

No external tools: the layout follows <mach-o/loader.h> and Apple's codesign blob formats
(SuperBlob 0xfade0cc0, CodeDirectory 0xfade0c02 version 0x20400, Requirements, Entitlements, CMS wrapper).
CMS signatures are made with asn1crypto + cryptography by a tiny test PKI whose leaf subject OU is the
Team ID, detached over the primary CodeDirectory, with Apple's signed ``cdhashes`` attribute. (tests/corpus/pki.py
is file-based for osslsigncode and its leaves carry no OU, which is where Apple puts the Team ID.)
"""

from __future__ import annotations

import hashlib
import plistlib
import struct
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from asn1crypto import algos, core
from asn1crypto import cms as asn1_cms
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CPU = {"x86_64": (0x01000007, 3), "arm64": (0x0100000C, 0), "arm64e": (0x0100000C, 2)}
CS_ADHOC = 0x2
CS_RUNTIME = 0x10000
CS_LINKER_SIGNED = 0x20000
SHA1, SHA256 = 1, 2
_HASH = {SHA1: ("sha1", 20), SHA256: ("sha256", 32)}

TEXT_SIZE = 0x4000  # one 16 KiB page: header, load commands and code
CODE_OFFSET = 0x1000  # where the fake instructions start inside __TEXT
LINKEDIT_DATA = b"\x00" * 8 + b"_main\x00_helper\x00" + b"\x00" * 41  # stand-in symbol/string tables
CMS_RESERVE = 12 * 1024  # codesign reserves room for the CMS before it knows its size


# --- test PKI -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Identity:
    cert: x509.Certificate
    key: Any  # private key (RSA or EC)
    chain: tuple[x509.Certificate, ...] = ()  # intermediates to ship in the CMS

    @property
    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def write_pem(self, path: Path) -> Path:
        path.write_bytes(self.pem)
        return path


def _name(cn: str, org: str | None = None, ou: str | None = None) -> x509.Name:
    # Apple's own CNs exceed X.520's 64 characters ("Developer ID Application: <org> (<team>)").
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        attrs = [x509.NameAttribute(NameOID.COMMON_NAME, cn, _validate=False)]
    if ou:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, ou))
    if org:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    attrs.append(x509.NameAttribute(NameOID.COUNTRY_NAME, "US"))
    return x509.Name(attrs)


NOT_BEFORE = datetime(2024, 1, 1, tzinfo=UTC)
NOT_AFTER = datetime(2034, 1, 1, tzinfo=UTC)


def make_root(cn: str = "Lureguard Test Apple-like Root CA") -> Identity:
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name(cn, "Lureguard Test PKI")
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOT_BEFORE)
        .not_valid_after(NOT_AFTER)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return Identity(cert, key)


def make_developer(root: Identity, team_id: str, org: str = "Example Corp") -> Identity:
    """A "Developer ID Application" style leaf: subject OU is the Team ID, EKU code signing."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(f"Developer ID Application: {org} ({team_id})", org, team_id))
        .issuer_name(root.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOT_BEFORE)
        .not_valid_after(NOT_AFTER - timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(root.cert.public_key()),  # type: ignore[arg-type]
            critical=False,
        )
        .sign(root.key, hashes.SHA256())
    )
    return Identity(cert, key, chain=(root.cert,))


SIGNING_TIME = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
NOW = datetime(2025, 6, 1, tzinfo=UTC)  # a clock inside every test certificate's validity


def make_cms(content: bytes, signer: Identity, cdhashes: list[bytes] | None) -> bytes:
    """Detached CMS SignedData over ``content`` (SHA-256, RSA PKCS#1 v1.5), Apple style."""
    attrs = [
        asn1_cms.CMSAttribute({"type": "content_type", "values": ["data"]}),
        asn1_cms.CMSAttribute({"type": "signing_time", "values": [asn1_cms.Time({"utc_time": SIGNING_TIME})]}),
        asn1_cms.CMSAttribute({"type": "message_digest", "values": [hashlib.sha256(content).digest()]}),
    ]
    if cdhashes is not None:
        plist = plistlib.dumps({"cdhashes": [h[:20] for h in cdhashes]}, fmt=plistlib.FMT_XML)
        attrs.append(asn1_cms.CMSAttribute({"type": "1.2.840.113635.100.9.1", "values": [core.OctetString(plist)]}))
    signed_attrs = asn1_cms.CMSAttributes(attrs)
    signature = signer.key.sign(signed_attrs.dump(), padding.PKCS1v15(), hashes.SHA256())
    leaf = asn1_x509.Certificate.load(signer.cert.public_bytes(serialization.Encoding.DER))
    certs = [leaf] + [asn1_x509.Certificate.load(c.public_bytes(serialization.Encoding.DER)) for c in signer.chain]
    signer_info = asn1_cms.SignerInfo(
        {
            "version": "v1",
            "sid": asn1_cms.SignerIdentifier(
                {
                    "issuer_and_serial_number": asn1_cms.IssuerAndSerialNumber(
                        {"issuer": leaf.issuer, "serial_number": leaf.serial_number}
                    )
                }
            ),
            "digest_algorithm": algos.DigestAlgorithm({"algorithm": "sha256"}),
            "signed_attrs": signed_attrs,
            "signature_algorithm": algos.SignedDigestAlgorithm({"algorithm": "rsassa_pkcs1v15"}),
            "signature": signature,
        }
    )
    signed_data = asn1_cms.SignedData(
        {
            "version": "v1",
            "digest_algorithms": [algos.DigestAlgorithm({"algorithm": "sha256"})],
            "encap_content_info": {"content_type": "data"},
            "certificates": certs,
            "signer_infos": [signer_info],
        }
    )
    return asn1_cms.ContentInfo({"content_type": "signed_data", "content": signed_data}).dump()


# --- code signature -----------------------------------------------------------------------------


@dataclass
class SignSpec:
    identifier: str = "com.example.hello"
    team_id: str | None = None
    flags: int = CS_ADHOC
    hash_types: tuple[int, ...] = (SHA256,)  # first is the primary (slot 0), others alternates (0x1000..)
    page_shift: int = 12
    requirements: bool = True
    entitlements: bytes | None = None  # XML plist
    sealed_files: Mapping[int, bytes] = field(default_factory=dict)  # 1: Info.plist, 3: CodeResources
    signer: Identity | None = None  # CMS signer; None = no CMS (empty wrapper if empty_cms)
    empty_cms: bool = True  # codesign -s - writes an empty CMS wrapper; ld's linker signature has none
    cdhashes_attr: bool = True


def _blob(magic: int, payload: bytes) -> bytes:
    return struct.pack(">II", magic, 8 + len(payload)) + payload


def _code_directory(spec: SignSpec, hash_type: int, code: bytes, specials: dict[int, bytes]) -> bytes:
    name, size = _HASH[hash_type]
    page = 1 << spec.page_shift
    n_code = -(-len(code) // page)
    n_special = max(specials, default=0)
    ident = spec.identifier.encode() + b"\0"
    team = spec.team_id.encode() + b"\0" if spec.team_id else b""
    header_len = 88  # version 0x20400
    ident_off = header_len
    team_off = ident_off + len(ident) if team else 0
    hash_off = header_len + len(ident) + len(team) + n_special * size
    special_hashes = b"".join(
        hashlib.new(name, specials[s]).digest()[:size] if s in specials else b"\0" * size
        for s in range(n_special, 0, -1)
    )
    code_hashes = b"".join(hashlib.new(name, code[i * page : (i + 1) * page]).digest()[:size] for i in range(n_code))
    length = hash_off + n_code * size
    header = struct.pack(
        ">IIIIIIIIIBBBBIIIIQQQQ",
        0xFADE0C02,
        length,
        0x20400,
        spec.flags,
        hash_off,
        ident_off,
        n_special,
        n_code,
        len(code),
        size,
        hash_type,
        0,
        spec.page_shift,
        0,
        0,  # scatterOffset
        team_off,
        0,  # spare3
        0,  # codeLimit64
        0,  # execSegBase
        TEXT_SIZE,  # execSegLimit
        1 if spec.flags & CS_ADHOC == 0 else 0,  # execSegFlags: main binary
    )
    assert len(header) == header_len
    return header + ident + team + special_hashes + code_hashes


def _signature_blobs(spec: SignSpec, code: bytes) -> tuple[bytes, int]:
    """(SuperBlob, its reserved size) for ``code`` = the slice bytes up to the signature."""
    blobs: list[tuple[int, bytes]] = []
    specials: dict[int, bytes] = dict(spec.sealed_files)
    if spec.requirements:
        req = _blob(0xFADE0C01, struct.pack(">I", 0))  # empty requirement set, as codesign -s - writes
        blobs.append((2, req))
        specials[2] = req
    if spec.entitlements is not None:
        ent = _blob(0xFADE7171, spec.entitlements)
        blobs.append((5, ent))
        specials[5] = ent
    cds = [_code_directory(spec, ht, code, specials) for ht in spec.hash_types]
    blobs.insert(0, (0, cds[0]))
    for i, cd in enumerate(cds[1:]):
        blobs.append((0x1000 + i, cd))
    if spec.signer is not None:
        cdhashes = [hashlib.new(_HASH[ht][0], cd).digest()[:20] for ht, cd in zip(spec.hash_types, cds, strict=True)]
        cms = make_cms(cds[0], spec.signer, cdhashes if spec.cdhashes_attr else None)
        blobs.append((0x10000, _blob(0xFADE0B01, cms)))
    elif spec.empty_cms:
        blobs.append((0x10000, _blob(0xFADE0B01, b"")))
    index_len = 12 + 8 * len(blobs)
    out_index = b""
    body = b""
    for slot, data in blobs:
        out_index += struct.pack(">II", slot, index_len + len(body))
        body += data
    superblob = struct.pack(">III", 0xFADE0CC0, index_len + len(body), len(blobs)) + out_index + body
    return superblob, len(superblob)


def _reserve(spec: SignSpec, code_limit: int) -> int:
    """Size to reserve for the signature (the header carries it before the pages are hashed)."""
    sealed = len(spec.sealed_files)
    total = 12 + 8 * 8 + 64 + (len(spec.entitlements) + 8 if spec.entitlements else 0) + 16
    for ht in spec.hash_types:
        size = _HASH[ht][1]
        n_code = -(-code_limit // (1 << spec.page_shift))
        total += 88 + len(spec.identifier) + 1 + len(spec.team_id or "") + 1 + (8 + sealed) * size + n_code * size
    if spec.signer is not None:
        total += CMS_RESERVE
    return (total + 15) & ~15


# --- Mach-O ---------------------------------------------------------------------------------------


def _lc(cmd: int, payload: bytes, align: int = 8) -> bytes:
    size = 8 + len(payload)
    pad = (-size) % align
    return struct.pack("<II", cmd, size + pad) + payload + b"\0" * pad


def _seg64(
    name: str, vmaddr: int, vmsize: int, fileoff: int, filesize: int, prot: int, sects: bytes = b"", nsects: int = 0
) -> bytes:
    return _lc(
        0x19,
        struct.pack("<16sQQQQiiII", name.encode(), vmaddr, vmsize, fileoff, filesize, prot, prot, nsects, 0) + sects,
    )


def build_macho(
    cpu: str = "x86_64",
    sign: SignSpec | None = None,
    code: bytes | None = None,
    dylibs: tuple[str, ...] = ("/usr/lib/libSystem.B.dylib",),
) -> bytes:
    """A thin 64-bit little-endian MH_EXECUTE; signed as ``sign`` says, unsigned when None."""
    cputype, cpusub = CPU[cpu]
    code = code if code is not None else (b"\x90" * 16 + b"hello from a lureguard test binary\0" + b"\xc3")
    text_size = max(TEXT_SIZE, (CODE_OFFSET + len(code) + 0x3FFF) & ~0x3FFF)
    linkedit_off = text_size
    sig_off = linkedit_off + ((len(LINKEDIT_DATA) + 15) & ~15)
    sig_reserve = _reserve(sign, sig_off) if sign else 0
    linkedit_size = sig_off - linkedit_off + sig_reserve

    text_sect = struct.pack(
        "<16s16sQQIIIIIIII",
        b"__text",
        b"__TEXT",
        0x100000000 + CODE_OFFSET,
        len(code),
        CODE_OFFSET,
        4,
        0,
        0,
        0x80000400,
        0,
        0,
        0,
    )
    cmds = [
        _seg64("__PAGEZERO", 0, 0x100000000, 0, 0, 0),
        _seg64("__TEXT", 0x100000000, text_size, 0, text_size, 5, text_sect, 1),
        _seg64("__LINKEDIT", 0x100000000 + text_size, 0x4000, linkedit_off, linkedit_size, 1),
        _lc(0x32, struct.pack("<IIII", 1, 0x000B0000, 0x000E0000, 0)),  # LC_BUILD_VERSION macOS 11.0, sdk 14.0
        _lc(0x80000028, struct.pack("<QQ", CODE_OFFSET, 0)),  # LC_MAIN
        _lc(0xE, struct.pack("<I", 12) + b"/usr/lib/dyld\0"),  # LC_LOAD_DYLINKER
        _lc(0x1B, hashlib.md5(code + cpu.encode()).digest()),  # LC_UUID
    ]
    for path in dylibs:
        cmds.append(_lc(0xC, struct.pack("<IIII", 24, 2, 0x10000, 0x10000) + path.encode() + b"\0"))
    if sign:
        cmds.append(_lc(0x1D, struct.pack("<II", sig_off, sig_reserve)))
    lcs = b"".join(cmds)
    header = struct.pack("<IiIIIIII", 0xFEEDFACF, cputype, cpusub, 2, len(cmds), len(lcs), 0x00200085, 0)
    assert len(header) + len(lcs) <= CODE_OFFSET
    text = (header + lcs).ljust(CODE_OFFSET, b"\0") + code
    out = text.ljust(text_size, b"\0") + LINKEDIT_DATA
    out = out.ljust(sig_off, b"\0")
    if sign is None:
        return out
    superblob, used = _signature_blobs(sign, out)
    assert used <= sig_reserve, (used, sig_reserve)
    return out + superblob.ljust(sig_reserve, b"\0")


def build_fat(slices: list[tuple[str, bytes]], fat64: bool = False, align_shift: int = 14) -> bytes:
    """A universal binary holding the given (cpu, thin Mach-O) slices, each aligned to 2^align_shift."""
    entry = 32 if fat64 else 20
    head = struct.pack(">II", 0xCAFEBABF if fat64 else 0xCAFEBABE, len(slices))
    align = 1 << align_shift
    offset = align
    entries = b""
    body = b""
    for cpu, data in slices:
        cputype, cpusub = CPU[cpu]
        if fat64:
            entries += struct.pack(">iIQQII", cputype, cpusub, offset, len(data), align_shift, 0)
        else:
            entries += struct.pack(">iIIII", cputype, cpusub, offset, len(data), align_shift)
        padded = data + b"\0" * ((-len(data)) % align)
        body += padded
        offset += len(padded)
    assert len(head) + len(entries) == 8 + entry * len(slices)
    return (head + entries).ljust(align, b"\0") + body


def flip_code_byte(data: bytes, at: int = CODE_OFFSET + 20) -> bytes:
    """Change one byte of code after signing (what a patched binary looks like)."""
    return data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1 :]


def java_class() -> bytes:
    """A minimal Java class file header (0xcafebabe, minor 0, major 65 = Java 21)."""
    return b"\xca\xfe\xba\xbe\x00\x00\x00\x41" + b"\x00\x10" + b"\x01\x00\x04Test" + b"\x00" * 40


# --- .app bundles ---------------------------------------------------------------------------------


def info_plist(
    bundle_id: str,
    name: str,
    executable: str,
    *,
    binary: bool = False,
    version: str = "6.1.0",
    min_os: str = "11.0",
    display_name: str | None = None,
) -> bytes:
    doc: dict[str, Any] = {
        "CFBundleIdentifier": bundle_id,
        "CFBundleName": name,
        "CFBundleExecutable": executable,
        "CFBundleShortVersionString": version,
        "CFBundlePackageType": "APPL",
        "LSMinimumSystemVersion": min_os,
    }
    if display_name:
        doc["CFBundleDisplayName"] = display_name
    return plistlib.dumps(doc, fmt=plistlib.FMT_BINARY if binary else plistlib.FMT_XML)


def app_tree(info: bytes, executable: str, exe: bytes, code_resources: bytes | None = None) -> dict[str, bytes]:
    """Files of a bundle, keyed relative to the bundle root."""
    files = {"Contents/Info.plist": info, f"Contents/MacOS/{executable}": exe}
    if code_resources is not None:
        files["Contents/_CodeSignature/CodeResources"] = code_resources
    return files


def build_macho32_be() -> bytes:
    """A thin 32-bit big-endian (PowerPC) MH_EXECUTE with a __TEXT segment and one dylib; unsigned."""
    seg = struct.pack(">II16sIIIIiiII", 0x1, 56, b"__TEXT", 0x1000, 0x1000, 0, 0x1000, 5, 5, 0, 0)
    name = b"/usr/lib/libSystem.B.dylib\0"
    dylib_size = 24 + len(name) + (-(24 + len(name)) % 4)
    dylib = struct.pack(">IIIIII", 0xC, dylib_size, 24, 2, 0x10000, 0x10000) + name
    dylib = dylib.ljust(dylib_size, b"\0")
    lcs = seg + dylib
    header = struct.pack(">IiIIIII", 0xFEEDFACE, 18, 0, 2, 2, len(lcs), 0)
    return (header + lcs).ljust(0x1000, b"\0")
