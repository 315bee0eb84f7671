"""train.rehearsal: the base's pretraining examples mixed into SFT - seeded, saved inside the run, trained as the
episodes' replies, refused when they would teach the wrong region form."""

import json

import pytest

from seekerlite.train.collate import IGNORE_INDEX, ChatCollator
from seekerlite.train.rehearsal import episode_form, parse_tasks, rehearsal_rows
from seekerlite.train.sft import SFTRunConfig, train_sft


@pytest.fixture(scope="module")
def processor():
    from seekerlite.models import load_student

    return load_student("tiny", inference=True).processor


def test_rows_are_seeded_saved_inside_and_trained_on_the_reply(tmp_path, processor):
    a = rehearsal_rows("cell,colour_crop", 12, seed=3, out_dir=tmp_path / "a")
    b = rehearsal_rows(["cell", "colour_crop"], 12, seed=3, out_dir=tmp_path / "b")
    other = rehearsal_rows("cell,colour_crop", 12, seed=4, out_dir=tmp_path / "c")
    assert [r["id"] for r in a] == [r["id"] for r in b] and len({r["id"] for r in a}) == 12
    assert {r["id"].split(":")[1] for r in a} == {"cell", "colour_crop"}
    texts = [[p.get("text") for m in json.loads(r["messages_json"]) if isinstance(m["content"], list)
              for p in m["content"]] for r in a]
    assert texts == [[p.get("text") for m in json.loads(r["messages_json"]) if isinstance(m["content"], list)
                      for p in m["content"]] for r in b]
    assert [r["messages_json"] for r in other] != [r["messages_json"].replace("/a/", "/c/") for r in a]
    for r in a:
        for m in json.loads(r["messages_json"]):
            for p in m["content"] if isinstance(m["content"], list) else []:
                if p["type"] == "image":  # a relative path inside the run's folder
                    assert not p["image"].startswith("/") and (tmp_path / "a" / p["image"]).is_file()
    batch = ChatCollator(processor)(a[:4])
    for row, r in zip(batch["labels"], a[:4], strict=True):
        trained = processor.tokenizer.decode(row[row != IGNORE_INDEX])
        answer = json.loads(r["messages_json"])[-1]["content"]
        assert trained.startswith(answer) and "Question" not in trained


def test_tasks_are_checked_before_a_model_loads():
    assert parse_tasks(" cell , colour_crop ") == ["cell", "colour_crop"]
    assert parse_tasks("crop_read") == ["crop_read"]  # its regions are cells: rehearsed in the episode form
    for bad in ("colour_at", "nope", ""):
        with pytest.raises(ValueError, match="rehearsal_tasks"):
            parse_tasks(bad)
    with pytest.raises(ValueError, match="rehearsal_tasks"):
        SFTRunConfig(rehearsal_share=0.5, rehearsal_tasks="cell,colour_at")
    SFTRunConfig(rehearsal_tasks="colour_at")  # not drawn without a share: not checked
    with pytest.raises(ValueError, match="rehearsal_share"):
        SFTRunConfig(rehearsal_share=-1)


def test_crop_read_is_rehearsed_as_an_episode_writes_its_crop(tmp_path, processor):
    import re

    import numpy as np

    from seekerlite.config import EnvConfig
    from seekerlite.env import _region_to_pixels
    from seekerlite.models.pretrain_tasks import PRETRAIN_TASKS, pretrain_seed
    from seekerlite.policies.scripted import look_think
    from seekerlite.regions import parse_cell
    from seekerlite.toyworld import ToyWorldConfig, generate_clip

    rows = rehearsal_rows("crop_read", 6, seed=0, out_dir=tmp_path)
    for r in rows:
        user, call, tool, reply = json.loads(r["messages_json"])
        think = re.fullmatch(r"<think>(.*)</think>", call["content"]).group(1)
        region = call["tool_calls"][0]["function"]["arguments"]["region"]
        cell = parse_cell(region)
        assert region == " " + cell and f"Look at the {cell} cell" in user["content"][0]["text"]
        assert look_think("center" if cell != "center" else "top", cell).endswith(think)  # the oracle's words
        head = tool["content"][0]["text"]
        px = json.loads(re.search(r"\(pixels (\[.*?\])\)", head).group(1))
        assert f"region {cell} (pixels" in head and px == _region_to_pixels(region, 320, 240, EnvConfig().min_region_size)
        assert reply["content"].startswith("<think>From the frames I saw:")
    labels = ChatCollator(processor)(rows[:1])["labels"][0]
    trained = processor.tokenizer.decode(labels[labels != IGNORE_INDEX])
    assert trained.startswith(json.loads(rows[0]["messages_json"])[-1]["content"])  # the answer after the crop
    assert "look closer" not in trained and "crop_video" not in trained  # the call is context (weight 0)
    assert "frames from" not in trained and "Question" not in trained  # so are the tool text and the question
    rng = np.random.default_rng(0)
    ex = next(e for k in range(50) if (e := PRETRAIN_TASKS["colour_at"](
        generate_clip(ToyWorldConfig(), pretrain_seed("train", k)), rng)) is not None)
    with pytest.raises(ValueError, match="not a grid cell"):
        episode_form(ex.messages)  # an object-centred box has no named form


def test_sft_run_mixes_the_rows_in(tmp_path):
    import torch

    torch.set_num_threads(1)
    from seekerlite.config import EnvConfig

    env = EnvConfig(overview_frames=2, frames_per_call=2, min_frames_per_call=2)
    out = tmp_path / "run"
    s = train_sft(SFTRunConfig(toy_clips=1, env=env, output_dir=str(out), max_steps=2, save_steps=100,
                               rehearsal_share=0.5))
    plain = len((out / "data" / "sft.jsonl").read_text().splitlines())
    assert s["episodes"] == plain + round(0.5 * plain) and s["steps"] == 2
    assert any((out / "rehearsal" / "images").iterdir())
    assert json.loads((out / "run.json").read_text())["config"]["rehearsal_share"] == 0.5
