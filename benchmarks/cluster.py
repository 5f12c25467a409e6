"""One machine against Ray, in one run, same model: files per hour and live sessions.

Files: a loop of single ``transcribe`` runs, one multi-file ``transcribe``, and ``transcribe
--ray`` (a local cluster started for the run), over the same files. Each way runs as a user
runs it (a new ``voicestream`` process per command, outputs into a fresh folder) and is
timed from the command's start to its end, model loads and cluster start included. Prints
files per hour and the ratio to the loop.

Live: N sessions streamed at real time (``benchmarks/load.py``'s load) against the
one-process ``serve``, against ``serve --ray`` with ``--replicas`` ASR replicas on a local
cluster, and against the same with the gateway as a Serve deployment behind Serve's proxy
(``--gateway-replicas 1``), for each N: sessions held, final latency p50/p95, the serving
process's CPU (the gateway replica's with the Serve gateway), and the round-trip overhead
of one remote ASR call (``/metrics``). A load is held when every session ends with ``done`` and
the final latency p95 stays under ``--max-p95``.

Idle: the CPU and memory of a local Ray cluster doing nothing.

    uv run python benchmarks/cluster.py [--files 24] [--model tiny.en] [--workers 2]
        [--sessions 4,8,12] [--seconds 45] [--replicas 2] [--skip files,live,idle]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
import load  # benchmarks/load.py: the live load

from voicestream import media

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

    from voicestream.cluster.connect import connect

    connect(None)  # the local cluster voicestream starts for itself
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


def files_per_hour(count: int, model: str, workers: int) -> None:
    """The loop of single runs, one multi-file run and ``--ray`` over the same ``count`` files."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        files = library(root / "lib", count)
        audio_s = sum(float(subprocess.run(
            ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(f)],
            capture_output=True, text=True, check=True).stdout) for f in files)  # fmt: skip
        print(f"{len(files)} files, {audio_s:.0f} s of speech, model {model}, {os.cpu_count()} cores")
        common = ["-m", model, "-l", "en", "--no-progress"]
        loop_s = 0.0
        (root / "loop").mkdir()
        for f in files:
            loop_s += timed(["transcribe", str(f), "-o", str(root / "loop" / f"{f.stem}.srt"), *common])
        batch_s = timed(["transcribe", str(root / "lib"), "-o", f"{root / 'batch'}/", *common])
        ray_s = timed(["transcribe", str(root / "lib"), "-o", f"{root / 'ray'}/", "--ray", "--workers",
                       str(workers), *common])  # fmt: skip
        for name, seconds in (("loop of single runs", loop_s), ("one multi-file run", batch_s),
                              (f"--ray, {workers} actors", ray_s)):  # fmt: skip
            print(f"  {name:<24} {seconds:7.1f} s  {3600 * len(files) / seconds:8.0f} files/h  "
                  f"{loop_s / seconds:5.2f}x the loop")  # fmt: skip


class ProxyCpu:
    """CPU seconds used by Ray Serve's HTTP proxy processes while it runs (sampled each 0.5 s)."""

    def __init__(self) -> None:
        self.first: dict[int, float] = {}
        self.last: dict[int, float] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._watch, daemon=True)
        self.thread.start()

    def _watch(self) -> None:
        while not self.stop.wait(0.5):
            for proc in psutil.process_iter(["cmdline"]):
                if "ray::ProxyActor" in " ".join(proc.info["cmdline"] or []):
                    try:
                        t = proc.cpu_times()
                    except psutil.Error:
                        continue
                    self.first.setdefault(proc.pid, t.user + t.system)
                    self.last[proc.pid] = t.user + t.system

    def seconds(self) -> float:
        """Stop and return the CPU seconds the proxies used."""
        self.stop.set()
        self.thread.join()
        return sum(self.last[pid] - self.first[pid] for pid in self.last)


def live(model: str, counts: list[int], seconds: float, replicas: int, max_p95: float) -> None:
    """N sessions at real time on the one-process server and on ``serve --ray``."""
    audio = media.decode(DATA / "long_form" / "librispeech_concat_4spk.wav")
    # the ASR replicas leave half a CPU for the gateway replica (Ray reserves, it does not limit:
    # a replica of 0.75 CPU runs its one Whisper thread as one of 1 CPU does)
    per_replica = min(1.0, ((os.cpu_count() or 2) - 0.5) / replicas)
    on_ray = ("--ray", "--asr-replicas", str(replicas), "--cpus-per-replica", f"{per_replica:g}")
    ways = {"one process": (), f"--ray, {replicas} replicas": on_ray,
            "--ray, Serve gateway": (*on_ray, "--gateway-replicas", "1")}  # fmt: skip
    print(f"live: {seconds:g} s per session at real time, model {model}, {os.cpu_count()} cores, "
          f"held = all done and final p95 <= {max_p95:g} s")  # fmt: skip
    largest = dict.fromkeys(ways, 0)
    p95: dict[tuple[str, int], float] = {}
    for count in counts:
        for way, extra in ways.items():
            proxy = ProxyCpu()
            r = load.run_load(model, count, seconds, audio, None, extra)
            proxy_s = proxy.seconds() / (seconds * count)
            held = r.ok(max_p95)
            if held:
                largest[way] = max(largest[way], count)
            p95[way, count] = load.pct(r.final, 95)
            overhead = ""
            if r.asr:
                o = r.asr["overhead_ms"]
                overhead = f" | remote call overhead p50 {o['p50']:.0f} ms p95 {o['p95']:.0f} ms"
            if proxy_s > 0:
                overhead += f" | Serve proxy CPU {proxy_s:.3f} s per audio s per session"
            # the serving process's CPU per audio second per session: with --ray the gateway's alone
            print(f"  N={count:<3} {way:<20} {'held' if held else 'NOT held':<8} {r.held}/{count} done | final p50 "
                  f"{load.pct(r.final, 50):.2f} p95 {p95[way, count]:.2f} s | server process CPU {r.rtf:.3f} s "
                  f"per audio s per session{overhead}", flush=True)  # fmt: skip
    one, *others = ways
    for way in others:
        print(f"largest N held: one process {largest[one]}, {way} {largest[way]} "
              f"({largest[way] / max(1, largest[one]):.2f}x)")  # fmt: skip
        for count in counts:
            print(f"  N={count}: {way} final p95 {p95[way, count] - p95[one, count]:+.2f} s against one process")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=24)
    parser.add_argument("--model", default="tiny.en")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--sessions", default="4,8,12", help="live loads (sessions) to run")
    parser.add_argument("--seconds", type=float, default=45.0, help="seconds per live session")
    parser.add_argument("--replicas", type=int, default=2, help="ASR replicas of serve --ray")
    parser.add_argument("--max-p95", type=float, default=5.0, help="final latency p95 (s) a held load stays under")
    parser.add_argument("--idle-s", type=float, default=30.0)
    parser.add_argument("--skip", default="", help="parts to leave out: files, live, idle")
    args = parser.parse_args()
    skip = set(args.skip.split(",")) - {""}
    if "files" not in skip:
        files_per_hour(args.files, args.model, args.workers)
    if "live" not in skip:
        live(args.model, [int(c) for c in args.sessions.split(",")], args.seconds, args.replicas, args.max_p95)
    if "idle" not in skip:
        cpu, rss = idle_cluster(args.idle_s)
        print(f"idle local Ray cluster ({args.idle_s:.0f} s): {100 * cpu:.1f}% of one core, {rss:.0f} MiB")


if __name__ == "__main__":
    main()
