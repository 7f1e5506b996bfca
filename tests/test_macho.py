"""Mach-O parsing and Apple code-signature checks, on binaries built at test time by corpus.macho_build."""

from __future__ import annotations

import mmap
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lief
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.analysis.facts import SigStatus
from agent.analysis.formats import macho
from tests.corpus import macho_build as mb

ZOOM_TEAM = "BJ4HAAB9B3"
ZOOM_ID = "us.zoom.xos"


@pytest.fixture(scope="module")
def pki() -> dict[str, mb.Identity]:
    root = mb.make_root()
    return {
        "root": root,
        "zoom": mb.make_developer(root, ZOOM_TEAM, "Zoom Video Communications, Inc."),
        "other": mb.make_developer(root, "ABCDE12345", "Other Corp"),
    }


@pytest.fixture(scope="module")
def ctx_default(make_ctx: Callable[..., Any]) -> Any:
    return make_ctx(now=mb.NOW)


@pytest.fixture(scope="module")
def ctx_extra(make_ctx: Callable[..., Any], pki: dict[str, mb.Identity], tmp_path_factory: Any) -> Any:
    """The test root passed as an extra (enterprise) root, as ``--trust-root`` does."""
    pem = pki["root"].write_pem(tmp_path_factory.mktemp("roots") / "root.pem")
    return make_ctx(extra_roots=[pem], now=mb.NOW)


def _sig_offset(data: bytes) -> int:
    """dataoff of LC_CODE_SIGNATURE in a thin little-endian binary from the builder."""
    return int(struct.unpack_from("<I", data, _lc_offset(data, 0x1D) + 8)[0])


def _patch_in_signature(data: bytes, old: bytes, new: bytes, occurrence: int = 0) -> bytes:
    """Replace bytes inside the code signature (after signing): a tampered blob."""
    assert len(old) == len(new)
    pos = _sig_offset(data) - 1
    for _ in range(occurrence + 1):
        pos = data.index(old, pos + 1)
    return data[:pos] + new + data[pos + len(old) :]


def _tamper_alternate_cd(data: bytes) -> bytes:
    """Change the identifier inside the alternate (SHA-256) CodeDirectory, leaving the primary intact."""
    start = data.index(b"\xfa\xde\x0c\x02", _sig_offset(data))
    alt = data.index(b"\xfa\xde\x0c\x02", start + 4)
    at = alt + 88  # identifier string follows the version 0x20400 header
    return data[:at] + b"X" + data[at + 1 :]


@dataclass(frozen=True)
class SigCase:
    id: str
    build: Callable[[dict[str, mb.Identity]], bytes]
    extra_root: bool  # run with the test root passed as an extra (enterprise) root
    status: SigStatus
    team_id: str | None = None
    claimed_team_id: str | None = None
    bad_pages: int = 0
    problem: str | None = None  # a substring one of the problems must contain


def _adhoc_zoom(pki: dict[str, mb.Identity]) -> bytes:
    return mb.build_macho(sign=mb.SignSpec(identifier=ZOOM_ID, team_id=ZOOM_TEAM))


def _cms_zoom(pki: dict[str, mb.Identity], **kw: Any) -> bytes:
    spec = mb.SignSpec(identifier=ZOOM_ID, team_id=ZOOM_TEAM, flags=mb.CS_RUNTIME, signer=pki["zoom"], **kw)
    return mb.build_macho("arm64", sign=spec)


