"""ZIP handler: members for the engine, budgets kept, hostile archives turned into evidence."""

from __future__ import annotations

import io
import mmap
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.analysis.context import AnalysisContext, Limits
from agent.analysis.facts import FormatResult
from agent.analysis.formats import zip as zip_format
from tests.corpus import zip_build as zb

MiB = 1024 * 1024


def codes(result: FormatResult) -> list[str]:
    return [r.code for r in result.indicators]


def test_nested_zip_returns_one_level_of_members(make_ctx: Callable[..., AnalysisContext]) -> None:
    # The engine recurses; the handler must hand back the inner zip's bytes unchanged (not open it).
    result = zip_format.analyze(zb.nested(), "update.zip", make_ctx())
    members = {m.name: m.data for m in result.members}
    assert set(members) == {"inner.zip", "readme.txt"}
    inner = zipfile.ZipFile(io.BytesIO(members["inner.zip"]))
    assert inner.read("ZoomInstaller.exe") == zb.FAKE_EXE
    assert result.indicators == [] and result.anomalies == []


@pytest.mark.parametrize(
    ("build", "trait"),
    [
        # ~1000:1 zeros: cut at max_ratio, not inflated to 64 MiB
        (lambda: zb.ratio_bomb(64 * MiB), "expands more than 200:1"),
        # 50 directory entries pointing at one 4 MiB kernel (Fifield full overlap)
        (lambda: zb.full_overlap_bomb(50, 4 * MiB), "entries overlap"),
        # each entry quotes the next local header (Fifield quoted overlap); zipfile 3.11 inflates all of it
        (lambda: zb.quoted_overlap_bomb(20, MiB), "entries overlap"),
    ],
    ids=["ratio", "full-overlap", "quoted-overlap"],
)
def test_bombs_become_one_indicator_and_stay_within_budget(
    make_ctx: Callable[..., AnalysisContext], build: Callable[[], bytes], trait: str
) -> None:
    data = build()
    result = zip_format.analyze(data, "bomb.zip", make_ctx())
    bombs = [r for r in result.indicators if r.code == "ARCHIVE_BOMB"]
    assert len(bombs) == 1, result.indicators  # several traits, one reason: scores must not stack
    assert bombs[0].score == 40 and trait in bombs[0].message
    assert result.facts["expanded_bytes"] <= max(zip_format.RATIO_FLOOR, 200 * len(data))
    assert result.members, "the scan continues with what was read"


def test_overlap_bomb_extracts_the_shared_kernel_once(make_ctx: Callable[..., AnalysisContext]) -> None:
    result = zip_format.analyze(zb.quoted_overlap_bomb(20, MiB), "q.zip", make_ctx())
    assert [m.name for m in result.members] == ["0000.bin"]


def test_total_expanded_budget_stops_extraction(make_ctx: Callable[..., AnalysisContext]) -> None:
    # Ten 1 MiB members of random-ish text (ratio ~ 1:1, so no ratio trigger) against a 3 MiB total budget.
    members = {f"part{i}.bin": bytes((i * 7 + j * 13) % 251 for j in range(MiB)) for i in range(10)}
    limits = Limits(max_total_expanded=3 * MiB)
    result = zip_format.analyze(zb.make(members), "parts.zip", make_ctx(limits=limits))
    assert result.facts["expanded_bytes"] <= 3 * MiB
    assert len(result.members) <= 4
    assert "ARCHIVE_BOMB" in codes(result)
    assert any("in total" in t for t in result.facts["bomb_traits"])


def test_member_cut_at_max_member_bytes_is_kept_truncated(make_ctx: Callable[..., AnalysisContext]) -> None:
    # A padded installer: the PE head is what matters, so the truncated member is still handed on.
    limits = Limits(max_member_bytes=MiB, max_ratio=100_000)
    result = zip_format.analyze(zb.padded_installer(8 * MiB), "z.zip", make_ctx(limits=limits))
    (member,) = result.members
    assert len(member.data) == MiB and member.data.startswith(b"MZ")
    assert result.facts["truncated_members"] == ["ZoomInstaller.exe"]
    assert "ARCHIVE_BOMB" not in codes(result)  # the ratio limit was not what stopped it


@pytest.mark.parametrize(
    ("count", "code"),
    [
        (30, "ARCHIVE_MEMBER_LIMIT"),  # a zipped project over the member budget: incomplete scan, weak
        (250, "ARCHIVE_BOMB"),  # more than 10x the budget: resource exhaustion
    ],
)
def test_too_many_members(make_ctx: Callable[..., AnalysisContext], count: int, code: str) -> None:
    limits = Limits(max_members=20)
    result = zip_format.analyze(zb.many_members(count), "project.zip", make_ctx(limits=limits))
    assert len(result.members) == 20
    assert code in codes(result)
    assert result.facts["entries"] == count


def test_encrypted_member_is_reported_not_read(make_ctx: Callable[..., AnalysisContext]) -> None:
    data = zb.zipcrypto({"ZoomInstaller.exe": zb.FAKE_EXE, "readme.txt": b"password: infected\n"}, b"infected")
    assert zipfile.ZipFile(io.BytesIO(data)).read("ZoomInstaller.exe", pwd=b"infected") == zb.FAKE_EXE
    result = zip_format.analyze(data, "update.zip", make_ctx())
    (reason,) = [r for r in result.indicators if r.code == "ARCHIVE_ENCRYPTED"]
    assert reason.score == 10  # not enough alone to make anything suspicious
    assert sorted(result.facts["encrypted_members"]) == ["ZoomInstaller.exe", "readme.txt"]
    assert result.members == []


