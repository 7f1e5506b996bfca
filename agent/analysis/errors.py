"""Exception tree for the analysis package. Boundaries turn these into result values."""

from __future__ import annotations


class AnalysisError(Exception):
    """Base of every error the analysis package raises on purpose."""


class TrustError(AnalysisError):
    """A trust anchor could not be loaded (missing file, no certificate in it, unreadable PEM)."""


class RulesError(AnalysisError):
    """A YARA rule set could not be compiled, saved, loaded or run.

    ``file`` and ``line`` name the rule source at fault when YARA said where (compile errors and warnings).
    """

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None) -> None:
        super().__init__(message)
        self.file = file
        self.line = line


class RulesTimeout(RulesError):
    """Matching one buffer took longer than its budget; the engine records it as a reason."""
