"""Verify a PKCS#7 / CMS SignedData: structure, signer signature, content digest, timestamp, chain.

Shared by Authenticode (PE/MSI/PowerShell; content encapsulated as SpcIndirectDataContent) and Apple
code signing (content detached: the CodeDirectory blob). asn1crypto reads the structure; ``cryptography``
does every signature check.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from asn1crypto import cms, core, parser, tsp
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import dsa, ec, padding, rsa
from cryptography.x509.oid import NameOID

from agent.analysis.facts import SignatureFacts, SigStatus
from agent.analysis.sig.trust import ChainResult, Program, TrustStore, name_attr, subject_str

# (content type OID, content) -> problems. ``content`` is the DER of the encapsulated content (e.g. the
# whole SpcIndirectDataContent SEQUENCE) or the detached bytes. A problem text starting with "malformed"
# makes the result MALFORMED; any other problem makes it BAD_DIGEST (the file does not match what was signed).
ContentCheck = Callable[[str, bytes], list[str]]

# Budgets for hostile signatures.
MAX_CERTS = 64  # certificates read from one SignedData (real ones carry 2-6)
MAX_SIGNERS = 4  # signer infos looked at (Authenticode allows exactly one)
MAX_TIMESTAMPS = 4  # countersignatures tried per signer

OID_SPC_INDIRECT_DATA = "1.3.6.1.4.1.311.2.1.4"
OID_TST_INFO = "1.2.840.113549.1.9.16.1.4"
OID_DATA = "1.2.840.113549.1.7.1"

# Hash names as asn1crypto spells them -> hashlib names. MD5/SHA-1 are still seen in old signatures.
HASHES: dict[str, str] = {
    "md5": "md5",
    "sha1": "sha1",
    "sha224": "sha224",
    "sha256": "sha256",
    "sha384": "sha384",
    "sha512": "sha512",
}
_CRYPTO_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "md5": hashes.MD5,
    "sha1": hashes.SHA1,
    "sha224": hashes.SHA224,
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}


class CmsError(ValueError):
    """The SignedData is structurally unusable (becomes MALFORMED)."""


@dataclass
class _Cert:
    asn1: Any  # asn1crypto.x509.Certificate
    crypto: x509.Certificate


@dataclass
class _Outcome:
    """Internal result of checking one signer, before it becomes SignatureFacts."""

    malformed: list[str] = field(default_factory=list)
    digest: list[str] = field(default_factory=list)  # content does not match
    signature: list[str] = field(default_factory=list)  # crypto failures
    chain: ChainResult | None = None
    signer: x509.Certificate | None = None
    signing_time: datetime | None = None  # verified timestamp time
    timestamp_kind: str | None = None
    timestamp_problems: list[str] = field(default_factory=list)
    tsa: str | None = None
    digest_algorithm: str | None = None
    content_type: str | None = None
    claimed_time: datetime | None = None  # unauthenticated signingTime attribute, for the record


def verify_cms(
    der: bytes,
    *,
    detached_content: bytes | None,
    trust: TrustStore,
    program: Program,
    now: datetime,
    kind: str,
    content_check: ContentCheck | None = None,
) -> SignatureFacts:
    """Check one DER ContentInfo(SignedData) and say what it proves. Never raises on hostile input.

    - ``detached_content``: the signed bytes when the SignedData carries none (Apple: the CodeDirectory);
      ``None`` means the content is encapsulated (Authenticode).
    - ``content_check`` compares the signed content with the file (e.g. the Authenticode digest); it is
      called with the eContentType OID and the content bytes.
    - The signer chain is validated at the time of a verified timestamp (legacy PKCS#9 countersignature or
      RFC 3161 token), else at ``now``; trust anchors come from ``trust`` for ``program``.

    Returns SignatureFacts: status VALID only if the structure is sound, the content matches, the signature
    verifies and the chain reaches a trusted root valid at that time; every defect is in ``problems``.
    ``extra`` holds ``content_type``, ``timestamp_kind``, ``tsa`` and ``signing_time_claimed``.
    """
    try:
        out = _verify(
            der,
            detached_content,
            trust=trust,
            program=program,
            now=now,
            purpose="code_signing",
            content_check=content_check,
        )
    except Exception as exc:  # boundary: a hostile DER may trip any parser path; it is evidence, not a crash
        return SignatureFacts(kind=kind, status=SigStatus.MALFORMED, problems=(f"malformed: {_describe(exc)}",))
    return _facts(out, kind)


def nested_signatures(der: bytes, limit: int = 8) -> list[bytes]:
    """DER of the nested Authenticode signatures (unsigned attr 1.3.6.1.4.1.311.2.4.1) of the first signer."""
    try:
        sd = _signed_data(der)
        out: list[bytes] = []
        for si in list(sd["signer_infos"])[:1]:
            for attr in _attrs(si["unsigned_attrs"]):
                if attr["type"].dotted == "1.3.6.1.4.1.311.2.4.1":
                    out.extend(v.dump() for v in attr["values"])
        return out[:limit]
    except Exception:  # nested signatures are extra evidence; a broken container yields none
        return []


def encapsulated_content(der: bytes) -> tuple[str, bytes | None]:
    """(eContentType OID, DER of the encapsulated content) of a SignedData, without verifying anything."""
    oid, tlv, _digested = _encapsulated(_signed_data(der))
    return oid, tlv


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0][:200]


def _signed_data(der: bytes) -> Any:
    ci = cms.ContentInfo.load(der, strict=False)
    if ci["content_type"].native != "signed_data":
        raise CmsError(f"content type is {ci['content_type'].dotted}, not SignedData")
    return ci["content"]


def _attrs(attrs: Any) -> list[Any]:
    if attrs is None or isinstance(attrs, core.Void):
        return []
    return list(attrs)


def _encapsulated(sd: Any) -> tuple[str, bytes | None, bytes | None]:
    """(eContentType OID, content DER TLV, bytes the messageDigest covers) without asn1crypto's content specs.

    Authenticode puts a SEQUENCE where CMS expects an OCTET STRING; in both cases the digest covers the
    value octets of the inner element, so we take them straight from the DER.
    """
    eci = sd["encap_content_info"]
    oid = eci["content_type"].dotted
    body = parser.parse(eci.dump())[4]
    rest = body[parser.peek(body) :]
    if not rest:
        return oid, None, None
    inner = parser.parse(rest)[4]  # the explicit [0] wrapper's body: one TLV
    _cls, _method, _tag, header, contents, trailer = parser.parse(inner)
    return oid, header + contents + trailer, contents


def _load_certs(sd: Any, problems: list[str]) -> list[_Cert]:
    certs: list[_Cert] = []
    for choice in list(sd["certificates"] or [])[:MAX_CERTS]:
        if choice.name != "certificate":
            continue  # attribute certificates and the like play no part in code signing
        try:
            asn1 = choice.chosen
            certs.append(_Cert(asn1=asn1, crypto=x509.load_der_x509_certificate(asn1.dump())))
        except ValueError as exc:
            problems.append(f"certificate unreadable: {_describe(exc)}")
    return certs


def _find_signer(si: Any, certs: Sequence[_Cert]) -> _Cert | None:
    sid = si["sid"]
    if sid.name == "issuer_and_serial_number":
        want = sid.chosen
        for c in certs:
            tbs = c.asn1["tbs_certificate"]
            if tbs["serial_number"].native == want["serial_number"].native and tbs["issuer"] == want["issuer"]:
                return c
        return None
    key_id = sid.chosen.native
    for c in certs:
        if c.asn1.key_identifier == key_id:
            return c
    return None


def _hash(name: str, data: bytes) -> bytes:
    return hashlib.new(HASHES[name], data).digest()


def digest_name(algo: Any) -> str:
    """hashlib name for an asn1crypto DigestAlgorithm; raises CmsError for unknown ones."""
    name = algo["algorithm"].native
    if name not in HASHES:
        raise CmsError(f"unsupported digest algorithm {algo['algorithm'].dotted}")
    return str(name)


def _verify_signature(si: Any, signer: x509.Certificate, data: bytes, hash_name: str) -> str | None:
    """None if the signer's signature over ``data`` verifies, else a problem text."""
    sig = si["signature"].native
    sig_algo = si["signature_algorithm"]
    try:
        algo = sig_algo.signature_algo
    except ValueError:
        return f"unsupported signature algorithm {sig_algo['algorithm'].dotted}"
    h = _CRYPTO_HASHES[hash_name]()
    key = signer.public_key()
    try:
        if algo == "rsassa_pkcs1v15" and isinstance(key, rsa.RSAPublicKey):
            key.verify(sig, data, padding.PKCS1v15(), h)
        elif algo == "rsassa_pss" and isinstance(key, rsa.RSAPublicKey):
            params = sig_algo["parameters"]
            pss_hash = _CRYPTO_HASHES[HASHES[params["hash_algorithm"]["algorithm"].native]]()
            salt = int(params["salt_length"].native)
            key.verify(sig, data, padding.PSS(mgf=padding.MGF1(pss_hash), salt_length=salt), pss_hash)
        elif algo == "ecdsa" and isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(sig, data, ec.ECDSA(h))
        elif algo == "dsa" and isinstance(key, dsa.DSAPublicKey):
            key.verify(sig, data, h)
        else:
            return f"signature algorithm {algo} does not match the signer's key"
    except InvalidSignature:
        return "signer signature does not verify"
    except (UnsupportedAlgorithm, ValueError, KeyError) as exc:
        return f"signature check failed: {_describe(exc)}"
    return None


