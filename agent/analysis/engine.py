"""The engine: identify → parse → claims → YARA → recurse into members → decide.

One call per top-level file; it returns the file's result followed by one result per archive/bundle member
(paths like ``outer.zip!inner.exe``). Analysis is pure: the caller opens the file and passes its bytes or a
read-only mmap; nothing here touches the file system or the clock.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from agent.analysis import sniff
from agent.analysis.context import AnalysisContext, Buffer
from agent.analysis.decide import SIGNABLE, Evidence, decide, is_scriptlike
from agent.analysis.errors import RulesTimeout
from agent.analysis.facts import FormatResult, Member, Reason, ScanResult, YaraHit
from agent.analysis.formats import app_bundle, elf, lnk, macho, msi, pe, script
from agent.analysis.formats import zip as zip_format
from agent.analysis.lookalike import check_host, hosts_in_text
from agent.analysis.yara_scan import RuleSet

log = logging.getLogger(__name__)

Handler = Callable[[Buffer, str, AnalysisContext], FormatResult]

# Format dispatch table: sniffed type → handler. Types without a handler (documents, media, plain text)
# still get hashes, claims from their name and YARA.
HANDLERS: Mapping[str, Handler] = {
    "pe": pe.analyze,
    "msi": msi.analyze,
    "macho": macho.analyze,
    "macho-fat": macho.analyze,
    "zip": zip_format.analyze,
    "lnk": lnk.analyze,
    "elf": elf.analyze,
    "applescript-compiled": script.analyze,
}
_ARCHIVES = frozenset({"zip"})
_HOSTS_FROM_TEXT = frozenset({"lnk", "plist", "applescript-compiled"})
SCAN_ERROR = "SCAN_ERROR"


def handler_for(ftype: str) -> Handler | None:
    if ftype.startswith("script:"):
        return script.analyze
    return HANDLERS.get(ftype)


def scan_error_reason(message: str) -> Reason:
    return Reason(SCAN_ERROR, f"The file could not be fully analysed: {message}.", None, 40)


@dataclass
class _Budget:
    """Bytes that archive members of one top-level file may still expand to (nested archives share it)."""

    remaining: int


class Engine:
    def __init__(self, ctx: AnalysisContext, rules: RuleSet | None) -> None:
        self.ctx = ctx
        self.rules = rules

    @property
    def rules_version(self) -> str:
        return self.rules.version if self.rules else "none"

    def scan(self, data: Buffer, *, path: str) -> list[ScanResult]:
        """Analyse one top-level file. Returns its result first, then its members' results."""
        budget = _Budget(self.ctx.limits.max_total_expanded)
        return self._scan(data, path=path, depth=0, budget=budget, is_member=False)

    def scan_bundle(self, files: Mapping[str, bytes], *, path: str) -> list[ScanResult]:
        """Analyse a macOS ``.app`` bundle given its key files (relative path → bytes)."""
        name = path.rstrip("/").rsplit("/", 1)[-1]
        fr = _safe(lambda: app_bundle.analyze_bundle(files, name, self.ctx), "app")
        # A script as the main executable comes back as a member: it is what runs, so it is judged too.
        children: list[ScanResult] = []
        budget = _Budget(self.ctx.limits.max_total_expanded)
        for m in fr.members:
            children += self._scan(m.data, path=f"{path}!{m.name}", depth=1, budget=budget, is_member=True)
        blob = b"".join(files[k] for k in sorted(files))  # the bundle's identity: its key files together
        return [self._finish(fr, blob, path=path, name=name, members=children, is_member=False), *children]

    # -- internals --------------------------------------------------------------------------------

    def _scan(self, data: Buffer, *, path: str, depth: int, budget: _Budget, is_member: bool) -> list[ScanResult]:
        name = path.rsplit("!", 1)[-1].replace("\\", "/").rsplit("/", 1)[-1]
        ftype = _safe_identify(data, name)
        handler = handler_for(ftype)
        ctx = self.ctx
        if ftype in _ARCHIVES:
            limits = dataclasses.replace(ctx.limits, max_total_expanded=max(0, budget.remaining))
            ctx = dataclasses.replace(ctx, limits=limits)
        fr = _safe(lambda: handler(data, name, ctx), ftype) if handler else FormatResult(type=ftype)
        children: list[ScanResult] = []
        if fr.members:
            budget.remaining -= sum(len(m.data) for m in fr.members)
            if depth + 1 > self.ctx.limits.max_depth:
                fr.indicators.append(Reason("ARCHIVE_TOO_DEEP", f"Archives nested deeper than "
                                            f"{self.ctx.limits.max_depth} levels were not opened.", "T1027", 30))
            else:
                children = self._members(fr.members, path=path, depth=depth, budget=budget)
        own = self._finish(fr, data, path=path, name=name, members=children, is_member=is_member)
        return [own, *children]

    def _members(self, members: list[Member], *, path: str, depth: int, budget: _Budget) -> list[ScanResult]:
        out: list[ScanResult] = []
        for m in members:
            out += self._scan(m.data, path=f"{path}!{m.name}", depth=depth + 1, budget=budget, is_member=True)
        by_name = {m.name: m.data for m in members}
        for root in app_bundle.find_bundles(by_name):
            prefix = root.rstrip("/") + "/"
            files = {k[len(prefix):]: v for k, v in by_name.items() if k.startswith(prefix)}
            out += self.scan_bundle(files, path=f"{path}!{root.rstrip('/')}")
        return out

    def _finish(self, fr: FormatResult, data: Buffer, *, path: str, name: str, members: list[ScanResult],
                is_member: bool) -> ScanResult:
        sha256 = hashlib.sha256(data).hexdigest()
        claims = self.ctx.vendors.claims(name, fr.claim_fields, fr.text if is_scriptlike(fr.type) else None)
        hits, yara_errors = self._yara(data, fr, name=name, path=path, brand=claims[0].brand if claims else "",
                                       is_member=is_member)
        lookalikes = []
        if fr.text and (is_scriptlike(fr.type) or fr.type in _HOSTS_FROM_TEXT):
            lookalikes = [h for h in (check_host(x, self.ctx.vendors) for x in hosts_in_text(fr.text)) if h]
        indicators = [*fr.indicators, *yara_errors]
        ev = Evidence(name=name, type=fr.type, claims=claims, signature=fr.signature, indicators=indicators,
                      yara=hits, lookalikes=lookalikes, members=[m for m in members if "!" not in
                                                                 m.path[len(path) + 1:]])
        verdict, score, reasons = decide(ev, self.ctx.vendors)
        facts = dict(fr.facts)
        if fr.anomalies:
            facts["anomalies"] = fr.anomalies[:50]
        if lookalikes:
            facts["lookalike_hosts"] = [h.host for h in lookalikes]
        return ScanResult(
            path=path, sha256=sha256, size=len(data), type=fr.type, verdict=verdict, score=score,
            reasons=reasons, claims=tuple(claims), signature=fr.signature, yara=tuple(hits), facts=facts,
        )

    def _yara(self, data: Buffer, fr: FormatResult, *, name: str, path: str, brand: str,
              is_member: bool) -> tuple[list[YaraHit], list[Reason]]:
        if self.rules is None:
            return [], []
        if fr.type in _ARCHIVES and fr.members and not fr.anomalies and not fr.indicators:
            # Every member was extracted whole and is matched on its own; the container's bytes are only
            # their compressed form, so matching them again would double the cost for no evidence.
            return [], []
        sig = fr.signature
        ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
        externals: dict[str, str | bool | int] = {
            "filename": name, "filepath": path, "extension": ext, "filetype": fr.type,
            "claimed_brand": brand, "signer_org": (sig.signer_org or "") if sig else "",
            "signature_status": str(sig.status) if sig else "unsigned",
            "signature_valid": bool(sig and sig.proven), "is_member": is_member,
        }
        try:
            return self.rules.match(data, externals, self.ctx.limits.yara_timeout_s), []
        except RulesTimeout:
            return [], [scan_error_reason(f"YARA did not finish within {self.ctx.limits.yara_timeout_s} s")]
        except Exception as exc:  # yara raises its own Error for scan failures (e.g. too many matches)
            log.warning("yara failed on %s: %s", path, exc)
            return [], [scan_error_reason(f"YARA failed: {exc}")]


def _safe_identify(data: Buffer, name: str) -> str:
    try:
        return sniff.identify(data, name)
    except Exception:  # identification is total by contract; a bug here must not lose the file
        log.exception("identify failed on %s", name)
        return "data"


def _safe(fn: Callable[[], FormatResult], ftype: str) -> FormatResult:
    """Run a handler; a crash in a parser is evidence about the file, not the end of the scan."""
    try:
        return fn()
    except MemoryError:
        raise
    except Exception as exc:
        log.warning("%s handler failed: %r", ftype, exc)
        return FormatResult(type=ftype, anomalies=[f"parser error: {type(exc).__name__}: {exc}"[:300]],
                            indicators=[scan_error_reason(f"the {ftype} parser failed ({type(exc).__name__})")])


__all__ = ["HANDLERS", "SCAN_ERROR", "SIGNABLE", "Engine", "handler_for", "scan_error_reason"]
