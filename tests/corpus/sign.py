"""osslsigncode wrapper: Authenticode-sign PE, MSI and PowerShell files with the test PKI.

A real RFC 3161 timestamp is made offline with osslsigncode's built-in TSA (``-TSA-certs/-TSA-key/-TSA-time``),
so timestamped signatures need no network.
"""

from __future__ import annotations

import hashlib
import shutil
import struct
import subprocess
from datetime import datetime
from pathlib import Path

from asn1crypto import cms as asn1_cms
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from tests.corpus.pki import Signer

OSSLSIGNCODE = "osslsigncode"


def sign(
    src: Path,
    dst: Path,
    signer: Signer,
    *,
    digest: str = "sha256",
    signing_time: datetime | None = None,
    tsa: Signer | None = None,
    tsa_time: datetime | None = None,
    nest: bool = False,
    add_msi_dse: bool = False,
) -> Path:
    """Sign ``src`` into ``dst``; the format follows the file (PE, MSI, .ps1 by extension)."""
    if shutil.which(OSSLSIGNCODE) is None:
        raise RuntimeError("osslsigncode not found: apt-get install osslsigncode")
    args = [OSSLSIGNCODE, "sign", "-certs", str(signer.chain), "-key", str(signer.key), "-h", digest]
    if signing_time is not None:
        args += ["-time", str(int(signing_time.timestamp()))]
    if tsa is not None:
        when = tsa_time or signing_time
        assert when is not None, "a timestamp needs a time"
        args += ["-TSA-certs", str(tsa.chain), "-TSA-key", str(tsa.key), "-TSA-time", str(int(when.timestamp()))]
    if nest:
        args.append("-nest")
    if add_msi_dse:
        args.append("-add-msi-dse")
    dst.unlink(missing_ok=True)
    proc = subprocess.run([*args, "-in", str(src), "-out", str(dst)], capture_output=True, text=True, check=False)
    if proc.returncode != 0 or not dst.exists():
        raise RuntimeError(f"osslsigncode failed ({proc.returncode}): {proc.stdout}\n{proc.stderr}")
    return dst


def add_pkcs9_countersignature(pe: bytes, tsa: Signer, when: datetime, *, over: bytes | None = None) -> bytes:
    """Add a legacy Authenticode timestamp (PKCS#9 counterSignature) to a signed PE, as old TSAs made them.

    osslsigncode only makes these with a network TSA, so the test builds one: a SignerInfo by ``tsa`` whose
    messageDigest covers the primary signature value (or ``over``, to forge a mismatching one).
    """
    layout = _layout(pe)
    blob = pe[layout[0] + 8 : layout[0] + layout[1]]
    info = asn1_cms.ContentInfo.load(blob)
    sd = info["content"]
    si = sd["signer_infos"][0]
    covered = over if over is not None else si["signature"].native
    attrs = asn1_cms.CMSAttributes(
        [
            asn1_cms.CMSAttribute({"type": "content_type", "values": ["data"]}),
            asn1_cms.CMSAttribute({"type": "signing_time", "values": [asn1_cms.Time({"utc_time": when})]}),
            asn1_cms.CMSAttribute({"type": "message_digest", "values": [hashlib.sha256(covered).digest()]}),
        ]
    )
    key = serialization.load_pem_private_key(tsa.key.read_bytes(), None)
    assert isinstance(key, rsa.RSAPrivateKey)
    chain = [
        asn1_x509.Certificate.load(c.public_bytes(serialization.Encoding.DER))
        for c in x509.load_pem_x509_certificates(tsa.chain.read_bytes())
    ]
    counter = asn1_cms.SignerInfo(
        {
            "version": "v1",
            "sid": asn1_cms.SignerIdentifier(
                {
                    "issuer_and_serial_number": asn1_cms.IssuerAndSerialNumber(
                        {"issuer": chain[0].issuer, "serial_number": chain[0].serial_number}
                    )
                }
            ),
            "digest_algorithm": {"algorithm": "sha256"},
            "signed_attrs": attrs,
            "signature_algorithm": {"algorithm": "rsassa_pkcs1v15"},
            "signature": key.sign(attrs.dump(), padding.PKCS1v15(), hashes.SHA256()),
        }
    )
    si["unsigned_attrs"] = asn1_cms.CMSAttributes(
        [asn1_cms.CMSAttribute({"type": "counter_signature", "values": [counter]})]
    )
    sd["certificates"] = [*sd["certificates"], *chain]
    return replace_signature(pe, info.dump(force=True))


def _layout(pe: bytes) -> tuple[int, int, int]:
    """(certificate table offset, size, offset of the security directory entry) of a PE32+/PE32."""
    (lfanew,) = struct.unpack_from("<I", pe, 0x3C)
    opt = lfanew + 24
    (magic,) = struct.unpack_from("<H", pe, opt)
    secdir = opt + (112 if magic == 0x20B else 96) + 4 * 8
    offset, size = struct.unpack_from("<II", pe, secdir)
    return offset, size, secdir


def replace_signature(pe: bytes, der: bytes) -> bytes:
    """Swap the PKCS#7 of a PE whose certificate table is last: new WIN_CERTIFICATE, new directory size."""
    offset, _size, secdir = _layout(pe)
    entry = der + b"\x00" * (-len(der) % 8)
    table = (len(entry) + 8).to_bytes(4, "little") + b"\x00\x02\x02\x00" + entry
    out = bytearray(pe[:offset] + table)
    out[secdir + 4 : secdir + 8] = len(table).to_bytes(4, "little")
    return bytes(out)
