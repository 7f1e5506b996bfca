"""Scripts (AppleScript, shell, PowerShell, VBS, batch, JavaScript, Python) and compiled AppleScript.

Vendors never ship updates as scripts, so a script's *shape* is the evidence: download-and-execute,
blank-line padding that pushes the payload out of sight, a fake password dialog, chmod+run of a dropped
file, a LaunchAgent written for persistence, decode-and-execute obfuscation. Each shape is decidable
without knowing the brand; the verdict logic combines them with brand claims found in ``text``.

Every pattern is linear in the text: an *anchor* (a regex that starts with a literal, so sre skips ahead
with a fast scan) is found with ``finditer``, and a second pattern is searched only in a bounded window
around each anchor, for at most ``MAX_ANCHORS`` anchors per shape. A 1 MB adversarial line costs
milliseconds, not the minutes a ``curl.*\\|.*sh`` regex would.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from agent.analysis import sniff
from agent.analysis.context import AnalysisContext, Buffer
from agent.analysis.facts import FormatResult, Reason
from agent.analysis.sig.authenticode import verify_powershell

MAX_ANCHORS = 10_000  # anchors examined per shape; beyond this the file is noise built to exhaust us
MAX_URLS = 50  # URLs kept in facts
MAX_HOSTS = 50
MAX_URL_CHARS = 2048
MAX_SNIPPET = 160  # characters of matched text quoted in an indicator message
PADDING_BLANK_LINES = 10_000  # real scripts never hold 10,000 consecutive blank lines; lures do
MIN_COMPILED_STRING = 4  # printable run length kept from compiled AppleScript

_TECHNIQUES = {
    "applescript": "T1059.002",
    "applescript-compiled": "T1059.002",
    "shell": "T1059.004",
    "powershell": "T1059.001",
    "vbs": "T1059.005",
    "batch": "T1059.003",
    "javascript": "T1059.007",
    "python": "T1059.006",
}

# Apple event codes (suite + event, 8 bytes) stored literally in compiled AppleScript ("FasdUAS").
_APPLE_EVENTS = {
    b"sysoexec": "do shell script",
    b"sysodlog": "display dialog",
    b"sysodsct": "run script",
    b"sysoload": "load script",
    b"sysonotf": "display notification",
    b"GURLGURL": "open location",
    b"JonspClp": "set the clipboard to",
    b"sysottos": "say",
}


@dataclass(frozen=True)
class _Shape:
    """A behaviour: ``anchor`` found in the lower-cased text, ``near`` searched in a window around it."""

    code: str
    what: str
    anchor: re.Pattern[str]
    near: re.Pattern[str] | None = None
    before: int = 0  # characters searched before the anchor
    after: int = 0  # characters searched after the anchor
    line: bool = False  # the window stops at the anchor's line ends
    word: bool = False  # the anchor must not be part of a longer word (`iex` in `iexplore`)


def _c(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


_PIPE_TO_INTERPRETER = (
    r"\|\s*(?:sudo\s+(?:-\S+\s+)*)?(?:[\w./]*/)?(?:(?:ba|z|da|k)?sh|osascript|python[\d.]*|perl|ruby|node)\b"
)

_DOWNLOAD_EXEC = "SCRIPT_DOWNLOAD_EXEC"
_OBFUSCATION = "SCRIPT_OBFUSCATION"
_SHAPES: tuple[_Shape, ...] = (
    # --- download and execute (T1105) ---
    _Shape(_DOWNLOAD_EXEC, "curl/wget output piped into an interpreter", _c(r"curl|wget"),
           _c(_PIPE_TO_INTERPRETER), after=1000, line=True),
    _Shape(_DOWNLOAD_EXEC, "a shell evaluates what curl/wget fetched", _c(r"[$<]\((?:curl|wget)|`(?:curl|wget)"),
           _c(r"(?:eval|sh|bash|zsh|dash|source|osascript|python[\d.]*)\s+(?:-\w+\s+)*[\"']?$"), before=40),
    _Shape(_DOWNLOAD_EXEC, "AppleScript `do shell script` runs curl/wget", _c(r"do shell script"),
           _c(r"curl|wget|nscurl"), after=2000),
    _Shape(_DOWNLOAD_EXEC, "AppleScript `run script` of downloaded code", _c(r"run script"),
           _c(r"curl|wget|https?://"), before=2000, after=2000),
    _Shape(_DOWNLOAD_EXEC, "PowerShell Invoke-Expression of downloaded code", _c(r"iex|invoke-expression"),
           _c(r"downloadstring|downloaddata|invoke-webrequest|iwr\b|invoke-restmethod|irm\b|webclient|"
              r"start-bitstransfer|https?://"), before=400, after=400, word=True),
    _Shape(_DOWNLOAD_EXEC, "PowerShell downloads a file and starts it",
           _c(r"downloadfile|invoke-webrequest|iwr|start-bitstransfer"),
           _c(r"start-process|saps\s|invoke-item|&\s*[$\"']|\bstart\s+[$\"']|cmd(?:\.exe)?\s*/c|rundll32|"
              r"msiexec|regsvr32"), after=800, word=True),
    _Shape(_DOWNLOAD_EXEC, "certutil used as a downloader", _c(r"certutil"),
           _c(r"[-/](?:urlcache|verifyctl)\b"), after=200, line=True),
    _Shape(_DOWNLOAD_EXEC, "bitsadmin used as a downloader", _c(r"bitsadmin"),
           _c(r"/(?:transfer|addfile|download)\b"), after=200, line=True),
    _Shape(_DOWNLOAD_EXEC, "mshta runs remote or inline script", _c(r"mshta"),
           _c(r"https?:|javascript:|vbscript:"), after=200, line=True),
    _Shape(_DOWNLOAD_EXEC, "VBScript/JScript fetches over HTTP and runs or saves the result",
           _c(r"xmlhttp|winhttprequest"), _c(r"savetofile|\.run\b|shellexecute|\.exec\b"), after=5000),
    _Shape(_DOWNLOAD_EXEC, "Node child_process runs a downloader", _c(r"child_process"),
           _c(r"curl|wget|https?://|powershell|invoke-webrequest"), after=3000),
    _Shape(_DOWNLOAD_EXEC, "JavaScript evaluates fetched code", _c(r"eval\s*\(|new function\s*\("),
           _c(r"fetch\s*\(|axios|https?\.get\s*\(|request\s*\(|\.get\s*\(\s*[\"'`]https?:"), before=3000,
           after=3000),
    _Shape(_DOWNLOAD_EXEC, "Python executes fetched code", _c(r"exec\s*\("),
           _c(r"urlopen|requests\.get|urllib\.request|http\.client"), before=1000, after=1000),
    # --- AppleScript runs the output of a shell command as code (T1059.002) ---
    _Shape("SCRIPT_RUN_SCRIPT", "`run script` of text produced by `do shell script`", _c(r"run script"),
           _c(r"do shell script"), before=2000, after=2000),
    # --- fake password dialog (T1056.002) ---
    _Shape("APPLESCRIPT_PASSWORD_PROMPT", "`display dialog` with a hidden answer", _c(r"display dialog"),
           _c(r"hidden answer"), after=1500),
    # --- persistence (T1543.001) ---
    _Shape("SCRIPT_LAUNCHAGENT", "writes a LaunchAgent/LaunchDaemon", _c(r"library/launch(?:agents|daemons)"),
           _c(r"launchctl\s+(?:load|bootstrap|enable|submit)|cat\s*>|tee\s|cp\s|mv\s|ditto\s|>\s*[\"']?[\w$~/.{}-]*"
              r"library/launch|writetofile|plistbuddy|defaults\s+write|set-content|out-file|echo\s"),
           before=1500, after=1500),
    # --- decode and execute (T1027) ---
    _Shape(_OBFUSCATION, "PowerShell -EncodedCommand", _c(r"-e[a-z]{0,13}\s+[\"']?[a-z0-9+/]{40}"),
           _c(r"powershell|pwsh"), before=300),
    _Shape(_OBFUSCATION, "base64-decoded PowerShell is executed", _c(r"frombase64string"),
           _c(r"iex\b|invoke-expression|scriptblock\]::create|\.invoke\s*\(|assembly\]::load"), before=1500,
           after=1500),
    _Shape(_OBFUSCATION, "base64-decoded text is piped into an interpreter",
           _c(r"base64\s+(?:-\w+\s+)*(?:-d|--decode)\b"), _c(_PIPE_TO_INTERPRETER), after=500, line=True),
    _Shape(_OBFUSCATION, "eval of base64-decoded text", _c(r"base64\s+(?:-\w+\s+)*(?:-d|--decode)\b"),
           _c(r"(?:eval|sh\s+-c|bash\s+-c|zsh\s+-c|osascript\s+-e|run script)\s"), before=300, line=True),
    _Shape(_OBFUSCATION, "JavaScript eval of decoded text",
           _c(r"eval\s*\(\s*(?:atob|buffer\.from|unescape|decodeuricomponent|string\.fromcharcode)\b|"
              r"new function\s*\(\s*atob\b|function\s*\(\s*p\s*,\s*a\s*,\s*c\s*,\s*k\s*,\s*e\s*,")),
    _Shape(_OBFUSCATION, "a long String.fromCharCode chain", _c(r"fromcharcode\s*\((?:\s*\d+\s*,){20}")),
    _Shape(_OBFUSCATION, "Python exec of decoded text",
           _c(r"exec\s*\(\s*(?:base64\.b64decode|zlib\.decompress|marshal\.loads|bytes\.fromhex|codecs\.decode|"
              r"__import__\s*\(\s*[\"'](?:base64|zlib|marshal))")),
)  # fmt: skip

_MESSAGES = {
    _DOWNLOAD_EXEC: ("The script downloads and runs code", "T1105", 40),
    "APPLESCRIPT_PASSWORD_PROMPT": ("The script shows a password prompt", "T1056.002", 50),
    "SCRIPT_RUN_SCRIPT": ("The script runs code it builds at run time", "T1059.002", 40),
    "SCRIPT_LAUNCHAGENT": ("The script installs a launchd job for persistence", "T1543.001", 40),
    _OBFUSCATION: ("The script decodes and executes hidden code", "T1027", 50),
}

_CHMOD = re.compile(
    r"chmod\s+(?:-\w+\s+)*(?:[ugoa]*\+[rwxs]*x[rwxs]*|[0-7]?[0-7][1357][0-7]|[0-7]?[1357][0-7][0-7])\s+"
    r"[\"']?([^\s\"';&|)]{1,512})"
)
# World-writable drop locations a lure stages payloads in (we only look for them in script text).
_TEMP_DIRS = ("/tmp/", "/private/tmp/", "/var/tmp/", "/users/shared/", "$tmpdir", "${tmpdir}", "/dev/shm/")  # noqa: S108
_URL = re.compile(r"[hH][tT][tT][pP][sS]?://[^\s\"'<>()\[\]{}\\^`|]" + f"{{1,{MAX_URL_CHARS}}}")
_BLANK_RUN = re.compile(r"\n(?:[^\S\n]*\n){2,}")  # every alternative starts at a newline: linear
_COMPILED_ASCII = re.compile(rb"[\x20-\x7e\t]{%d,}" % MIN_COMPILED_STRING)
_COMPILED_UTF16BE = re.compile(rb"(?:\x00[\x20-\x7e]){%d,}" % MIN_COMPILED_STRING)
_COMPILED_UTF16LE = re.compile(rb"(?:[\x20-\x7e]\x00){%d,}" % MIN_COMPILED_STRING)


# Signed scripts are small; a "script" larger than this is not hashed as UTF-16 in memory.
_MAX_SIGNED_SCRIPT = 32 * 1024 * 1024


def analyze(data: Buffer, name: str, ctx: AnalysisContext) -> FormatResult:
    kind = sniff.identify(data, name)
    result = FormatResult(type=kind)
    try:
        if kind == "applescript-compiled":
            _analyze_compiled(data, ctx, result)
        else:
            _analyze_text(data, kind, ctx, result)
        if kind == "script:powershell":
            _powershell_signature(data, ctx, result)
    except Exception as exc:  # a bug here must cost facts, not the scan
        result.anomalies.append(f"script: analysis error {type(exc).__name__}: {exc}")
    return result


def _powershell_signature(data: Buffer, ctx: AnalysisContext, result: FormatResult) -> None:
    """PowerShell signature blocks count like Authenticode: they can prove (or disprove) a publisher."""
    if len(data) > _MAX_SIGNED_SCRIPT:
        result.anomalies.append(f"script: {len(data)} bytes is too large to check a PowerShell signature")
        return
    result.signature = verify_powershell(bytes(data), trust=ctx.trust, now=ctx.now)


# --- decoding ------------------------------------------------------------------------------------------


def decode_text(raw: bytes) -> tuple[str, str]:
    """(text, encoding): BOM first, then strict UTF-8, then latin-1 (which never fails)."""
    if raw.startswith(b"\xef\xbb\xbf"):
        return raw[3:].decode("utf-8", "replace"), "utf-8-sig"
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        enc = "utf-16-le" if raw[:2] == b"\xff\xfe" else "utf-16-be"
        return raw[2 : 2 + (len(raw) - 2) // 2 * 2].decode(enc, "replace"), enc
    sample = raw[:512]
    if len(sample) >= 8 and sample.count(0) * 4 >= len(sample):  # BOM-less UTF-16
        enc = "utf-16-le" if sample[1::2].count(0) > sample[0::2].count(0) else "utf-16-be"
        return raw[: len(raw) // 2 * 2].decode(enc, "replace"), enc
    try:
        return raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError as err:
        if err.start >= len(raw) - 3:  # only the cut at the size cap split a character
            return raw[: err.start].decode("utf-8"), "utf-8"
    return raw.decode("latin-1"), "latin-1"


def _analyze_text(data: Buffer, kind: str, ctx: AnalysisContext, result: FormatResult) -> None:
    cap = ctx.limits.max_text_bytes
    raw = bytes(data[:cap])
    text, encoding = decode_text(raw)
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")  # classic Mac AppleScript uses bare CR
    facts = result.facts
    facts["kind"] = kind.removeprefix("script:")
    facts["encoding"] = encoding
    if len(data) > cap:
        facts["truncated_at_bytes"] = cap
        result.anomalies.append(f"script: only the first {cap} bytes were checked")
    if facts["kind"] in _TECHNIQUES:
        facts["technique"] = _TECHNIQUES[facts["kind"]]
    result.text = text
    _common_checks(text, result, events=frozenset())


def _analyze_compiled(data: Buffer, ctx: AnalysisContext, result: FormatResult) -> None:
    raw = bytes(data[: ctx.limits.max_text_bytes])
    strings: list[str] = []
    for pattern, enc in (
        (_COMPILED_ASCII, "ascii"),
        (_COMPILED_UTF16BE, "utf-16-be"),  # 'utxt' string literals
        (_COMPILED_UTF16LE, "utf-16-le"),
    ):
        strings.extend(m.group(0).decode(enc, "replace") for m in pattern.finditer(raw))
    events = frozenset(name for code, name in _APPLE_EVENTS.items() if code in raw)
    result.facts["kind"] = "applescript-compiled"
    result.facts["technique"] = _TECHNIQUES["applescript-compiled"]
    result.facts["apple_events"] = sorted(events)
    result.facts["strings"] = len(strings)
    text = "\n".join(strings)
    result.text = text
    _common_checks(text, result, events)
    if "display dialog" in events and b"htxt" in raw and not _has(result, "APPLESCRIPT_PASSWORD_PROMPT"):
        _add(result, "APPLESCRIPT_PASSWORD_PROMPT", "compiled `display dialog` with a hidden answer", "")
    low = text.lower()
    runs_built_code = "do shell script" in events and ("run script" in events or "load script" in events)
    if runs_built_code and not _has(result, "SCRIPT_RUN_SCRIPT"):
        _add(result, "SCRIPT_RUN_SCRIPT", "compiled `run script` together with `do shell script`", "")
    if runs_built_code and ("curl" in low or "wget" in low) and not _has(result, _DOWNLOAD_EXEC):
        _add(result, _DOWNLOAD_EXEC, "compiled `do shell script` with curl/wget and `run script`", "")


# --- checks ----------------------------------------------------------------------------------------------


def _common_checks(text: str, result: FormatResult, events: frozenset[str]) -> None:
    facts = result.facts
    facts["lines"] = text.count("\n") + (1 if text and not text.endswith("\n") else 0)
    blank = _blank_run_max(text)
    facts["blank_run_max"] = blank
    urls = _urls(text)
    facts["urls"] = urls
    facts["hosts"] = hosts = _hosts(urls)
    for host in hosts:
        result.claim_fields.append(("script:url_host", host))
    if blank > PADDING_BLANK_LINES:
        result.indicators.append(
            Reason(
                "SCRIPT_PADDING",
                f"The script hides code after {blank} consecutive blank lines.",
                "T1027.001",
                40,
            )
        )
    low = text.lower()
    orig = text if len(text) == len(low) else low  # a few characters change length when lower-cased
    shapes: list[str] = []
    for shape in _SHAPES:
        hit = _find(low, orig, shape, result)
        if hit is None:
            continue
        shapes.append(shape.what)
        if not _has(result, shape.code):  # one reason per code; every shape is listed in facts
            _add(result, shape.code, shape.what, hit)
    chmod = _chmod_exec(low, orig)
    if chmod is not None:
        shapes.append("chmod +x of a temporary or hidden file, then run")
        result.indicators.append(
            Reason(
                "SCRIPT_CHMOD_EXEC",
                f"The script makes a temporary or hidden file executable and runs it ({chmod!r}).",
                "T1222.002",
                40,
            )
        )
    char_codes = low.count("fromcharcode")
    if char_codes >= 20 and not _has(result, _OBFUSCATION):
        shapes.append(f"{char_codes} String.fromCharCode calls")
        _add(result, _OBFUSCATION, f"{char_codes} String.fromCharCode calls build hidden code", "")
    chr_calls = low.count("chr(") + low.count("chrw(")
    if chr_calls >= 50 and "execute" in low and not _has(result, _OBFUSCATION):
        shapes.append(f"VBScript Execute of {chr_calls} Chr() calls")
        _add(result, _OBFUSCATION, f"Execute of a string built from {chr_calls} Chr() calls", "")
    facts["shapes"] = shapes


def _find(low: str, orig: str, shape: _Shape, result: FormatResult) -> str | None:
    """Snippet (from ``orig``, the text before lower-casing) of the first place ``shape`` holds, or None."""
    for count, m in enumerate(shape.anchor.finditer(low)):
        if count >= MAX_ANCHORS:
            result.anomalies.append(f"script: more than {MAX_ANCHORS} candidates for {shape.what!r}")
            return None
        start, end = m.span()
        if shape.word and (
            (start > 0 and (low[start - 1].isalnum() or low[start - 1] == "_"))
            or (end < len(low) and (low[end].isalnum() or low[end] == "_"))
        ):
            continue
        if shape.near is None:
            return _snippet(orig, start, end)
        lo = max(0, start - shape.before)
        hi = min(len(low), end + shape.after)
        if shape.line:
            nl = low.rfind("\n", lo, start)
            lo = nl + 1 if nl >= 0 else lo
            nl = low.find("\n", end, hi)
            hi = nl if nl >= 0 else hi
        if shape.before and (n := shape.near.search(low, lo, start)) is not None:
            return _snippet(orig, n.start(), end)
        if shape.after and (n := shape.near.search(low, end, hi)) is not None:
            return _snippet(orig, start, n.end())
    return None


def _snippet(text: str, start: int, end: int) -> str:
    piece = " ".join(text[start : min(end, start + MAX_SNIPPET)].split())
    return piece + ("…" if end - start > MAX_SNIPPET else "")


def _has(result: FormatResult, code: str) -> bool:
    return any(r.code == code for r in result.indicators)


def _add(result: FormatResult, code: str, what: str, snippet: str) -> None:
    lead, attack, score = _MESSAGES[code]
    quoted = f" ({snippet!r})" if snippet else ""
    result.indicators.append(Reason(code, f"{lead}: {what}{quoted}.", attack, score))


_BLANK_RUN_ONE = re.compile(r"\n[^\S\n]*\n")


def _blank_run_max(text: str) -> int:
    best = 0
    for m in _BLANK_RUN.finditer(text):
        best = max(best, m.group(0).count("\n") - 1)
    if best == 0 and _BLANK_RUN_ONE.search(text) is not None:
        best = 1
    return best


def _urls(text: str) -> list[str]:
    seen: dict[str, None] = {}
    for m in _URL.finditer(text):
        url = m.group(0).rstrip(".,;:!?")
        seen.setdefault(url, None)
        if len(seen) >= MAX_URLS:
            break
    return list(seen)


def _hosts(urls: list[str]) -> list[str]:
    hosts: dict[str, None] = {}
    for url in urls:
        rest = url.split("://", 1)[1]
        authority = re.split(r"[/?#]", rest, maxsplit=1)[0]
        host = authority.rsplit("@", 1)[-1]
        # IPv6 literal in brackets, else strip the port
        host = host.split("]", 1)[0] + "]" if host.startswith("[") else host.split(":", 1)[0]
        host = host.strip(".").lower()
        if host:
            hosts.setdefault(host, None)
        if len(hosts) >= MAX_HOSTS:
            break
    return list(hosts)


def _chmod_exec(low: str, orig: str) -> str | None:
    """`chmod +x` of a file in a temp dir or with a hidden name, when that path is used again later."""
    for count, m in enumerate(_CHMOD.finditer(low)):
        if count >= MAX_ANCHORS:
            return None
        path = m.group(1).strip("\"'")
        name = path.rstrip("/").rsplit("/", 1)[-1]
        temp = any(d in path for d in _TEMP_DIRS)
        hidden = name.startswith(".") and name not in (".", "..")
        if not (temp or hidden):
            continue
        if low.find(path, m.end(), m.end() + 4000) >= 0:
            return _snippet(orig, m.start(), m.end())
    return None
