"""macOS ``.app`` bundles: Contents/Info.plist names the bundle, Contents/MacOS/<CFBundleExecutable> runs.

Pure: the caller hands over the bundle's key files (relative path -> bytes), from a ZIP/DMG listing or
from ``agent.analysis.bundle_io.read_bundle`` on a directory. The bundle's signature is its main
executable's Mach-O signature, with the Info.plist and CodeResources seals checked against the files given.
"""

from __future__ import annotations

import plistlib
from collections.abc import Iterable, Mapping
from typing import Any

from agent.analysis.context import AnalysisContext
from agent.analysis.facts import FormatResult, Member, Reason, SignatureFacts, SigStatus
from agent.analysis.formats import macho
from agent.analysis.formats.apple_codesign import KIND, SLOT_INFO_PLIST, SLOT_RESOURCEDIR

TYPE = "app"
INFO_PLIST = "Contents/Info.plist"
MACOS_DIR = "Contents/MacOS/"
CODE_RESOURCES = "Contents/_CodeSignature/CodeResources"

# Budgets. Genuine Info.plist files are a few KB (Zoom's ~10 KB); a huge or deeply nested one is hostile.
MAX_PLIST_BYTES = 1024 * 1024
MAX_FIELD_CHARS = 512  # a bundle id / name longer than this is truncated in facts and claims
MAX_BUNDLE_SCAN = 100_000  # paths examined by find_bundles (archives are already capped by member count)

FACT_KEYS = (
    "CFBundleIdentifier",
    "CFBundleName",
    "CFBundleDisplayName",
    "CFBundleExecutable",
    "CFBundleShortVersionString",
    "CFBundleVersion",
    "LSMinimumSystemVersion",
)
CLAIM_KEYS = ("CFBundleIdentifier", "CFBundleName", "CFBundleDisplayName", "CFBundleExecutable")


def parse_info_plist(data: bytes, anomalies: list[str]) -> dict[str, Any] | None:
    """Info.plist (XML or binary) as a dict; None, with an anomaly, when it is not one."""
    if len(data) > MAX_PLIST_BYTES:
        anomalies.append(f"Info.plist is {len(data)} bytes, over the budget of {MAX_PLIST_BYTES}; not parsed")
        return None
    try:
        value = plistlib.loads(data)
    except Exception as exc:  # InvalidFileException, ExpatError, ValueError, RecursionError (deep nesting)...
        anomalies.append(f"Info.plist is malformed ({type(exc).__name__})")
        return None
    if not isinstance(value, dict):
        anomalies.append("Info.plist is not a dictionary")
        return None
    return value


def executable_name(info: Mapping[str, Any] | None, anomalies: list[str]) -> str | None:
    """CFBundleExecutable if it is a plain file name (no path tricks)."""
    if info is None:
        return None
    exe = info.get("CFBundleExecutable")
    if exe is None:
        return None
    if not isinstance(exe, str) or not exe or "/" in exe or "\\" in exe or exe in (".", "..") or "\0" in exe:
        anomalies.append(f"CFBundleExecutable {str(exe)[:MAX_FIELD_CHARS]!r} is not a plain file name")
        return None
    return exe


def find_bundles(paths: Iterable[str]) -> list[str]:
    """Outermost ``X.app`` roots among relative paths (ZIP members, a directory walk), sorted.

    A root counts when some path lies inside its ``Contents/``. AppleDouble copies under ``__MACOSX/``
    (Finder's ZIPs) are not bundles. Nested apps (helpers inside Contents/) belong to their outer bundle.
    """
    roots: set[str] = set()
    for n, path in enumerate(paths):
        if n >= MAX_BUNDLE_SCAN:
            break
        parts = path.split("/")
        if parts and parts[0] == "__MACOSX":
            continue
        for i, part in enumerate(parts[:-1]):
            if part.lower().endswith(".app") and len(part) > 4:
                if i + 1 < len(parts) and parts[i + 1] == "Contents":
                    roots.add("/".join(parts[: i + 1]))
                break
    return sorted(roots)


