"""ASN.1 of Authenticode's signed content (SpcIndirectDataContent and the SIP data inside it).

Microsoft's "Windows Authenticode Portable Executable Signature Format", section "SpcIndirectDataContent".
"""

from __future__ import annotations

from dataclasses import dataclass

from asn1crypto import algos, core

OID_SPC_INDIRECT_DATA = "1.3.6.1.4.1.311.2.1.4"
OID_SPC_PE_IMAGE_DATA = "1.3.6.1.4.1.311.2.1.15"
OID_SPC_SIPINFO = "1.3.6.1.4.1.311.2.1.30"
OID_SPC_NESTED_SIGNATURE = "1.3.6.1.4.1.311.2.4.1"

# SIP (subject interface package) GUIDs in SpcSipInfo, as raw little-endian bytes.
SIP_MSI = bytes.fromhex("f1100c0000000000c000000000000046")
SIP_POWERSHELL = bytes.fromhex("1fcc3b60594b084eb724d2c6297ef351")


class SpcAttributeTypeAndOptionalValue(core.Sequence):  # type: ignore[misc]  # asn1crypto is untyped
    _fields = [  # noqa: RUF012  (asn1crypto's declarative API)
        ("type", core.ObjectIdentifier),
        ("value", core.Any, {"optional": True}),
    ]


class DigestInfo(core.Sequence):  # type: ignore[misc]  # asn1crypto is untyped
    _fields = [  # noqa: RUF012
        ("digest_algorithm", algos.DigestAlgorithm),
        ("digest", core.OctetString),
    ]


class SpcIndirectDataContent(core.Sequence):  # type: ignore[misc]  # asn1crypto is untyped
    _fields = [  # noqa: RUF012
        ("data", SpcAttributeTypeAndOptionalValue),
        ("message_digest", DigestInfo),
    ]


class SpcSipInfo(core.Sequence):  # type: ignore[misc]  # asn1crypto is untyped
    """The SIP data for non-PE formats: which SIP hashes the file (MSI, PowerShell, ...)."""

    _fields = [  # noqa: RUF012
        ("version", core.Integer),
        ("uuid", core.OctetString),
        ("reserved1", core.Integer),
        ("reserved2", core.Integer),
        ("reserved3", core.Integer),
        ("reserved4", core.Integer),
        ("reserved5", core.Integer),
    ]


@dataclass(frozen=True)
class IndirectData:
    """What the signer says the file hashes to: data type, SIP GUID (if any), algorithm, digest."""

    data_type: str
    sip_uuid: bytes | None
    digest_algorithm: str  # asn1crypto's name: sha1, sha256, ...
    digest: bytes


def parse_indirect_data(der: bytes) -> IndirectData:
    """Parse SpcIndirectDataContent DER; raises ValueError on malformed input."""
    idc = SpcIndirectDataContent.load(der, strict=False)
    data_type = idc["data"]["type"].dotted
    sip: bytes | None = None
    if data_type == OID_SPC_SIPINFO:
        value = idc["data"]["value"]
        if not isinstance(value, core.Void):
            sip = SpcSipInfo.load(value.dump())["uuid"].native
    md = idc["message_digest"]
    return IndirectData(
        data_type=data_type,
        sip_uuid=sip,
        digest_algorithm=str(md["digest_algorithm"]["algorithm"].native),
        digest=bytes(md["digest"].native),
    )
