"""Authenticode on real files: genuine Microsoft DLLs, PEs/MSIs/scripts signed by osslsigncode with a test PKI.

Every status a signature can have is produced by a real tool here (no hand-made verdict inputs), and our PE
digest is cross-checked against LIEF's on the same files.
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import lief
import olefile
import pytest
from asn1crypto import cms

from agent.analysis.context import AnalysisContext
from agent.analysis.facts import SigStatus
from agent.analysis.formats import msi as msi_format
from agent.analysis.formats import pe as pe_format
from agent.analysis.sig.authenticode import pe_authentihash, pe_layout, verify_msi, verify_pe, verify_powershell
from agent.analysis.sig.trust import TrustStore
from tests.corpus.msi_build import build_msi
from tests.corpus.msvc import msvc_dlls
from tests.corpus.pe_build import build_pe
from tests.corpus.pki import BEFORE_EXPIRY, NOW, Pki, make_pki
from tests.corpus.sign import add_pkcs9_countersignature, replace_signature, sign

CACHE = Path(__file__).resolve().parent / ".cache"
ZOOM = "Zoom Video Communications, Inc."
# After vcruntime140's leaf expired (2026-05-15): only its RFC 3161 timestamp can make it valid.
AFTER_MS_LEAF_EXPIRY = datetime(2027, 1, 15, tzinfo=UTC)


@pytest.fixture(scope="session")
def pki() -> Pki:
    return make_pki(CACHE / "pki")


@pytest.fixture(scope="session")
def default_store() -> TrustStore:
    return TrustStore.load()


@pytest.fixture(scope="session")
def test_store(pki: Pki) -> TrustStore:
    return TrustStore.load(extra_roots=[pki.root])


@pytest.fixture(scope="session")
def ms_dlls() -> dict[str, Path]:
    return msvc_dlls(CACHE)


@pytest.fixture(scope="session")
def unsigned_exe() -> Path:
    return build_pe(CACHE, {"CompanyName": ZOOM, "ProductName": "Zoom Workplace", "FileDescription": "Zoom Update"})


@pytest.fixture(scope="session")
def signed(tmp_path_factory: pytest.TempPathFactory, pki: Pki, unsigned_exe: Path) -> dict[str, Path]:
    """Signed variants of one EXE, made once per session."""
    d = tmp_path_factory.mktemp("signed")
    return {
        "vendor": sign(unsigned_exe, d / "vendor.exe", pki.vendor),
        "zoom_fake": sign(unsigned_exe, d / "zoom_fake.exe", pki.zoom_fake),
        "expired": sign(unsigned_exe, d / "expired.exe", pki.expired),
        "expired_ts": sign(unsigned_exe, d / "expired_ts.exe", pki.expired, signing_time=BEFORE_EXPIRY, tsa=pki.tsa),
        "expired_bad_tsa": sign(
            unsigned_exe, d / "expired_bad_tsa.exe", pki.expired, signing_time=BEFORE_EXPIRY, tsa=pki.rogue_tsa
        ),
        "sha1": sign(unsigned_exe, d / "sha1.exe", pki.vendor, digest="sha1"),
    }


def _verify(path: Path, store: TrustStore, now: datetime = NOW) -> SigStatus:
    facts = verify_pe(path.read_bytes(), trust=store, now=now)
    assert facts is not None
    return facts.status


# --- genuine Microsoft signatures -------------------------------------------------------------------


@pytest.mark.parametrize("dll", ["vcruntime140.dll", "vcruntime140_1.dll", "msvcp140.dll"])
def test_microsoft_dll_is_valid_through_its_timestamp(
    ms_dlls: dict[str, Path], default_store: TrustStore, dll: str
) -> None:
    # The signer certificate has expired by this clock; a verified RFC 3161 timestamp keeps it valid.
    facts = verify_pe(ms_dlls[dll].read_bytes(), trust=default_store, now=AFTER_MS_LEAF_EXPIRY)
    assert facts is not None
    assert facts.status is SigStatus.VALID, facts.problems
    assert facts.signer_org == "Microsoft Corporation"
    assert facts.root is not None and "Microsoft Root Certificate Authority" in facts.root
    assert facts.timestamp is not None and facts.timestamp.startswith("2025-")
    assert facts.extra["timestamp_kind"] == "rfc3161"
    # The nested (dual) signature is verified too and reported beside the primary.
    assert [n["status"] for n in facts.extra.get("nested", [])] in ([], ["valid"])


def test_microsoft_dll_renamed_is_still_valid(
    ms_dlls: dict[str, Path], tmp_path: Path, default_store: TrustStore
) -> None:
    # The signature covers content, not the name: a renamed genuine DLL stays VALID.
    renamed = tmp_path / "ZoomInstallerFull.exe"
    shutil.copy(ms_dlls["vcruntime140.dll"], renamed)
    ctx = AnalysisContext(trust=default_store, vendors=None, now=AFTER_MS_LEAF_EXPIRY)  # type: ignore[arg-type]
    result = pe_format.analyze(renamed.read_bytes(), renamed.name, ctx)
    assert result.signature is not None and result.signature.status is SigStatus.VALID


def test_microsoft_dll_one_byte_changed_is_bad_digest(ms_dlls: dict[str, Path], default_store: TrustStore) -> None:
    data = bytearray(ms_dlls["vcruntime140.dll"].read_bytes())
    data[0x1000] ^= 0x01  # inside .text, covered by the digest
    facts = verify_pe(bytes(data), trust=default_store, now=AFTER_MS_LEAF_EXPIRY)
    assert facts is not None and facts.status is SigStatus.BAD_DIGEST
    assert any("digest mismatch" in p for p in facts.problems)


def test_checksum_field_is_not_covered(ms_dlls: dict[str, Path], default_store: TrustStore) -> None:
    # The PE CheckSum is excluded from the Authenticode digest by the spec: changing it keeps VALID.
    data = bytearray(ms_dlls["vcruntime140.dll"].read_bytes())
    layout = pe_layout(bytes(data))
    assert layout is not None
    data[layout.checksum_offset] ^= 0xFF
    facts = verify_pe(bytes(data), trust=default_store, now=AFTER_MS_LEAF_EXPIRY)
    assert facts is not None and facts.status is SigStatus.VALID


def test_microsoft_dll_without_its_timestamp_is_expired(ms_dlls: dict[str, Path], default_store: TrustStore) -> None:
    # Remove the unsigned attributes (timestamp + nested signature): after the leaf's expiry the very same
    # signature is EXPIRED, which shows the timestamp is what kept it VALID above.
    data = ms_dlls["vcruntime140.dll"].read_bytes()
    layout = pe_layout(data)
    assert layout is not None
    info = cms.ContentInfo.load(data[layout.cert_table_offset + 8 : layout.cert_table_offset + layout.cert_table_size])
    signer = info["content"]["signer_infos"][0]
    signer["unsigned_attrs"] = None
    stripped = replace_signature(data, info.dump(force=True))
    late = verify_pe(stripped, trust=default_store, now=AFTER_MS_LEAF_EXPIRY)
    assert late is not None and late.status is SigStatus.EXPIRED, late.problems
    assert late.timestamp is None
    early = verify_pe(stripped, trust=default_store, now=datetime(2025, 7, 1, tzinfo=UTC))
    assert early is not None and early.status is SigStatus.VALID, early.problems


# --- test PKI signatures ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("variant", "trusted_test_root", "expected"),
    [
        ("vendor", False, SigStatus.UNTRUSTED_ROOT),  # intact, but our test root is not a Microsoft root
        ("vendor", True, SigStatus.VALID),  # the same file once the enterprise trusts the test root
        ("zoom_fake", False, SigStatus.UNTRUSTED_ROOT),  # a self-made root whose subject says Zoom proves nothing
        ("zoom_fake", True, SigStatus.UNTRUSTED_ROOT),  # ... even when another extra root is trusted
        ("expired", True, SigStatus.EXPIRED),  # leaf expired in 2021, no timestamp
        ("expired_ts", True, SigStatus.VALID),  # same leaf, timestamped while it was valid
        ("expired_bad_tsa", True, SigStatus.EXPIRED),  # a timestamp from an untrusted TSA is ignored
        ("sha1", True, SigStatus.VALID),  # legacy SHA-1 digest still verifies (status says nothing of strength)
    ],
)
def test_signed_pe_status(
    signed: dict[str, Path],
    default_store: TrustStore,
    test_store: TrustStore,
    variant: str,
    trusted_test_root: bool,
    expected: SigStatus,
) -> None:
    store = test_store if trusted_test_root else default_store
    assert _verify(signed[variant], store) is expected


def test_zoom_fake_reports_claimed_org_but_not_proof(signed: dict[str, Path], default_store: TrustStore) -> None:
    facts = verify_pe(signed["zoom_fake"].read_bytes(), trust=default_store, now=NOW)
    assert facts is not None
    assert facts.signer_org == ZOOM and not facts.proven
    assert any(p.startswith("untrusted_root") for p in facts.problems)
    assert facts.root is not None and "Zoom" in facts.root


def test_timestamp_facts(signed: dict[str, Path], test_store: TrustStore) -> None:
    facts = verify_pe(signed["expired_ts"].read_bytes(), trust=test_store, now=NOW)
    assert facts is not None
    assert facts.timestamp == BEFORE_EXPIRY.isoformat()
    assert facts.extra["tsa"].startswith("CN=Lureguard Test Timestamping Authority")


def test_untrusted_timestamp_is_reported(signed: dict[str, Path], test_store: TrustStore) -> None:
    facts = verify_pe(signed["expired_bad_tsa"].read_bytes(), trust=test_store, now=NOW)
    assert facts is not None and facts.timestamp is None
    assert any(p.startswith("timestamp (rfc3161): untrusted_root") for p in facts.problems), facts.problems


@pytest.mark.parametrize(
    ("tsa", "forged", "expected"),
    [
        ("tsa", False, SigStatus.VALID),  # legacy timestamp by our TSA while the leaf was valid
        ("rogue_tsa", False, SigStatus.EXPIRED),  # by a TSA under an untrusted root: ignored
        ("tsa", True, SigStatus.EXPIRED),  # its messageDigest covers other bytes: ignored
    ],
)
def test_legacy_pkcs9_countersignature(
    signed: dict[str, Path], pki: Pki, test_store: TrustStore, tsa: str, forged: bool, expected: SigStatus
) -> None:
    data = add_pkcs9_countersignature(
        signed["expired"].read_bytes(), getattr(pki, tsa), BEFORE_EXPIRY, over=b"something else" if forged else None
    )
    facts = verify_pe(data, trust=test_store, now=NOW)
    assert facts is not None and facts.status is expected, facts.problems
    if expected is SigStatus.VALID:
        assert facts.extra["timestamp_kind"] == "pkcs9" and facts.timestamp == BEFORE_EXPIRY.isoformat()
    else:
        assert facts.timestamp is None and any(p.startswith("timestamp (pkcs9)") for p in facts.problems)


def test_nested_signature_listed(tmp_path: Path, pki: Pki, signed: dict[str, Path], test_store: TrustStore) -> None:
    # Dual signing (SHA-256 primary + nested SHA-1 by another company): primary decides, nested is listed.
    nested = sign(signed["vendor"], tmp_path / "nested.exe", pki.unrelated, digest="sha1", nest=True)
    facts = verify_pe(nested.read_bytes(), trust=test_store, now=NOW)
    assert facts is not None and facts.status is SigStatus.VALID
    assert facts.signer_org == "Lureguard Test Vendor"
    assert [(n["signer_org"], n["digest_algorithm"], n["status"]) for n in facts.extra["nested"]] == [
        ("Example Widgets LLC", "sha1", "valid")
    ]


def test_tampered_signature_value_is_bad_signature(signed: dict[str, Path], test_store: TrustStore) -> None:
    data = bytearray(signed["vendor"].read_bytes())
    layout = pe_layout(bytes(data))
    assert layout is not None
    der = bytes(data[layout.cert_table_offset + 8 : layout.cert_table_offset + layout.cert_table_size])
    sig_value = cms.ContentInfo.load(der)["content"]["signer_infos"][0]["signature"].native
    at = bytes(data).index(sig_value)
    data[at + 10] ^= 0x01
    facts = verify_pe(bytes(data), trust=test_store, now=NOW)
    assert facts is not None and facts.status is SigStatus.BAD_SIGNATURE
    assert "signer signature does not verify" in facts.problems


@pytest.mark.parametrize(
    "corruption",
    [
        "garbage_pkcs7",  # the WIN_CERTIFICATE holds random bytes instead of DER
        "bad_entry_length",  # dwLength larger than the table
        "table_past_eof",  # the security directory points beyond the file
        "wrong_cert_type",  # an X.509 (type 1) entry instead of PKCS#7
    ],
)
def test_malformed_certificate_table(signed: dict[str, Path], test_store: TrustStore, corruption: str) -> None:
    data = bytearray(signed["vendor"].read_bytes())
    layout = pe_layout(bytes(data))
    assert layout is not None and layout.security_dir_offset is not None
    start = layout.cert_table_offset
    if corruption == "garbage_pkcs7":
        data[start + 8 : start + layout.cert_table_size] = b"\x30\x82\x7f\xff" + b"\xa5" * (layout.cert_table_size - 12)
    elif corruption == "bad_entry_length":
        data[start : start + 4] = (layout.cert_table_size + 64).to_bytes(4, "little")
    elif corruption == "table_past_eof":
        data[layout.security_dir_offset : layout.security_dir_offset + 4] = (len(data) - 16).to_bytes(4, "little")
    else:
        data[start + 6 : start + 8] = (1).to_bytes(2, "little")
    facts = verify_pe(bytes(data), trust=test_store, now=NOW)
    assert facts is not None and facts.status is SigStatus.MALFORMED
    assert facts.problems


def test_data_appended_after_certificate_table(signed: dict[str, Path], test_store: TrustStore) -> None:
    # Appending past the signature changes what Windows hashes: not proof any more, and said why.
    data = signed["vendor"].read_bytes() + b"payload appended later https://cdn.example.invalid/x"
    facts = verify_pe(data, trust=test_store, now=NOW)
    assert facts is not None and facts.status is SigStatus.BAD_DIGEST
    assert any("follow the certificate table" in p for p in facts.problems)


def test_unsigned_pe_has_no_signature(unsigned_exe: Path, test_store: TrustStore) -> None:
    assert verify_pe(unsigned_exe.read_bytes(), trust=test_store, now=NOW) is None


# --- cross-check with LIEF -------------------------------------------------------------------------


def test_authentihash_matches_lief(ms_dlls: dict[str, Path], signed: dict[str, Path]) -> None:
    files = [*ms_dlls.values(), *signed.values()]
    for path in files:
        binary = lief.PE.parse(str(path))
        assert binary is not None
        for ours, theirs in (("sha256", lief.PE.ALGORITHMS.SHA_256), ("sha1", lief.PE.ALGORITHMS.SHA_1)):
            assert pe_authentihash(path.read_bytes(), ours) == bytes(binary.authentihash(theirs)), path.name


def test_integrity_agrees_with_lief(signed: dict[str, Path], test_store: TrustStore, tmp_path: Path) -> None:
    # LIEF checks integrity only; on intact and tampered files both tools must agree on "digest ok".
    tampered = tmp_path / "tampered.exe"
    data = bytearray(signed["vendor"].read_bytes())
    data[0x400] ^= 0x01
    tampered.write_bytes(bytes(data))
    for path, intact in ((signed["vendor"], True), (tampered, False)):
        lief_ok = lief.PE.parse(str(path)).verify_signature() == lief.PE.Signature.VERIFICATION_FLAGS.OK
        facts = verify_pe(path.read_bytes(), trust=test_store, now=NOW)
        assert facts is not None
        assert lief_ok is intact
        assert (facts.status is SigStatus.VALID) is intact


# --- MSI ------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def zoom_msi() -> Path:
    return build_msi(CACHE, manufacturer=ZOOM, name="Zoom Workplace", version="6.1.0.0")


@pytest.mark.parametrize("dse", [False, True], ids=["plain", "msi-dse"])
def test_signed_msi(
    tmp_path: Path, pki: Pki, zoom_msi: Path, test_store: TrustStore, default_store: TrustStore, dse: bool
) -> None:
    # With and without the MsiDigitalSignatureEx metadata pre-hash (osslsigncode -add-msi-dse).
    out = sign(zoom_msi, tmp_path / "signed.msi", pki.vendor, add_msi_dse=dse)
    for store, expected in ((test_store, SigStatus.VALID), (default_store, SigStatus.UNTRUSTED_ROOT)):
        ole = olefile.OleFileIO(out.read_bytes())
        facts = verify_msi(ole, trust=store, now=NOW)
        assert facts is not None and facts.status is expected, facts.problems
        assert facts.extra["msi_dse"] is dse


def test_msi_tampered_stream_is_bad_digest(tmp_path: Path, pki: Pki, zoom_msi: Path, test_store: TrustStore) -> None:
    out = sign(zoom_msi, tmp_path / "signed.msi", pki.vendor)
    with olefile.OleFileIO(str(out), write_mode=True) as ole:
        target = next(p for p in ole.listdir() if msi_format.decode_stream_name(p[0]) == "!_StringData")
        data = bytearray(ole.openstream(target).read())
        at = bytes(data).index(b"Zoom Workplace")
        data[at : at + 4] = b"Z00m"  # same size: the package stays well-formed, only the content changes
        ole.write_stream(target, bytes(data))
    facts = verify_msi(olefile.OleFileIO(out.read_bytes()), trust=test_store, now=NOW)
    assert facts is not None and facts.status is SigStatus.BAD_DIGEST


def test_unsigned_msi_has_no_signature(zoom_msi: Path, test_store: TrustStore) -> None:
    assert verify_msi(olefile.OleFileIO(zoom_msi.read_bytes()), trust=test_store, now=NOW) is None


# --- PowerShell ------------------------------------------------------------------------------------

SCRIPT = (
    "# Zoom update helper (test fixture)\r\n"
    "$u = 'https://update.example.invalid/zoom'\r\n"
    'Write-Host "checking $u"\r\n'
)


@pytest.fixture(scope="session")
def signed_ps1(tmp_path_factory: pytest.TempPathFactory, pki: Pki) -> Path:
    d = tmp_path_factory.mktemp("ps1")
    src = d / "update.ps1"
    src.write_bytes(SCRIPT.encode())
    return sign(src, d / "signed.ps1", pki.vendor)


def test_signed_powershell_valid_with_extra_root(
    signed_ps1: Path, test_store: TrustStore, default_store: TrustStore
) -> None:
    facts = verify_powershell(signed_ps1.read_bytes(), trust=test_store, now=NOW)
    assert facts is not None and facts.status is SigStatus.VALID, facts.problems
    assert facts.kind == "powershell" and facts.signer_org == "Lureguard Test Vendor"
    untrusted = verify_powershell(signed_ps1.read_bytes(), trust=default_store, now=NOW)
    assert untrusted is not None and untrusted.status is SigStatus.UNTRUSTED_ROOT


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda s: s.replace("checking", "fetching"), SigStatus.BAD_DIGEST),  # one line edited
        (lambda s: s + "Invoke-Expression $payload\r\n", SigStatus.BAD_DIGEST),  # code after the block
        (lambda s: s.replace("# SIG # End signature block", "# SIG # End"), SigStatus.MALFORMED),  # block broken
        (lambda s: s, SigStatus.VALID),  # control: untouched text
    ],
)
def test_powershell_edits(signed_ps1: Path, test_store: TrustStore, edit: object, expected: SigStatus) -> None:
    text = signed_ps1.read_bytes().decode()
    assert callable(edit)
    facts = verify_powershell(edit(text).encode(), trust=test_store, now=NOW)
    assert facts is not None and facts.status is expected, facts.problems


def test_utf16_powershell(tmp_path: Path, pki: Pki, test_store: TrustStore) -> None:
    # Windows PowerShell ISE saves UTF-16LE with a BOM; osslsigncode signs that encoding as is.
    src = tmp_path / "u16.ps1"
    src.write_bytes(b"\xff\xfe" + SCRIPT.encode("utf-16-le"))
    out = sign(src, tmp_path / "u16-signed.ps1", pki.vendor)
    facts = verify_powershell(out.read_bytes(), trust=test_store, now=NOW)
    assert facts is not None and facts.status is SigStatus.VALID, facts.problems


def test_unsigned_powershell(test_store: TrustStore) -> None:
    assert verify_powershell(SCRIPT.encode(), trust=test_store, now=NOW) is None