def _signed_attr_bytes(si: Any) -> bytes:
    """The signed attributes as signed: DER SET OF, not the [0] IMPLICIT tag they are stored with."""
    raw: bytes = si["signed_attrs"].dump()
    return b"\x31" + raw[1:]


def _signer_check(
    si: Any,
    certs: Sequence[_Cert],
    *,
    content: bytes | None,
    content_type: str,
    detached: bool,
    out: _Outcome,
) -> tuple[x509.Certificate | None, str | None]:
    """Signer certificate, messageDigest and signature of one SignerInfo. Fills ``out``'s problem lists."""
    hash_name = digest_name(si["digest_algorithm"])
    out.digest_algorithm = hash_name
    found = _find_signer(si, certs)
    if found is None:
        out.malformed.append("malformed: signer certificate not in the signature")
        return None, hash_name
    signer = found.crypto
    signed_attrs = _attrs(si["signed_attrs"])
    if not signed_attrs:
        # Plain CMS without attributes signs the content itself.
        if content is None:
            out.malformed.append("malformed: no content to verify")
            return signer, hash_name
        problem = _verify_signature(si, signer, content, hash_name)
        if problem:
            out.signature.append(problem)
        return signer, hash_name
    by_type: dict[str, list[Any]] = {}
    for attr in signed_attrs:
        by_type.setdefault(attr["type"].dotted, []).append(attr["values"])
    ct = by_type.get("1.2.840.113549.1.9.3")
    if not ct or ct[0][0].dotted != content_type:
        out.signature.append("signed contentType attribute does not match the content")
    md = by_type.get("1.2.840.113549.1.9.4")
    if not md or len(md) != 1 or len(md[0]) != 1:
        out.malformed.append("malformed: signed attributes lack exactly one messageDigest")
    elif content is None:
        out.malformed.append("malformed: no content to verify")
    elif md[0][0].native != _hash(hash_name, content):
        (out.digest if detached else out.signature).append("messageDigest does not match the signed content")
    st = by_type.get("1.2.840.113549.1.9.5")
    if st:
        with contextlib.suppress(ValueError):  # an unreadable claim is simply not recorded
            out.claimed_time = st[0][0].native
    problem = _verify_signature(si, signer, _signed_attr_bytes(si), hash_name)
    if problem:
        out.signature.append(problem)
    return signer, hash_name


