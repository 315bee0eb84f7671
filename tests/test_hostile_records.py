"""Hostile records, configs and data specs: every one is refused at load, before any work, by an error that names
the file, the line and the field (issue 13, class 1: the "strict" loader accepted NaN / Infinity / negative spans,
negative frame indices, NaN timestamps, inverted / 3-number / NaN boxes; class 5: configs and specs that passed
silently or failed late)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hostile_common import tried
from hypothesis import given, settings
from hypothesis import strategies as st

from seekerlite.data import load_samples, parse_toy_spec
from seekerlite.pipeline.runner import (
    PipelineConfig,
    SourceConfig,
    load_config,
    run_pipeline,
)
from seekerlite.schema import Sample, SchemaError, from_dict, load_jsonl
from seekerlite.trajectory import load_chat_dataset


def _good() -> dict:
    return {"id": "s1", "video_path": "v.mp4", "question": "What colour is the marked shape?", "answer": "B",
            "options": ["red", "green"], "span": [1.0, 2.0],
            "visual_prompt": {"frame_index": 3, "timestamp": 0.3, "prompt_type": "rectangle", "box": [1, 2, 30, 40]},
            "masklet": {"instance_id": "o", "frame_indices": [2, 3], "boxes": [[1, 2, 30, 40], None],
                        "rles": [{"size": [48, 64], "counts": "abc"}, None]}}


DELETE = object()  # a value that removes the field


def _set(d: dict, path: str, value) -> dict:
    keys = path.split(".")
    for k in keys[:-1]:
        d = d[k]
    if value is DELETE:
        del d[keys[-1]]
    else:
        d[keys[-1]] = value
    return d


class Raw(str):
    """Raw JSON text for a field (NaN, Infinity, 1e999, 5000-digit integers: what json.dumps will not write)."""


# (field path, value, text the error's first line must contain besides the file and line)
FIELD_CASES = [
    ("span", Raw("[NaN, 2.0]"), "span[0]"), ("span", Raw("[0.0, Infinity]"), "span[1]"),
    ("span", Raw("[1.0, 1e999]"), "span[1]"), ("span", [-1.0, 2.0], "span[0]"), ("span", [3.0, 1.0], "span"),
    ("span", [1.0], "span"), ("span", [1.0, 2.0, 3.0], "span"), ("span", "soon", "span"), ("span", [True, 2.0], "span[0]"),
    ("visual_prompt.frame_index", -1, "visual_prompt.frame_index"), ("visual_prompt.frame_index", 1.5, "frame_index"),
    ("visual_prompt.frame_index", Raw("1" + "0" * 30), "visual_prompt.frame_index"),
    ("visual_prompt.frame_index", Raw("9" * 5000), "visual_prompt.frame_index"),
    ("visual_prompt.frame_index", True, "frame_index"), ("visual_prompt.frame_index", "3", "frame_index"),
    ("visual_prompt.timestamp", Raw("NaN"), "visual_prompt.timestamp"), ("visual_prompt.timestamp", -0.5, "timestamp"),
    ("visual_prompt.timestamp", Raw("-Infinity"), "visual_prompt.timestamp"), ("visual_prompt.timestamp", "soon", "timestamp"),
    ("visual_prompt.box", [1, 2, 3], "visual_prompt.box"), ("visual_prompt.box", [5, 5, 1, 1], "visual_prompt.box"),
    ("visual_prompt.box", Raw("[0, 0, NaN, 4]"), "visual_prompt.box[2]"),
    ("visual_prompt.box", Raw("[0, 0, 1e999, 4]"), "visual_prompt.box[2]"),
    ("visual_prompt.box", [-3, 0, 4, 4], "visual_prompt.box[0]"), ("visual_prompt.box", "0,0,4,4", "visual_prompt.box"),
    ("visual_prompt.box", [0, 0, 4, 4, 5], "visual_prompt.box"), ("visual_prompt.box", [0, 0, 0, 4], "visual_prompt.box"),
    ("visual_prompt.prompt_type", "hexagon", "prompt_type"),
    ("masklet.frame_indices", [-1, 3], "masklet.frame_indices[0]"), ("masklet.frame_indices", [3, 3], "frame_indices"),
    ("masklet.frame_indices", [1.5, 3], "masklet.frame_indices[0]"),
    ("masklet.boxes", [[0, 0, 1], None], "masklet.boxes[0]"), ("masklet.boxes", [[2, 2, 1, 1], None], "masklet.boxes[0]"),
    ("masklet.boxes", Raw("[[0, NaN, 1, 1], null]"), "masklet.boxes[0][1]"),
    ("masklet.rles", [{"size": [0, 5], "counts": "x"}, None], "masklet.rles[0]"),
    ("masklet.rles", ["x", None], "masklet.rles[0]"), ("masklet.rles", [{"size": [4, 5]}, None], "masklet.rles[0]"),
    ("options", ["only"], "options"), ("options", [1, 2], "options[0]"), ("options", [str(i) for i in range(11)], "options"),
    ("answer", "Z", "answer"), ("answer", "", "answer"), ("answer", "AB", "answer"),
    ("id", "", "id"), ("id", "x" * 600, "id"), ("id", 5, "id"),
    ("question", "", "question"), ("question", "   ", "question"), ("question", 7, "question"),
    ("question", DELETE, "question"), ("colour", "red", "colour"),
    ("provenance", Raw('{"score": NaN}'), "provenance.score"), ("extra", Raw('{"n": ' + "9" * 40 + "}"), "extra.n"),
    ("extra", Raw('{"deep": ' + "[" * 80 + "]" * 80 + "}"), "extra.deep"),
]


def _line(path: str, value) -> str:
    """One JSONL line: the good record with `path` set to `value` (a Raw value is spliced in as JSON text)."""
    d = _good()
    marker = "@@RAW@@"
    _set(d, path, marker if isinstance(value, Raw) else value)
    text = json.dumps(d)
    return text.replace(json.dumps(marker), value) if isinstance(value, Raw) else text


@pytest.mark.parametrize("path,value,field", FIELD_CASES, ids=[f"{p}={'<deleted>' if v is DELETE else str(v)[:24]}" for p, v, _ in FIELD_CASES])
def test_loader_refuses_a_hostile_field_naming_file_line_and_field(tmp_path, path, value, field):
    f = tmp_path / "s.jsonl"
    f.write_text(json.dumps(_good()) + "\n\n" + _line(path, value) + "\n")  # line 3 is the bad one
    with pytest.raises(SchemaError) as e:
        load_jsonl(f)
    first = str(e.value).splitlines()[0]
    assert first.startswith(f"{f}:3: ") and field in first, first


def test_the_good_record_and_friendly_encodings_load(tmp_path):
    f = tmp_path / "ok.jsonl"
    good = json.dumps(_good())
    f.write_bytes(b"\xef\xbb\xbf" + good.encode() + b"\r\n\r\n" + good.replace('"s1"', '"s2"').encode() + b"\r\n")
    assert [s.id for s in load_jsonl(f)] == ["s1", "s2"]  # a BOM, CRLF and blank lines are fine


@pytest.mark.parametrize("raw,match", [
    (b"\xff\xfe not utf-8\n", r":1: invalid UTF-8"),
    ('{"id": "s1", "question": "caf\u00e9?"}\n'.encode("latin-1"), r":1: invalid UTF-8"),
    (b"[" * 100_000 + b"\n", r":1: invalid JSON \(nested deeper"),
    (b'{"a": ' * 5000 + b"1" + b"}" * 5000 + b"\n", r":1: (invalid JSON \(nested deeper|field '.*nested deeper)"),
    (b"[1, 2]\n", r":1: expected a JSON object"), (b'"text"\n', r":1: expected a JSON object"),
    (b"null\n", r":1: expected a JSON object"), (b"{not json\n", r":1: invalid JSON"),
    (b'{"id": "a"} {"id": "b"}\n', r":1: invalid JSON"),
], ids=["bad-bytes", "latin-1", "deep-array", "deep-object", "list", "string", "null", "broken", "two-objects"])
def test_loader_refuses_hostile_lines(tmp_path, raw, match):
    f = tmp_path / "h.jsonl"
    f.write_bytes(raw)
    with pytest.raises(SchemaError, match=match) as e:
        load_jsonl(f)
    assert str(e.value).startswith(str(f))


def _numbers_ok(s: Sample) -> bool:
    """Every number a loaded Sample carries is finite and in range (what the loader promises)."""
    boxes = ([s.visual_prompt.box] if s.visual_prompt and s.visual_prompt.box else []) + \
        ([b for b in s.masklet.boxes if b is not None] if s.masklet else [])
    spans_ok = s.span is None or (len(s.span) == 2 and 0 <= s.span[0] <= s.span[1] < 1e18)
    boxes_ok = all(len(b) == 4 and 0 <= b[0] < b[2] < 1e18 and 0 <= b[1] < b[3] < 1e18 for b in boxes)
    vp = s.visual_prompt
    vp_ok = vp is None or ((vp.frame_index is None or 0 <= vp.frame_index < 10 ** 18) and
                           (vp.timestamp is None or 0 <= vp.timestamp < 1e18))
    return spans_ok and boxes_ok and vp_ok


NUMBER = st.floats() | st.integers(-10 ** 30, 10 ** 30) | st.booleans() | st.none()


@settings(max_examples=200, deadline=None)
@given(field=st.sampled_from(["span", "visual_prompt.box", "visual_prompt.timestamp", "visual_prompt.frame_index",
                              "masklet.frame_indices", "options"]),
       value=NUMBER | st.lists(NUMBER, max_size=5) | st.lists(st.lists(NUMBER, max_size=5), max_size=3))
def test_any_numbers_in_any_field_load_in_range_or_raise_schema_error(field, value):
    """Whatever numbers (NaN, Infinity, huge, negative, bools) land in a field, loading gives a Sample whose numbers
    are finite and in range, or a SchemaError; never another exception."""
    tried("records")
    d = _good()
    _set(d, field, value)
    try:
        s = from_dict(Sample, json.loads(json.dumps(d)))
    except SchemaError:
        return
    assert _numbers_ok(s), (field, value)


# ---------------------------------------------------------------------------------------------- configs

def _config(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "pipe.json"
    p.write_text(text)
    return p


CONFIG_CASES = [
    ("[1, 2]", "JSON object"), ('"demo"', "JSON object"), ("null", "JSON object"), ("{sources: 1", "invalid JSON"),
    ('{"sources": [{"kind": "toyworld", "n_clips": -3}]}', "sources[0].n_clips"),
    ('{"sources": [{"kind": "toyworld", "n_clips": 0}]}', "sources[0].n_clips"),
    ('{"sources": [{"kind": "toyworld", "forms": []}]}', "sources[0].forms"),
    ('{"sources": [{"kind": "toyworld", "forms": ["xx"]}]}', "sources[0].forms"),
    ('{"sources": [{"kind": "ftp"}]}', "sources[0].kind"), ('{"sources": [{"kind": "jsonl"}]}', "sources[0].path"),
    ('{"sources": []}', "sources"), ('{"sources": [{"kind": "toyworld", "max_samples": -1}]}', "max_samples"),
    ('{"sources": [{"kind": "toyworld", "seed": 1}, {"kind": "toyworld", "seed": 2, "name": "toyworld-seed1"}]}',
     "sources[1].name"),
    ('{"render": {"color": "chartreuse"}}', "render.color"), ('{"render": {"prompt_types": {"hexagon": 1}}}', "prompt_types"),
    ('{"render": {"prompt_types": {"point": 0}}}', "render.prompt_types"), ('{"render": {"keep_ratio": 2}}', "keep_ratio"),
    ('{"render": {"frame_choice": "random"}}', "frame_choice"), ('{"curate": {"k": 0}}', "curate.k"),
    ('{"curate": {"min_pass_rate": 2}}', "curate.min_pass_rate"), ('{"verify": {"min_fps": -1}}', "verify.min_fps"),
    ('{"verify": {"min_duration": 9, "max_duration": 1}}', "verify.max_duration"),
    ('{"masks": {"backend": "magic"}}', "masks"), ('{"filter": {"min_words": "four"}}', "filter.min_words"),
    ('{"curate": {"k": NaN}}', "curate.k"), ('{"curate": {"k": 1e999}}', "curate.k"), ('{"colour": 1}', "colour"),
    ('{"env": {"frames_per_call": 0}}', "frames_per_call"), ('{"synthesize": {"max_new_tokens": 0}}', "max_new_tokens"),
]


@pytest.mark.parametrize("text,field", CONFIG_CASES, ids=[t[:40] for t, _ in CONFIG_CASES])
def test_a_bad_config_is_refused_whole_naming_file_and_field(tmp_path, text, field):
    p = _config(tmp_path, text)
    with pytest.raises(SchemaError) as e:  # ConfigError is a SchemaError
        load_config(p)
    first = str(e.value).splitlines()[0]
    assert first.startswith(str(p)) and field in first, first


def test_a_config_path_that_is_a_folder_is_named(tmp_path):
    from seekerlite.pipeline.validate import ConfigError

    with pytest.raises(ConfigError, match=rf"{tmp_path}: is a folder"):
        load_config(tmp_path)


@pytest.mark.parametrize("until", ["stage9", "Stage1_filter", "", "rl "])
def test_unknown_until_is_refused_before_any_work(tmp_path, until):
    out = tmp_path / "run"
    with pytest.raises(SchemaError, match="unknown stage"):
        run_pipeline(PipelineConfig(sources=[SourceConfig("toyworld", n_clips=1)]), out, until=until, progress=False)
    assert not out.exists()  # nothing was written: no run.json, no toy world


@pytest.mark.parametrize("spec", ["toy:0", "toy:-3", "toy:abc", "toy:99999999", "toy@x", "toy:2@", "toy:1@99999999999"])
def test_bad_toy_specs_are_refused(spec):
    with pytest.raises(ValueError, match=repr(spec).replace("[", r"\[")):
        parse_toy_spec(spec)


def test_a_toy_world_of_other_families_has_its_own_folder_and_unknown_ones_are_refused(tmp_path):
    """``load_samples("toy:N@S", families=...)``: only those families are asked, in a folder of their own (never the
    default world's), and an unknown family is refused before anything is written."""
    plain, base = load_samples("toy:1@3", out_dir=tmp_path)
    tools, tbase = load_samples("toy:1@3", out_dir=tmp_path, families=("recolor", "exit_edge"))
    assert base.name == "toy-1-3" and tbase.name == "toy-1-3-recolor+exit_edge"
    assert {s.task for s in tools} <= {"recolor", "exit_edge"} and tools and not {s.task for s in plain} & {"recolor"}
    with pytest.raises(ValueError, match="unknown question families"):
        load_samples("toy:1@3", out_dir=tmp_path, families=("teleport",))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["toy-1-3", "toy-1-3-recolor+exit_edge"]


@pytest.mark.parametrize("content", ["", "\n\n  \n", "\ufeff\n"], ids=["empty", "blank", "bom-only"])
def test_an_empty_data_file_is_a_clear_error(tmp_path, content):
    """``grpo --data`` on an empty file said "Sample larger than population"; load_samples now names the file."""
    f = tmp_path / "rl.jsonl"
    f.write_text(content)
    with pytest.raises(SchemaError, match=rf"{f}: holds no samples"):
        load_samples(f)


# ---------------------------------------------------------------------------------------------- chat records (SFT data)

CHAT_CASES = [
    ({"id": 1}, "messages"), ({"messages": "hi"}, "messages"), ({"messages": []}, "messages"),
    ({"messages": [{"role": "robot", "content": "x"}]}, "messages[0].role"),
    ({"messages": [{"role": "assistant", "content": 5}]}, "messages[0].content"),
    ({"messages": [{"role": "user", "content": [{"type": "video", "video": "v.mp4"}]},
                   {"role": "assistant", "content": "x"}]}, "messages[0].content[0]"),
    ({"messages": [{"role": "user", "content": [{"type": "image", "image": "../../../etc/passwd"}]},
                   {"role": "assistant", "content": "x"}]}, "messages[0].content[0].image"),
    ({"messages": [{"role": "user", "content": [{"type": "image", "image": "/etc/hostname"}]},
                   {"role": "assistant", "content": "x"}]}, "messages[0].content[0].image"),
    ({"messages": [{"role": "user", "content": [{"type": "image", "image": "images/missing.png"}]},
                   {"role": "assistant", "content": "x"}]}, "messages[0].content[0].image"),
    ({"messages": [{"role": "assistant", "content": "x", "tool_calls": [{"function": "crop"}]}]}, "tool_calls[0]"),
    ({"messages": [{"role": "user", "content": "only a question"}]}, "no assistant turn"),
]


@pytest.mark.parametrize("record,field", CHAT_CASES, ids=[f for _, f in CHAT_CASES])
def test_chat_records_of_the_wrong_shape_fail_at_load(tmp_path, record, field):
    """Found only after the model loaded and training started, before; now at load (train_sft loads the data
    before the model)."""
    f = tmp_path / "sft.jsonl"
    f.write_text(json.dumps(record) + "\n")
    with pytest.raises(SchemaError) as e:
        load_chat_dataset(f, load_images=False)
    first = str(e.value).splitlines()[0]
    assert first.startswith(f"{f}:1: ") and field in first, first