def test_traversal_names_are_anomalies_and_labels_only(make_ctx: Callable[..., AnalysisContext]) -> None:
    result = zip_format.analyze(zb.traversal(), "t.zip", make_ctx())
    assert set(result.facts["traversal_names"]) == {"../../.bashrc", "/etc/cron.d/x", "C:\\Users\\Public\\x.bat"}
    assert any("escape the extraction folder" in a for a in result.anomalies)
    assert len(result.members) == 4  # still scanned: the names are labels, never paths


def test_app_bundle_layout_is_reported(make_ctx: Callable[..., AnalysisContext]) -> None:
    result = zip_format.analyze(zb.app_bundle_zip(), "Zoom.zip", make_ctx())
    assert result.facts["app_bundles"] == ["Zoom.app"]
    assert "Zoom.app/Contents/Info.plist" in result.facts["names"]
    assert result.facts["dirs"] == 2 and {m.name for m in result.members} == {
        "Zoom.app/Contents/Info.plist",
        "Zoom.app/Contents/MacOS/zoom.us",
    }


def test_missing_central_directory_walks_local_headers(make_ctx: Callable[..., AnalysisContext]) -> None:
    # Streamed archive (data descriptors, zero sizes in local headers) cut before its central directory.
    result = zip_format.analyze(zb.streamed_without_central_directory(), "cut.zip", make_ctx())
    members = {m.name: m.data for m in result.members}
    assert members["ZoomInstaller.exe"] == zb.FAKE_EXE
    assert members["a.txt"] == b"first member " * 100
    assert any("walking local headers" in a for a in result.anomalies)
    assert not any("CRC" in a for a in result.anomalies)  # descriptors were read


def test_local_and_central_names_disagree(make_ctx: Callable[..., AnalysisContext]) -> None:
    result = zip_format.analyze(zb.name_mismatch(), "m.zip", make_ctx())
    assert any("invoice.exe" in a and "invoice.pdf" in a for a in result.anomalies)


def test_prepended_data_shifts_offsets(make_ctx: Callable[..., AnalysisContext]) -> None:
    # Self-extractor stubs and polyglots put bytes before the archive; offsets are corrected, not trusted.
    result = zip_format.analyze(b"JUNK" * 100 + zb.nested(), "sfx.zip", make_ctx())
    assert result.facts["prefix_bytes"] == 400
    assert {m.name for m in result.members} == {"inner.zip", "readme.txt"}


@pytest.mark.parametrize("compression", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2])
def test_compression_methods(make_ctx: Callable[..., AnalysisContext], compression: int) -> None:
    payload = b"#!/bin/sh\necho hi\n" * 1000
    result = zip_format.analyze(zb.make({"a.sh": payload}, compression), "a.zip", make_ctx())
    assert result.members[0].data == payload and result.anomalies == []


def test_unsupported_method_is_an_anomaly(make_ctx: Callable[..., AnalysisContext]) -> None:
    data = bytearray(zb.make({"a.txt": b"x" * 100}, zipfile.ZIP_STORED))
    for sig, at in ((b"PK\x03\x04", 8), (b"PK\x01\x02", 10)):  # compression method field
        pos = data.find(sig) + at
        data[pos : pos + 2] = (9).to_bytes(2, "little")  # deflate64
    result = zip_format.analyze(bytes(data), "a.zip", make_ctx())
    assert result.members == [] and any("deflate64" in a for a in result.anomalies)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"PK\x03\x04",
        b"PK\x05\x06" + b"\xff" * 18,  # EOCD pointing nowhere
        zb.nested()[:-30],  # EOCD cut
        zb.nested()[:100] + b"\x00" * 50 + zb.nested()[150:],  # zeroed bytes inside the first member
    ],
    ids=["empty", "magic-only", "bogus-eocd", "cut-eocd", "zeroed-middle"],
)
def test_corrupt_archives_never_raise(make_ctx: Callable[..., AnalysisContext], data: bytes) -> None:
    result = zip_format.analyze(data, "bad.zip", make_ctx())
    assert result.type == "zip" and result.anomalies
    assert not any("parser error" in a for a in result.anomalies)


def test_jar_and_ooxml_are_zip_with_a_container_fact(make_ctx: Callable[..., AnalysisContext]) -> None:
    docx = zb.make({"[Content_Types].xml": b"<Types/>", "word/document.xml": b"<w:document/>"})
    jar = zb.make({"META-INF/MANIFEST.MF": b"Manifest-Version: 1.0\n", "A.class": b"\xca\xfe\xba\xbe"})
    assert zip_format.analyze(docx, "a.docx", make_ctx()).facts["container"] == "ooxml"
    assert zip_format.analyze(jar, "a.jar", make_ctx()).facts["container"] == "jar"


def test_mmap_input(make_ctx: Callable[..., AnalysisContext], tmp_path: Path) -> None:
    # The agent passes large files memory-mapped; nothing may assume ``bytes``.
    path = tmp_path / "a.zip"
    path.write_bytes(zb.nested())
    with path.open("rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
        result = zip_format.analyze(m, "a.zip", make_ctx())
    assert {m.name for m in result.members} == {"inner.zip", "readme.txt"}


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=8))
def test_mutated_archives_never_hit_a_parser_error(
    make_ctx: Callable[..., AnalysisContext], mutations: list[tuple[int, int]]
) -> None:
    # Flip bytes anywhere in a valid archive (headers, sizes, offsets, compressed data): every outcome must
    # be recorded as anomalies, never as an exception caught at the top.
    data = bytearray(_SEED)
    for pos, value in mutations:
        data[pos % len(data)] = value
    result = zip_format.analyze(bytes(data), "m.zip", make_ctx())
    assert not any("parser error" in a for a in result.anomalies), result.anomalies


_SEED = zb.make({"a.txt": b"hello " * 50, "b/c.sh": b"#!/bin/sh\necho hi\n", "d.bin": bytes(range(256))})
