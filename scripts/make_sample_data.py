"""python scripts/make_sample_data.py [--deb opencv-doc_4.6.0+dfsg-12_all.deb] [--out sample_data]

Re-derive the real sample clips in ``sample_data/videos/`` from Debian's ``opencv-doc`` package
(OpenCV's own sample data, Apache-2.0 AND BSD-3-Clause per the package's copyright file).

Without ``--deb`` the script runs ``apt-get download opencv-doc`` in a temporary folder (no root
needed). It reads the .deb with the standard library (an ``ar`` archive holding ``data.tar.xz``;
``dpkg-deb`` is used as a fallback for other compressions), takes short excerpts and re-encodes
them with OpenCV's ``VideoWriter`` (FourCC ``mp4v``, MPEG-4 Part 2 in an .mp4 container), which
OpenCV, PyAV and decord all decode. The same frames come out on every run (the bytes may differ
between OpenCV/FFmpeg builds). Each written clip is re-opened with all three decoders and its
frame count, size and frame rate are checked. ``sample_data/README.md`` is rewritten with the
provenance of every file.

The pedestrian annotations in ``sample_data/annotations/`` were checked by hand and are NOT
re-derived here (see the README); ``--render-check`` only redraws their evidence sheet
``annotations/vtest_keyframes_check.png`` from ``vtest_masklets.jsonl`` and ``videos/vtest.mp4``.

Examples:
    python scripts/make_sample_data.py                       # apt-get download, then build
    python scripts/make_sample_data.py --deb /tmp/opencv-doc_4.6.0+dfsg-12_all.deb
    python scripts/make_sample_data.py --render-check        # only redraw the contact sheet
"""

from __future__ import annotations

import argparse
import glob
import gzip
import hashlib
import io
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parent.parent
DOC = "usr/share/doc/opencv-doc"
PACKAGE = "opencv-doc"
PACKAGE_VERSION = "4.6.0+dfsg-12"


@dataclass(frozen=True)
class Clip:
    """One excerpt: frames [start, start+count) of `src` (a path inside the .deb), re-encoded to `dst`."""

    dst: str  # relative to sample_data/
    src: str  # path inside the package
    start: int
    count: int
    max_width: int | None  # downscale (keeping aspect, even sizes) when wider
    fps: float | None = None  # written frame rate; None = the source's
    note: str = ""


CLIPS: tuple[Clip, ...] = (
    Clip("videos/vtest.mp4", f"{DOC}/examples/data/vtest.avi", 0, 150, None, 10.0,
         "fixed camera over a campus path, pedestrians walk, meet and cross; annotated (see below)"),
    Clip("videos/megamind.mp4", f"{DOC}/examples/data/Megamind.avi", 1, 96, 480, None,
         "animated film excerpt (frame 0 of the source is black and is skipped)"),
    Clip("videos/tree.mp4", f"{DOC}/examples/data/tree.avi", 8, 60, None, 15.0,
         "tree seen through a window, a hand enters at the end (the source really holds 68 frames, "
         "its header claims 444)"),
    Clip("videos/box.mp4", f"{DOC}/opencv4/html/box.mp4.gz", 0, 120, 480, None,
         "hand-held printed box over a table (gzip-compressed in the package)"),
    Clip("videos/cup.mp4", f"{DOC}/opencv4/html/cup.mp4.gz", 0, 107, 480, None,
         "hand-held black cup against a white wall (gzip-compressed in the package)"),
)
BAD_INPUT = ("videos/Megamind_bugy.avi", f"{DOC}/examples/data/Megamind_bugy.avi")
COPYRIGHT = f"{DOC}/copyright"


# ----------------------------------------------------------------------------- the .deb

def download_deb(workdir: Path) -> Path:
    """`apt-get download opencv-doc` into workdir; return the .deb path."""
    print(f"running apt-get download {PACKAGE} in {workdir} ...", flush=True)
    os.chmod(workdir, 0o755)  # so apt's unprivileged `_apt` user may write there
    subprocess.run(["apt-get", "download", PACKAGE], cwd=workdir, check=True)
    debs = sorted(glob.glob(str(workdir / f"{PACKAGE}_*.deb")))
    if not debs:
        raise SystemExit(f"apt-get download produced no {PACKAGE}_*.deb in {workdir}")
    return Path(debs[-1])


