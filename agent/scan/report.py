"""Scanner output: JSON lines (the contract other tools parse) or a readable table with a summary."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, TextIO

_COLOURS = {"malicious": "\033[31m", "suspicious": "\033[33m", "clean": ""}


@dataclass
class Summary:
    verdicts: Counter[str] = field(default_factory=Counter)
    files: int = 0
    members: int = 0

    @property
    def flagged(self) -> int:
        return self.verdicts["malicious"] + self.verdicts["suspicious"]

    def add(self, result: dict[str, Any]) -> None:
        if "!" in result["path"]:
            self.members += 1
        else:
            self.files += 1
        self.verdicts[result["verdict"]] += 1


class JsonReporter:
    def __init__(self, out: TextIO) -> None:
        self.out = out

    def result(self, result: dict[str, Any]) -> None:
        # One object per line, flushed, so a consumer can stream a long scan.
        self.out.write(json.dumps(result, ensure_ascii=False, sort_keys=False) + "\n")
        self.out.flush()

    def finish(self, summary: Summary, errors: list[str]) -> None:
        return


class TableReporter:
    def __init__(self, out: TextIO, colour: bool) -> None:
        self.out = out
        self.colour = colour
        self.out.write(f"{'VERDICT':<11} {'SCORE':>5}  {'TYPE':<20} PATH\n")

    def result(self, result: dict[str, Any]) -> None:
        verdict = result["verdict"]
        start, end = (_COLOURS[verdict], "\033[0m") if self.colour and _COLOURS[verdict] else ("", "")
        path = _printable(result["path"])
        self.out.write(f"{start}{verdict:<11}{end} {result['score']:>5}  {result['type']:<20} {path}\n")
        for r in result["reasons"][:3]:
            attack = f" [{r['attack']}]" if r.get("attack") else ""
            self.out.write(f"{'':<19}- {r['code']}{attack}: {_printable(r['message'])}\n")
        self.out.flush()

    def finish(self, summary: Summary, errors: list[str]) -> None:
        v = summary.verdicts
        self.out.write(
            f"\n{summary.files} files, {summary.members} archive members scanned: "
            f"{v['malicious']} malicious, {v['suspicious']} suspicious, {v['clean']} clean"
            + (f"; {len(errors)} errors" if errors else "") + "\n"
        )


def _printable(text: str) -> str:
    """Neutralise control and bidi characters so a hostile file name cannot rewrite the terminal."""
    return "".join(c if c.isprintable() and c not in "\u202e\u202d\u2066\u2067\u2068" else
                   f"\\u{ord(c):04x}" for c in text)