def _verify(
    der: bytes,
    detached_content: bytes | None,
    *,
    trust: TrustStore,
    program: Program,
    now: datetime,
    purpose: str,
    content_check: ContentCheck | None,
    at_override: datetime | None = None,
) -> _Outcome:
    out = _Outcome()
    sd = _signed_data(der)
    content_type, content_tlv, digested = _encapsulated(sd)
    out.content_type = content_type
    detached = detached_content is not None
    if detached:
        digested = detached_content
        content_tlv = detached_content
    if content_check is not None:
        if content_tlv is None:
            out.malformed.append("malformed: SignedData has no content")
        else:
            for p in content_check(content_type, content_tlv):
                (out.malformed if p.startswith("malformed") else out.digest).append(p)
    cert_problems: list[str] = []
    certs = _load_certs(sd, cert_problems)
    out.malformed.extend(f"malformed: {p}" for p in cert_problems)
    signer_infos = list(sd["signer_infos"])
    if not signer_infos:
        out.malformed.append("malformed: no signer")
        return out
    if len(signer_infos) > 1:
        out.malformed.append(f"malformed: {len(signer_infos)} signers where one is expected")
    si = signer_infos[0]
    signer, _hash_name = _signer_check(
        si, certs, content=digested, content_type=content_type, detached=detached, out=out
    )
    if signer is None:
        return out
    out.signer = signer
    pool = [c.crypto for c in certs]

    at = at_override
    if at is None:
        at = _timestamp(si, certs, trust=trust, program=program, now=now, out=out)
    if at is None:
        at = now
    out.chain = trust.verify_chain(signer, pool, at=at, program=program, purpose=purpose)
    return out


