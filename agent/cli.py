"""``lureguard-agent``: the endpoint agent's command line."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from agent import __version__
from agent.config import AgentConfig, ConfigError, load_config

EXIT_CLEAN = 0
EXIT_FLAGGED = 1
EXIT_ERROR = 2


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="lureguard-agent", description="Lureguard endpoint agent")
    p.add_argument("--version", action="version", version=f"lureguard-agent {__version__}")
    p.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("scan", help="scan files and folders offline and print verdicts",
                       description="Scan files and directories (recursively). Exit code 0: nothing flagged; "
                       "1: something flagged; 2: error.")
    s.add_argument("paths", nargs="+", metavar="PATH")
    s.add_argument("--json", action="store_true", help="one JSON object per scanned file per line")
    s.add_argument("--trust-root", action="append", default=[], metavar="PEM",
                   help="extra trusted root certificate(s) for code signing (repeatable)")
    s.add_argument("--rules", metavar="DIR", help="YARA rules directory (default: the bundled rule pack)")
    s.add_argument("--jobs", type=int, default=os.cpu_count() or 1, metavar="N", help="worker processes")
    s.add_argument("--timeout", type=float, default=60.0, metavar="S",
                   help="per-file time budget in seconds (plus 0.05 s per MB)")
    s.add_argument("--max-memory", type=int, default=2048, metavar="MB", help="per-worker memory budget")
    s.add_argument("--vendors", metavar="TOML", help="vendor table (default: the bundled one)")
    s.add_argument("--config", metavar="TOML", help="agent configuration ([trust] roots, [rules] dir, "
                   "[analysis] vendors); command-line options add to or override it")

    d = sub.add_parser("demo-files", help="write a demo Downloads folder of harmless look-alikes and ordinary files")
    d.add_argument("folder", metavar="DIR")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    if args.command == "scan":
        return _scan(args)
    if args.command == "demo-files":
        from agent.demo.files import generate  # noqa: PLC0415

        made = generate(Path(args.folder))
        fakes = sum(made.values())
        print(f"wrote {len(made)} files to {args.folder}: {fakes} look-alike fakes, {len(made) - fakes} ordinary")
        return EXIT_CLEAN
    return EXIT_ERROR  # pragma: no cover - argparse rejects unknown commands


def _scan(args: argparse.Namespace) -> int:
    from agent.analysis.claims import VendorTable  # noqa: PLC0415 - keep --help fast
    from agent.analysis.context import Limits  # noqa: PLC0415
    from agent.analysis.errors import AnalysisError  # noqa: PLC0415
    from agent.analysis.sig.trust import TrustStore  # noqa: PLC0415
    from agent.analysis.yara_scan import RuleSet  # noqa: PLC0415
    from agent.rules_default import default_rules_dir  # noqa: PLC0415
    from agent.scan.pool import PoolError, WorkerPool  # noqa: PLC0415
    from agent.scan.report import JsonReporter, Summary, TableReporter  # noqa: PLC0415
    from agent.scan.walk import WalkErrors, walk  # noqa: PLC0415
    from agent.scan.worker import WorkerConfig  # noqa: PLC0415

    if args.jobs < 1:
        print("lureguard-agent: --jobs must be at least 1", file=sys.stderr)
        return EXIT_ERROR
    try:
        conf = load_config(Path(args.config)) if args.config else AgentConfig()
    except ConfigError as exc:
        print(f"lureguard-agent: {exc}", file=sys.stderr)
        return EXIT_ERROR
    roots = [*conf.trust_roots, *(Path(p) for p in args.trust_root)]
    rules_dir = Path(args.rules) if args.rules else conf.rules_dir or default_rules_dir()
    vendors = Path(args.vendors) if args.vendors else conf.vendors_file
    try:
        # Validate configuration in the parent so mistakes are one clear error, not N worker crashes.
        TrustStore.load(extra_roots=roots, include_default=False)
        rules = RuleSet.compile(rules_dir)
        if vendors:
            VendorTable.load(vendors)
    except (AnalysisError, OSError, ValueError, KeyError) as exc:
        print(f"lureguard-agent: {exc}", file=sys.stderr)
        return EXIT_ERROR

    errors = WalkErrors([])
    summary = Summary()
    reporter = JsonReporter(sys.stdout) if args.json else TableReporter(sys.stdout, sys.stdout.isatty())
    with tempfile.TemporaryDirectory(prefix="lureguard-") as tmp:
        compiled = Path(tmp, "rules.yarc")
        rules.save(compiled)
        cfg = WorkerConfig(
            rules_file=str(compiled), trust_roots=tuple(str(p.resolve()) for p in roots),
            memory_bytes=args.max_memory * 1024 * 1024, limits=Limits(),
            vendors_file=str(vendors.resolve()) if vendors else None,
        )
        try:
            with WorkerPool(cfg, jobs=args.jobs, timeout_s=args.timeout) as pool:
                for outcome in pool.run(walk(args.paths, errors)):
                    if outcome.io_error:
                        errors.messages.append(f"{outcome.task.path}: {outcome.io_error}")
                    for result in outcome.results:
                        summary.add(result)
                        reporter.result(result)
        except PoolError as exc:
            print(f"lureguard-agent: {exc}", file=sys.stderr)
            return EXIT_ERROR
    for msg in errors.messages:
        print(f"lureguard-agent: {msg}", file=sys.stderr)
    reporter.finish(summary, errors.messages)
    if errors.messages:
        return EXIT_ERROR
    return EXIT_FLAGGED if summary.flagged else EXIT_CLEAN


if __name__ == "__main__":
    sys.exit(main())
