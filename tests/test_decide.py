"""The core decision, on synthetic facts: claimed brand vs. proven publisher.

Each case is (why, type, name, claims as (brand, source), signature, indicator codes) → verdict and the
reason code that must be present. The engine and scanner tests prove the same on real files; these pin
the policy itself, including what must stay clean.
"""

from __future__ import annotations

import pytest

from agent.analysis.claims import VendorTable
from agent.analysis.decide import Evidence, decide
from agent.analysis.facts import Claim, Reason, ScanResult, SignatureFacts, SigStatus, Verdict, YaraHit
from agent.analysis.lookalike import LookalikeHost


def sig(status: SigStatus, org: str | None = None, kind: str = "authenticode", team: str | None = None
        ) -> SignatureFacts:
    return SignatureFacts(kind=kind, status=status, signer_org=org, team_id=team)


MS_VALID = sig(SigStatus.VALID, "Microsoft Corporation")
ZOOM_VALID = sig(SigStatus.VALID, "Zoom Video Communications, Inc.")
IND = {
    "SCRIPT_DOWNLOAD_EXEC": Reason("SCRIPT_DOWNLOAD_EXEC", "downloads and runs", "T1105", 40),
    "LNK_INTERPRETER": Reason("LNK_INTERPRETER", "runs powershell", "T1059.001", 30),
}

CASES = [
    ("unsigned fake Zoom installer", "pe", "ZoomInstaller.exe", [("zoom", "name")], None, [],
     Verdict.MALICIOUS, "BRAND_UNSIGNED"),
    ("genuine Zoom signature", "pe", "ZoomInstaller.exe", [("zoom", "name")], ZOOM_VALID, [],
     Verdict.CLEAN, None),
    ("Microsoft-signed file renamed to claim Teams", "pe", "MSTeamsSetup.exe", [("teams", "name")], MS_VALID, [],
     Verdict.CLEAN, None),
    ("Oyster: valid signature of an unrelated company on a Teams claim", "pe", "MSTeamsSetup.exe",
     [("teams", "name")], sig(SigStatus.VALID, "Shady Widgets LLC"), [], Verdict.MALICIOUS, "BRAND_SIGNER_MISMATCH"),
    ("self-made root whose subject says Zoom", "pe", "Zoom.exe", [("zoom", "name")],
     sig(SigStatus.UNTRUSTED_ROOT, "Zoom Video Communications, Inc."), [], Verdict.MALICIOUS,
     "BRAND_UNTRUSTED_SIGNER"),
    ("Zoom-signed file changed after signing", "pe", "Zoom.exe", [("zoom", "name")],
     sig(SigStatus.BAD_DIGEST, "Zoom Video Communications, Inc."), [], Verdict.MALICIOUS, "BRAND_TAMPERED"),
    ("ad-hoc Mach-O with Zoom's Team ID self-asserted", "macho", "zoom.us", [("zoom", "macho:team_id")],
     sig(SigStatus.ADHOC, kind="apple-codesign"), [], Verdict.MALICIOUS, "BRAND_ADHOC_SIGNED"),
    ("Apple-verified Zoom Team ID", "macho", "zoom.us", [("zoom", "macho:identifier")],
     sig(SigStatus.VALID, kind="apple-codesign", team="BJ4HAAB9B3"), [], Verdict.CLEAN, None),
    ("Apple-verified but another team", "macho", "zoom.us", [("zoom", "macho:identifier")],
     sig(SigStatus.VALID, kind="apple-codesign", team="ZZZZZZZZZZ"), [], Verdict.MALICIOUS,
     "BRAND_SIGNER_MISMATCH"),
    ("Google Meet has no desktop app: any installer is fake", "msi", "GoogleMeet.msi", [("meet", "name")],
     MS_VALID, [], Verdict.MALICIOUS, "BRAND_NO_DESKTOP_APP"),
    ("Skype is retired: even a genuine signature is suspicious", "pe", "SkypeSetup.exe", [("skype", "name")],
     sig(SigStatus.VALID, "Skype Software Sarl"), [], Verdict.SUSPICIOUS, "RETIRED_PRODUCT"),
    ("unsigned and unbranded: most downloads, never a reason", "pe", "csv_tool.exe", [], None, [],
     Verdict.CLEAN, None),
    ("unbranded file with an untrusted (enterprise) root", "pe", "tool.exe", [],
     sig(SigStatus.UNTRUSTED_ROOT, "Example Corp"), [], Verdict.CLEAN, None),
    ("unbranded file with a broken signature", "pe", "tool.exe", [], sig(SigStatus.BAD_DIGEST, "Example Corp"),
     [], Verdict.SUSPICIOUS, "SIGNATURE_INVALID"),
    ("branded script that downloads and runs code", "script:shell", "zoom_fix.sh", [("zoom", "name")], None,
     ["SCRIPT_DOWNLOAD_EXEC"], Verdict.MALICIOUS, "BRAND_SCRIPT_DROPPER"),
    ("unbranded installer script that curls | sh: suspicious, not malicious", "script:shell", "install.sh", [],
     None, ["SCRIPT_DOWNLOAD_EXEC"], Verdict.SUSPICIOUS, "SCRIPT_DOWNLOAD_EXEC"),
    ("script named as a brand fix but harmless content", "script:applescript", "zoom_sdk_fix.scpt",
     [("zoom", "name")], None, [], Verdict.SUSPICIOUS, "BRAND_SCRIPT"),
    ("shortcut with a Zoom icon that runs an interpreter", "lnk", "Zoom.lnk", [("zoom", "lnk:icon")], None,
     ["LNK_INTERPRETER"], Verdict.MALICIOUS, "BRAND_SCRIPT_DROPPER"),
    ("a document named for Zoom is only a document", "pdf", "zoom_guide.pdf", [("zoom", "name")], None, [],
     Verdict.CLEAN, None),
    ("PE disguised as a PDF by extension", "pe", "invoice.pdf", [], None, [], Verdict.SUSPICIOUS,
     "EXTENSION_MISMATCH"),
    ("double extension", "pe", "invoice.pdf.exe", [], None, [], Verdict.SUSPICIOUS, "DOUBLE_EXTENSION"),
    ("right-to-left override hides .exe", "pe", "report\u202efdp.exe", [], None, [], Verdict.MALICIOUS,
     "NAME_RTLO"),
]


