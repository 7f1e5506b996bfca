"""Worker process: load the engine once, then analyse one file per request under memory limits.

Parsers of hostile files can crash, hang or balloon; they do so here, in a disposable process, never in
the scanner or the agent service. Requests and replies are JSON over a pipe (no pickle of anything a
scanned file influenced).
"""

from __future__ import annotations

import json
import logging
import mmap
import os
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from agent.analysis.context import Buffer, Limits

log = logging.getLogger(__name__)

# Files up to this size are read into memory (cheaper than mapping); larger ones are mapped read-only so
# that a 2 GB installer costs page cache, not worker heap.
READ_LIMIT = 256 * 1024


@dataclass(frozen=True)
class WorkerConfig:
    rules_file: str | None  # compiled rules saved by the parent (yara's own format)
    trust_roots: tuple[str, ...] = ()
    memory_bytes: int = 2 * 1024 * 1024 * 1024
    limits: Limits = field(default_factory=Limits)
    vendors_file: str | None = None

    def to_json(self) -> str:
        return json.dumps({
            "rules_file": self.rules_file, "trust_roots": list(self.trust_roots),
            "memory_bytes": self.memory_bytes, "limits": self.limits.__dict__, "vendors_file": self.vendors_file,
        })

    @classmethod
    def from_json(cls, text: str) -> WorkerConfig:
        d = json.loads(text)
        return cls(rules_file=d["rules_file"], trust_roots=tuple(d["trust_roots"]), memory_bytes=d["memory_bytes"],
                   limits=Limits(**d["limits"]), vendors_file=d["vendors_file"])


def limit_memory(nbytes: int) -> None:
    """Cap this process's heap. RLIMIT_DATA (Linux ≥ 4.7) counts private writable memory but not read-only
    file mappings, so large files can still be mapped; elsewhere fall back to the address-space limit."""
    try:
        import resource  # noqa: PLC0415 - POSIX only
    except ImportError:  # Windows: the parent's wall-clock limit still applies
        return
    which = resource.RLIMIT_DATA if sys.platform.startswith("linux") else resource.RLIMIT_AS
    _soft, hard = resource.getrlimit(which)
    new = nbytes if hard == resource.RLIM_INFINITY else min(nbytes, hard)
    resource.setrlimit(which, (new, hard))


def build_engine(cfg: WorkerConfig) -> Any:
    from agent.analysis.claims import VendorTable  # noqa: PLC0415 - heavy imports only in workers
    from agent.analysis.context import AnalysisContext  # noqa: PLC0415
    from agent.analysis.engine import Engine  # noqa: PLC0415
    from agent.analysis.sig.trust import TrustStore  # noqa: PLC0415
    from agent.analysis.yara_scan import RuleSet  # noqa: PLC0415

    vendors = VendorTable.load(Path(cfg.vendors_file)) if cfg.vendors_file else VendorTable.load_default()
    ctx = AnalysisContext(
        trust=TrustStore.load(extra_roots=[Path(p) for p in cfg.trust_roots]),
        vendors=vendors,
        now=datetime.now(UTC),
        limits=cfg.limits,
    )
    rules = RuleSet.load(Path(cfg.rules_file)) if cfg.rules_file else None
    return Engine(ctx, rules)


def analyse_path(engine: Any, path: str, kind: str) -> list[dict[str, Any]]:
    if kind == "bundle":
        from agent.analysis.bundle_io import read_bundle  # noqa: PLC0415

        files = read_bundle(Path(path), engine.ctx.limits.max_member_bytes)
        return [r.to_json() for r in engine.scan_bundle(files, path=path)]
    with open(path, "rb", buffering=0) as fh:
        size = os.fstat(fh.fileno()).st_size
        data: Buffer
        data = fh.read() if size <= READ_LIMIT else mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        try:
            return [r.to_json() for r in engine.scan(data, path=path)]
        finally:
            if isinstance(data, mmap.mmap):
                data.close()


def worker_main(conn: Connection, config_json: str) -> None:
    """Entry point of a worker process (spawned by the pool)."""
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="worker: %(levelname)s %(message)s")
    cfg = WorkerConfig.from_json(config_json)
    engine = build_engine(cfg)
    limit_memory(cfg.memory_bytes)
    conn.send_bytes(b'{"ready": true}')
    while True:
        try:
            req = json.loads(conn.recv_bytes())
        except EOFError:
            return
        if req.get("stop"):
            return
        items = [_analyse_item(engine, it["path"], it["kind"], cfg.memory_bytes) for it in req["items"]]
        conn.send_bytes(json.dumps({"id": req["id"], "items": items}).encode())


def _analyse_item(engine: Any, path: str, kind: str, memory_bytes: int) -> dict[str, Any]:
    try:
        return {"results": analyse_path(engine, path, kind)}
    except MemoryError:
        return {"error": f"memory budget of {memory_bytes // (1024 * 1024)} MiB exceeded"}
    except OSError as exc:
        return {"error": f"cannot read: {exc.strerror or exc}", "io_error": True}
    except Exception as exc:  # the engine is total by design; this is the last line of defence
        log.exception("analysis failed on %s", path)
        return {"error": f"internal error: {type(exc).__name__}"}
