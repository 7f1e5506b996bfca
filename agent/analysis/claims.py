"""Brand claims: what a file says it is, from its name, metadata and text.

Fake updates borrow a brand through many channels (file name, VERSIONINFO, MSI properties, bundle ids,
shortcut icons, script text) and disguise it (``z00m``, ``GoogIe``, Cyrillic look-alikes, zero-width
characters). Every channel is folded to a common *skeleton* before it is compared with the vendor table,
so ``Z00mInstaIler`` and ``ZoomInstaller`` claim the same brand.
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from agent.analysis.facts import Claim

# Cyrillic/Greek letters that render like Latin ones (a subset of Unicode's confusables that covers
# what phishing kits use); NFKC already folds full-width and mathematical forms.
_CONFUSABLES = str.maketrans(
    {
        "а": "a", "е": "e", "о": "o", "р": "p", "с": "c", "у": "y", "х": "x", "і": "i", "ј": "j",
        "ѕ": "s", "ԁ": "d", "ɡ": "g", "һ": "h", "ӏ": "l", "ո": "n", "ս": "u", "т": "t", "м": "m",
        "к": "k", "в": "b", "н": "h", "А": "A", "В": "B", "Е": "E", "К": "K", "М": "M", "Н": "H",
        "О": "O", "Р": "P", "С": "C", "Т": "T", "Х": "X", "Ѕ": "S", "І": "I", "Ј": "J", "Ζ": "Z",
        "ο": "o", "α": "a", "ε": "e", "ι": "i", "κ": "k", "ν": "v", "τ": "t", "υ": "u", "ρ": "p",
        "Ο": "O", "Α": "A", "Β": "B", "Ε": "E", "Ι": "I", "Κ": "K", "Μ": "M", "Ν": "N", "Ρ": "P",
        "Τ": "T", "Χ": "X", "Υ": "Y",
    }
)
# Characters that hide inside names: zero-width joiners/spaces, BOM, bidi controls.
_INVISIBLE = dict.fromkeys(
    map(ord, "\u200b\u200c\u200d\u2060\ufeff\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"), None
)
# Leet digits and symbols, then letters that look alike in sans-serif fonts (I/l/1, rn/m, vv/w).
_LEET = str.maketrans({"0": "o", "1": "l", "3": "e", "4": "a", "5": "s", "7": "t", "$": "s", "@": "a",
                       "|": "l", "i": "l"})

_CHUNK = re.compile(r"[^\W_]+", re.UNICODE)
_CAMEL = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")
# Words that, glued to a brand ("zoomsetup", "teams-update"), keep the claim.
_CLAIM_SUFFIXES = (
    "setup", "installer", "install", "update", "updater", "upgrade", "sdk", "fix", "driver", "drivers",
    "plugin", "client", "launcher", "meeting", "meetings", "app", "full", "support", "web", "call",
    "download", "helper", "service", "audio", "camera", "x64", "x86", "64", "32",
)
# Words near a brand that turn a mention in script text into a claim to be that vendor's fix/update.
_UPDATE_WORDS = re.compile(
    r"\b(update|upgrade|sdk|fix|driver|install(?:er)?|plugin|audio|camera|microphone|troubleshoot|"
    r"support|meeting|repair|patch)",
    re.IGNORECASE,
)
_MAX_NAME = 1024  # a name longer than any real file name is cut: claims need only the start
_MAX_FIELD = 4096
_MAX_TEXT_HITS = 64  # brand mentions examined per script; the first few decide


def clean_text(value: str) -> str:
    """NFKC, confusables to Latin, invisible characters removed (case preserved)."""
    value = unicodedata.normalize("NFKC", value)
    return value.translate(_INVISIBLE).translate(_CONFUSABLES)


def skeleton(token: str) -> str:
    """The comparison form: lower case, leet and look-alike letters folded."""
    s = clean_text(token).lower().translate(_LEET)
    return s.replace("rn", "m").replace("vv", "w")


def _tokens(value: str) -> list[str]:
    """Candidate words: whole alphanumeric chunks and their camelCase parts."""
    out: list[str] = []
    for chunk in _CHUNK.findall(clean_text(value[:_MAX_FIELD])):
        out.append(chunk)
        parts = _CAMEL.findall(chunk)
        if len(parts) > 1:
            out.extend(parts)
    return out


@dataclass(frozen=True)
class Vendor:
    key: str
    display: str
    aliases: frozenset[str]  # skeletons
    raw_aliases: tuple[str, ...]  # as written, for free-text search
    raw_phrases: tuple[str, ...]
    phrases: tuple[tuple[str, ...], ...]  # skeleton token sequences
    publishers: tuple[str, ...]
    team_ids: frozenset[str]
    bundle_ids: tuple[str, ...]
    domains: tuple[str, ...]
    publisher_claims: bool
    desktop_app: bool
    retired: bool
    how_it_updates: str

    def accepts_publisher(self, org: str | None) -> bool:
        return org is not None and _norm_org(org) in {_norm_org(p) for p in self.publishers}

    def owns_domain(self, host: str) -> bool:
        host = host.lower().rstrip(".")
        return any(host == d or host.endswith("." + d) for d in self.domains)


def _norm_org(org: str) -> str:
    return " ".join(re.sub(r"[^\w]+", " ", org.casefold()).split())


class VendorTable:
    """The brand → proof table loaded from ``data/vendors.toml`` (or another file)."""

    def __init__(self, vendors: Sequence[Vendor]) -> None:
        self.vendors = {v.key: v for v in vendors}
        self._alias_to_key = {a: v.key for v in vendors for a in v.aliases}
        names = sorted({re.escape(w) for v in vendors for w in _plain_words(v)}, key=len, reverse=True)
        self._text_re = re.compile(r"(?<![a-z0-9])(" + "|".join(names) + r")(?![a-z0-9])", re.IGNORECASE)
        self._text_key = {w: v.key for v in vendors for w in _plain_words(v)}
        self._text_words = tuple(self._text_key)
        self._phrases = [(" " + " ".join(p) + " ", v.key) for v in vendors for p in v.phrases]
        self._compound_cache: dict[str, str | None] = {}
        # A publisher that ships several brands ("Microsoft Corporation") claims none of them alone.
        orgs = [_norm_org(p) for v in vendors for p in set(v.publishers)]
        self._shared_orgs = {o for o in orgs if orgs.count(o) > 1}

    @classmethod
    def load(cls, path: Path) -> VendorTable:
        with path.open("rb") as fh:
            return cls.from_toml(tomllib.load(fh))

    @classmethod
    def load_default(cls) -> VendorTable:
        text = resources.files("agent.analysis").joinpath("data/vendors.toml").read_text("utf-8")
        return cls.from_toml(tomllib.loads(text))

    @classmethod
    def from_toml(cls, doc: dict[str, object]) -> VendorTable:
        raw = doc.get("vendors")
        if not isinstance(raw, dict):
            raise ValueError("vendor table has no [vendors.*] sections")
        vendors = []
        for key, v in raw.items():
            vendors.append(
                Vendor(
                    key=key,
                    display=str(v["display"]),
                    aliases=frozenset(skeleton(a) for a in v.get("aliases", [])) | {skeleton(key)},
                    raw_aliases=(key, *(a.lower() for a in v.get("aliases", []))),
                    raw_phrases=tuple(p.lower() for p in v.get("phrases", [])),
                    phrases=tuple(tuple(skeleton(w) for w in p.split()) for p in v.get("phrases", [])),
                    publishers=tuple(v.get("publishers", [])),
                    team_ids=frozenset(v.get("team_ids", [])),
                    bundle_ids=tuple(b.lower() for b in v.get("bundle_ids", [])),
                    domains=tuple(d.lower() for d in v.get("domains", [])),
                    publisher_claims=bool(v.get("publisher_claims", False)),
                    desktop_app=bool(v.get("desktop_app", True)),
                    retired=bool(v.get("retired", False)),
                    how_it_updates=str(v.get("how_it_updates", "")),
                )
            )
        return cls(vendors)

    # -- claim extraction -------------------------------------------------------------------------

    def brands_in_words(self, value: str) -> set[str]:
        """Brands named in a short string (file name, metadata field, bundle id, URL)."""
        found: set[str] = set()
        skels = [skeleton(t) for t in _tokens(value)]
        for s in skels:
            key = self._alias_to_key.get(s) or self._compound(s)
            if key:
                found.add(key)
        if len(skels) > 1:
            joined = " " + " ".join(skels) + " "  # token sequences as one string: substring search is C
            found.update(key for phrase, key in self._phrases if phrase in joined)
        return found

    def _compound(self, s: str) -> str | None:
        # "zoomsetup64", "setupzoom": an alias glued to claim-suffix words. Names repeat a lot (setup,
        # installer, x64...), so answers are remembered, within a bound.
        if s in self._compound_cache:
            return self._compound_cache[s]
        key = self._compound_uncached(s)
        if len(self._compound_cache) < 65_536:
            self._compound_cache[s] = key
        return key

    def _compound_uncached(self, s: str) -> str | None:
        for alias, key in self._alias_to_key.items():
            if len(alias) < 4 or alias not in s:
                continue
            rest = s.replace(alias, " ", 1).strip()
            if all(_is_suffix_run(part) for part in rest.split()):
                return key
        return None

    def claims_from_name(self, name: str) -> list[Claim]:
        base = re.split(r"[\\/]", name[-_MAX_NAME:])[-1]
        stem = base.rsplit(".", 1)[0] if "." in base else base
        return [Claim(k, "name", base) for k in sorted(self.brands_in_words(stem))]

    def claims_from_field(self, source: str, value: str) -> list[Claim]:
        value = value[:_MAX_FIELD]
        if source.endswith("team_id"):
            return [Claim(v.key, source, value) for v in self.vendors.values() if value.strip() in v.team_ids]
        keys = self.brands_in_words(value)
        if source.endswith("url_host"):
            # A script fetching from zoom.us is an admin's script, not a claim; from zoom.example it is.
            keys = {k for k in keys if not self.vendors[k].owns_domain(value)}
        low = value.strip().lower()
        for v in self.vendors.values():
            if any(low.startswith(b) for b in v.bundle_ids):
                keys.add(v.key)
            if v.publisher_claims and v.accepts_publisher(value) and _norm_org(value) not in self._shared_orgs:
                keys.add(v.key)
        return [Claim(k, source, value) for k in sorted(keys)]

    def claims_from_text(self, text: str) -> list[Claim]:
        """A script claims a brand when it names it next to update/fix/driver words."""
        found: dict[str, str] = {}
        low = text.lower()
        if not any(w in low for w in self._text_words):  # C-speed substring test before the regex
            return []
        for i, m in enumerate(self._text_re.finditer(text)):
            if i >= _MAX_TEXT_HITS:
                break
            key = self._text_key[m.group(1).lower()]
            if key in found:
                continue
            window = text[max(0, m.start() - 120) : m.end() + 120]
            if _UPDATE_WORDS.search(window):
                found[key] = " ".join(window.split())[:200]
        return [Claim(k, "script", v) for k, v in sorted(found.items())]

    def claims(
        self, name: str, fields: Iterable[tuple[str, str]], text: str | None = None
    ) -> list[Claim]:
        out = self.claims_from_name(name)
        for source, value in fields:
            out.extend(self.claims_from_field(source, value))
        if text:
            out.extend(self.claims_from_text(text))
        seen: set[tuple[str, str, str]] = set()
        unique = []
        for c in out:
            if (c.brand, c.source, c.value) not in seen:
                seen.add((c.brand, c.source, c.value))
                unique.append(c)
        return unique


def _plain_words(v: Vendor) -> set[str]:
    """Words to look for in free text (no folding: text claims must be readable as the brand)."""
    words = {a for a in v.raw_aliases if a.isalpha() and len(a) >= 4}
    words |= set(v.raw_phrases)
    words.discard("teams")  # "teams" is ordinary English; scripts must say "Microsoft Teams" or "msteams"
    return words


def _is_suffix_run(part: str) -> bool:
    """True if ``part`` is made only of claim-suffix words ("installerfull", "setup64")."""
    if not part:
        return True
    for suf in sorted(_CLAIM_SUFFIXES, key=len, reverse=True):
        if part.startswith(skeleton(suf)) and _is_suffix_run(part[len(skeleton(suf)) :]):
            return True
    return part.isdigit()