@pytest.mark.parametrize(("why", "ftype", "name", "claims", "signature", "indicators", "verdict", "code"),
                         CASES, ids=[c[0] for c in CASES])
def test_decision(vendors: VendorTable, why: str, ftype: str, name: str, claims: list[tuple[str, str]],
                  signature: SignatureFacts | None, indicators: list[str], verdict: Verdict, code: str | None
                  ) -> None:
    ev = Evidence(name=name, type=ftype, claims=[Claim(b, s, name) for b, s in claims], signature=signature,
                  indicators=[IND[i] for i in indicators], yara=[], lookalikes=[])
    got, score, reasons = decide(ev, vendors)
    assert got is verdict, (why, reasons)
    codes = [r.code for r in reasons]
    if code:
        assert code in codes
        assert all(r.message and r.code.upper() == r.code for r in reasons)
    if verdict is Verdict.CLEAN:
        assert score < 30


def test_every_reason_is_kept_and_sorted(vendors: VendorTable) -> None:
    hit = YaraHit("SUSP_Test_Rule_Nov26", "x.yar", (), {"score": 40, "description": "test", "attack": "T1105"})
    ev = Evidence(name="zoom_update.sh", type="script:shell", claims=[Claim("zoom", "name", "zoom_update.sh")],
                  signature=None, indicators=[IND["SCRIPT_DOWNLOAD_EXEC"]], yara=[hit],
                  lookalikes=[LookalikeHost("us05web-zoom.biz", "zoom", "names Zoom")])
    verdict, score, reasons = decide(ev, vendors)
    codes = [r.code for r in reasons]
    assert verdict is Verdict.MALICIOUS and score == 100
    assert {"BRAND_SCRIPT_DROPPER", "SCRIPT_DOWNLOAD_EXEC", "YARA:SUSP_Test_Rule_Nov26", "LOOKALIKE_HOST"} <= set(codes)
    assert [r.score for r in reasons] == sorted((r.score for r in reasons), reverse=True)


def test_archive_takes_worst_member(vendors: VendorTable) -> None:
    bad = ScanResult(path="a.zip!Zoom.exe", sha256="0" * 64, size=1, type="pe", verdict=Verdict.MALICIOUS,
                     score=80, reasons=(Reason("BRAND_UNSIGNED", "x", "T1036.005", 80),), claims=(),
                     signature=None, yara=())
    ev = Evidence(name="a.zip", type="zip", claims=[], signature=None, indicators=[], yara=[], lookalikes=[],
                  members=[bad])
    verdict, _, reasons = decide(ev, vendors)
    assert verdict is Verdict.MALICIOUS
    assert reasons[0].code == "MEMBER_FLAGGED" and "Zoom.exe" in reasons[0].message


def test_same_behaviour_seen_twice_counts_once(vendors: VendorTable) -> None:
    # "curl | sh" is found by the script parser and by a YARA rule: one fact, so an unbranded installer
    # one-liner stays suspicious; a look-alike host beside it is a second, independent fact.
    hit = YaraHit("SUSP_Shell_Curl_Pipe_Shell_Nov26", "x.yar", (), {"score": 60, "attack": "T1059.004"})
    base = dict(name="install.sh", type="script:shell", claims=[], signature=None,
                indicators=[IND["SCRIPT_DOWNLOAD_EXEC"]], yara=[hit])
    verdict, score, _ = decide(Evidence(**base, lookalikes=[]), vendors)  # type: ignore[arg-type]
    assert (verdict, score) == (Verdict.SUSPICIOUS, 60)
    verdict, score, _ = decide(Evidence(**base, lookalikes=[LookalikeHost("us05web-zoom.biz", "zoom", "x")]),
                               vendors)  # type: ignore[arg-type]
    assert (verdict, score) == (Verdict.MALICIOUS, 100)