def _timestamp(
    si: Any, certs: Sequence[_Cert], *, trust: TrustStore, program: Program, now: datetime, out: _Outcome
) -> datetime | None:
    """Time of the first countersignature that verifies (own signature and TSA chain), else None."""
    signature_value: bytes = si["signature"].native
    tried = 0
    for attr in _attrs(si["unsigned_attrs"]):
        oid = attr["type"].dotted
        if oid not in ("1.2.840.113549.1.9.6", "1.3.6.1.4.1.311.3.3.1"):
            continue
        for value in attr["values"]:
            tried += 1
            if tried > MAX_TIMESTAMPS:
                return None
            try:
                if oid == "1.2.840.113549.1.9.6":
                    kind = "pkcs9"
                    when, tsa, problems = _pkcs9_countersignature(value, signature_value, certs, trust, program)
                else:
                    kind = "rfc3161"
                    when, tsa, problems = _rfc3161_token(value.dump(), signature_value, trust, program, now)
            except Exception as exc:  # a broken countersignature only means "no timestamp"
                out.timestamp_problems.append(f"timestamp unreadable: {_describe(exc)}")
                continue
            if problems:
                out.timestamp_problems.extend(f"timestamp ({kind}): {p}" for p in problems)
                continue
            out.timestamp_kind, out.tsa = kind, tsa
            out.signing_time = when
            return when
    return None


def _pkcs9_countersignature(
    csi: Any, signature_value: bytes, certs: Sequence[_Cert], trust: TrustStore, program: Program
) -> tuple[datetime | None, str | None, list[str]]:
    """Legacy Authenticode timestamp: a SignerInfo over the primary signature, TSA certs in the outer set."""
    out = _Outcome()
    signer, _ = _signer_check(csi, certs, content=signature_value, content_type=OID_DATA, detached=True, out=out)
    problems = out.malformed + out.digest + out.signature
    if signer is None:
        return None, None, problems
    when: datetime | None = None
    for attr in _attrs(csi["signed_attrs"]):
        if attr["type"].dotted == "1.2.840.113549.1.9.5":
            when = attr["values"][0].native
    if when is None:
        return None, None, [*problems, "countersignature has no signingTime"]
    # Legacy countersignatures omit contentType; _signer_check flags that but it is normal here.
    problems = [p for p in problems if not p.startswith("signed contentType")]
    chain = trust.verify_chain(signer, [c.crypto for c in certs], at=when, program=program, purpose="time_stamping")
    problems += list(chain.problems)
    return when, subject_str(signer), problems


