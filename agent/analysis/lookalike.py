"""Look-alike meeting and download hosts: a vendor's name on somebody else's domain.

The pattern in the wild is a real host label (``us05web``, ``zoom``, ``meet.google``) placed on another
registrable domain (``us05web-zoom.biz``, ``meet.google.us-join.com``, ``teams-install.top``), or a
homoglyph of the vendor (``googIedrivers.com``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from agent.analysis.claims import VendorTable, clean_text, skeleton

_URL = re.compile(r"\b(?:https?|ftp)://([A-Za-z0-9.\-\u00a0-\uffff]{1,253})", re.IGNORECASE)
_MAX_URLS = 200  # a script with more URLs than this is unusual; the first ones decide
# Second-level labels under which registrations happen (a small stand-in for the Public Suffix List,
# enough to keep "zoom.com.cn" or "x.co.uk" from being read as "com.cn"/"co.uk").
_MULTI_SUFFIX = {"co.uk", "com.au", "com.cn", "co.jp", "com.br", "co.in", "com.tr", "co.kr", "com.mx"}
# Labels that are Zoom's real vanity/data-centre prefixes; on another domain they are a tell.
_ZOOM_DC = re.compile(r"^us0?\d{1,2}web$|^us\d{2}web")


@dataclass(frozen=True)
class LookalikeHost:
    host: str
    brand: str
    why: str


def hosts_in_text(text: str) -> list[str]:
    seen: dict[str, None] = {}
    for i, m in enumerate(_URL.finditer(text)):
        if i >= _MAX_URLS:
            break
        seen.setdefault(m.group(1).strip(".-").lower(), None)
    return list(seen)


def registrable_domain(host: str) -> str:
    labels = host.lower().rstrip(".").split(".")
    n = 3 if ".".join(labels[-2:]) in _MULTI_SUFFIX else 2
    return ".".join(labels[-n:])


def check_host(host: str, vendors: VendorTable) -> LookalikeHost | None:
    """Return why ``host`` impersonates a vendor, or None if it is the vendor's or unrelated."""
    host = host.lower().rstrip(".")
    if not host or re.fullmatch(r"[\d.]+", host):
        return None
    homoglyph = clean_text(host).lower() != host  # Cyrillic/Greek letters or invisible characters
    labels = re.split(r"[.\-]", host)
    brands = vendors.brands_in_words(" ".join(labels))
    if "meet" in {skeleton(x) for x in labels} and "google" in {skeleton(x) for x in labels}:
        brands.add("meet")
    if any(_ZOOM_DC.match(x) for x in labels):
        brands.add("zoom")
    # "googIe"/"g00gle": folds to google although it is not spelled google.
    google_skel = any(skeleton(x).startswith("google") and not x.startswith("google") for x in labels)
    for key in sorted(brands):
        v = vendors.vendors[key]
        if not v.owns_domain(host):
            return LookalikeHost(host, key, f"names {v.display} but is on {registrable_domain(host)}")
    if google_skel and not vendors.vendors["meet"].owns_domain(host):
        return LookalikeHost(host, "meet", f"imitates Google with look-alike letters ({host})")
    if homoglyph and brands:
        return LookalikeHost(host, sorted(brands)[0], f"uses look-alike characters ({host})")
    return None
