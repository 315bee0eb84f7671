"""python benchmarks/decode_benchmark.py [--random 100] [--out benchmarks/results/decode.md]

Decode speed on the sample clips, in frames per second:
- sequential: every frame from the start (decord `next()`, OpenCV `read()`, PyAV `decode()`);
- random: `--random` frame indices in random order (seed 0): decord `vr[i]`, OpenCV `set(POS_FRAMES) + read()`,
  and seekerlite's `VideoReader.get_frame` (cache off; its backend choice and checks included).
Single process; decord with 2 threads. Writes a markdown table with the machine's description.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import time
from pathlib import Path

import av
import cv2
import decord

from seekerlite import SAMPLE_DATA
from seekerlite.video import open_video

decord.bridge.set_bridge("native")
CLIPS = ["vtest.mp4", "megamind.mp4", "box.mp4", "cup.mp4", "tree.mp4"]


def rate(n: int, fn) -> float:
    t = time.perf_counter()
    fn()
    return n / (time.perf_counter() - t)


def bench(path: Path, n_random: int) -> dict:
    path_s = str(path)
    vr = decord.VideoReader(path_s, ctx=decord.cpu(0), num_threads=2)
    n = len(vr)
    idx = [random.Random(0).randrange(n) for _ in range(n_random)]
    row = {"clip": path.name, "frames": n, "size": f"{vr[0].shape[1]}x{vr[0].shape[0]}"}

    def dec_seq():
        v = decord.VideoReader(path_s, ctx=decord.cpu(0), num_threads=2)
        for _ in range(len(v)):
            v.next().asnumpy()

    def cv_seq():
        c = cv2.VideoCapture(path_s)
        while c.read()[0]:
            pass

    def av_seq():
        with av.open(path_s) as c:
            for f in c.decode(video=0):
                f.to_ndarray(format="rgb24")

    def dec_rand():
        v = decord.VideoReader(path_s, ctx=decord.cpu(0), num_threads=2)
        for i in idx:
            v[i].asnumpy()

    def cv_rand():
        c = cv2.VideoCapture(path_s)
        for i in idx:
            c.set(cv2.CAP_PROP_POS_FRAMES, i)
            c.read()

    def sl_rand():
        with open_video(path, cache_size=0) as v:
            row["seekerlite backend"] = v.backend
            for i in idx:
                v.get_frame(i)

    row |= {"decord seq": rate(n, dec_seq), "opencv seq": rate(n, cv_seq), "pyav seq": rate(n, av_seq),
            "decord random": rate(n_random, dec_rand), "opencv random": rate(n_random, cv_rand),
            "seekerlite random": rate(n_random, sl_rand)}
    return row


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    return (f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, decord {decord.__version__}, "
            f"OpenCV {cv2.__version__}, PyAV {av.__version__}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--random", type=int, default=100)
    ap.add_argument("--out", default="benchmarks/results/decode.md")
    a = ap.parse_args()
    rows = [bench(SAMPLE_DATA / "videos" / c, a.random) for c in CLIPS]
    cols = ["decord seq", "opencv seq", "pyav seq", "decord random", "opencv random", "seekerlite random"]
    lines = ["# Decode speed (frames/s)\n", f"Machine: {machine()}.", f"Command: `python benchmarks/decode_benchmark.py --random {a.random}`.\n",
             "| clip | frames | size | " + " | ".join(cols) + " | seekerlite backend |", "|---" * (len(cols) + 4) + "|"]
    lines += [f"| {r['clip']} | {r['frames']} | {r['size']} | " + " | ".join(f"{r[c]:.0f}" for c in cols)
              + f" | {r['seekerlite backend']} |" for r in rows]
    text = "\n".join(lines) + "\n"
    print(text)
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(text)


if __name__ == "__main__":
    main()
