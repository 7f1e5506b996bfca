"""Worker pool: a file that kills, hangs or exhausts a worker costs that file a SCAN_ERROR, never the scan."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

from agent.analysis.context import Limits
from agent.analysis.yara_scan import RuleSet
from agent.rules_default import default_rules_dir
from agent.scan.pool import WorkerPool
from agent.scan.walk import Task
from agent.scan.worker import WorkerConfig
from tests.corpus import zip_build


def _cfg(tmp_path: Path, memory_mb: int = 2048) -> WorkerConfig:
    compiled = tmp_path / "rules.yarc"
    RuleSet.compile(default_rules_dir()).save(compiled)
    return WorkerConfig(rules_file=str(compiled), memory_bytes=memory_mb * 1024 * 1024, limits=Limits())


def _files(tmp_path: Path, n: int) -> list[Path]:
    out = []
    for i in range(n):
        p = tmp_path / f"note{i}.txt"
        p.write_text(f"ordinary note {i}\n")
        out.append(p)
    return out


def test_worker_killed_mid_scan_costs_one_file(tmp_path: Path) -> None:
    big = tmp_path / "big.bin"
    with big.open("wb") as fh:  # large enough that the worker is still busy when it is killed
        for _ in range(384):
            fh.write(os.urandom(1024 * 1024))
    small = _files(tmp_path, 3)
    with WorkerPool(_cfg(tmp_path), jobs=1, timeout_s=120) as pool:
        victim = pool._workers[0].proc.pid
        assert victim is not None
        killer = threading.Timer(0.3, os.kill, (victim, signal.SIGKILL))
        killer.start()
        outcomes = list(pool.run([Task(str(big), "file"), *(Task(str(p), "file") for p in small)]))
        killer.join()
    by_path = {o.task.path: o.results for o in outcomes}
    assert len(by_path) == 4
    err = by_path[str(big)][0]
    assert err["verdict"] == "suspicious"
    assert err["reasons"][0]["code"] == "SCAN_ERROR" and "died" in err["reasons"][0]["message"]
    assert err["size"] == big.stat().st_size and len(err["sha256"]) == 64  # still identifiable
    for p in small:  # the replacement worker carried on
        assert by_path[str(p)][0]["verdict"] == "clean"


def _slow_files(tmp_path: Path, n: int) -> list[Path]:
    # Ratio bombs: ~64 KB on disk (a budget of milliseconds) that take tens of milliseconds to refuse. They are
    # small enough to share a batch, so a timed-out batch being retried file by file is exercised too.
    out = []
    for i in range(n):
        p = tmp_path / f"bomb{i}.zip"
        p.write_bytes(zip_build.ratio_bomb())
        out.append(p)
    return out


def test_time_budget_exceeded_gives_scan_error_and_scan_goes_on(tmp_path: Path) -> None:
    files = _slow_files(tmp_path, 3)
    with WorkerPool(_cfg(tmp_path), jobs=2, timeout_s=0) as pool:  # budget: 0 s + 0.05 s per MB
        outcomes = list(pool.run([Task(str(p), "file") for p in files]))
    assert sorted(o.task.path for o in outcomes) == sorted(map(str, files))
    for o in outcomes:
        (res,) = o.results
        assert res["reasons"][0]["code"] == "SCAN_ERROR" and "time budget" in res["reasons"][0]["message"]


def test_memory_budget_exhausted_gives_scan_error(tmp_path: Path) -> None:
    # A worker capped below what parsing needs cannot finish; the file is reported, not lost.
    data = tmp_path / "blob.bin"
    data.write_bytes(os.urandom(6 * 1024 * 1024))  # read into memory, not mapped
    with WorkerPool(_cfg(tmp_path, memory_mb=16), jobs=1, timeout_s=60) as pool:
        (outcome,) = list(pool.run([Task(str(data), "file")]))
    (res,) = outcome.results
    assert res["verdict"] == "suspicious" and res["reasons"][0]["code"] == "SCAN_ERROR"


def test_cli_reports_scan_errors_in_json(tmp_path: Path, agent_cli: list[str]) -> None:
    files = _slow_files(tmp_path, 2)
    start = time.monotonic()
    proc = subprocess.run([*agent_cli, "scan", "--json", "--jobs", "1", "--timeout", "0", str(tmp_path)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stderr
    lines = [json.loads(x) for x in proc.stdout.splitlines()]
    assert {x["path"] for x in lines} == {str(p) for p in files}
    assert all(x["reasons"][0]["code"] == "SCAN_ERROR" for x in lines)
    assert time.monotonic() - start < 200