SIG_CASES = [
    # No LC_CODE_SIGNATURE at all: the common innocent case, and no claim.
    SigCase("unsigned", lambda p: mb.build_macho(), False, SigStatus.UNSIGNED),
    # What ld writes on Apple silicon: ad-hoc + linker-signed, no requirements, no CMS wrapper.
    SigCase(
        "linker-signed",
        lambda p: mb.build_macho(
            "arm64",
            sign=mb.SignSpec(
                identifier="a.out", flags=mb.CS_ADHOC | mb.CS_LINKER_SIGNED, requirements=False, empty_cms=False
            ),
        ),
        False,
        SigStatus.ADHOC,
    ),
    # The GhostCall shape: ad-hoc signature that writes Zoom's Team ID into the CodeDirectory. Proves nothing.
    SigCase("adhoc-zoom-team", _adhoc_zoom, False, SigStatus.ADHOC, claimed_team_id=ZOOM_TEAM),
    # Even with the test root trusted, an ad-hoc Team ID stays a claim.
    SigCase("adhoc-zoom-team-extra-root", _adhoc_zoom, True, SigStatus.ADHOC, claimed_team_id=ZOOM_TEAM),
    # A self-made CA whose leaf says OU=BJ4HAAB9B3: intact but not trusted.
    SigCase(
        "cms-untrusted",
        _cms_zoom,
        False,
        SigStatus.UNTRUSTED_ROOT,
        claimed_team_id=ZOOM_TEAM,
        problem="untrusted_root",
    ),
    # The same signature with the root configured as an enterprise root: the Team ID is proven.
    SigCase("cms-trusted", _cms_zoom, True, SigStatus.VALID, team_id=ZOOM_TEAM, claimed_team_id=ZOOM_TEAM),
    # Real codesign output since macOS 10.11.4: SHA-1 primary + SHA-256 alternate bound by signed cdhashes.
    SigCase(
        "cms-two-cds",
        lambda p: _cms_zoom(p, hash_types=(mb.SHA1, mb.SHA256)),
        True,
        SigStatus.VALID,
        team_id=ZOOM_TEAM,
        claimed_team_id=ZOOM_TEAM,
    ),
    # One code byte changed after signing: the page hash exposes it whatever the CMS says.
    SigCase(
        "cms-tampered-page",
        lambda p: mb.flip_code_byte(_cms_zoom(p)),
        True,
        SigStatus.BAD_DIGEST,
        claimed_team_id=ZOOM_TEAM,
        bad_pages=1,
        problem="code pages do not match",
    ),
    SigCase(
        "adhoc-tampered-page",
        lambda p: mb.flip_code_byte(_adhoc_zoom(p)),
        False,
        SigStatus.BAD_DIGEST,
        claimed_team_id=ZOOM_TEAM,
        bad_pages=1,
    ),
    # The alternate CodeDirectory was swapped after signing: it is not among the cdhashes the CMS signs.
    SigCase(
        "cms-alternate-cd-swapped",
        lambda p: _tamper_alternate_cd(_cms_zoom(p, hash_types=(mb.SHA1, mb.SHA256))),
        True,
        SigStatus.BAD_DIGEST,
        claimed_team_id=ZOOM_TEAM,
        problem="not among the cdhashes",
    ),
    # A valid signature by another team whose CodeDirectory claims Zoom's Team ID: OU mismatch.
    SigCase(
        "cms-team-mismatch",
        lambda p: mb.build_macho(sign=mb.SignSpec(identifier=ZOOM_ID, team_id=ZOOM_TEAM, flags=0, signer=p["other"])),
        True,
        SigStatus.BAD_SIGNATURE,
        claimed_team_id=ZOOM_TEAM,
        problem="differs from the signer certificate OU",
    ),
    # Entitlements edited after signing (special slot 5 no longer matches).
    SigCase(
        "entitlements-edited",
        lambda p: _patch_in_signature(
            mb.build_macho(
                sign=mb.SignSpec(entitlements=mb.plistlib.dumps({"com.apple.security.get-task-allow": True}))
            ),
            b"get-task-allow",
            b"get-task-allox",
        ),
        False,
        SigStatus.BAD_DIGEST,
        problem="entitlements does not match",
    ),
]


