"""train.rehearsal: the base's pretraining examples mixed into SFT - seeded, saved inside the run, trained as the
episodes' replies, refused when they would teach the wrong region form."""

import json

import pytest

from seekerlite.train.collate import IGNORE_INDEX, ChatCollator
from seekerlite.train.rehearsal import parse_tasks, rehearsal_rows
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
    for bad in ("colour_at", "crop_read", "nope", ""):
        with pytest.raises(ValueError, match="rehearsal_tasks"):
            parse_tasks(bad)
    with pytest.raises(ValueError, match="rehearsal_tasks"):
        SFTRunConfig(rehearsal_share=0.5, rehearsal_tasks="crop_read")
    SFTRunConfig(rehearsal_tasks="crop_read")  # not drawn without a share: not checked
    with pytest.raises(ValueError, match="rehearsal_share"):
        SFTRunConfig(rehearsal_share=-1)


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