def _text(value: Any) -> str | None:
    return value[:MAX_FIELD_CHARS] if isinstance(value, str) else None


def analyze_bundle(files: Mapping[str, bytes], name: str, ctx: AnalysisContext) -> FormatResult:
    """Facts, claims and the main executable's signature for one bundle. Never raises on bad input."""
    res = FormatResult(type=TYPE)
    plist_bytes = files.get(INFO_PLIST)
    info: dict[str, Any] | None = None
    if plist_bytes is None:
        res.anomalies.append("bundle has no Contents/Info.plist")
    else:
        info = parse_info_plist(plist_bytes, res.anomalies)
        res.facts["info_plist_format"] = "binary" if plist_bytes.startswith(b"bplist") else "xml"
    for key in FACT_KEYS:
        value = info.get(key) if info else None
        if value is None:
            continue
        text = _text(value)
        if text is None:
            res.anomalies.append(f"Info.plist {key} is a {type(value).__name__}, not a string")
            continue
        res.facts[key] = text
        if key in CLAIM_KEYS and text:
            res.claim_fields.append((f"plist:{key}", text))

    exe = executable_name(info, res.anomalies)
    candidates = sorted(k for k in files if k.startswith(MACOS_DIR) and "/" not in k[len(MACOS_DIR) :])
    if exe is None and len(candidates) == 1:
        exe = candidates[0][len(MACOS_DIR) :]
        res.anomalies.append(f"no usable CFBundleExecutable; using the only file in Contents/MacOS ({exe})")
    exe_path = f"{MACOS_DIR}{exe}" if exe else None
    exe_data = files.get(exe_path) if exe_path else None
    if exe_data is None:
        res.anomalies.append(f"main executable {exe_path or '(unnamed)'} not found in the bundle")
        res.signature = SignatureFacts(kind=KIND, status=SigStatus.UNSIGNED, problems=("no main executable",))
        return res

    res.facts["executable"] = {"path": exe_path, "size": len(exe_data)}
    sealed: dict[int, bytes] = {}
    if plist_bytes is not None:
        sealed[SLOT_INFO_PLIST] = plist_bytes
    if CODE_RESOURCES in files:
        sealed[SLOT_RESOURCEDIR] = files[CODE_RESOURCES]
    if macho.sniff(exe_data[:4096], len(exe_data)) is None:
        # A script or other non-Mach-O main executable: nothing signs it. Hand it back for content checks.
        res.facts["executable"]["type"] = "script" if exe_data.startswith(b"#!") else "other"
        res.signature = SignatureFacts(kind=KIND, status=SigStatus.UNSIGNED, problems=("not a Mach-O",))
        res.members.append(Member(name=exe_path or "", data=exe_data))
        if exe_data.startswith(b"#!"):
            res.indicators.append(
                Reason(
                    "APP_SCRIPT_EXECUTABLE",
                    f"The app's main executable {exe_path} is a script, which no code signature covers.",
                    "T1059.004",
                    25,
                )
            )
        return res

    mr = macho.analyze_with_bundle(exe_data, exe or name, ctx, sealed)
    res.facts["executable"].update(
        type=mr.type,
        cputypes=mr.facts.get("cputypes") or [mr.facts.get("cputype")],
        codesign=mr.facts.get("codesign") or [s.get("codesign") for s in mr.facts.get("slices", [])],
    )
    res.signature = mr.signature
    res.anomalies.extend(f"{exe_path}: {a}" for a in mr.anomalies)
    res.indicators.extend(mr.indicators)
    for cf in mr.claim_fields:
        if cf not in res.claim_fields:
            res.claim_fields.append(cf)
    ident = mr.signature.extra.get("identifier") if mr.signature else None
    bundle_id = res.facts.get("CFBundleIdentifier")
    if ident and bundle_id and ident != bundle_id:
        res.anomalies.append(f"code signature identifier {ident!r} differs from CFBundleIdentifier {bundle_id!r}")
    return res