def _ar_members(deb: Path) -> dict[str, tuple[int, int]]:
    """Name -> (offset, size) of the members of a Debian `ar` archive."""
    out: dict[str, tuple[int, int]] = {}
    with deb.open("rb") as fh:
        if fh.read(8) != b"!<arch>\n":
            raise ValueError(f"{deb} is not an ar archive (.deb)")
        while True:
            header = fh.read(60)
            if len(header) < 60:
                break
            name = header[:16].decode("ascii").strip().rstrip("/")
            size = int(header[48:58].decode("ascii").strip())
            out[name] = (fh.tell(), size)
            fh.seek(size + (size % 2), os.SEEK_CUR)
    return out


def extract(deb: Path, members: list[str], dest: Path) -> dict[str, Path]:
    """Extract the given package paths (without leading './') under dest; return their local paths."""
    dest.mkdir(parents=True, exist_ok=True)
    ar = _ar_members(deb)
    data = next((n for n in ar if n.startswith("data.tar")), None)
    if data is None:
        raise ValueError(f"{deb}: no data.tar.* member")
    if data.endswith((".xz", ".gz", ".bz2")) or data == "data.tar":
        off, size = ar[data]
        with deb.open("rb") as fh:
            fh.seek(off)
            blob = fh.read(size)
        wanted = set(members)
        with tarfile.open(fileobj=io.BytesIO(blob), mode="r:*") as tar:
            for info in tar:
                name = info.name.removeprefix("./")
                if name in wanted and info.isfile():
                    target = dest / name
                    target.parent.mkdir(parents=True, exist_ok=True)
                    src = tar.extractfile(info)
                    assert src is not None
                    with target.open("wb") as out:
                        shutil.copyfileobj(src, out)
    else:  # e.g. data.tar.zst: let dpkg-deb do it
        subprocess.run(["dpkg-deb", "-x", str(deb), str(dest)], check=True)
    found = {m: dest / m for m in members}
    missing = [m for m, p in found.items() if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"{deb} lacks {missing}")
    return found


def deb_version(deb: Path) -> str:
    """Package version from the file name (opencv-doc_<version>_all.deb), else the pinned one."""
    parts = deb.name.split("_")
    return parts[1].replace("%2b", "+") if len(parts) >= 3 else PACKAGE_VERSION


# ----------------------------------------------------------------------------- videos

def even_size(w: int, h: int, max_width: int | None) -> tuple[int, int]:
    if max_width is None or w <= max_width:
        return w, h
    nh = round(h * max_width / w)
    return max_width - max_width % 2, nh - nh % 2


def reencode(src: Path, dst: Path, clip: Clip) -> dict:
    """Write frames [start, start+count) of src to dst (mp4v); return what was written."""
    cap = cv2.VideoCapture(str(src))
    if not cap.isOpened():
        raise RuntimeError(f"OpenCV cannot open {src}")
    src_fps = cap.get(cv2.CAP_PROP_FPS)
    fps = clip.fps if clip.fps is not None else round(src_fps, 3)
    w0, h0 = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
    w, h = even_size(w0, h0, clip.max_width)
    dst.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(dst), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    if not writer.isOpened():
        raise RuntimeError(f"OpenCV cannot write mp4v to {dst}")
    idx = written = 0
    while written < clip.count:
        ok, frame = cap.read()
        if not ok:
            break
        if idx >= clip.start:
            if (w, h) != (w0, h0):
                frame = cv2.resize(frame, (w, h), interpolation=cv2.INTER_AREA)
            writer.write(frame)
            written += 1
        idx += 1
    writer.release()
    cap.release()
    if written != clip.count:
        raise RuntimeError(f"{src}: wanted frames {clip.start}..{clip.start + clip.count - 1}, got {written}")
    return {"fps": fps, "src_fps": src_fps, "width": w, "height": h, "src_size": (w0, h0), "frames": written}


