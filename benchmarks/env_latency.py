"""python benchmarks/env_latency.py [--calls 60] [--out benchmarks/results/env_latency.md]

Latency of one `crop_video` step of VideoSeekerEnv (decode + crop + resize + content parts), median and p95,
on the real sample clips and a toy-world clip. Each episode is reset before its calls (a fresh reader and an
empty frame cache), calls are random windows of 1-6 s, half of them with a random region; EnvConfig defaults
(frames_per_call and min_frames_per_call frames per call at 1 fps, 336x336 pixel budget), with no cap on tool
rounds or total frames. Writes a markdown table with the machine's description.
"""

from __future__ import annotations

import argparse
import platform
import random
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from seekerlite import SAMPLE_DATA
from seekerlite.config import EnvConfig
from seekerlite.env import VideoSeekerEnv
from seekerlite.schema import Sample


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    import os

    return f"{os.cpu_count()} cores, {cpu}, Python {platform.python_version()}"


def bench(video: Path, calls: int, seed: int = 0) -> dict:
    rng = random.Random(seed)
    sample = Sample(id="bench", video_path=str(video), question="What is the marked object doing?", answer="x")
    env = VideoSeekerEnv(EnvConfig(max_tool_rounds=10**6, max_total_frames=10**6))
    env.reset(sample=sample)
    dur = env.video_info.duration
    times, frames = [], []
    for k in range(calls):
        if k % 10 == 0:
            env.reset(sample=sample)  # new episode: cold cache every 10 calls
        length = rng.uniform(1.0, min(6.0, dur))
        t0 = rng.uniform(0, dur - length)
        region = None
        if rng.random() < 0.5:
            x, y = rng.randint(0, 600), rng.randint(0, 600)
            region = [x, y, x + rng.randint(100, 400), y + rng.randint(100, 400)]
        start = time.perf_counter()
        parts = env.crop_video(t0, t0 + length, region=region)
        times.append(time.perf_counter() - start)
        frames.append(sum(p["type"] == "image" for p in parts))
    ms = np.array(times) * 1000
    return {"video": video.name, "backend": env.reader.backend, "size": f"{env.video_info.width}x{env.video_info.height}",
            "calls": calls, "frames/call": statistics.mean(frames), "median_ms": float(np.median(ms)),
            "p95_ms": float(np.percentile(ms, 95))}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=60)
    ap.add_argument("--out", default="benchmarks/results/env_latency.md")
    a = ap.parse_args()
    from seekerlite.toyworld import ToyWorldConfig, generate_dataset

    toy_dir = Path(tempfile.mkdtemp())
    generate_dataset(toy_dir, n_clips=1, seed=0, config=ToyWorldConfig(duration=10.0))
    videos = [SAMPLE_DATA / "videos" / n for n in ("vtest.mp4", "megamind.mp4", "box.mp4")] + sorted((toy_dir / "videos").glob("*.mp4"))
    rows = [bench(v, a.calls) for v in videos]
    lines = ["# crop_video step latency\n", f"Machine: {machine()}. Command: `python benchmarks/env_latency.py --calls {a.calls}`.\n",
             "| video | backend | size | calls | frames/call | median ms | p95 ms |", "|---|---|---|---|---|---|---|"]
    lines += [f"| {r['video']} | {r['backend']} | {r['size']} | {r['calls']} | {r['frames/call']:.1f} | {r['median_ms']:.1f} | {r['p95_ms']:.1f} |" for r in rows]
    text = "\n".join(lines) + "\n"
    print(text)
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(text)


if __name__ == "__main__":
    main()
