"""A test PKI made with ``cryptography``: roots, an intermediate, code-signing leaves, a TSA.

Written to a directory as PEM (certificates, chains, keys) so osslsigncode can sign with it. Dates are
fixed so tests can pin the clock: every CA is valid 2020-2040, ordinary leaves 2024-2030, the expired
leaf only 2020-06-01 .. 2021-06-01.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_FROM, CA_TO = datetime(2020, 1, 1, tzinfo=UTC), datetime(2040, 1, 1, tzinfo=UTC)
LEAF_FROM, LEAF_TO = datetime(2024, 1, 1, tzinfo=UTC), datetime(2030, 1, 1, tzinfo=UTC)
EXPIRED_FROM, EXPIRED_TO = datetime(2020, 6, 1, tzinfo=UTC), datetime(2021, 6, 1, tzinfo=UTC)
# A clock inside every ordinary leaf's validity and after the expired leaf's end.
NOW = datetime(2026, 6, 1, tzinfo=UTC)
# A time when the expired leaf was still valid, for timestamps.
BEFORE_EXPIRY = datetime(2021, 1, 15, tzinfo=UTC)


@dataclass(frozen=True)
class Signer:
    """A signing identity on disk: ``chain`` is leaf + intermediates (what osslsigncode -certs takes)."""

    cert: Path
    key: Path
    chain: Path
    subject_org: str
    subject_cn: str


@dataclass(frozen=True)
class Pki:
    root: Path  # the test root CA certificate (PEM): trust it with TrustStore.load(extra_roots=[root])
    zoom_root: Path  # a self-made root whose subject claims Zoom
    vendor: Signer  # "Lureguard Test Vendor" under the test root
    unrelated: Signer  # another company under the test root
    expired: Signer  # valid only in 2020-2021
    zoom_fake: Signer  # leaf O=Zoom Video Communications, Inc. under the self-made Zoom root
    tsa: Signer  # timestamping authority under the test root
    rogue_tsa: Signer  # a timestamping certificate under the self-made Zoom root (never trusted)


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _name(org: str, cn: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


def _cert(
    subject: x509.Name,
    key: rsa.RSAPrivateKey,
    issuer: x509.Name,
    issuer_key: rsa.RSAPrivateKey,
    *,
    ca: bool,
    eku: list[x509.ObjectIdentifier] | None,
    start: datetime,
    end: datetime,
    issuer_cert: x509.Certificate | None = None,
) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.KeyUsage(
                digital_signature=not ca,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=ca,
                crl_sign=ca,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    )
    auth_key = issuer_cert.public_key() if issuer_cert is not None else key.public_key()
    builder = builder.add_extension(
        x509.AuthorityKeyIdentifier.from_issuer_public_key(auth_key),
        critical=False,  # type: ignore[arg-type]
    )
    if eku:
        builder = builder.add_extension(x509.ExtendedKeyUsage(eku), critical=eku == [ExtendedKeyUsageOID.TIME_STAMPING])
    return builder.sign(issuer_key, hashes.SHA256())


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _write_signer(
    out: Path,
    name: str,
    cert: x509.Certificate,
    key: rsa.RSAPrivateKey,
    chain: list[x509.Certificate],
    org: str,
    cn: str,
) -> Signer:
    (out / f"{name}.pem").write_bytes(_pem(cert))
    (out / f"{name}.key").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    (out / f"{name}.chain.pem").write_bytes(b"".join(_pem(c) for c in [cert, *chain]))
    return Signer(out / f"{name}.pem", out / f"{name}.key", out / f"{name}.chain.pem", org, cn)


_NAMES = {
    "vendor": ("Lureguard Test Vendor", "Lureguard Test Vendor Code Signing"),
    "unrelated": ("Example Widgets LLC", "Example Widgets LLC"),
    "expired": ("Lureguard Test Vendor", "Lureguard Test Expired Signer"),
    "zoom_fake": ("Zoom Video Communications, Inc.", "Zoom Video Communications, Inc."),
    "tsa": ("Lureguard Test", "Lureguard Test Timestamping Authority"),
    "rogue_tsa": ("Zoom Video Communications, Inc.", "Zoom Timestamping Authority"),
}


def _on_disk(out: Path) -> Pki:
    def s(name: str) -> Signer:
        org, cn = _NAMES[name]
        return Signer(out / f"{name}.pem", out / f"{name}.key", out / f"{name}.chain.pem", org, cn)

    return Pki(
        out / "root.pem",
        out / "zoom_root.pem",
        s("vendor"),
        s("unrelated"),
        s("expired"),
        s("zoom_fake"),
        s("tsa"),
        s("rogue_tsa"),
    )


def make_pki(out: Path) -> Pki:
    """The whole test PKI under ``out``; made once (about half a second: eight RSA keys), then reused."""
    if (out / "complete").exists():
        return _on_disk(out)
    out.mkdir(parents=True, exist_ok=True)
    cs = [ExtendedKeyUsageOID.CODE_SIGNING]

    root_key = _key()
    root_name = _name("Lureguard Test", "Lureguard Test Root CA")
    root = _cert(root_name, root_key, root_name, root_key, ca=True, eku=None, start=CA_FROM, end=CA_TO)
    (out / "root.pem").write_bytes(_pem(root))

    int_key = _key()
    int_name = _name("Lureguard Test", "Lureguard Test Code Signing CA")
    inter = _cert(int_name, int_key, root_name, root_key, ca=True, eku=None, start=CA_FROM, end=CA_TO, issuer_cert=root)

    def leaf(
        name: str,
        org: str,
        cn: str,
        *,
        start: datetime = LEAF_FROM,
        end: datetime = LEAF_TO,
        eku: list[x509.ObjectIdentifier] = cs,
    ) -> Signer:
        k = _key()
        c = _cert(_name(org, cn), k, int_name, int_key, ca=False, eku=eku, start=start, end=end, issuer_cert=inter)
        return _write_signer(out, name, c, k, [inter], org, cn)

    leaf("vendor", *_NAMES["vendor"])
    leaf("unrelated", *_NAMES["unrelated"])
    leaf("expired", *_NAMES["expired"], start=EXPIRED_FROM, end=EXPIRED_TO)
    leaf("tsa", *_NAMES["tsa"], start=CA_FROM, end=CA_TO, eku=[ExtendedKeyUsageOID.TIME_STAMPING])

    zoom_org = "Zoom Video Communications, Inc."
    zroot_key = _key()
    zroot_name = _name(zoom_org, "Zoom Video Communications, Inc. Root CA")
    zroot = _cert(zroot_name, zroot_key, zroot_name, zroot_key, ca=True, eku=None, start=CA_FROM, end=CA_TO)
    (out / "zoom_root.pem").write_bytes(_pem(zroot))
    zkey = _key()
    zleaf = _cert(
        _name(zoom_org, zoom_org),
        zkey,
        zroot_name,
        zroot_key,
        ca=False,
        eku=cs,
        start=LEAF_FROM,
        end=LEAF_TO,
        issuer_cert=zroot,
    )
    _write_signer(out, "zoom_fake", zleaf, zkey, [zroot], zoom_org, zoom_org)
    tkey = _key()
    tleaf = _cert(
        _name(*_NAMES["rogue_tsa"]),
        tkey,
        zroot_name,
        zroot_key,
        ca=False,
        eku=[ExtendedKeyUsageOID.TIME_STAMPING],
        start=CA_FROM,
        end=CA_TO,
        issuer_cert=zroot,
    )
    _write_signer(out, "rogue_tsa", tleaf, tkey, [zroot], *_NAMES["rogue_tsa"])
    (out / "complete").write_text("ok\n")
    return _on_disk(out)
