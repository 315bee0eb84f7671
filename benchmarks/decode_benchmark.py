"""python benchmarks/decode_benchmark.py

Decode speed on every clip in sample_data/videos/, in frames per second, single process, 2 decord threads.

Table 1, the libraries called directly: sequential decode of every frame (decord `next()`, OpenCV `read()`,
PyAV `decode()` + RGB conversion), and random access to the 100 indices below (decord `vr[i]`, OpenCV
`set(CAP_PROP_POS_FRAMES, i)` + `read()`), with the worst mean absolute pixel error of a random frame
against OpenCV's sequential decode (0 = the right frame; large = a wrong frame).

Table 2, through seekerlite's `VideoReader` (cache off), once per backend asked for:

- open:        VideoReader(...) construction, ms (PyAV validation + the backend's own open and checks)
- random 1x1:  100 random indices (seed 0, with repeats and backward jumps), one get_frame() call each, frames/s
- random batch: the same 100 indices in one get_frames() call (repeats decoded once; decord: get_batch;
               others: one sorted pass), requested frames/s
- sequential:  get_frames(range(min(300, num_frames))), frames/s
- err:         worst mean absolute pixel difference of a random frame from OpenCV's sequential decode

Prints a markdown table and writes benchmarks/results/decode.md with the machine it ran on.
Options: --clips a.mp4 b.avi (default: all of sample_data/videos), --n 100, --seq 300.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import random
import time
from pathlib import Path

import cv2
import numpy as np

from seekerlite.video import BACKENDS, VideoError, VideoReader

ROOT = Path(__file__).resolve().parent.parent
logging.getLogger("seekerlite.video").setLevel(logging.ERROR)  # the fallbacks are reported in the table


def opencv_reference(path: Path, keep: set[int]) -> dict[int, np.ndarray]:
    """Frames `keep` as OpenCV decodes the file from the start, RGB."""
    cap, out, i = cv2.VideoCapture(str(path)), {}, 0
    while len(out) < len(keep):
        ok, bgr = cap.read()
        if not ok:
            break
        if i in keep:
            out[i] = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        i += 1
    return out


def rate(n: int, fn) -> float:
    t = time.perf_counter()
    fn()
    return n / (time.perf_counter() - t)


def mad(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


def bench_raw(path: Path, n_random: int) -> dict[str, object]:
    """The libraries without seekerlite: speed, and whether random access returns the right frame."""
    import av
    import decord

    p = str(path)
    n = int(cv2.VideoCapture(p).get(cv2.CAP_PROP_FRAME_COUNT))
    rng = random.Random(0)
    idx = [rng.randrange(n) for _ in range(n_random)]  # with repeats
    ref = opencv_reference(path, set(idx))
    got: dict[str, list[float]] = {"decord": [], "opencv": []}

    def decord_seq() -> None:
        v = decord.VideoReader(p, ctx=decord.cpu(0), num_threads=2)
        for _ in range(len(v)):
            v.next().asnumpy()

    def opencv_seq() -> None:
        c = cv2.VideoCapture(p)
        while c.read()[0]:
            pass

    def pyav_seq() -> None:
        with av.open(p) as c:
            for f in c.decode(video=0):
                f.to_ndarray(format="rgb24")

    def decord_random() -> None:
        v = decord.VideoReader(p, ctx=decord.cpu(0), num_threads=2)
        for i in idx:
            got["decord"].append(mad(v[i].asnumpy(), ref[i]))

    def opencv_random() -> None:
        c = cv2.VideoCapture(p)
        for i in idx:
            c.set(cv2.CAP_PROP_POS_FRAMES, i)
            got["opencv"].append(mad(cv2.cvtColor(c.read()[1], cv2.COLOR_BGR2RGB), ref[i]))

    return {"clip": path.name, "frames": n, "decord seq": rate(n, decord_seq), "opencv seq": rate(n, opencv_seq),
            "pyav seq": rate(n, pyav_seq), "decord random": rate(n_random, decord_random),
            "decord err": max(got["decord"]), "opencv random": rate(n_random, opencv_random),
            "opencv err": max(got["opencv"])}


def bench(path: Path, backend: str, n_random: int, n_seq: int) -> dict[str, object]:
    t = time.perf_counter()
    v = VideoReader(path, backend=backend, cache_size=0)
    open_ms = (time.perf_counter() - t) * 1000
    rng = random.Random(0)
    idx = [rng.randrange(v.num_frames) for _ in range(n_random)]  # with repeats
    v.get_frame(0)  # warm-up: first decode allocates buffers
    t = time.perf_counter()
    frames = [v.get_frame(i) for i in idx]
    one = n_random / (time.perf_counter() - t)
    t = time.perf_counter()
    v.get_frames(idx)
    batch = n_random / (time.perf_counter() - t)
    seq = list(range(min(n_seq, v.num_frames)))
    t = time.perf_counter()
    v.get_frames(seq)
    sequential = len(seq) / (time.perf_counter() - t)
    ref = opencv_reference(path, set(idx))
    err = max(mad(f.image, ref[f.index]) for f in frames)
    row = {"clip": path.name, "size": f"{v.width}x{v.height}", "frames": v.num_frames, "asked": backend,
           "used": v.backend, "open": open_ms, "one": one, "batch": batch, "seq": sequential, "err": err}
    v.close()
    return row


def machine() -> list[str]:
    import av
    import decord

    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), platform.processor())
    return [f"- CPU: {cpu}, {os.cpu_count()} logical cores (nproc {len(os.sched_getaffinity(0))})",
            (f"- Python {platform.python_version()}, numpy {np.__version__}, decord {decord.__version__}, "
             f"PyAV {av.__version__} (libavcodec {av.library_versions['libavcodec']}), OpenCV {cv2.__version__}"),
            f"- {platform.platform()}",
            f"- load average at the start (1/5/15 min): {' '.join(Path('/proc/loadavg').read_text().split()[:3])}"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", nargs="*", type=Path, default=sorted((ROOT / "sample_data" / "videos").glob("*.*")))
    ap.add_argument("--n", type=int, default=100, help="random indices")
    ap.add_argument("--seq", type=int, default=300, help="frames read in order")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "decode.md")
    a = ap.parse_args()
    about = machine()  # before the run, so the load average is the one the run started under
    raw, rows = [], []
    for clip in a.clips:
        r = bench_raw(clip, a.n)
        raw.append(r)
        print(f"{clip.name:20s} raw: decord seq {r['decord seq']:.0f}/s random {r['decord random']:.0f}/s "
              f"(err {r['decord err']:.2f}), opencv seq {r['opencv seq']:.0f}/s random {r['opencv random']:.0f}/s "
              f"(err {r['opencv err']:.2f}), pyav seq {r['pyav seq']:.0f}/s", flush=True)
        for backend in BACKENDS:
            try:
                r = bench(clip, backend, a.n, a.seq)
            except VideoError as e:
                print(f"skipped {clip.name} / {backend}: {e}")
                continue
            rows.append(r)
            print(f"{r['clip']:20s} {backend:7s} -> {r['used']:7s} random {r['one']:7.1f}/s  "
                  f"batch {r['batch']:7.1f}/s  seq {r['seq']:7.1f}/s  err {r['err']:.3f}", flush=True)
    head1 = ("| clip | frames | decord seq | OpenCV seq | PyAV seq | decord random | decord err "
             "| OpenCV random (POS_FRAMES) | OpenCV err |")
    head2 = ("| clip | size | frames | backend asked → used | open ms | random 1×1 frames/s "
             "| random batch frames/s | sequential frames/s | err |")
    table = [("**1. The libraries called directly** (frames/s; err = worst mean abs pixel error of a "
              "random-access frame vs OpenCV's sequential decode)"), "", head1, "|---|---:" + "|---:" * 7 + "|"]
    table += [(f"| {r['clip']} | {r['frames']} | {r['decord seq']:.0f} | {r['opencv seq']:.0f} "
               f"| {r['pyav seq']:.0f} | {r['decord random']:.0f} | {r['decord err']:.2f} "
               f"| {r['opencv random']:.0f} | {r['opencv err']:.2f} |") for r in raw]
    table += ["", "**2. Through `seekerlite.video.VideoReader`** (cache off; open includes PyAV validation)", "",
              head2, "|---|---|---:|---" + "|---:" * 5 + "|"]
    table += [(f"| {r['clip']} | {r['size']} | {r['frames']} | {r['asked']} → {r['used']} | {r['open']:.0f} "
               f"| {r['one']:.0f} | {r['batch']:.0f} | {r['seq']:.0f} | {r['err']:.3f} |") for r in rows]
    note = ("Megamind_bugy.avi's timestamps are out of display order: raw decord returns wrong frames there, "
            "so VideoReader refuses decord and every backward jump decodes again from frame 0 "
            "(see seekerlite/video.py).")
    title = (f"`python benchmarks/decode_benchmark.py` ({a.n} random indices, seed 0; sequential = first "
             f"{a.seq} frames or all), {time.strftime('%Y-%m-%d')}.")
    text = "\n".join(["# Decode benchmark", "", title, "", *about, "", *table, "", note, ""])
    print("\n" + "\n".join(table))
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(text)
    print(f"\nwrote {a.out}")


if __name__ == "__main__":
    main()
