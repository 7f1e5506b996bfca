"""Build real MSI packages with wixl (msitools) with a chosen Manufacturer/ProductName. Cached by content."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path
from xml.sax.saxutils import quoteattr

WIXL = "wixl"

_WXS = """<?xml version="1.0" encoding="utf-8"?>
<Wix xmlns="http://schemas.microsoft.com/wix/2006/wi">
  <Product Id="{product_code}" Name={name} Language="1033" Version="{version}" Manufacturer={manufacturer}
           UpgradeCode="{upgrade_code}">
    <Package InstallerVersion="200" Compressed="yes" Comments={comments} Description={description} />
    <Media Id="1" Cabinet="product.cab" EmbedCab="yes" />
    <Directory Id="TARGETDIR" Name="SourceDir">
      <Directory Id="ProgramFilesFolder">
        <Directory Id="INSTALLDIR" Name="LureguardTest">
          <Component Id="MainComponent" Guid="66666666-7777-8888-9999-000000000000">
            <File Id="readme" Name="readme.txt" Source="readme.txt" KeyPath="yes" />
          </Component>
        </Directory>
      </Directory>
    </Directory>
    <Feature Id="Main" Level="1"><ComponentRef Id="MainComponent" /></Feature>
{custom_action}
  </Product>
</Wix>
"""

_CUSTOM_ACTION = """    <CustomAction Id="RunCommand" FileKey="readme" ExeCommand={command} Return="ignore" />
    <InstallExecuteSequence><Custom Action="RunCommand" After="InstallFiles">NOT Installed</Custom>
    </InstallExecuteSequence>"""


def build_msi(
    cache: Path,
    *,
    manufacturer: str,
    name: str,
    version: str = "1.0.0.0",
    description: str = "Test installer",
    comments: str = "built by the Lureguard test suite",
    command: str | None = None,
    payload: bytes = b"hello from the lureguard test suite\n",
) -> Path:
    """An MSI with one file; ``command`` adds an EXE custom action (type 18: run an installed file)."""
    if shutil.which(WIXL) is None:
        raise RuntimeError("wixl not found: apt-get install wixl")
    custom = _CUSTOM_ACTION.format(command=quoteattr(command)) if command else ""
    seed = hashlib.sha256(repr((manufacturer, name, version, description, comments, command, payload)).encode())
    digest = seed.hexdigest()
    product_code = f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}".upper()
    wxs = _WXS.format(
        product_code=product_code,
        name=quoteattr(name),
        version=version,
        manufacturer=quoteattr(manufacturer),
        upgrade_code="11111111-2222-3333-4444-555555555555",
        comments=quoteattr(comments),
        description=quoteattr(description),
        custom_action=custom,
    )
    out = cache / "msi" / f"{digest[:16]}.msi"
    if out.exists():
        return out
    work = cache / "msi" / f"{digest[:16]}.work"
    work.mkdir(parents=True, exist_ok=True)
    (work / "readme.txt").write_bytes(payload)
    (work / "p.wxs").write_text(wxs, encoding="utf-8")
    subprocess.run([WIXL, "-o", "p.msi", "p.wxs"], cwd=work, check=True, capture_output=True)
    (work / "p.msi").replace(out)
    shutil.rmtree(work, ignore_errors=True)
    return out
