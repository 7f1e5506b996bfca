"""The Authenticode digest of an MSI (OLE compound file), as Windows' MSI SIP and osslsigncode compute it.

Content digest: walk the storage tree; at each level sort children by their raw UTF-16LE directory
names (byte-wise, terminator included); hash each stream's bytes, recurse into storages, then hash the
storage's CLSID. The root's ``\\x05DigitalSignature`` and ``\\x05MsiDigitalSignatureEx`` are skipped.
With ``\\x05MsiDigitalSignatureEx`` present, a metadata "pre-hash" (names, sizes, state bits, times) is
hashed first, so renaming or re-dating streams also breaks the signature.
"""

from __future__ import annotations

import functools
import hashlib
import struct
import uuid
from collections.abc import Iterable
from typing import Any

DIGITAL_SIGNATURE = "\x05DigitalSignature"
MSI_DIGITAL_SIGNATURE_EX = "\x05MsiDigitalSignatureEx"
_SKIP_AT_ROOT = (DIGITAL_SIGNATURE, MSI_DIGITAL_SIGNATURE_EX)

STGTY_STORAGE = 1
STGTY_STREAM = 2
STGTY_ROOT = 5
MAX_DEPTH = 16  # storages nest a level or two in real MSIs; a deep tree is hostile
MAX_ENTRIES = 100_000  # directory entries walked (olefile already caps the directory size)
_MAXREGSECT = 0xFFFFFFFA  # osslsigncode skips streams whose 32-bit size is 0 or at least this


class MsiDigestError(ValueError):
    """The compound file's tree cannot be walked (too deep, too many entries)."""


def _raw_name(entry: Any) -> bytes:
    return bytes(entry.name_utf16) + b"\x00\x00"


def _cmp(a: Any, b: Any) -> int:
    """osslsigncode's dirent_cmp_hash: memcmp over the shorter raw name; on a tie the longer sorts first."""
    na, nb = _raw_name(a), _raw_name(b)
    n = min(len(na), len(nb))
    if na[:n] != nb[:n]:
        return -1 if na[:n] < nb[:n] else 1
    return -1 if len(na) > len(nb) else 1


def _sorted(kids: Iterable[Any]) -> list[Any]:
    return sorted(kids, key=functools.cmp_to_key(_cmp))


def _clsid(entry: Any) -> bytes:
    text = entry.clsid or ""
    return uuid.UUID(text).bytes_le if text else b"\x00" * 16


def _metadata(entry: Any) -> bytes:
    """osslsigncode's prehash_metadata for one directory entry."""
    out = b""
    if entry.entry_type != STGTY_ROOT:
        out += bytes(entry.name_utf16)
    if entry.entry_type != STGTY_STREAM:
        out += _clsid(entry)
    else:
        out += struct.pack("<I", entry.sizeLow & 0xFFFFFFFF)
    out += struct.pack("<I", entry.dwUserFlags & 0xFFFFFFFF)
    if entry.entry_type != STGTY_ROOT:
        out += struct.pack("<QQ", entry.createTime & (2**64 - 1), entry.modifyTime & (2**64 - 1))
    return out


def prehash(root: Any, algorithm: str) -> bytes:
    """The MsiDigitalSignatureEx value: a digest over the tree's metadata."""
    h = hashlib.new(algorithm)
    counter = [0]

    def walk(directory: Any, is_root: bool, depth: int) -> None:
        if depth > MAX_DEPTH:
            raise MsiDigestError("storage tree too deep")
        h.update(_metadata(directory))
        for kid in _sorted(directory.kids):
            counter[0] += 1
            if counter[0] > MAX_ENTRIES:
                raise MsiDigestError("too many directory entries")
            if is_root and kid.name in _SKIP_AT_ROOT:
                continue
            if kid.entry_type == STGTY_STREAM:
                h.update(_metadata(kid))
            elif kid.entry_type == STGTY_STORAGE:
                walk(kid, False, depth + 1)

    walk(root, True, 0)
    return h.digest()


def content_digests(ole: Any, algorithms: Iterable[str], with_ex: bool) -> dict[str, bytes]:
    """The DigitalSignature digest for each algorithm, in one pass over the streams."""
    names = sorted(set(algorithms))
    hashers = {name: hashlib.new(name) for name in names}
    if with_ex:
        for name, h in hashers.items():
            h.update(prehash(ole.root, name))
    counter = [0]

    def update(chunk: bytes) -> None:
        for h in hashers.values():
            h.update(chunk)

    def walk(directory: Any, path: list[str], is_root: bool, depth: int) -> None:
        if depth > MAX_DEPTH:
            raise MsiDigestError("storage tree too deep")
        for kid in _sorted(directory.kids):
            counter[0] += 1
            if counter[0] > MAX_ENTRIES:
                raise MsiDigestError("too many directory entries")
            if is_root and kid.name in _SKIP_AT_ROOT:
                continue
            if kid.entry_type == STGTY_STREAM:
                size = kid.sizeLow & 0xFFFFFFFF
                if size == 0 or size >= _MAXREGSECT:
                    continue
                stream = ole.openstream([*path, kid.name])
                # olefile hands the stream back in memory; hash it in slices to keep updates cache-sized.
                data = stream.getbuffer()
                with data:
                    for off in range(0, min(size, len(data)), 1 << 20):
                        update(data[off : min(off + (1 << 20), size)])
            elif kid.entry_type == STGTY_STORAGE:
                walk(kid, [*path, kid.name], False, depth + 1)
        update(_clsid(directory))

    walk(ole.root, [], True, 0)
    return {name: h.digest() for name, h in hashers.items()}
