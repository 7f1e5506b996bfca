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
from dataclasses import dataclass, field
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
_START_TIMEOUT_S = 120.0
BATCH_FILE_BYTES = 64 * 1024  # files up to this size may share one request...
BATCH_FILES = 32  # ...this many at a time  # loading rules and trust roots; slow machines under load need a margin


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
    batch: list[Task] = field(default_factory=list)
    task_id: int = 0
    deadline: float = 0.0
    budget_s: float = 0.0


class WorkerPool:
    def __init__(self, cfg: WorkerConfig, jobs: int, timeout_s: float, per_mb_s: float = 0.05) -> None:
        self.cfg = cfg
        self.jobs = max(1, jobs)
        self.timeout_s = timeout_s
        self.per_mb_s = per_mb_s  # large files legitimately take longer: budget = timeout + size-based part
        # Fresh interpreters: no inherited state or locks, and their CPU time is accounted to this process
        # (a fork server's workers are not its children, which would hide their cost from budgets).
        self._mp = multiprocessing.get_context("spawn")
        self._workers: list[_Worker] = []
        self._next_id = 0
        self._sizes: dict[Task, int] = {}

    def __enter__(self) -> WorkerPool:
        # Start every worker before waiting for any: interpreter start-up and rule loading overlap.
        spawned = [self._spawn() for _ in range(self.jobs)]
        try:
            for w in spawned:
                self._await_ready(w)
                self._workers.append(w)
        except PoolError:
            for w in spawned:
                w.proc.kill()
            raise
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

    def _spawn(self) -> _Worker:
        parent, child = self._mp.Pipe(duplex=True)
        proc = self._mp.Process(target=worker_main, args=(child, self.cfg.to_json()), daemon=True)
        proc.start()
        child.close()
        return _Worker(proc, parent)

    def _await_ready(self, w: _Worker) -> None:
        if not w.conn.poll(_START_TIMEOUT_S):
            w.proc.kill()
            raise PoolError("analysis worker did not start in time")
        try:
            w.conn.recv_bytes()
        except EOFError:
            w.proc.join()
            raise PoolError(f"analysis worker failed to start (exit code {w.proc.exitcode})") from None

    def _start(self) -> _Worker:
        w = self._spawn()
        self._await_ready(w)
        return w

    def _budget(self, size: int) -> float:
        return self.timeout_s + self.per_mb_s * size / (1024 * 1024)

    def run(self, tasks: Iterable[Task]) -> Iterator[Outcome]:
        """Analyse every task; yields outcomes in completion order.

        Largest files go first: a big installer started last would leave the other workers idle while it
        finishes. Small files travel in batches to save a round trip each; a batch that hangs or kills
        its worker is retried one file at a time, so only the culprit gets a SCAN_ERROR.
        """
        sized = [(_size(t), t) for t in tasks]
        sized.sort(key=lambda st: -st[0])
        self._sizes = {t: size for size, t in sized}
        pending: collections.deque[list[Task]] = collections.deque()
        for size, task in sized:
            last = pending[-1] if pending else None
            small = size <= BATCH_FILE_BYTES
            if small and last and len(last) < BATCH_FILES and self._sizes[last[0]] <= BATCH_FILE_BYTES:
                last.append(task)
            else:
                pending.append([task])
        while pending or any(w.batch for w in self._workers):
            for w in self._workers:
                if not w.batch and pending:
                    self._assign(w, pending.popleft())
            busy = [w for w in self._workers if w.batch]
            timeout = max(0.0, min(w.deadline for w in busy) - time.monotonic())
            ready = wait([w.conn for w in busy] + [w.proc.sentinel for w in busy], timeout=timeout)
            for w in busy:
                if w.conn in ready or (w.proc.sentinel in ready and w.conn.poll()):
                    yield from self._receive(w, pending)
                elif w.proc.sentinel in ready:
                    yield from self._fail(w, pending, f"the analysis process died (exit code {w.proc.exitcode})")
                elif time.monotonic() >= w.deadline:
                    yield from self._fail(w, pending, f"analysis exceeded its time budget of {w.budget_s:.0f} s")

    def _assign(self, w: _Worker, batch: list[Task]) -> None:
        self._next_id += 1
        w.batch, w.task_id = batch, self._next_id
        # A batch of small files gets one file's base budget plus the size-based part of each.
        w.budget_s = self._budget(sum(self._sizes.get(t, 0) for t in batch))
        w.deadline = time.monotonic() + w.budget_s
        req = {"id": w.task_id, "items": [{"path": t.path, "kind": t.kind} for t in batch]}
        w.conn.send_bytes(json.dumps(req).encode())

    def _receive(self, w: _Worker, pending: collections.deque[list[Task]]) -> Iterator[Outcome]:
        try:
            reply = json.loads(w.conn.recv_bytes())
        except (EOFError, OSError):
            yield from self._fail(w, pending, f"the analysis process died (exit code {w.proc.exitcode})")
            return
        batch, w.batch = w.batch, []
        for task, item in zip(batch, reply["items"], strict=True):
            if "results" in item:
                yield Outcome(task, item["results"])
            elif item.get("io_error"):
                yield Outcome(task, [], io_error=item["error"])
            else:
                yield Outcome(task, [error_result(task, item["error"])])

    def _fail(self, w: _Worker, pending: collections.deque[list[Task]], why: str) -> Iterator[Outcome]:
        batch, w.batch = w.batch, []
        self._replace(w)
        if len(batch) > 1:  # not knowing which file was at fault, retry each alone
            pending.extendleft([t] for t in reversed(batch))
            return
        log.warning("%s: %s", batch[0].path, why)
        yield Outcome(batch[0], [error_result(batch[0], why)])

    def _replace(self, w: _Worker) -> None:
        w.proc.kill()
        w.proc.join()
        w.conn.close()
        fresh = self._start()
        w.proc, w.conn = fresh.proc, fresh.conn


def _size(task: Task) -> int:
    try:
        return Path(task.path).stat().st_size if task.kind == "file" else 0
    except OSError:
        return 0


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