def _rfc3161_token(
    der: bytes, signature_value: bytes, trust: TrustStore, program: Program, now: datetime
) -> tuple[datetime | None, str | None, list[str]]:
    """RFC 3161 token (a SignedData over TSTInfo) whose messageImprint covers the primary signature."""
    _oid, _tlv, tst_der = _encapsulated(_signed_data(der))
    if tst_der is None:
        return None, None, ["token has no TSTInfo"]
    info = tsp.TSTInfo.load(tst_der)
    when: datetime = info["gen_time"].native
    mi = info["message_imprint"]
    imprint_ok = mi["hashed_message"].native == _hash(digest_name(mi["hash_algorithm"]), signature_value)

    def check(content_type: str, content: bytes) -> list[str]:
        if content_type != OID_TST_INFO:
            return [f"malformed: token content is {content_type}, not TSTInfo"]
        return [] if imprint_ok else ["messageImprint does not match the signature it timestamps"]

    # The TSA chain is checked at the time the token states: a TSA certificate may expire later.
    probe = _verify(
        der, None, trust=trust, program=program, now=now, purpose="time_stamping", content_check=check, at_override=when
    )
    problems = probe.malformed + probe.digest + probe.signature
    if probe.chain is not None:
        problems += list(probe.chain.problems)
    tsa = subject_str(probe.signer) if probe.signer is not None else None
    return when, tsa, problems


def _status(out: _Outcome) -> SigStatus:
    if out.malformed:
        return SigStatus.MALFORMED
    if out.digest:
        return SigStatus.BAD_DIGEST
    if out.signature:
        return SigStatus.BAD_SIGNATURE
    if out.chain is None:
        return SigStatus.MALFORMED
    if out.chain.trusted:
        return SigStatus.VALID
    if out.chain.codes <= {"expired", "not_yet_valid"}:
        return SigStatus.EXPIRED
    return SigStatus.UNTRUSTED_ROOT


def _facts(out: _Outcome, kind: str) -> SignatureFacts:
    problems = [*out.malformed, *out.digest, *out.signature]
    if out.chain is not None:
        problems += list(out.chain.problems)
    problems += out.timestamp_problems
    leaf = out.signer
    extra: dict[str, Any] = {"content_type": out.content_type}
    if out.timestamp_kind:
        extra["timestamp_kind"] = out.timestamp_kind
        extra["tsa"] = out.tsa
    if out.claimed_time is not None:
        extra["signing_time_claimed"] = _iso(out.claimed_time)
    return SignatureFacts(
        kind=kind,
        status=_status(out),
        problems=tuple(dict.fromkeys(problems)),
        signer_org=name_attr(leaf.subject, NameOID.ORGANIZATION_NAME) if leaf else None,
        signer_cn=name_attr(leaf.subject, NameOID.COMMON_NAME) if leaf else None,
        issuer=_issuer(leaf) if leaf else None,
        thumbprint_sha1=leaf.fingerprint(hashes.SHA1()).hex() if leaf else None,  # noqa: S303  Windows shows SHA-1
        thumbprint_sha256=leaf.fingerprint(hashes.SHA256()).hex() if leaf else None,
        chain=tuple(subject_str(c) for c in out.chain.chain) if out.chain else (),
        root=out.chain.root_subject if out.chain else None,
        timestamp=_iso(out.signing_time) if out.signing_time else None,
        digest_algorithm=out.digest_algorithm,
        extra=extra,
    )


def _issuer(cert: x509.Certificate) -> str:
    try:
        return cert.issuer.rfc4514_string()
    except ValueError:
        return "<unreadable issuer>"


def _iso(when: datetime) -> str:
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).isoformat()