def _graft_stale_primary(pki: dict[str, mb.Identity]) -> bytes:
    """Edited code with a re-made (unbound) SHA-256 alternate, but the signed SHA-1 primary and CMS of the
    original: only the primary's page hashes reveal the edit, because no signed cdhashes bind the alternate."""
    kw: dict[str, Any] = {"hash_types": (mb.SHA1, mb.SHA256), "cdhashes_attr": False}
    original = _cms_zoom(pki, **kw)
    edited = mb.build_macho(
        "arm64",
        code=b"\x90" * 16 + b"hello from a lureguard test binary\0" + b"\xc4",
        sign=mb.SignSpec(identifier=ZOOM_ID, team_id=ZOOM_TEAM, flags=mb.CS_RUNTIME, signer=pki["zoom"], **kw),
    )
    assert len(original) == len(edited)
    start = original.index(b"\xfa\xde\x0c\x02", _sig_offset(original))
    cd0_len = struct.unpack_from(">I", original, start + 4)[0]
    cms_at = original.index(b"\xfa\xde\x0b\x01", start)
    cms_len = struct.unpack_from(">I", original, cms_at + 4)[0]
    out = edited[:start] + original[start : start + cd0_len] + edited[start + cd0_len :]
    return out[:cms_at] + original[cms_at : cms_at + cms_len] + out[cms_at + cms_len :]


SIG_CASES += [
    # Two CodeDirectories and no signed cdhashes attribute (pre-2016 style): still VALID when intact.
    SigCase(
        "cms-two-cds-no-cdhashes-attr",
        lambda p: _cms_zoom(p, hash_types=(mb.SHA1, mb.SHA256), cdhashes_attr=False),
        True,
        SigStatus.VALID,
        team_id=ZOOM_TEAM,
        claimed_team_id=ZOOM_TEAM,
    ),
    # ...and then every CodeDirectory's pages are checked, so a stale signed primary is caught.
    SigCase(
        "cms-unbound-alternate-rewritten",
        _graft_stale_primary,
        True,
        SigStatus.BAD_DIGEST,
        claimed_team_id=ZOOM_TEAM,
        bad_pages=2,  # the code page and the header page (LC_UUID derives from the code)
        problem="CodeDirectory 0x0: 2 of",
    ),
]


@pytest.mark.parametrize("case", SIG_CASES, ids=lambda c: c.id)
def test_signature_cases(case: SigCase, pki: dict[str, mb.Identity], ctx_default: Any, ctx_extra: Any) -> None:
    data = case.build(pki)
    res = macho.analyze(data, "zoom.us", ctx_extra if case.extra_root else ctx_default)
    assert res.type == "macho"
    sig = res.signature
    assert sig is not None
    assert sig.kind == "apple-codesign"
    assert sig.status is case.status, sig.problems
    assert sig.team_id == case.team_id
    assert sig.extra.get("claimed_team_id") == case.claimed_team_id
    if case.status is not SigStatus.UNSIGNED:
        assert sig.extra["bad_pages"] == case.bad_pages
        assert res.facts["codesign"]["bad_pages"] == case.bad_pages
        assert len(sig.extra["cdhash"]) == 40
    if case.problem:
        assert any(case.problem in p for p in sig.problems), sig.problems
    if case.claimed_team_id:
        assert ("macho:team_id", case.claimed_team_id) in res.claim_fields
    if case.status is SigStatus.VALID:
        assert sig.problems == ()


def test_adhoc_zoom_facts_and_indicator(ctx_default: Any, pki: dict[str, mb.Identity]) -> None:
    """The fields the lead's brand logic reads, and the self-asserted Team ID indicator."""
    res = macho.analyze(_adhoc_zoom(pki), "zoom.us", ctx_default)
    assert ("macho:identifier", ZOOM_ID) in res.claim_fields
    cs = res.facts["codesign"]
    assert cs["identifier"] == ZOOM_ID
    assert cs["team_id_claimed"] == ZOOM_TEAM and cs["team_id"] is None
    assert cs["flags"] == ["adhoc"]
    assert cs["seals"]["requirements"] == "ok"
    assert [r.code for r in res.indicators] == ["MACHO_ADHOC_TEAM_ID"]
    assert res.anomalies == []


