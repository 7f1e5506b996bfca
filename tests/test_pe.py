"""PE handler: VERSIONINFO claims, header facts, overlay, signature wiring, and robustness on broken PEs."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from agent.analysis.context import AnalysisContext
from agent.analysis.facts import SigStatus
from agent.analysis.formats import pe
from agent.analysis.sig.trust import TrustStore
from tests.corpus.msvc import msvc_dlls
from tests.corpus.pe_build import build_pe
from tests.corpus.pki import NOW, Pki, make_pki
from tests.corpus.sign import sign

CACHE = Path(__file__).resolve().parent / ".cache"
ZOOM = "Zoom Video Communications, Inc."
STRINGS = {
    "CompanyName": ZOOM,
    "ProductName": "Zoom Workplace",
    "FileDescription": "Zoom Meetings Update",
    "OriginalFilename": "Zoom.exe",
    "InternalName": "Zoom",
    "LegalCopyright": "Copyright (C) Zoom",
    "FileVersion": "6.1.0",
}


@pytest.fixture(scope="session")
def pki() -> Pki:
    return make_pki(CACHE / "pki")


@pytest.fixture(scope="session")
def ctx(pki: Pki) -> AnalysisContext:
    # VendorTable is not needed by the handler; the lead's shared fixture replaces this later.
    return AnalysisContext(trust=TrustStore.load(extra_roots=[pki.root]), vendors=None, now=NOW)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def zoom_exe() -> Path:
    return build_pe(CACHE, STRINGS)


def test_versioninfo_claims(zoom_exe: Path, ctx: AnalysisContext) -> None:
    result = pe.analyze(zoom_exe.read_bytes(), "ZoomUpdate.exe", ctx)
    assert result.type == "pe"
    # Every brand-bearing VERSIONINFO key becomes a claim field; FileVersion does not.
    expected = [(f"versioninfo:{k}", v) for k, v in STRINGS.items() if k != "FileVersion"]
    assert sorted(result.claim_fields) == sorted(expected)
    assert result.facts["versioninfo"]["FileVersion"] == "6.1.0"
    assert result.signature is None and result.anomalies == []


def test_header_facts(zoom_exe: Path, ctx: AnalysisContext) -> None:
    facts = pe.analyze(zoom_exe.read_bytes(), "x.exe", ctx).facts
    assert (facts["machine"], facts["dll"], facts["pe32_plus"], facts["subsystem"]) == (
        "amd64",
        False,
        True,
        "windows_gui",
    )
    assert facts["entry_section"] == ".text"
    assert facts["sections"][0]["name"] == ".text"
    assert "overlay" not in facts  # ld -s leaves nothing after the last section


def test_dll_flag() -> None:
    dll = build_pe(CACHE, {"CompanyName": "Example Widgets LLC"}, dll=True)
    ctx = AnalysisContext(trust=TrustStore.load(include_default=False), vendors=None, now=NOW)  # type: ignore[arg-type]
    assert pe.analyze(dll.read_bytes(), "x.dll", ctx).facts["dll"] is True


@pytest.mark.parametrize(
    ("payload", "kind"),
    [
        (b"PK\x03\x04" + b"\x00" * 60, "zip"),  # self-extracting archive
        (b"7z\xbc\xaf\x27\x1c" + b"\x00" * 58, "7z"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 56, "ole"),  # an MSI glued to a stub
        (b"MSCF" + b"\x00" * 60, "cab"),
        (b"MZ" + b"\x00" * 62, "pe"),  # a second executable
        (b"\x00" * 8 + b"\xef\xbe\xad\xdeNullsoftInst" + b"\x00" * 36, "nsis"),
        (b"just some bytes appended by a wrapper", "unknown"),
    ],
)
def test_overlay_type(zoom_exe: Path, ctx: AnalysisContext, payload: bytes, kind: str) -> None:
    data = zoom_exe.read_bytes()
    overlay = pe.analyze(data + payload, "x.exe", ctx).facts["overlay"]
    assert overlay == {"offset": len(data), "size": len(payload), "type": kind}


def test_signed_overlay_excludes_certificate_table(
    tmp_path: Path, zoom_exe: Path, pki: Pki, ctx: AnalysisContext
) -> None:
    # A wrapper payload appended before signing is an overlay; the certificate table after it is not.
    wrapped = tmp_path / "wrapped.exe"
    payload = b"PK\x03\x04" + b"\x11" * 1000
    wrapped.write_bytes(zoom_exe.read_bytes() + payload)
    signed = sign(wrapped, tmp_path / "signed.exe", pki.vendor)
    result = pe.analyze(signed.read_bytes(), "signed.exe", ctx)
    assert result.signature is not None and result.signature.status is SigStatus.VALID
    overlay = result.facts["overlay"]
    assert overlay["type"] == "zip" and overlay["offset"] == len(zoom_exe.read_bytes())
    # osslsigncode pads to 8 bytes before the table; the overlay ends where the table starts.
    assert overlay["offset"] + overlay["size"] == result.facts["certificate_table"]["offset"]
    assert overlay["size"] - len(payload) < 8


def test_microsoft_dll_facts() -> None:
    dll = msvc_dlls(CACHE)["vcruntime140.dll"]
    ctx = AnalysisContext(trust=TrustStore.load(), vendors=None, now=NOW)  # type: ignore[arg-type]
    result = pe.analyze(dll.read_bytes(), dll.name, ctx)
    assert result.facts["dll"] is True and result.facts["machine"] == "amd64"
    assert ("versioninfo:CompanyName", "Microsoft Corporation") in result.claim_fields
    assert result.signature is not None and result.signature.signer_org == "Microsoft Corporation"


@pytest.mark.parametrize(
    "data",
    [
        b"",  # empty
        b"MZ",  # just the magic
        b"MZ" + b"\x00" * 58 + b"\xff\xff\xff\x7f",  # e_lfanew far past the end
        b"MZ" + b"\x00" * 58 + b"\x40\x00\x00\x00" + b"PE\x00\x00" + b"\xff" * 300,  # garbage headers
    ],
)
def test_broken_pe_never_raises(ctx: AnalysisContext, data: bytes) -> None:
    result = pe.analyze(data, "broken.exe", ctx)
    assert result.type == "pe" and result.anomalies


def test_mutated_pes_never_raise(tmp_path: Path, zoom_exe: Path, pki: Pki, ctx: AnalysisContext) -> None:
    # 300 random corruptions of a signed PE (headers, resources, certificate table): facts or anomalies, no crash.
    base = sign(zoom_exe, tmp_path / "s.exe", pki.vendor).read_bytes()
    rng = random.Random(1234)
    statuses = set()
    for _ in range(300):
        data = bytearray(base)
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        result = pe.analyze(bytes(data), "m.exe", ctx)
        if result.signature is not None:
            statuses.add(result.signature.status)
    assert SigStatus.BAD_DIGEST in statuses  # most mutations hit covered bytes


def test_mmap_buffer(tmp_path: Path, zoom_exe: Path, pki: Pki, ctx: AnalysisContext) -> None:
    # The engine hands handlers a read-only mmap for large files; the handler must work on it unchanged.
    import mmap

    signed = sign(zoom_exe, tmp_path / "s.exe", pki.vendor)
    with signed.open("rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        result = pe.analyze(mm, "s.exe", ctx)
        assert result.signature is not None and result.signature.status is SigStatus.VALID
        assert ("versioninfo:CompanyName", ZOOM) in result.claim_fields
