"""A pool of analysis worker processes with a wall-clock budget per file.

Unlike ``concurrent.futures``, one worker that dies or hangs costs one file, not the pool: the file gets a
SCAN_ERROR result and a fresh worker takes the dead one's place.
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import json
import logging
import multiprocessing
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from agent.analysis import sniff
from agent.analysis.facts import ScanResult, Verdict
from agent.scan.walk import Task
from agent.scan.worker import WorkerConfig, worker_main

log = logging.getLogger(__name__)

_SNIFF_BYTES = 64 * 1024
_START_TIMEOUT_S = 120.0  # loading rules and trust roots; slow machines under load need a margin


class PoolError(Exception):
    """The pool could not start workers at all (bad rules file, broken install)."""


@dataclass
class Outcome:
    task: Task
    results: list[dict[str, Any]]
    io_error: str | None = None  # the file could not be read (permissions, vanished): not a verdict


@dataclass
class _Worker:
    proc: BaseProcess
    conn: Connection
    task: Task | None = None
    task_id: int = 0
    deadline: float = 0.0
    budget_s: float = 0.0


class WorkerPool:
    def __init__(self, cfg: WorkerConfig, jobs: int, timeout_s: float, per_mb_s: float = 0.05) -> None:
        self.cfg = cfg
        self.jobs = max(1, jobs)
        self.timeout_s = timeout_s
        self.per_mb_s = per_mb_s  # large files legitimately take longer: budget = timeout + size-based part
        self._mp = multiprocessing.get_context("spawn")  # fresh interpreters: no inherited state or locks
        self._workers: list[_Worker] = []
        self._next_id = 0

    def __enter__(self) -> WorkerPool:
        for _ in range(self.jobs):
            self._workers.append(self._start())
        return self

    def __exit__(self, *exc: object) -> None:
        for w in self._workers:
            with contextlib.suppress(OSError):
                w.conn.send_bytes(b'{"stop": true}')
        for w in self._workers:
            w.proc.join(timeout=5)
            if w.proc.is_alive():
                w.proc.kill()
                w.proc.join()
            w.conn.close()
        self._workers.clear()

    def _start(self) -> _Worker:
        parent, child = self._mp.Pipe(duplex=True)
        proc = self._mp.Process(target=worker_main, args=(child, self.cfg.to_json()), daemon=True)
        proc.start()
        child.close()
        if not parent.poll(_START_TIMEOUT_S):
            proc.kill()
            raise PoolError("analysis worker did not start in time")
        try:
            parent.recv_bytes()
        except EOFError:
            proc.join()
            raise PoolError(f"analysis worker failed to start (exit code {proc.exitcode})") from None
        return _Worker(proc, parent)

    def _budget(self, task: Task) -> float:
        try:
            size = Path(task.path).stat().st_size if task.kind == "file" else 0
        except OSError:
            size = 0
        return self.timeout_s + self.per_mb_s * size / (1024 * 1024)

    def run(self, tasks: Iterable[Task]) -> Iterator[Outcome]:
        """Analyse every task; yields outcomes in completion order."""
        pending = collections.deque(tasks)
        while pending or any(w.task for w in self._workers):
            for w in self._workers:
                if w.task is None and pending:
                    self._assign(w, pending.popleft())
            busy = [w for w in self._workers if w.task]
            now = time.monotonic()
            timeout = max(0.0, min(w.deadline for w in busy) - now)
            ready = wait([w.conn for w in busy] + [w.proc.sentinel for w in busy], timeout=timeout)
            for w in busy:
                task = w.task
                assert task is not None
                if w.conn in ready or (w.proc.sentinel in ready and w.conn.poll()):
                    out = self._receive(w, task)
                elif w.proc.sentinel in ready:
                    out = self._replace(w, task, f"the analysis process died (exit code {w.proc.exitcode})")
                elif time.monotonic() >= w.deadline:
                    out = self._replace(w, task, f"analysis exceeded its time budget of {w.budget_s:.0f} s")
                else:
                    continue
                yield out

    def _assign(self, w: _Worker, task: Task) -> None:
        self._next_id += 1
        w.task, w.task_id = task, self._next_id
        w.budget_s = self._budget(task)
        w.deadline = time.monotonic() + w.budget_s
        req = {"id": w.task_id, "path": task.path, "kind": task.kind}
        w.conn.send_bytes(json.dumps(req).encode())

    def _receive(self, w: _Worker, task: Task) -> Outcome:
        try:
            reply = json.loads(w.conn.recv_bytes())
        except (EOFError, OSError):
            return self._replace(w, task, f"the analysis process died (exit code {w.proc.exitcode})")
        w.task = None
        if "results" in reply:
            return Outcome(task, reply["results"])
        if reply.get("io_error"):
            return Outcome(task, [], io_error=reply["error"])
        return Outcome(task, [error_result(task, reply["error"])])

    def _replace(self, w: _Worker, task: Task, why: str) -> Outcome:
        log.warning("%s: %s", task.path, why)
        w.proc.kill()
        w.proc.join()
        w.conn.close()
        fresh = self._start()
        w.proc, w.conn, w.task = fresh.proc, fresh.conn, None
        return Outcome(task, [error_result(task, why)])


def error_result(task: Task, why: str) -> dict[str, Any]:
    """A SCAN_ERROR verdict for a file the workers could not finish; hashed here so it can be looked up."""
    from agent.analysis.engine import scan_error_reason  # noqa: PLC0415 - keep the parent light

    digest = hashlib.sha256()
    size = 0
    head = b""
    p = Path(task.path)
    try:
        files = [p] if task.kind == "file" else sorted(x for x in p.rglob("*") if x.is_file())[:100]
        for f in files:
            with f.open("rb") as fh:
                while chunk := fh.read(1024 * 1024):
                    if not head:
                        head = chunk[:_SNIFF_BYTES]
                    digest.update(chunk)
                    size += len(chunk)
    except OSError as exc:
        why += f"; reading it failed too ({exc.strerror or exc})"
    reason = scan_error_reason(why)
    return ScanResult(
        path=task.path, sha256=digest.hexdigest(), size=size,
        type="app" if task.kind == "bundle" else sniff.identify(head, p.name),
        verdict=Verdict.SUSPICIOUS, score=reason.score, reasons=(reason,), claims=(), signature=None, yara=(),
    ).to_json()