def test_cdhash_is_strongest_code_directory(ctx_extra: Any, pki: dict[str, mb.Identity]) -> None:
    """`codesign -dvvv` shows the SHA-256 CodeDirectory's hash; so do we, and we list every CD."""
    import hashlib

    data = _cms_zoom(pki, hash_types=(mb.SHA1, mb.SHA256))
    res = macho.analyze(data, "x", ctx_extra)
    start = data.index(b"\xfa\xde\x0c\x02", _sig_offset(data))
    alt = data.index(b"\xfa\xde\x0c\x02", start + 4)
    alt_len = struct.unpack_from(">I", data, alt + 4)[0]
    want = hashlib.sha256(data[alt : alt + alt_len]).hexdigest()[:40]
    assert res.facts["codesign"]["cdhash"] == want
    assert set(res.facts["codesign"]["cdhashes"]) == {"0x0", "0x1000"}


def test_thin_facts(ctx_default: Any) -> None:
    res = macho.analyze(mb.build_macho("arm64", sign=mb.SignSpec()), "x", ctx_default)
    f = res.facts
    assert (f["bits"], f["endian"], f["cputype"], f["filetype"]) == (64, "little", "arm64", "execute")
    assert [s["name"] for s in f["segments"]] == ["__PAGEZERO", "__TEXT", "__LINKEDIT"]
    assert f["dylibs"] == [{"path": "/usr/lib/libSystem.B.dylib", "kind": "load"}]
    assert (f["platform"], f["min_os"], f["sdk"]) == ("macos", "11.0.0", "14.0.0")
    assert f["ncmds"] == f["load_commands_parsed"] == 9


def test_32bit_big_endian(ctx_default: Any) -> None:
    """PowerPC binaries are big-endian 32-bit: both the header and the load commands are swapped."""
    res = macho.analyze(mb.build_macho32_be(), "old", ctx_default)
    assert res.type == "macho" and res.anomalies == []
    assert (res.facts["bits"], res.facts["endian"], res.facts["cputype"]) == (32, "big", "ppc")
    assert res.facts["dylibs"][0]["path"] == "/usr/lib/libSystem.B.dylib"
    assert res.signature is not None and res.signature.status is SigStatus.UNSIGNED


def test_fat_worst_slice(ctx_default: Any) -> None:
    """One good and one tampered slice: the file is as bad as its worst slice; each slice is recorded."""
    good = mb.build_macho("x86_64", sign=mb.SignSpec(identifier=ZOOM_ID))
    bad = mb.flip_code_byte(mb.build_macho("arm64", sign=mb.SignSpec(identifier=ZOOM_ID)))
    res = macho.analyze(mb.build_fat([("x86_64", good), ("arm64", bad)]), "zoom.us", ctx_default)
    assert res.type == "macho-fat"
    assert res.facts["cputypes"] == ["x86_64", "arm64"]
    assert res.signature is not None and res.signature.status is SigStatus.BAD_DIGEST
    assert [s["status"] for s in res.signature.extra["slices"]] == ["adhoc", "bad_digest"]
    assert res.facts["slices"][1]["codesign"]["bad_pages"] == 1
    assert res.claim_fields == [("macho:identifier", ZOOM_ID)]  # deduplicated across slices


@pytest.mark.parametrize("fat64", [False, True], ids=["fat32", "fat64"])
def test_fat_all_good(ctx_default: Any, fat64: bool) -> None:
    """FAT_MAGIC_64 (0xcafebabf) carries 64-bit offsets; both layouts parse the same."""
    slices = [(cpu, mb.build_macho(cpu, sign=mb.SignSpec())) for cpu in ("x86_64", "arm64")]
    res = macho.analyze(mb.build_fat(slices, fat64=fat64), "u", ctx_default)
    assert res.type == "macho-fat" and res.facts["fat64"] is fat64
    assert res.signature is not None and res.signature.status is SigStatus.ADHOC
    assert res.anomalies == []


def test_fat_slices_signed_by_different_teams(ctx_extra: Any, pki: dict[str, mb.Identity]) -> None:
    """Two valid slices from different teams: no single Team ID is proven for the file."""
    a = mb.build_macho("x86_64", sign=mb.SignSpec(team_id=ZOOM_TEAM, flags=0, signer=pki["zoom"]))
    b = mb.build_macho("arm64", sign=mb.SignSpec(team_id="ABCDE12345", flags=0, signer=pki["other"]))
    res = macho.analyze(mb.build_fat([("x86_64", a), ("arm64", b)]), "u", ctx_extra)
    assert res.signature is not None and res.signature.status is SigStatus.VALID
    assert res.signature.team_id is None
    assert "slices are signed by different Team IDs" in res.signature.problems


