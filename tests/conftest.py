"""Shared fixtures: the vendor table and analysis contexts with chosen trust roots and clock."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest

from agent.analysis.claims import VendorTable
from agent.analysis.context import AnalysisContext, Limits
from agent.analysis.sig.trust import TrustStore

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "tests" / ".cache"
VENV_BIN = Path(sys.executable).parent


@pytest.fixture(scope="session")
def vendors() -> VendorTable:
    return VendorTable.load_default()


@pytest.fixture(scope="session")
def default_trust() -> TrustStore:
    return TrustStore.load()


@pytest.fixture(scope="session")
def make_ctx(vendors: VendorTable, default_trust: TrustStore) -> Callable[..., AnalysisContext]:
    def make(extra_roots: Sequence[Path] = (), now: datetime | None = None, limits: Limits | None = None
             ) -> AnalysisContext:
        trust = TrustStore.load(extra_roots=list(extra_roots)) if extra_roots else default_trust
        return AnalysisContext(trust=trust, vendors=vendors, now=now or datetime.now(UTC), limits=limits or Limits())
    return make


@pytest.fixture(scope="session")
def agent_cli() -> list[str]:
    """The installed console script, as a user runs it."""
    exe = VENV_BIN / "lureguard-agent"
    assert exe.exists(), f"{exe} missing: install the project with pip install -e ."
    return [str(exe)]


@pytest.fixture(autouse=True, scope="session")
def _no_colour() -> None:
    os.environ.setdefault("NO_COLOR", "1")
