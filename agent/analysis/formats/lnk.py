"""Windows Shell Link (.lnk) parser, written from [MS-SHLLINK].

A shortcut named "Zoom Update" with Zoom's icon whose target is ``powershell.exe -w hidden -c "iex (iwr
…)"`` is a classic lure. This module recovers what Explorer would run (target + arguments), how (show
command), and what it pretends to be (description, icon), then flags interpreters, hidden windows and
download cradles. Every length in the file is bounds-checked; what cannot be parsed becomes an anomaly.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass, field

from agent.analysis.context import AnalysisContext, Buffer
from agent.analysis.facts import FormatResult, Reason

MAX_ID_ITEMS = 64  # shell items in LinkTargetIDList; real paths have < 20 components
MAX_EXTRA_BLOCKS = 64  # ExtraData blocks; Windows writes fewer than 10
MAX_FACT_CHARS = 4096  # string facts are cut here; the full arguments still go into ``text``
MAX_CSTRING = 1024  # NUL-terminated strings inside LinkInfo / shell items
HEADER_SIZE = 0x4C

# LinkFlags ([MS-SHLLINK] 2.1.1)
HAS_ID_LIST = 0x1
HAS_LINK_INFO = 0x2
HAS_NAME = 0x4
HAS_RELATIVE_PATH = 0x8
HAS_WORKING_DIR = 0x10
HAS_ARGUMENTS = 0x20
HAS_ICON_LOCATION = 0x40
IS_UNICODE = 0x80
FORCE_NO_LINK_INFO = 0x100
HAS_EXP_STRING = 0x200
RUN_AS_USER = 0x2000
HAS_EXP_ICON = 0x4000

_SHOW = {1: "SW_SHOWNORMAL", 3: "SW_SHOWMAXIMIZED", 7: "SW_SHOWMINNOACTIVE"}
_SIG_ENVIRONMENT = 0xA0000001
_SIG_TRACKER = 0xA0000003
_SIG_ICON_ENVIRONMENT = 0xA0000007
_EXTRA_NAMES = {
    0xA0000001: "EnvironmentVariableDataBlock",
    0xA0000002: "ConsoleDataBlock",
    0xA0000003: "TrackerDataBlock",
    0xA0000004: "ConsoleFEDataBlock",
    0xA0000005: "SpecialFolderDataBlock",
    0xA0000006: "DarwinDataBlock",
    0xA0000007: "IconEnvironmentDataBlock",
    0xA0000008: "ShimDataBlock",
    0xA0000009: "PropertyStoreDataBlock",
    0xA000000B: "KnownFolderDataBlock",
    0xA000000C: "VistaAndAboveIDListDataBlock",
}

# Interpreter / LOLBin basename -> ATT&CK technique for "a shortcut runs it".
_INTERPRETERS = {
    "powershell": "T1059.001",
    "pwsh": "T1059.001",
    "powershell_ise": "T1059.001",
    "cmd": "T1059.003",
    "wscript": "T1059.005",
    "cscript": "T1059.005",
    "mshta": "T1218.005",
    "rundll32": "T1218.011",
    "regsvr32": "T1218.010",
    "msiexec": "T1218.007",
    "bitsadmin": "T1197",
    "curl": "T1105",
    "certutil": "T1105",
    "conhost": "T1202",  # `conhost --headless powershell …` hides the console
    "forfiles": "T1202",
    "wmic": "T1047",
}
_INTERPRETER_IN_ARGS = re.compile(
    r"(?i)(?:^|[\s\\/\"'&|])(" + "|".join(sorted(_INTERPRETERS, key=len, reverse=True)) + r")(?:\.exe)?(?=[\s\"']|$)"
)
_HIDDEN_ARG = re.compile(
    r"(?i)(?:^|\s)-(?:w|wi|win|wind|windo|window|windows|windowst|windowsty|windowstyl|windowstyle)"
    r"\s+(?:hidden|h|1|minimized)\b|--headless\b|\bvbhide\b"
)
_CRADLE = re.compile(
    r"(?i)https?://|\bftp://|downloadstring|downloadfile|downloaddata|\biwr\b|invoke-webrequest|\birm\b|"
    r"invoke-restmethod|net\.webclient|start-bitstransfer|\bcurl(?:\.exe)?\s|\bwget\s|bitsadmin\s[^\n]{0,80}"
    r"/transfer|certutil(?:\.exe)?\s[^\n]{0,80}-urlcache|msxml2\.xmlhttp|\\\\[\w.-]+@ssl\\"
)
_PADDING_RUN = 64  # leading whitespace in arguments: Explorer's properties box shows only the start


@dataclass
class _Lnk:
    flags: int = 0
    show: int = 1
    strings: dict[str, str] = field(default_factory=dict)
    id_path: list[str] = field(default_factory=list)
    local_base_path: str | None = None
    common_path_suffix: str | None = None
    net_name: str | None = None
    device_name: str | None = None
    env_target: str | None = None
    icon_env: str | None = None
    machine_id: str | None = None
    extra_blocks: list[str] = field(default_factory=list)


def analyze(data: Buffer, name: str, ctx: AnalysisContext) -> FormatResult:
    result = FormatResult(type="lnk")
    lnk = _Lnk()
    try:
        _parse(data, lnk, result.anomalies)
    except Exception as exc:  # a parser bug must cost facts, not the scan
        result.anomalies.append(f"lnk: parser error {type(exc).__name__}: {exc}")
    _report(lnk, result)
    return result


# --- parsing -------------------------------------------------------------------------------------------


class _Reader:
    def __init__(self, data: Buffer) -> None:
        self.data = data
        self.size = len(data)

    def u16(self, off: int) -> int | None:
        return struct.unpack_from("<H", self.data, off)[0] if off >= 0 and off + 2 <= self.size else None

    def u32(self, off: int) -> int | None:
        return struct.unpack_from("<I", self.data, off)[0] if off >= 0 and off + 4 <= self.size else None

    def cstring(self, off: int, end: int, unicode: bool = False) -> str | None:
        """NUL-terminated string at ``off``, not read past ``end``."""
        if not 0 <= off < min(end, self.size):
            return None
        chunk = bytes(self.data[off : min(end, self.size, off + MAX_CSTRING * (2 if unicode else 1))])
        if unicode:
            for i in range(0, len(chunk) - 1, 2):
                if chunk[i] == 0 and chunk[i + 1] == 0:
                    return chunk[:i].decode("utf-16-le", "replace")
            return chunk[: len(chunk) // 2 * 2].decode("utf-16-le", "replace")
        cut = chunk.find(b"\x00")
        return chunk[: cut if cut >= 0 else len(chunk)].decode("cp1252", "replace")


def _parse(data: Buffer, lnk: _Lnk, anomalies: list[str]) -> None:
    r = _Reader(data)
    if r.u32(0) != HEADER_SIZE or r.size < HEADER_SIZE:
        anomalies.append("lnk: bad header size")
        return
    lnk.flags = r.u32(0x14) or 0
    lnk.show = r.u32(0x3C) or 1
    off = HEADER_SIZE
    if lnk.flags & HAS_ID_LIST:
        size = r.u16(off)
        if size is None:
            anomalies.append("lnk: truncated LinkTargetIDList")
            return
        _id_list(r, off + 2, off + 2 + size, lnk, anomalies)
        off += 2 + size
    if lnk.flags & HAS_LINK_INFO and not lnk.flags & FORCE_NO_LINK_INFO:
        size = r.u32(off)
        if size is None or size < 0x1C:
            anomalies.append("lnk: truncated or invalid LinkInfo")
            return
        _link_info(r, off, off + size, lnk, anomalies)
        off += size
    unicode = bool(lnk.flags & IS_UNICODE)
    for flag, key in (
        (HAS_NAME, "description"),
        (HAS_RELATIVE_PATH, "relative_path"),
        (HAS_WORKING_DIR, "working_dir"),
        (HAS_ARGUMENTS, "arguments"),
        (HAS_ICON_LOCATION, "icon_location"),
    ):
        if not lnk.flags & flag:
            continue
        count = r.u16(off)
        if count is None:
            anomalies.append(f"lnk: StringData {key} truncated")
            return
        nbytes = count * (2 if unicode else 1)
        if off + 2 + nbytes > r.size:
            anomalies.append(f"lnk: StringData {key} runs past the end of the file")
            nbytes = max(0, r.size - off - 2)
        raw = bytes(data[off + 2 : off + 2 + nbytes])
        lnk.strings[key] = raw.decode("utf-16-le" if unicode else "cp1252", "replace")
        off += 2 + nbytes
    _extra_data(r, off, lnk, anomalies)


def _id_list(r: _Reader, off: int, end: int, lnk: _Lnk, anomalies: list[str]) -> None:
    if end > r.size:
        anomalies.append("lnk: LinkTargetIDList runs past the end of the file")
        end = r.size
    for _ in range(MAX_ID_ITEMS):
        size = r.u16(off)
        if size is None or size == 0:
            return
        if size < 3 or off + size > end:
            anomalies.append("lnk: malformed shell item in LinkTargetIDList")
            return
        part = _shell_item(r, off, size)
        if part:
            lnk.id_path.append(part)
        off += size
    anomalies.append(f"lnk: more than {MAX_ID_ITEMS} shell items")


def _shell_item(r: _Reader, off: int, size: int) -> str | None:
    """Path component of one shell item: drive ("C:\\") or file/folder name; None for others."""
    end = off + size
    kind = r.data[off + 2]
    if kind & 0x70 == 0x20:  # volume item: "C:\"
        return r.cstring(off + 3, end)
    if kind & 0x70 != 0x30 or size < 16:  # not a file entry (root folder, network, URI...)
        return None
    unicode = bool(kind & 0x04)
    primary = r.cstring(off + 14, end, unicode)
    long_name = _beef0004_long_name(r, off, end)
    return long_name or primary


def _beef0004_long_name(r: _Reader, item: int, end: int) -> str | None:
    """Long (Unicode) name from the 0xBEEF0004 extension block of a file entry shell item."""
    sig = bytes(r.data[item:end]).find(b"\x04\x00\xef\xbe")
    if sig < 4:
        return None
    block = item + sig - 4  # the block starts with size (2) and version (2) before the signature
    version = r.u16(block + 2) or 0
    name_off = 18
    if version >= 7:
        name_off += 18  # NTFS file reference and an unknown 8 bytes
    if version >= 3:
        name_off += 2  # long string size
    if version >= 9:
        name_off += 4
    if version >= 8:
        name_off += 4
    block_size = r.u16(block) or 0
    return r.cstring(block + name_off, min(end, block + block_size), unicode=True) or None


def _link_info(r: _Reader, base: int, end: int, lnk: _Lnk, anomalies: list[str]) -> None:
    if end > r.size:
        anomalies.append("lnk: LinkInfo runs past the end of the file")
        end = r.size
    header_size = r.u32(base + 4) or 0
    flags = r.u32(base + 8) or 0
    local_off = r.u32(base + 0x10) or 0
    net_off = r.u32(base + 0x14) or 0
    suffix_off = r.u32(base + 0x18) or 0
    unicode_offsets = header_size >= 0x24
    if flags & 0x1:  # VolumeIDAndLocalBasePath
        if unicode_offsets and (u := r.u32(base + 0x1C)):
            lnk.local_base_path = r.cstring(base + u, end, unicode=True)
        if not lnk.local_base_path and local_off:
            lnk.local_base_path = r.cstring(base + local_off, end)
    if flags & 0x2 and net_off:  # CommonNetworkRelativeLinkAndPathSuffix
        net = base + net_off
        net_name_off = r.u32(net + 8) or 0
        device_off = r.u32(net + 12) or 0
        if net_name_off > 0x14 and (u := r.u32(net + 0x14)):
            lnk.net_name = r.cstring(net + u, end, unicode=True)
        elif net_name_off:
            lnk.net_name = r.cstring(net + net_name_off, end)
        if device_off:
            lnk.device_name = r.cstring(net + device_off, end)
    if unicode_offsets and header_size >= 0x24 and (u := r.u32(base + 0x20)):
        lnk.common_path_suffix = r.cstring(base + u, end, unicode=True)
    elif suffix_off:
        lnk.common_path_suffix = r.cstring(base + suffix_off, end)


def _extra_data(r: _Reader, off: int, lnk: _Lnk, anomalies: list[str]) -> None:
    for _ in range(MAX_EXTRA_BLOCKS):
        size = r.u32(off)
        if size is None:
            return  # no terminal block: tolerated, Windows does the same
        if size < 4:
            return  # TerminalBlock
        sig = r.u32(off + 4)
        if size < 8 or sig is None or off + size > r.size:
            anomalies.append("lnk: ExtraData block runs past the end of the file")
            return
        lnk.extra_blocks.append(_EXTRA_NAMES.get(sig, f"0x{sig:08x}"))
        if sig in (_SIG_ENVIRONMENT, _SIG_ICON_ENVIRONMENT) and size >= 0x314:
            # TargetAnsi (260 bytes) then TargetUnicode (520 bytes); prefer Unicode
            value = r.cstring(off + 8 + 260, off + 8 + 260 + 520, unicode=True) or r.cstring(off + 8, off + 8 + 260)
            if sig == _SIG_ENVIRONMENT:
                lnk.env_target = value
            else:
                lnk.icon_env = value
        elif sig == _SIG_TRACKER and size >= 0x60:
            lnk.machine_id = r.cstring(off + 16, off + 32)  # NetBIOS name of the machine that made it
        off += size
    anomalies.append(f"lnk: more than {MAX_EXTRA_BLOCKS} ExtraData blocks")


# --- facts and indicators ------------------------------------------------------------------------------


def _target(lnk: _Lnk) -> str | None:
    if lnk.env_target:
        return lnk.env_target
    if lnk.local_base_path:
        return lnk.local_base_path + (lnk.common_path_suffix or "")
    if lnk.net_name:
        return lnk.net_name + ("\\" + lnk.common_path_suffix if lnk.common_path_suffix else "")
    if lnk.id_path:
        return "\\".join(p.rstrip("\\") for p in lnk.id_path)
    return lnk.strings.get("relative_path")


def _basename(path: str) -> str:
    base = re.split(r"[\\/]", path.strip().strip('"'))[-1].lower()
    return base[:-4] if base.endswith(".exe") else base


def _cut(value: str) -> str:
    return value if len(value) <= MAX_FACT_CHARS else value[:MAX_FACT_CHARS] + "…"


def _report(lnk: _Lnk, result: FormatResult) -> None:
    facts = result.facts
    target = _target(lnk)
    args = lnk.strings.get("arguments", "")
    icon = lnk.strings.get("icon_location") or lnk.icon_env
    facts["target"] = _cut(target) if target else None
    facts["arguments"] = _cut(args) if args else None
    facts["icon_location"] = _cut(icon) if icon else None
    facts["description"] = _cut(lnk.strings["description"]) if "description" in lnk.strings else None
    facts["working_dir"] = _cut(lnk.strings["working_dir"]) if "working_dir" in lnk.strings else None
    facts["relative_path"] = _cut(lnk.strings["relative_path"]) if "relative_path" in lnk.strings else None
    facts["show_command"] = _SHOW.get(lnk.show, f"SW_SHOWNORMAL (raw {lnk.show})")
    facts["link_flags"] = lnk.flags
    facts["run_as_user"] = bool(lnk.flags & RUN_AS_USER)
    if lnk.net_name:
        facts["network_share"] = lnk.net_name
    if lnk.machine_id:
        facts["machine_id"] = lnk.machine_id
    if lnk.extra_blocks:
        facts["extra_blocks"] = lnk.extra_blocks
    for key, value in (
        ("lnk:description", lnk.strings.get("description")),
        ("lnk:icon", icon),
        ("lnk:target", target),
        ("lnk:arguments", args),
        ("lnk:working_dir", lnk.strings.get("working_dir")),
    ):
        if value:
            result.claim_fields.append((key, _cut(value)))
    if target or args:
        result.text = "\n".join(s for s in (target, args) if s)
    _indicators(lnk, target or "", args, result)


def _indicators(lnk: _Lnk, target: str, args: str, result: FormatResult) -> None:
    interp = _basename(target) if target else ""
    technique = _INTERPRETERS.get(interp)
    via = ""
    if technique is None and args:
        # the target may be a proxy (conhost, explorer) that starts the interpreter named in the arguments
        m = _INTERPRETER_IN_ARGS.search(args[:MAX_FACT_CHARS])
        if m is not None:
            via = re.split(r"[\\/]", target.strip().strip('"'))[-1]
            interp = m.group(1).lower()
            technique = _INTERPRETERS[interp]
    if technique is not None:
        how = f" through {via}" if via else ""
        result.indicators.append(Reason("LNK_INTERPRETER", f"The shortcut runs {interp}{how}.", technique, 30))
    hidden_arg = _HIDDEN_ARG.search(args) is not None
    minimized = lnk.show == 7
    if technique is not None and (hidden_arg or minimized):
        how = "a hidden window option" if hidden_arg else "a minimised, inactive window"
        result.indicators.append(
            Reason("LNK_HIDDEN_WINDOW", f"The shortcut starts {interp} with {how}.", "T1564.003", 40)
        )
    cradle = _CRADLE.search(args)
    if cradle is not None:
        result.indicators.append(
            Reason(
                "LNK_DOWNLOAD_CRADLE",
                f"The shortcut's arguments download from the network ({cradle.group(0).strip()!r}).",
                "T1105",
                50,
            )
        )
    lead = len(args) - len(args.lstrip())
    if lead >= _PADDING_RUN:
        result.indicators.append(
            Reason(
                "LNK_ARGUMENT_PADDING",
                f"The shortcut's arguments start with {lead} blank characters to hide them in Explorer.",
                "T1027",
                30,
            )
        )