def test_java_class_is_not_macho(ctx_default: Any) -> None:
    """0xcafebabe is also Java's magic; its major version reads as nfat_arch >= 45."""
    data = mb.java_class()
    assert macho.sniff(data, len(data)) is None
    res = macho.analyze(data, "Test.class", ctx_default)
    assert res.type == "java-class" and res.signature is None and res.facts["java_major"] == 65


def test_mmap_input(tmp_path: Path, ctx_default: Any, pki: dict[str, mb.Identity]) -> None:
    """Handlers get mmap'd files; page hashing must release its views so the map can close."""
    path = tmp_path / "zoom.us"
    data = mb.flip_code_byte(_adhoc_zoom(pki))
    path.write_bytes(data)
    with path.open("rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        res = macho.analyze(mm, "zoom.us", ctx_default)
    assert res.signature is not None and res.signature.status is SigStatus.BAD_DIGEST
    assert res.facts == macho.analyze(data, "zoom.us", ctx_default).facts


def _set_u32(data: bytes, off: int, value: int, fmt: str = "<I") -> bytes:
    return data[:off] + struct.pack(fmt, value) + data[off + 4 :]


def _lc_offset(data: bytes, cmd: int) -> int:
    off = 32
    while True:
        c, size = struct.unpack_from("<II", data, off)
        if c == cmd:
            return off
        off += size


MALFORMED: list[tuple[str, Callable[[bytes], bytes], str, SigStatus | None]] = [
    # (id, mutation of a signed thin binary, expected anomaly substring, expected status or None)
    # Header cut short.
    ("truncated-header", lambda d: d[:20], "truncated header", None),
    # ncmds far beyond the budget: parse what fits, say so.
    ("ncmds-huge", lambda d: _set_u32(d, 16, 0xFFFFFFFF), "exceeds the budget", SigStatus.BAD_DIGEST),
    # sizeofcmds larger than the file.
    ("sizeofcmds-past-eof", lambda d: _set_u32(d, 20, 0x7FFFFFF0), "sizeofcmds", None),
    # A load command of size 0 would loop forever in a naive parser.
    ("cmdsize-zero", lambda d: _set_u32(d, 32 + 4, 0), "bad size 0", None),
    # LC_CODE_SIGNATURE pointing past the end of the file.
    (
        "codesig-past-eof",
        lambda d: _set_u32(d, _lc_offset(d, 0x1D) + 8, 0x7FFFFF00),
        "runs past the end",
        SigStatus.MALFORMED,
    ),
    # SuperBlob magic destroyed.
    (
        "superblob-garbage",
        lambda d: d[: _sig_offset(d)] + b"\x00" * 16 + d[_sig_offset(d) + 16 :],
        "not an embedded SuperBlob",
        SigStatus.MALFORMED,
    ),
    # File cut inside the signature.
    ("cut-in-signature", lambda d: d[: _sig_offset(d) + 40], "runs past the end", SigStatus.MALFORMED),
]


@pytest.mark.parametrize(("mutate", "anomaly", "status"), [m[1:] for m in MALFORMED], ids=[m[0] for m in MALFORMED])
def test_malformed_gives_anomalies(
    mutate: Callable[[bytes], bytes], anomaly: str, status: SigStatus | None, ctx_default: Any
) -> None:
    data = mutate(mb.build_macho(sign=mb.SignSpec(identifier=ZOOM_ID)))
    res = macho.analyze(data, "bad", ctx_default)
    assert any(anomaly in a for a in res.anomalies), res.anomalies
    if status is not None:
        assert res.signature is not None and res.signature.status is status, res.signature


def test_fat_truncated_download(ctx_default: Any) -> None:
    """A universal binary cut inside its second slice (an interrupted download): the first slice is still
    analysed, the cut one is reported truncated and its signature broken."""
    slices = [(cpu, mb.build_macho(cpu, sign=mb.SignSpec())) for cpu in ("x86_64", "arm64")]
    data = mb.build_fat(slices)
    second_off = struct.unpack_from(">I", data, 8 + 20 + 8)[0]
    res = macho.analyze(data[: second_off + 0x2000], "u", ctx_default)
    assert res.type == "macho-fat"
    assert any("runs past the end of the file" in a and "truncated" in a for a in res.anomalies), res.anomalies
    assert res.signature is not None and res.signature.status is SigStatus.MALFORMED
    assert [s["status"] for s in res.signature.extra["slices"]] == ["adhoc", "malformed"]


def _fuzz_base() -> tuple[bytes, int, int]:
    """A fat file whose first slice has a CMS signature, entitlements and two CDs; plus its signature range."""
    root = mb.make_root()
    spec = mb.SignSpec(
        team_id=ZOOM_TEAM,
        flags=0,
        signer=mb.make_developer(root, ZOOM_TEAM),
        entitlements=b"<plist/>",
        hash_types=(mb.SHA1, mb.SHA256),
    )
    first = mb.build_macho(sign=spec)
    data = mb.build_fat([("x86_64", first), ("arm64", mb.build_macho("arm64"))], align_shift=12)
    return data, 0x1000 + _sig_offset(first), 0x1000 + len(first)


FUZZ_BASE, FUZZ_SIG_START, FUZZ_SIG_END = _fuzz_base()


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fuzzed_binaries_never_raise(data: st.DataObject, ctx_default: Any) -> None:
    """Random byte edits in the fat header, the load commands and the code signature (SuperBlob, CDs, CMS)
    plus a random cut never crash the handler."""
    base = bytearray(FUZZ_BASE)
    where = st.one_of(
        st.integers(0, 0x1000 + 0x300),  # fat header, slice header and load commands
        st.integers(FUZZ_SIG_START, FUZZ_SIG_START + 0x200),  # SuperBlob index and CodeDirectory header
        st.integers(FUZZ_SIG_START, FUZZ_SIG_END - 1),  # anywhere in the signature (CMS included)
    )
    for _ in range(data.draw(st.integers(1, 8))):
        base[data.draw(where)] = data.draw(st.integers(0, 255))
    cut = data.draw(st.one_of(st.just(len(base)), st.integers(4, len(base))))
    res = macho.analyze(bytes(base[:cut]), "fuzz", ctx_default)
    assert res.type in {"macho", "macho-fat", "unknown", "java-class"}


@pytest.mark.parametrize("fat", [False, True], ids=["thin", "fat"])
def test_cross_check_with_lief(fat: bool, ctx_default: Any) -> None:
    """Our segments and code-signature location agree with LIEF's parser on the built binaries."""
    thin = [mb.build_macho("x86_64", sign=mb.SignSpec()), mb.build_macho("arm64", sign=mb.SignSpec(team_id=ZOOM_TEAM))]
    data = mb.build_fat([("x86_64", thin[0]), ("arm64", thin[1])]) if fat else thin[0]
    ours = macho.analyze(data, "x", ctx_default)
    our_slices = ours.facts["slices"] if fat else [ours.facts]
    fat_binary = lief.MachO.parse(list(data))
    assert fat_binary is not None and fat_binary.size == len(our_slices)
    for i, facts in enumerate(our_slices):
        binary = fat_binary.at(i)
        assert [(s.name, s.file_size, s.virtual_size, s.file_offset) for s in binary.segments] == [
            (s["name"], s["filesize"], s["vmsize"], s["fileoff"]) for s in facts["segments"]
        ]
        assert binary.has_code_signature
        assert (binary.code_signature.data_offset, binary.code_signature.data_size) == (
            facts["code_signature"]["offset"],
            facts["code_signature"]["size"],
        )
        assert [lib.name for lib in binary.libraries] == [d["path"] for d in facts["dylibs"]]