def check_decoders(path: Path, frames: int, width: int, height: int, fps: float) -> list[str]:
    """Open with OpenCV, PyAV and decord; return the names that decoded `frames` frames of the right size."""
    ok: list[str] = []
    cap = cv2.VideoCapture(str(path))
    n = 0
    while True:
        good, f = cap.read()
        if not good:
            break
        assert f.shape[:2] == (height, width), (path, f.shape)
        n += 1
    assert n == frames, f"OpenCV decoded {n} frames of {path}, expected {frames}"
    assert abs(cap.get(cv2.CAP_PROP_FPS) - fps) < 0.01, (path, cap.get(cv2.CAP_PROP_FPS), fps)
    ok.append("opencv")
    try:
        import av
    except ImportError:
        print("  (PyAV not installed: skipped)")
    else:
        with av.open(str(path)) as c:
            n = sum(1 for fr in c.decode(video=0) if (fr.width, fr.height) == (width, height))
        assert n == frames, f"PyAV decoded {n} frames of {path}, expected {frames}"
        ok.append("pyav")
    try:
        import decord
    except ImportError:
        print("  (decord not installed: skipped)")
    else:
        vr = decord.VideoReader(str(path))
        assert len(vr) == frames, f"decord sees {len(vr)} frames in {path}, expected {frames}"
        last = vr[len(vr) - 1].asnumpy()
        assert last.shape[:2] == (height, width)
        ok.append("decord")
    return ok


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# ----------------------------------------------------------------------------- evidence sheet

COLORS = [(0, 0, 255), (0, 200, 0), (255, 80, 0), (0, 200, 255), (255, 0, 255)]


