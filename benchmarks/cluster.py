"""Files per hour: a loop of single ``transcribe`` runs, one multi-file ``transcribe``, and
``transcribe --ray`` (a local cluster started for the run), over the same files, same model,
in one run; plus the idle CPU and memory of a local Ray cluster.

Each way runs as a user runs it (a new ``voicestream`` process per command, outputs into a
fresh folder) and is timed from the command's start to its end, model loads and cluster
start included. Prints files per hour and the ratio to the loop.

    uv run python benchmarks/cluster.py [--files 24] [--model tiny.en] [--workers 2]

(Live sessions on Ray replicas are measured by ``tests/test_ray.py`` through ``/metrics``:
round-trip overhead and retries; a live throughput comparison is not built yet.)
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def library(folder: Path, count: int) -> list[Path]:
    """``count`` real English recordings (read speech, then v2_dev's) copied into ``folder``."""
    found = sorted((DATA / "read_speech_en").glob("*.flac"))
    found += sorted(p for p in (DATA / "v2_dev" / "asr_en").rglob("*") if p.suffix in (".wav", ".flac", ".mp3"))
    if len(found) < count:
        raise SystemExit(f"only {len(found)} recordings found under {DATA}")
    folder.mkdir(parents=True)
    copies = []
    for i, path in enumerate(found[:count]):
        copy = folder / f"{i:03d}_{path.name}"
        shutil.copy(path, copy)
        copies.append(copy)
    return copies


def timed(argv: list[str]) -> float:
    """Wall seconds of one ``voicestream`` command (it must succeed)."""
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "voicestream", *argv], capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"voicestream {' '.join(argv)} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    return elapsed


def idle_cluster(seconds: float) -> tuple[float, float]:
    """CPU (share of one core) and memory (MiB) of a local Ray cluster doing nothing for
    ``seconds``, summed over its processes (driver excluded)."""
    import psutil
    import ray

    ray.init("local", num_cpus=2, include_dashboard=False, log_to_driver=False, _node_ip_address="127.0.0.1")
    try:
        time.sleep(5.0)  # let start-up settle
        me = psutil.Process()
        procs = [p for p in psutil.process_iter() if p.pid != me.pid and "ray" in " ".join(p.cmdline()).lower()]
        before = {p.pid: p.cpu_times() for p in procs}
        time.sleep(seconds)
        cpu = 0.0
        rss = 0.0
        for p in procs:
            try:
                now = p.cpu_times()
                cpu += (now.user + now.system) - (before[p.pid].user + before[p.pid].system)
                rss += p.memory_info().rss
            except psutil.NoSuchProcess:
                continue
        return cpu / seconds, rss / 2**20
    finally:
        ray.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=24)
    parser.add_argument("--model", default="tiny.en")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--idle-s", type=float, default=30.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        files = library(root / "lib", args.files)
        audio_s = sum(float(subprocess.run(
            ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(f)],
            capture_output=True, text=True, check=True).stdout) for f in files)  # fmt: skip
        print(f"{len(files)} files, {audio_s:.0f} s of speech, model {args.model}, 2 cores")
        common = ["-m", args.model, "-l", "en", "--no-progress"]
        loop_s = 0.0
        (root / "loop").mkdir()
        for f in files:
            loop_s += timed(["transcribe", str(f), "-o", str(root / "loop" / f"{f.stem}.srt"), *common])
        batch_s = timed(["transcribe", str(root / "lib"), "-o", f"{root / 'batch'}/", *common])
        ray_s = timed(["transcribe", str(root / "lib"), "-o", f"{root / 'ray'}/", "--ray", "--workers",
                       str(args.workers), *common])  # fmt: skip
        for name, seconds in (("loop of single runs", loop_s), ("one multi-file run", batch_s),
                              (f"--ray, {args.workers} actors", ray_s)):  # fmt: skip
            print(f"  {name:<24} {seconds:7.1f} s  {3600 * len(files) / seconds:8.0f} files/h  "
                  f"{loop_s / seconds:5.2f}x the loop")  # fmt: skip
    cpu, rss = idle_cluster(args.idle_s)
    print(f"idle local Ray cluster ({args.idle_s:.0f} s): {100 * cpu:.1f}% of one core, {rss:.0f} MiB")


if __name__ == "__main__":
    main()
