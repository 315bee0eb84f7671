"""Schema records: validation, JSONL round-trips, clear errors on malformed files, RLE."""

import json

import numpy as np
import pytest

from seekerlite.schema import (
    Masklet, Sample, SchemaError, VisualPrompt, box_iou, decode_mask, encode_mask, load_jsonl,
    mask_to_box, save_jsonl,
)


def _sample(i: int = 0, **kw) -> Sample:
    rng = np.random.default_rng(i)
    mask = np.zeros((24, 32), bool)
    mask[5:15, 8:20] = True
    m = Masklet("obj1", [0, 1, 2], [[8, 5, 20, 15], None, [9, 6, 21, 16]],
                [encode_mask(mask), None, encode_mask(np.roll(mask, 1, (0, 1)))], label="red circle", source="synth")
    base = dict(id=f"s{i}", video_path="videos/a.mp4", question="What colour does the marked object turn into?",
                options=["red", "green", "blue", "yellow"], answer="BCDA"[int(rng.integers(4))],
                visual_prompt=VisualPrompt(0, 0.0, "ellipse", "prompts/a.png", [8, 5, 20, 15]),
                masklet=m, span=[0.0, 0.3], task="attribute", provenance={"seed": i})
    base.update(kw)
    return Sample(**base)


def test_jsonl_round_trip(tmp_path):
    samples = [_sample(i) for i in range(5)] + [_sample(9, options=None, answer="green")]
    path = save_jsonl(samples, tmp_path / "s.jsonl")
    back = load_jsonl(path)
    assert back == samples
    assert back[-1].is_mc is False and back[-1].answer_text == "green"
    assert back[0].answer_text == back[0].options["ABCD".index(back[0].answer)]


def test_masklet_accessors():
    s = _sample()
    assert s.masklet.box_at(1) is None and s.masklet.box_at(7) is None
    assert s.masklet.mask_at(0).sum() == 120
    assert s.masklet.visible_frames() == [0, 2]
    assert s.masklet.span(fps=10) == (0.0, 0.3)


def test_rle_round_trip_random_masks():
    rng = np.random.default_rng(0)
    for _ in range(20):
        m = rng.random((rng.integers(1, 50), rng.integers(1, 50))) > 0.5
        assert (decode_mask(encode_mask(m)) == m).all()
    # uncompressed COCO counts (column-major runs) are accepted too
    m = np.zeros((3, 2), bool); m[1:, 0] = True  # column 0: F T T, column 1: F F F
    assert (decode_mask({"size": [3, 2], "counts": [1, 2, 3]}) == m).all()
    json.dumps(encode_mask(m))  # JSON-safe


def test_box_helpers():
    m = np.zeros((10, 10), bool); m[2:5, 3:7] = True
    assert mask_to_box(m) == [3.0, 2.0, 7.0, 5.0]
    assert mask_to_box(np.zeros((4, 4), bool)) is None
    assert box_iou([0, 0, 2, 2], [0, 0, 2, 2]) == 1.0
    assert box_iou([0, 0, 1, 1], [2, 2, 3, 3]) == 0.0


@pytest.mark.parametrize("kw, msg", [
    (dict(answer="E"), "MC answer 'E'"),
    (dict(options=["only"]), "1 options"),
    (dict(question="  "), "empty question"),
    (dict(span=[2.0, 1.0]), "span"),
])
def test_invalid_records_raise(kw, msg):
    with pytest.raises(SchemaError, match=msg):
        _sample(**kw)


def test_bad_prompt_type_and_box():
    with pytest.raises(SchemaError, match="prompt_type"):
        VisualPrompt(0, 0.0, "hexagon")
    with pytest.raises(SchemaError, match="bad box"):
        Masklet("x", [0], [[5, 5, 1, 1]])
    with pytest.raises(SchemaError, match="2 boxes for 1 frames"):
        Masklet("x", [0], [[0, 0, 1, 1], [0, 0, 1, 1]])


def _write_lines(tmp_path, lines):
    p = tmp_path / "bad.jsonl"
    p.write_text("\n".join(lines) + "\n")
    return p


def test_malformed_jsonl_names_file_line_and_field(tmp_path):
    good = json.dumps(_sample(0).to_dict())
    d = _sample(1).to_dict(); d["visual_prompt"]["timestamp"] = "soon"
    p = _write_lines(tmp_path, [good, "", json.dumps(d)])
    with pytest.raises(SchemaError) as e:
        load_jsonl(p)
    assert f"{p}:3" in str(e.value) and "visual_prompt.timestamp" in str(e.value)

    p = _write_lines(tmp_path, [good, "{not json"])
    with pytest.raises(SchemaError, match=r"bad.jsonl:2: invalid JSON"):
        load_jsonl(p)

    d = _sample(2).to_dict(); del d["question"]
    with pytest.raises(SchemaError, match=r":1: field 'question' is missing"):
        load_jsonl(_write_lines(tmp_path, [json.dumps(d)]))

    d = _sample(3).to_dict(); d["colour"] = "red"
    with pytest.raises(SchemaError, match=r"unknown field\(s\) \['colour'\]"):
        load_jsonl(_write_lines(tmp_path, [json.dumps(d)]))

    with pytest.raises(SchemaError, match=r":1: expected a JSON object"):
        load_jsonl(_write_lines(tmp_path, ["[1, 2]"]))

    d = _sample(4).to_dict(); d["masklet"]["frame_indices"] = [0, 1.5, 2]
    with pytest.raises(SchemaError, match=r"masklet.frame_indices\[1\].*integer"):
        load_jsonl(_write_lines(tmp_path, [json.dumps(d)]))

    with pytest.raises(FileNotFoundError, match="no such JSONL"):
        load_jsonl(tmp_path / "missing.jsonl")


def test_save_is_atomic_and_append(tmp_path):
    p = tmp_path / "out" / "s.jsonl"
    save_jsonl([_sample(0)], p)
    save_jsonl([_sample(1)], p, append=True)
    assert [s.id for s in load_jsonl(p)] == ["s0", "s1"]
    assert not list(tmp_path.glob("out/*.tmp"))