def render_check(out_dir: Path, frames: tuple[int, ...] = (0, 20, 40, 60, 80, 100, 120, 149)) -> Path:
    """Draw every annotated pedestrian's box on a few frames of vtest.mp4; save the contact sheet."""
    sys.path.insert(0, str(REPO))
    from seekerlite.schema import Masklet, load_jsonl

    masklets = load_jsonl(out_dir / "annotations" / "vtest_masklets.jsonl", Masklet)
    cap = cv2.VideoCapture(str(out_dir / "videos" / "vtest.mp4"))
    tiles, idx = [], 0
    crop = (60, 390)  # rows of the frame where the people walk
    while len(tiles) < len(frames):
        ok, frame = cap.read()
        if not ok:
            break
        if idx in frames:
            for k, m in enumerate(masklets):
                b = m.box_at(idx)
                if b is None:
                    continue
                c = COLORS[k % len(COLORS)]
                x0, y0, x1, y1 = (round(v) for v in b)
                cv2.rectangle(frame, (x0, y0), (x1 - 1, y1 - 1), c, 2)
                cv2.putText(frame, m.instance_id, (x0, max(12, y0 - 4)), cv2.FONT_HERSHEY_SIMPLEX, 0.45, c, 1,
                            cv2.LINE_AA)
            t = frame[crop[0]:crop[1]]
            cv2.putText(t, f"frame {idx} ({idx / 10:.1f} s)", (8, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.7,
                        (255, 255, 255), 2, cv2.LINE_AA)
            tiles.append(cv2.resize(t, None, fx=0.6, fy=0.6, interpolation=cv2.INTER_AREA))
        idx += 1
    if len(tiles) % 2:
        tiles.append(np.zeros_like(tiles[0]))
    sheet = np.vstack([np.hstack(tiles[i:i + 2]) for i in range(0, len(tiles), 2)])
    path = out_dir / "annotations" / "vtest_keyframes_check.png"
    cv2.imwrite(str(path), sheet, [cv2.IMWRITE_PNG_COMPRESSION, 9])
    return path


# ----------------------------------------------------------------------------- README

README_HEAD = """# sample_data

Real footage for tests, notebooks and the demo: short excerpts of OpenCV's own sample videos, taken
from Debian's `{pkg}` package (version `{ver}`), plus hand-checked pedestrian annotations for
`videos/vtest.mp4`.

Re-derive the videos (same frames; the bytes may differ between OpenCV/FFmpeg builds):

```
python scripts/make_sample_data.py                      # runs `apt-get download {pkg}` itself
python scripts/make_sample_data.py --deb {pkg}_{ver}_all.deb
```

The .deb used here had sha256 `{deb_sha}`.

## License

The package's `usr/share/doc/opencv-doc/copyright` (DEP-5) puts everything not listed otherwise,
including OpenCV's `samples/data/*` (shipped as `examples/data/`) and the documentation assets
(`opencv4/html/`), under `Files: *` with `License: Apache-2.0 AND BSD-3-Clause`, copyright Intel,
Willow Garage, NVIDIA, AMD, OpenCV Foundation, Itseez, Xperience AI, Shenzhen Institute of AI and
Robotics for Society and the OpenCV contributors. The re-encoded excerpts and the annotations are
redistributed under the same terms. `Megamind.avi` is an excerpt of an animated film that OpenCV
ships as sample data; it is covered by the package's license statement above, but users who
redistribute it further may want to keep to the excerpt's test-fixture use.

## Files

All videos were re-encoded with OpenCV `VideoWriter`, FourCC `mp4v` (MPEG-4 Part 2 in .mp4), and
checked to decode with OpenCV, PyAV and decord. Frame indices are 0-based indices of the source as
decoded by OpenCV.

| file | source in the package | frames taken | written as | bytes | license |
|---|---|---|---|---|---|
"""

ANNOT = """
## Annotations (`annotations/`)

| file | what |
|---|---|
| `annotations/vtest_masklets.jsonl` | 3 pedestrians of `videos/vtest.mp4` as `seekerlite.schema.Masklet` records (`source="manual"`, `label="pedestrian"`, a box `[x0, y0, x1, y1]` in pixels of the 768x576 frame at every frame of its span, x1/y1 exclusive, `rles=[]`) |
| `annotations/vtest_samples.jsonl` | 6 `seekerlite.schema.Sample` records: MC and OE questions about those pedestrians, each with its rectangle visual prompt, masklet and span; `video_path` is relative to the JSONL's folder |
| `annotations/vtest_keyframes_check.png` | contact sheet: the boxes drawn on frames 0, 20, 40, 60, 80, 100, 120 and 149 (rows 60..390 of the frame, scaled 0.6); redraw with `python scripts/make_sample_data.py --render-check` |

The pedestrians (all boxes cover the whole person, head to feet, including a carried sheet of
paper and parts briefly hidden behind the signpost):

| instance_id | frames | who |
|---|---|---|
| `man_left` | 0..65 (66) | man in a dark jacket and black trousers, holding a rolled white paper; walks right from the edge of the grass to the green "Fire assembly point" sign, shakes hands there (frames ~38-45) with a man in jeans, and stands by the sign |
| `red_jacket` | 20..149 (130) | man in a navy-and-red padded jacket and jeans, a white sheet of paper in his left hand; enters at the bottom right and walks away from the camera beside a blonde woman in a black coat |
| `bald` | 50..149 (100) | bald man in a black jacket and jeans; enters from the right edge at ~3.9 s and walks away from the camera, up the road toward the parked vans |

How they were made: boxes were *proposed* from foreground masks (a per-pixel median background over
every 3rd frame of the whole 795-frame `vtest.avi`, |frame - background| > 35 with a chromaticity
shadow test, opened/closed), linked frame to frame by a constant-velocity search; for the pair
walking side by side (`red_jacket`) the merged blob was split at the gap of the torso-band column
profile; feet missed by the shadow test were recovered from the raw difference (up to 4 px). Every
5th frame (and every 2nd frame through the handshake, plus every frame flagged by a smoothness
check) was then drawn, magnified and checked by eye. `red_jacket` (20..149), `bald` (50..149) and
`man_left` 0..22 keep the checked per-frame proposals. For `man_left` 23..65 the proposals merged
with the men and the woman around him, so 15 keyframes (24, 26, ..., 40, 45, 50, 55, 58, 60, 65)
were boxed by hand on a 10-px grid and the frames between them linearly interpolated (he moves
smoothly, then stands). Expect about 2-3 px of error per box side.
"""


def write_readme(out_dir: Path, rows: list[str], deb_sha: str, version: str) -> Path:
    text = README_HEAD.format(pkg=PACKAGE, ver=version, deb_sha=deb_sha) + "\n".join(rows) + "\n" + ANNOT
    path = out_dir / "README.md"
    path.write_text(text, encoding="utf-8")
    return path


# ----------------------------------------------------------------------------- main

def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[2], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--deb", type=Path, help="opencv-doc .deb (default: apt-get download it into a temp dir)")
    ap.add_argument("--out", type=Path, default=REPO / "sample_data", help="output folder (default: sample_data/)")
    ap.add_argument("--render-check", action="store_true", help="only redraw annotations/vtest_keyframes_check.png")
    args = ap.parse_args(argv)
    out: Path = args.out

    if args.render_check:
        print(render_check(out))
        return 0

    with tempfile.TemporaryDirectory(prefix="seekerlite-ocvdoc-") as tmp:
        tmp = Path(tmp)
        deb = args.deb.resolve() if args.deb else download_deb(tmp)
        version = deb_version(deb)
        members = sorted({c.src for c in CLIPS} | {BAD_INPUT[1], COPYRIGHT})
        print(f"extracting {len(members)} files from {deb.name} ...", flush=True)
        files = extract(deb, members, tmp / "x")
        rows = []
        for clip in CLIPS:
            src = files[clip.src]
            if src.suffix == ".gz":  # box.mp4.gz / cup.mp4.gz
                plain = src.with_suffix("")
                with gzip.open(src, "rb") as fi, plain.open("wb") as fo:
                    shutil.copyfileobj(fi, fo)
                src = plain
            dst = out / clip.dst
            info = reencode(src, dst, clip)
            decoders = check_decoders(dst, info["frames"], info["width"], info["height"], info["fps"])
            size = dst.stat().st_size
            print(f"{clip.dst}: frames {clip.start}..{clip.start + clip.count - 1}, {info['width']}x{info['height']} "
                  f"@ {info['fps']:g} fps, {size / 1e6:.2f} MB, decodes with {'/'.join(decoders)}", flush=True)
            scaled = "" if info["src_size"] == (info["width"], info["height"]) else \
                f" (from {info['src_size'][0]}x{info['src_size'][1]})"
            rows.append(
                f"| `{clip.dst}` | `{clip.src}` | {clip.start}..{clip.start + clip.count - 1} of the source "
                f"({info['src_fps']:.3f} fps) | {info['frames']} frames, {info['width']}x{info['height']}{scaled}, "
                f"{info['fps']:g} fps, {info['frames'] / info['fps']:.2f} s; {clip.note} | {size} | "
                f"Apache-2.0 AND BSD-3-Clause |")
        bad_dst = out / BAD_INPUT[0]
        bad_dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(files[BAD_INPUT[1]], bad_dst)
        rows.append(
            f"| `{BAD_INPUT[0]}` | `{BAD_INPUT[1]}` | copied byte for byte (sha256 `{sha256(bad_dst)}`) | "
            f"bad-input fixture: OpenCV's deliberately damaged copy of Megamind.avi. Its header says 30 fps "
            f"(the good file: 23.976) and several frames carry injected white rectangles "
            f"(e.g. frames 40 and 100); OpenCV 4.x, PyAV and decord still open it (270 frames) | "
            f"{bad_dst.stat().st_size} | Apache-2.0 AND BSD-3-Clause |")
        readme = write_readme(out, rows, sha256(deb), version)
        print(f"wrote {readme}")
    if (out / "annotations" / "vtest_masklets.jsonl").is_file():
        print(render_check(out))
    total = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    print(f"sample_data total: {total / 1e6:.2f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
