"""Everything analysis needs from outside, passed in explicitly (time and trust are parameters)."""

from __future__ import annotations

import mmap
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from agent.analysis.claims import VendorTable
    from agent.analysis.sig.trust import TrustStore

# What handlers receive: the whole file, in memory or memory-mapped read-only.
Buffer = bytes | mmap.mmap


@dataclass(frozen=True)
class Limits:
    """Budgets for hostile input. Exceeding one is evidence (a reason), never a crash or a hang."""

    max_depth: int = 4  # nested archives
    max_members: int = 2_000  # per archive
    max_member_bytes: int = 256 * 1024 * 1024  # one member expanded in memory
    max_total_expanded: int = 1024 * 1024 * 1024  # all members of one top-level file
    max_ratio: int = 200  # expanded / compressed for one member before it counts as a bomb
    max_text_bytes: int = 8 * 1024 * 1024  # script text decoded for checks
    yara_timeout_s: int = 30


@dataclass(frozen=True)
class AnalysisContext:
    trust: TrustStore
    vendors: VendorTable
    now: datetime  # "now" for certificate validity when there is no timestamp
    limits: Limits = field(default_factory=Limits)
