"""``lureguard-server``: the central server's command line.

The server itself (gRPC ingest, storage, rule publishing, console) is built on top of the detection
engine; until those parts land this entry point only reports its version.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from server import __version__


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="lureguard-server", description="Lureguard central server")
    p.add_argument("--version", action="version", version=f"lureguard-server {__version__}")
    p.parse_args(argv)
    p.print_usage(sys.stderr)
    print("lureguard-server: no server commands are available in this version yet", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
