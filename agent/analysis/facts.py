"""Immutable values the analysis produces: claims, signature facts, YARA hits, reasons, verdicts.

Everything here is plain data that serialises to JSON (``to_json``); the scanner's ``--json`` output, the
agent's event log and the wire protocol are all built from these values.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


class Verdict(enum.StrEnum):
    CLEAN = "clean"
    SUSPICIOUS = "suspicious"
    MALICIOUS = "malicious"

    @property
    def rank(self) -> int:
        return _VERDICT_RANK[self]

    @staticmethod
    def worst(verdicts: list[Verdict]) -> Verdict:
        return max(verdicts, key=lambda v: v.rank, default=Verdict.CLEAN)


_VERDICT_RANK = {Verdict.CLEAN: 0, Verdict.SUSPICIOUS: 1, Verdict.MALICIOUS: 2}


class SigStatus(enum.StrEnum):
    """Outcome of checking one signature. Only VALID is proof of a publisher."""

    UNSIGNED = "unsigned"  # no signature at all
    VALID = "valid"  # intact, chains to a trusted root, valid at signing/timestamp time
    UNTRUSTED_ROOT = "untrusted_root"  # intact, but the chain ends at a root we do not trust
    BAD_DIGEST = "bad_digest"  # the file was changed after signing
    BAD_SIGNATURE = "bad_signature"  # the signer's cryptographic signature does not verify
    EXPIRED = "expired"  # signer certificate not valid at signing time and no valid timestamp
    ADHOC = "adhoc"  # Mach-O ad-hoc signature: integrity only, no identity
    MALFORMED = "malformed"  # signature present but unparseable


@dataclass(frozen=True)
class Claim:
    """The file says it is ``brand``; ``source`` says where (e.g. ``name``, ``versioninfo:CompanyName``)."""

    brand: str
    source: str
    value: str

    def to_json(self) -> dict[str, Any]:
        return {"brand": self.brand, "source": self.source, "value": self.value}


@dataclass(frozen=True)
class SignatureFacts:
    """What one signature proves. ``problems`` lists every defect found, not only the first."""

    kind: str  # "authenticode" | "apple-codesign" | "powershell"
    status: SigStatus
    problems: tuple[str, ...] = ()
    signer_org: str | None = None  # leaf subject O=
    signer_cn: str | None = None  # leaf subject CN=
    issuer: str | None = None  # leaf issuer, RFC 4514
    thumbprint_sha1: str | None = None  # leaf certificate SHA-1 (what Windows shows)
    thumbprint_sha256: str | None = None
    chain: tuple[str, ...] = ()  # subjects from leaf to root
    root: str | None = None  # subject of the trust anchor reached (trusted or not)
    timestamp: str | None = None  # ISO time of a verified countersignature, if any
    team_id: str | None = None  # Apple Team ID; proven only when status is VALID
    digest_algorithm: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)  # format-specific (cdhash, flags...)

    @property
    def proven(self) -> bool:
        return self.status is SigStatus.VALID

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "status": str(self.status),
            "problems": list(self.problems),
            "signer_org": self.signer_org,
            "signer_cn": self.signer_cn,
            "issuer": self.issuer,
            "thumbprint_sha1": self.thumbprint_sha1,
            "thumbprint_sha256": self.thumbprint_sha256,
            "chain": list(self.chain),
            "root": self.root,
            "timestamp": self.timestamp,
            "team_id": self.team_id,
            "digest_algorithm": self.digest_algorithm,
            **({"extra": dict(self.extra)} if self.extra else {}),
        }


UNSIGNED = SignatureFacts(kind="none", status=SigStatus.UNSIGNED)


@dataclass(frozen=True)
class YaraHit:
    rule: str
    namespace: str
    tags: tuple[str, ...]
    meta: Mapping[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"rule": self.rule, "namespace": self.namespace, "tags": list(self.tags), "meta": dict(self.meta)}


@dataclass(frozen=True)
class Reason:
    """One reason for a verdict: stable ``code`` (machine), ``message`` (human), ATT&CK technique."""

    code: str
    message: str
    attack: str | None
    score: int  # contribution; >= 70 alone makes a file malicious, >= 30 suspicious

    def to_json(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "attack": self.attack, "score": self.score}


@dataclass(frozen=True)
class Member:
    """A file inside a container (ZIP member, bundle file) to analyse recursively."""

    name: str
    data: bytes


@dataclass
class FormatResult:
    """What a format handler learnt from the bytes. Handlers fill this; they never decide a verdict.

    ``claim_fields`` are (source, text) pairs where a brand may be claimed (VERSIONINFO values, MSI
    properties, bundle ids, LNK fields...). ``text`` is decoded script text for script-level checks.
    ``indicators`` are format-level findings that are evidence on their own (e.g. a zip bomb, a LNK that
    runs a hidden interpreter); they become reasons verbatim.
    """

    type: str
    facts: dict[str, Any] = field(default_factory=dict)
    claim_fields: list[tuple[str, str]] = field(default_factory=list)
    signature: SignatureFacts | None = None
    anomalies: list[str] = field(default_factory=list)
    indicators: list[Reason] = field(default_factory=list)
    members: list[Member] = field(default_factory=list)
    text: str | None = None


@dataclass(frozen=True)
class ScanResult:
    """The verdict on one file (or archive member) plus every fact it rests on."""

    path: str
    sha256: str
    size: int
    type: str
    verdict: Verdict
    score: int
    reasons: tuple[Reason, ...]
    claims: tuple[Claim, ...]
    signature: SignatureFacts | None
    yara: tuple[YaraHit, ...]
    facts: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "sha256": self.sha256,
            "size": self.size,
            "type": self.type,
            "verdict": str(self.verdict),
            "score": self.score,
            "reasons": [r.to_json() for r in self.reasons],
            "claims": [c.to_json() for c in self.claims],
            "signature": self.signature.to_json() if self.signature else None,
            "yara": [y.to_json() for y in self.yara],
            "facts": dict(self.facts),
        }
