"""The YARA layer: compile a rules directory once, save/load it in YARA's own format, match buffers.

Rules are data. A hit carries the rule's meta (description, score, attack...) and becomes a reason with
the rule's own severity; rules never decide trust. Every ``*.yar`` file under the rules directory is
compiled into ONE ``yara.Rules`` whose namespace is the file's path relative to that directory, so two
themes may reuse a rule name.

Facts the scanner already knows reach the rules as EXTERNALS (declared at compile time with the defaults
in ``EXTERNAL_DEFAULTS``); a rule may e.g. fire only when ``claimed_brand != ""``.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path

import yara

from agent.analysis.context import Buffer
from agent.analysis.errors import RulesError, RulesTimeout
from agent.analysis.facts import SigStatus, YaraHit

ExternalValue = str | bool | int

# Every external a rule may use, with the value it has when the scanner knows nothing better. The type of
# each default is the type the scanner must pass (YARA fixes an external's type at compile time).
EXTERNAL_DEFAULTS: Mapping[str, ExternalValue] = {
    "filename": "",  # base name of the file (or archive member)
    "filepath": "",  # full path as scanned ("archive.zip!member" for members)
    "extension": "",  # lowercase, no dot: "ps1", "lnk", "scpt"
    "filetype": "",  # sniffed type: "pe", "script:powershell", "lnk", "applescript:compiled"...
    "claimed_brand": "",  # "" or the brand the file claims to be ("zoom", "teams"...)
    "signer_org": "",  # leaf subject O= of the file's signature, proven or not
    "signature_status": str(SigStatus.UNSIGNED),  # a facts.SigStatus value
    "signature_valid": False,  # True only for SigStatus.VALID
    "is_member": False,  # the buffer is a member of an archive, not a file on disk
}

RULE_SUFFIX = ".yar"

# File header of a saved rule set: magic, then the version line, then YARA's compiled format. The header
# lets ``load`` give back the version without the sources; the rest is what ``yara.Rules.save`` writes.
# That format is tied to the libyara version: a file from another version fails to load (RulesError), and
# the caller compiles from the sources again.
_SAVE_MAGIC = b"LUREGUARD-YARA-RULES 1\n"

# "line N: message", as YARA reports errors and warnings for rules compiled from sources.
_LINE = re.compile(r"^line (?P<line>\d+): (?P<msg>.*)$", re.DOTALL)


class RuleSet:
    """A compiled rule set and its version. Compile (or load) once per process, then ``match`` many times.

    Not thread-safe: YARA keeps external values on the compiled rules, so each ``match`` sets all of them.
    Scanning workers are processes, each with its own ``RuleSet``.
    """

    def __init__(self, rules: yara.Rules, version: str) -> None:
        self._rules = rules
        self.version = version

    @classmethod
    def compile(cls, rules_dir: Path) -> RuleSet:
        """Compile every ``*.yar`` under ``rules_dir`` (recursively) into one rule set.

        Raises ``RulesError`` naming the file and line on a syntax error and on any YARA warning: a
        warning ("may slow down scanning", unreferenced string...) is a rule bug that costs every scan.
        """
        files = _rule_files(rules_dir)
        if not files:
            raise RulesError(f"no {RULE_SUFFIX} files under {rules_dir}")
        # Compile exactly the bytes that are hashed into the version, so the two can never disagree.
        sources = {rel: path.read_bytes() for rel, path in files.items()}
        texts: dict[str, str] = {}
        for rel, raw in sources.items():
            try:
                texts[rel] = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise RulesError(f"{rel}: rule file is not UTF-8 ({exc})", file=rel) from exc
        try:
            rules = _compile(texts)
        except RulesError:
            # YARA names only the line when compiling from sources: find the file by compiling each alone.
            for rel in sorted(texts):
                try:
                    _compile({rel: texts[rel]})
                except RulesError as exc:
                    where = f"{rel}:{exc.line}" if exc.line is not None else rel
                    raise RulesError(f"{where}: {exc}", file=rel, line=exc.line) from exc
            raise
        return cls(rules, rules_version(sources))

    def save(self, path: Path) -> None:
        """Write the compiled rules atomically (a reader never sees half a file)."""
        buf = io.BytesIO()
        self._rules.save(file=buf)
        payload = _SAVE_MAGIC + self.version.encode("ascii") + b"\n" + buf.getvalue()
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(payload)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    @classmethod
    def load(cls, path: Path) -> RuleSet:
        """Load rules written by ``save``. Only load files this agent wrote: compiled YARA is not a safe
        format for untrusted input (signed rule bundles carry sources and are compiled locally)."""
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise RulesError(f"cannot read compiled rules {path}: {exc}") from exc
        if not raw.startswith(_SAVE_MAGIC):
            raise RulesError(f"{path} is not a saved Lureguard rule set")
        version, sep, compiled = raw[len(_SAVE_MAGIC) :].partition(b"\n")
        if not sep or not re.fullmatch(rb"[0-9a-f]{64}", version):
            raise RulesError(f"{path} has a malformed version line")
        try:
            rules = yara.load(file=io.BytesIO(compiled))
        except yara.Error as exc:
            raise RulesError(f"cannot load compiled rules {path}: {exc}") from exc
        return cls(rules, version.decode("ascii"))

    def match(self, data: Buffer, externals: Mapping[str, ExternalValue], timeout_s: int) -> list[YaraHit]:
        """Run every rule over ``data``; externals not given take their defaults.

        Fast mode: YARA records only the first occurrence of each string, so a hostile file with millions
        of repeats of a pattern costs no more than one. Rules therefore must not count (``#s``) or locate
        (``@s``, ``at``) strings; the rule linter enforces it.
        """
        values = dict(EXTERNAL_DEFAULTS)
        for name, value in externals.items():
            default = EXTERNAL_DEFAULTS.get(name)
            if default is None:
                raise ValueError(f"unknown YARA external {name!r}")
            if type(value) is not type(default):
                raise TypeError(f"YARA external {name!r} must be {type(default).__name__}")
            values[name] = value
        try:
            matches = self._rules.match(data=data, externals=values, timeout=max(1, timeout_s), fast=True)
        except yara.TimeoutError as exc:
            raise RulesTimeout(f"YARA matching took longer than {timeout_s}s") from exc
        except yara.Error as exc:
            raise RulesError(f"YARA matching failed: {exc}") from exc
        return [YaraHit(m.rule, m.namespace, tuple(m.tags), dict(m.meta)) for m in matches]


def rules_version(sources: Mapping[str, bytes]) -> str:
    """sha256 over the rule files' relative paths and contents, in sorted path order.

    Lengths are hashed too, so moving bytes between a path and its content cannot give the same version.
    """
    digest = hashlib.sha256()
    for rel in sorted(sources):
        name = rel.encode("utf-8")
        content = sources[rel]
        digest.update(len(name).to_bytes(8, "big") + name)
        digest.update(len(content).to_bytes(8, "big") + content)
    return digest.hexdigest()


def _rule_files(rules_dir: Path) -> dict[str, Path]:
    """``*.yar`` files under ``rules_dir`` keyed by POSIX path relative to it (the namespace)."""
    if not rules_dir.is_dir():
        raise RulesError(f"rules directory {rules_dir} does not exist")
    return {
        path.relative_to(rules_dir).as_posix(): path
        for path in sorted(rules_dir.rglob(f"*{RULE_SUFFIX}"))
        if path.is_file()
    }


def _compile(texts: Mapping[str, str]) -> yara.Rules:
    """Compile namespaced sources; any error or warning becomes a ``RulesError`` carrying YARA's line."""
    try:
        return yara.compile(
            sources=dict(texts),
            externals=dict(EXTERNAL_DEFAULTS),
            # Includes would pull in content the version hash does not cover.
            includes=False,
            error_on_warning=True,
        )
    except yara.WarningError as exc:
        warnings = [str(w) for w in exc.args[0]] if exc.args and isinstance(exc.args[0], list) else [str(exc)]
        # The first warning gives the line; the rest ("may slow down scanning" often comes second) the why.
        first, *rest = warnings
        extra = "".join(f"; {_LINE.sub(lambda m: m['msg'], w)}" for w in rest)
        raise _error(first + extra, "warning (treated as an error)") from exc
    except yara.SyntaxError as exc:
        raise _error(str(exc), "error") from exc
    except yara.Error as exc:
        raise RulesError(f"YARA error: {exc}") from exc


def _error(message: str, kind: str) -> RulesError:
    found = _LINE.match(message)
    if not found:
        return RulesError(f"YARA {kind}: {message}")
    return RulesError(f"YARA {kind}: {found['msg']}", line=int(found["line"]))
