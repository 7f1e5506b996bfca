"""The verdict: claimed brand vs. proven publisher, plus format evidence and YARA reasons.

Pure function of facts. Unsigned alone is never a reason (most downloads are unsigned and innocent); a
brand claim without the vendor's trusted, intact proof is. Every reason is kept, not only the first.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from agent.analysis.claims import Vendor, VendorTable
from agent.analysis.facts import Claim, Reason, ScanResult, SignatureFacts, SigStatus, Verdict, YaraHit
from agent.analysis.lookalike import LookalikeHost

MALICIOUS_AT = 70
SUSPICIOUS_AT = 30

# Formats whose publisher can be proven by a code signature.
SIGNABLE = frozenset({"pe", "msi", "macho", "macho-fat", "app"})
# Formats that run as code when opened (script text, shortcuts, compiled AppleScript).
SCRIPTLIKE_PREFIX = ("script:",)
SCRIPTLIKE = frozenset({"applescript-compiled", "lnk"})
# Format indicators that mean "this downloads or runs code" (set by the script and LNK handlers).
EXEC_INDICATORS = frozenset(
    {
        "SCRIPT_DOWNLOAD_EXEC", "SCRIPT_CHMOD_EXEC", "SCRIPT_OBFUSCATION", "SCRIPT_LAUNCHAGENT",
        "APPLESCRIPT_PASSWORD_PROMPT", "LNK_INTERPRETER", "LNK_DOWNLOAD_CRADLE", "SCRIPT_RUN_SCRIPT",
    }
)
_DOC_EXTENSIONS = frozenset(
    ["pdf", "doc", "docx", "xls", "xlsx", "ppt", "pptx", "rtf", "txt", "csv", "jpg", "jpeg", "png", "gif",
     "bmp", "mp3", "mp4", "mov", "avi", "wav", "zip"]
)
_UPDATE_NAME = re.compile(r"update|upgrade|sdk|fix|driver|install|setup|plugin|patch|support", re.I)


def is_scriptlike(ftype: str) -> bool:
    return ftype.startswith(SCRIPTLIKE_PREFIX) or ftype in SCRIPTLIKE


@dataclass(frozen=True)
class Evidence:
    """Everything the decision rests on for one file."""

    name: str
    type: str
    claims: Sequence[Claim]
    signature: SignatureFacts | None
    indicators: Sequence[Reason]
    yara: Sequence[YaraHit]
    lookalikes: Sequence[LookalikeHost]
    members: Sequence[ScanResult] = ()


def decide(ev: Evidence, vendors: VendorTable) -> tuple[Verdict, int, tuple[Reason, ...]]:
    reasons: list[Reason] = list(ev.indicators)
    reasons += _name_reasons(ev)
    reasons += _brand_reasons(ev, vendors)
    reasons += _signature_reasons(ev)
    reasons += [_yara_reason(h) for h in ev.yara]
    reasons += [
        Reason("LOOKALIKE_HOST", f"Refers to {h.host}, which {h.why}.", "T1583.001", 50) for h in ev.lookalikes
    ]
    reasons += _member_reasons(ev.members)
    reasons = _dedupe(reasons)
    score = combined_score(reasons)
    verdict = verdict_for(score)
    if ev.members:
        verdict = Verdict.worst([verdict, *(m.verdict for m in ev.members)])
    reasons.sort(key=lambda r: -r.score)
    return verdict, score, tuple(reasons)


def combined_score(reasons: Sequence[Reason]) -> int:
    """Independent kinds of evidence add up; the same kind seen twice does not.

    A download-and-run line is found by the script parser and by a YARA rule: that is one fact, worth its
    strongest reading, not two. A brand claim plus that download plus hidden padding are three facts.
    """
    best: dict[str, int] = {}
    for r in reasons:
        cat = category(r)
        best[cat] = max(best.get(cat, 0), r.score)
    return min(100, sum(best.values()))


def category(r: Reason) -> str:
    """The kind of evidence a reason is, from its code or its ATT&CK technique."""
    if r.code.startswith("BRAND_") or r.code == "RETIRED_PRODUCT":
        return "claim"
    if r.code in ("SCAN_ERROR", "MEMBER_FLAGGED"):
        return r.code.lower()
    attack = r.attack or ""
    for prefixes, cat in _CATEGORIES:
        if attack.startswith(prefixes):
            return cat
    return "behaviour"


_CATEGORIES: tuple[tuple[tuple[str, ...], str], ...] = (
    (("T1027", "T1564", "T1140", "T1036.002", "T1036.007", "T1036.008"), "concealment"),
    (("T1583", "T1566"), "infrastructure"),
    (("T1036", "T1553"), "claim"),
    (("T1543", "T1547", "T1053"), "persistence"),
    (("T1056",), "credentials"),
)


def verdict_for(score: int) -> Verdict:
    if score >= MALICIOUS_AT:
        return Verdict.MALICIOUS
    if score >= SUSPICIOUS_AT:
        return Verdict.SUSPICIOUS
    return Verdict.CLEAN


def _name_reasons(ev: Evidence) -> list[Reason]:
    out = []
    if "\u202e" in ev.name:
        out.append(Reason("NAME_RTLO", "The file name hides its real extension with a right-to-left override.",
                          "T1036.002", 70))
    parts = ev.name.lower().rsplit(".", 2)
    if ev.type in SIGNABLE | {"elf"} or is_scriptlike(ev.type):
        if len(parts) == 3 and parts[1] in _DOC_EXTENSIONS and parts[1] != "zip":
            out.append(Reason("DOUBLE_EXTENSION", f"The name ends in '.{parts[1]}.{parts[2]}' to pass a "
                              f"program off as a document.", "T1036.007", 40))
        elif len(parts) >= 2 and parts[-1] in _DOC_EXTENSIONS and ev.type != "zip":
            out.append(Reason("EXTENSION_MISMATCH", f"Named like a '.{parts[-1]}' file but its content is "
                              f"{ev.type}.", "T1036.008", 40))
    return out


def _brand_reasons(ev: Evidence, vendors: VendorTable) -> list[Reason]:
    out: list[Reason] = []
    for brand in sorted({c.brand for c in ev.claims}):
        v = vendors.vendors[brand]
        where = ", ".join(sorted({c.source for c in ev.claims if c.brand == brand}))
        if ev.type in SIGNABLE:
            out += _binary_brand(ev, v, where)
        elif is_scriptlike(ev.type):
            out += _script_brand(ev, v, where)
        elif ev.type == "elf":
            out.append(Reason("BRAND_UNVERIFIABLE", f"Claims to be {v.display} ({where}); Linux binaries carry "
                              f"no signature that could prove it.", None, 10))
    return out


def _proves(sig: SignatureFacts | None, v: Vendor) -> bool:
    if sig is None or not sig.proven:
        return False
    if sig.kind == "apple-codesign":
        return sig.team_id is not None and sig.team_id in v.team_ids
    return v.accepts_publisher(sig.signer_org)


def _binary_brand(ev: Evidence, v: Vendor, where: str) -> list[Reason]:
    sig = ev.signature
    claim = f"Claims to be {v.display} ({where})"
    if not v.desktop_app:
        return [Reason("BRAND_NO_DESKTOP_APP", f"{claim}, but {v.how_it_updates}.", "T1036.005", 85)]
    if _proves(sig, v):
        if v.retired:
            return [Reason("RETIRED_PRODUCT", f"Signed by {v.display}'s publisher, but {v.how_it_updates}.",
                           "T1036.005", 30)]
        return []
    if not v.publishers and not v.team_ids:
        return [Reason("BRAND_UNPROVABLE", f"{claim}, but {v.how_it_updates}.", "T1036.005", 80)]
    status = sig.status if sig else SigStatus.UNSIGNED
    who = (sig.signer_org or sig.signer_cn) if sig else None
    if status is SigStatus.VALID:
        proof = (f"its Team ID is {sig.team_id}" if sig and sig.kind == "apple-codesign"
                 else f"it is signed by '{who}'")
        return [Reason("BRAND_SIGNER_MISMATCH", f"{claim}, but {proof}, not by {v.display}'s publisher. "
                       f"{v.how_it_updates}.", "T1553.002", 85)]
    table = {
        SigStatus.UNSIGNED: ("BRAND_UNSIGNED", "but it carries no code signature", "T1036.005", 80),
        SigStatus.ADHOC: ("BRAND_ADHOC_SIGNED", "but it is only ad-hoc signed: a self-asserted Team ID "
                          "proves nothing", "T1036.005", 80),
        SigStatus.UNTRUSTED_ROOT: ("BRAND_UNTRUSTED_SIGNER", f"but its signature (by '{who}') chains to a root "
                                   "that is not trusted", "T1553.002", 85),
        SigStatus.BAD_DIGEST: ("BRAND_TAMPERED", "but the file was modified after it was signed", "T1036.001", 90),
        SigStatus.BAD_SIGNATURE: ("BRAND_BAD_SIGNATURE", "but its signature does not verify", "T1036.001", 90),
        SigStatus.EXPIRED: ("BRAND_EXPIRED_SIGNATURE", f"but the signing certificate ('{who}') was not valid when "
                            "it was signed and there is no valid timestamp", "T1036.001", 75),
        SigStatus.MALFORMED: ("BRAND_MALFORMED_SIGNATURE", "but its signature is malformed", "T1036.001", 85),
    }
    code, why, attack, score = table[status]
    return [Reason(code, f"{claim}, {why}. {v.how_it_updates}.", attack, score)]


def _script_brand(ev: Evidence, v: Vendor, where: str) -> list[Reason]:
    if _proves(ev.signature, v):
        return []
    runs_code = [r.code for r in ev.indicators if r.code in EXEC_INDICATORS]
    runs_code += [h.rule for h in ev.yara if int(h.meta.get("score", 0)) >= 40]
    kind = "shortcut" if ev.type == "lnk" else "script"
    if runs_code:
        return [Reason("BRAND_SCRIPT_DROPPER", f"Claims to be {v.display} ({where}) but is a {kind} that downloads "
                       f"or runs code; {v.how_it_updates}, never through a {kind}.", "T1204.002", 80)]
    if any(c.source == "name" and c.brand == v.key for c in ev.claims) and _UPDATE_NAME.search(ev.name):
        return [Reason("BRAND_SCRIPT", f"A {kind} named as a {v.display} update or fix; {v.how_it_updates}.",
                       "T1036.005", 30)]
    return []


def _signature_reasons(ev: Evidence) -> list[Reason]:
    sig = ev.signature
    if sig is None or ev.claims:  # with a claim, the brand reasons already explain the signature
        return []
    if sig.status in (SigStatus.BAD_DIGEST, SigStatus.BAD_SIGNATURE):
        return [Reason("SIGNATURE_INVALID", f"The code signature is broken ({', '.join(sig.problems) or sig.status})"
                       ": the file was changed after signing.", "T1036.001", 40)]
    if sig.status is SigStatus.MALFORMED:
        return [Reason("SIGNATURE_MALFORMED", "The code signature is malformed.", "T1036.001", 30)]
    return []


def _yara_reason(h: YaraHit) -> Reason:
    desc = str(h.meta.get("description") or h.rule)
    attack = h.meta.get("attack")
    try:
        score = max(0, min(100, int(h.meta.get("score", 50))))
    except (TypeError, ValueError):
        score = 50
    return Reason(f"YARA:{h.rule}", f"{desc} (rule {h.rule}).", str(attack) if attack else None, score)


def _member_reasons(members: Iterable[ScanResult]) -> list[Reason]:
    flagged = [m for m in members if m.verdict is not Verdict.CLEAN]
    if not flagged:
        return []
    worst = max(flagged, key=lambda m: (m.verdict.rank, m.score))
    more = f" and {len(flagged) - 1} more" if len(flagged) > 1 else ""
    top = worst.reasons[0].message if worst.reasons else ""
    return [Reason("MEMBER_FLAGGED", f"Contains {worst.path.rsplit('!', 1)[-1]} ({worst.verdict}){more}: {top}",
                   worst.reasons[0].attack if worst.reasons else None, worst.score)]


def _dedupe(reasons: list[Reason]) -> list[Reason]:
    seen: set[tuple[str, str]] = set()
    out = []
    for r in reasons:
        if (r.code, r.message) not in seen:
            seen.add((r.code, r.message))
            out.append(r)
    return out
