"""Perception pretraining of the tiny student: its data, its batches, its curriculum, and the shipped weights."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from seekerlite.data import MAX_TOY_CLIPS
from seekerlite.models.compat import processor_call_kwargs
from seekerlite.models.pretrain import (
    PretrainCollator,
    PretrainConfig,
    answer_loss,
    draw_example,
    pretrain,
    stage_tasks,
)
from seekerlite.models.pretrain_tasks import (
    EVAL_CLIPS_PER_WORLD,
    PRETRAIN_TASKS,
    pretrain_seed,
)
from seekerlite.models.pretrain_weights import (
    INFO_FILE,
    WEIGHTS_DIR,
    WEIGHTS_FILE,
    check_shipped,
    ensure_pretrained_tiny_model,
    vocab_digest,
)
from seekerlite.toyworld import ToyWorldConfig, generate_clip


@pytest.fixture(scope="module")
def processor():
    from transformers import AutoProcessor

    from seekerlite.models import ensure_tiny_model

    return AutoProcessor.from_pretrained(ensure_tiny_model())


def test_pretraining_seeds_are_never_evaluation_seeds():
    assert EVAL_CLIPS_PER_WORLD == MAX_TOY_CLIPS  # toy spec "toy:N@S" uses seeds S * 100_000 + k, k < MAX_TOY_CLIPS
    seeds = {pretrain_seed(split, k) for split in ("train", "held_out") for k in (0, 1, 9_999, 10_000, 39_999, 10**6)}
    assert all(s % 100_000 >= MAX_TOY_CLIPS for s in seeds)
    train = {pretrain_seed("train", k) for k in range(0, 200_000, 997)}
    held = {pretrain_seed("held_out", k) for k in range(0, 50_000, 991)}
    assert not train & held
    with pytest.raises(ValueError, match="split"):
        pretrain_seed("eval", 0)


def test_collator_gives_the_processors_ids_and_labels_only_the_answer(processor):
    clips = [generate_clip(ToyWorldConfig(), pretrain_seed("held_out", 9_000 + k)) for k in range(2)]
    rng = np.random.default_rng(3)
    examples = [draw_example(clips, [t], rng) for t in PRETRAIN_TASKS for _ in range(2)]
    batch = PretrainCollator(processor)(examples)
    processor.tokenizer.padding_side = "right"
    ref = processor.apply_chat_template([e.messages for e in examples], tokenize=True, return_dict=True,
                                        return_tensors="pt", **processor_call_kwargs(processor, padding=True))
    for key in ("input_ids", "attention_mask", "pixel_values", "image_grid_thw"):
        assert torch.equal(batch[key], ref[key]), key
    if "mm_token_type_ids" in ref:
        assert torch.equal(batch["mm_token_type_ids"], ref["mm_token_type_ids"])
    for row, ex in zip(batch["labels"], examples, strict=True):
        text = processor.tokenizer.decode(row[row != -100])  # the phrase seen (in the think), then the answer
        squeeze = lambda x: "".join(c for c in x if c not in " >.")  # noqa: E731 - token edges may hold these
        want = ex.answer if ex.seen_given else (ex.seen or ex.answer) + ex.answer  # a given phrase is not trained
        assert squeeze(text) == squeeze(want), (ex.task, text)


def test_a_text_only_batch_has_no_pixels_and_the_letter_text_task_is_the_letter_task_without_its_image(processor):
    clip = generate_clip(ToyWorldConfig(), pretrain_seed("held_out", 9_100))
    text = PRETRAIN_TASKS["letter_text"](clip, np.random.default_rng(5))
    image = PRETRAIN_TASKS["letter"](clip, np.random.default_rng(5))  # the same draws
    assert (text.answer, text.seen, text.seen_given, text.view) == (image.answer, image.seen, True, "text")
    parts = [c for m in image.messages if isinstance(m["content"], list) for c in m["content"]]
    assert [c for c in parts if c["type"] != "image"] == [c for m in text.messages if isinstance(m["content"], list)
                                                          for c in m["content"]]
    batch = PretrainCollator(processor)([text, text])
    assert "pixel_values" not in batch and "image_grid_thw" not in batch
    ref = processor.tokenizer.apply_chat_template(text.messages, tokenize=False)
    assert batch["input_ids"][0].tolist() == processor.tokenizer(ref, add_special_tokens=False)["input_ids"]
    label = processor.tokenizer.decode(batch["labels"][0][batch["labels"][0] != -100])
    assert label.strip(" >") == text.answer  # only the letter (a token edge may hold the tag's ">")


def test_curriculum_spec_is_checked_and_stages_replay_earlier_tasks():
    stages = PretrainConfig(stages="colour:10, shape+cell:5").parsed_stages()
    assert stages == [(["colour"], 10), (["shape", "cell"], 5)]
    assert stage_tasks(stages, 9) == (0, ["colour"], [])
    assert stage_tasks(stages, 10) == (1, ["shape", "cell"], ["colour"])
    for bad in ("colour", "colour:0", "colour:x", "texture:10", ":5"):
        with pytest.raises(ValueError, match="PretrainConfig.stages"):
            PretrainConfig(stages=bad).parsed_stages()
    with pytest.raises(ValueError, match="PretrainConfig.position_code"):
        PretrainConfig(position_code="rope").parsed_stages()
    for bad in ("colour:5@0", "colour:5@1.5", "colour:5@x"):
        with pytest.raises(ValueError, match="SHARE"):
            PretrainConfig(stages=bad).parsed_stages()
    assert PretrainConfig(stages="colour:5@", new_task_share=0.3).stage_shares() == [0.3]  # empty: the default


def test_a_stage_share_sets_how_many_examples_are_its_new_tasks():
    """``TASK:STEPS@SHARE``: that stage draws SHARE of its examples from its own tasks, the others new_task_share."""
    from seekerlite.models.pretrain_data import PretrainStream

    cfg = PretrainConfig(stages="colour_crop:2,letter:25@0.9,crop_read:25", new_task_share=0.4, clip_pool=2,
                         per_device_train_batch_size=16)
    assert cfg.parsed_stages() == [(["colour_crop"], 2), (["letter"], 25), (["crop_read"], 25)]
    assert cfg.stage_shares() == [0.4, 0.9, 0.4]
    stream = PretrainStream.__new__(PretrainStream)  # no processor: collate to the tasks drawn, not tensors
    stream.cfg, stream.collate = cfg, lambda batch: [ex.task for ex in batch]
    batches = list(stream)
    letter = np.mean([t == "letter" for b in batches[2:27] for t in b])
    crop_read = np.mean([t == "crop_read" for b in batches[27:] for t in b])
    assert 0.84 < letter < 0.96 and 0.32 < crop_read < 0.48, (letter, crop_read)


def test_cell_alone_leaves_only_the_marked_object_and_its_mark():
    """For the same draw (the same rng state) it asks what the cell task asks, on the same frame with fewer
    colours left in it: the other objects are painted over."""
    clip = generate_clip(ToyWorldConfig(), pretrain_seed("train", 3))
    n = 0
    for k in range(30):
        alone = PRETRAIN_TASKS["cell_alone"](clip, np.random.default_rng(k))
        if alone is None:
            continue
        full = PRETRAIN_TASKS["cell"](clip, np.random.default_rng(k))
        assert full is not None and alone.answer == full.answer
        img = np.asarray(next(p["image"] for p in alone.messages[0]["content"] if p["type"] == "image"))
        colours = {tuple(c) for c in img.reshape(-1, 3)}
        others = {tuple(c) for c in np.asarray(next(
            p["image"] for p in full.messages[0]["content"] if p["type"] == "image")).reshape(-1, 3)}
        assert len(colours) < len(others)  # objects were painted over
        n += 1
    assert n >= 10


def test_a_short_run_is_deterministic_and_writes_its_log(tmp_path):
    cfg = PretrainConfig(stages="colour:2,shape:1", eval_per_task=2, eval_every=2, warmup_steps=1, clip_pool=2)
    logs = [pretrain(cfg, tmp_path / name, log_every=1) for name in ("a", "b")]
    from safetensors.torch import load_file

    a, b = (load_file(tmp_path / n / "model" / "model.safetensors") for n in ("a", "b"))
    assert all(torch.equal(a[k], b[k]) for k in a)
    log = json.loads((tmp_path / "a" / "pretrain_log.json").read_text())
    assert [e["step"] for e in log["eval"]] == [2, 3] and [r["step"] for r in log["train"]] == [1, 2, 3]
    assert set(log["final_accuracy"]) >= {"colour", "shape"} and log == json.loads(json.dumps(logs[0]))
    assert (tmp_path / "a" / "pretrain_curves.png").stat().st_size > 10_000


def test_shipped_weights_match_their_record_and_config():
    info = check_shipped()
    assert info["config"] == json.loads(json.dumps(PretrainConfig().__dict__))  # the default recipe made them
    assert (WEIGHTS_DIR / WEIGHTS_FILE).stat().st_size == info["bytes"]
    from transformers import AutoTokenizer

    folder = ensure_pretrained_tiny_model()
    assert vocab_digest(AutoTokenizer.from_pretrained(folder)) == info["vocab_sha256"]


def test_damaged_weights_are_refused(tmp_path):
    shutil.copytree(WEIGHTS_DIR, tmp_path / "w")
    data = bytearray((tmp_path / "w" / WEIGHTS_FILE).read_bytes())
    data[-1] ^= 1
    (tmp_path / "w" / WEIGHTS_FILE).write_bytes(bytes(data))
    with pytest.raises(ValueError, match="does not match"):
        check_shipped(tmp_path / "w")
    (tmp_path / "w" / INFO_FILE).unlink()
    with pytest.raises(FileNotFoundError, match="tiny-random"):
        check_shipped(tmp_path / "w")


def test_shipped_base_perceives_colour_and_the_random_one_does_not(processor):
    """64 colour questions on object-centred crops of held-out clips: the pretrained base reads them."""
    from transformers import Qwen3VLForConditionalGeneration

    from seekerlite.models import resolve_model_path

    clips = [generate_clip(ToyWorldConfig(), pretrain_seed("held_out", 9_500 + k)) for k in range(8)]
    rng = np.random.default_rng(0)
    examples = []
    while len(examples) < 64:
        ex = draw_example(clips, ["colour"], rng)
        if ex.view == "crop":
            examples.append(ex)
    batch = PretrainCollator(processor)(examples)
    accuracy = {}
    for name in ("tiny-pretrained", "tiny-random"):
        model = Qwen3VLForConditionalGeneration.from_pretrained(resolve_model_path(name)).eval()
        with torch.no_grad():
            accuracy[name] = float(answer_loss(model, batch)[1].float().mean())
    assert resolve_model_path("tiny-pretrained") != resolve_model_path("tiny-random")
    assert resolve_model_path("tiny") == resolve_model_path("tiny-random")  # the default stays random-init
    # chance: 0.2 (5 colours); a constant guess scores the share of one colour among the 64 (~0.2-0.35)
    assert accuracy["tiny-pretrained"] >= 0.6 and accuracy["tiny-pretrained"] - accuracy["tiny-random"] >= 0.3, accuracy


def test_recentring_the_vocabulary_changes_no_softmax_and_removes_the_shared_drift():
    """``recenter_rows`` takes one shared vector off every row of the tied vocabulary: the LM head's softmax is the
    same for any hidden state, and the rows' mean is back at its init value (so, as inputs, rows stay distinct)."""
    from seekerlite.models.pretrain import recenter_rows

    g = torch.Generator().manual_seed(0)
    init = torch.randn(50, 16, generator=g) * 0.2
    rows = init + torch.randn(50, 16, generator=g) * 0.05 + 3.0 * torch.randn(16, generator=g)  # a big shared drift
    hidden = torch.randn(7, 16, generator=g)
    before = torch.softmax(hidden @ rows.T, -1)
    recenter_rows(rows, init.mean(0))
    assert torch.allclose(torch.softmax(hidden @ rows.T, -1), before, atol=1e-5)
    assert torch.allclose(rows.mean(0), init.mean(0), atol=1e-6)
    assert (rows - init).norm(dim=1).mean() < 0.3  # only the per-row part (norm ~0.2) is left of a drift of ~12


def test_the_shipped_vocabulary_carries_no_shared_drift():
    """The shipped weights were pretrained with ``center_embeddings``: their tied rows' mean is the random init's
    (the drift that made SFT fail on the first shipped base was almost all one shared vector, 10x the rows' norm)."""
    from safetensors.torch import load_file

    from seekerlite.models.pretrain_weights import WEIGHTS_DIR, WEIGHTS_FILE
    from seekerlite.models.tiny import ensure_tiny_model

    key = "model.language_model.embed_tokens.weight"
    shipped = load_file(str(WEIGHTS_DIR / WEIGHTS_FILE))[key]
    init = next(t[key] for f in sorted(ensure_tiny_model().glob("*.safetensors")) if key in (t := load_file(str(f))))
    shared = (shipped - init).mean(0).norm()
    assert shared < 0.05 * init.norm(dim=1).mean(), float(shared)


def test_sinusoid_positions_give_the_vision_tower_a_position_code():
    """The real tiny model: after ``sinusoid_positions`` the same patch at two places of an image gets different
    vision features (with the table zeroed, a uniform image's tokens would be alike), and the model still runs."""
    from transformers import AutoProcessor, Qwen3VLForConditionalGeneration

    from seekerlite.models import ensure_tiny_model
    from seekerlite.models.positions import sinusoid_positions

    path = ensure_tiny_model()
    model = Qwen3VLForConditionalGeneration.from_pretrained(path, dtype=torch.float32).eval()
    proc = AutoProcessor.from_pretrained(path)
    img = np.full((96, 128, 3), 120, np.uint8)  # uniform: only the position table tells its tokens apart
    px = proc.image_processor(images=[img], return_tensors="pt")

    def spread() -> float:
        with torch.no_grad():
            feats = model.model.visual(px["pixel_values"], grid_thw=px["image_grid_thw"]).pooler_output  # (12, H)
        return float((feats - feats.mean(0)).norm(dim=-1).mean() / feats.norm(dim=-1).mean())

    with torch.no_grad():
        model.model.visual.pos_embed.weight.zero_()
    assert spread() < 1e-4
    sinusoid_positions(model)
    w = model.model.visual.pos_embed.weight
    assert len({tuple(r.tolist()) for r in w}) == w.shape[0]
    assert spread() > 0.05
    with pytest.raises(ValueError, match="grid"):
        bad = Qwen3VLForConditionalGeneration.from_pretrained(path, dtype=torch.float32)
        bad.model.visual.pos_embed = torch.nn.Embedding(15, 64)
        sinusoid_positions(bad)


def test_position_keeper_holds_the_table_at_the_patch_features_scale():
    """The table starts at ratio x the patch features' norm, stops training, and follows the patch features when
    they grow (here: the patch projection scaled 10x, as pretraining's AdamW grows it); close() unhooks it."""
    from transformers import AutoProcessor, Qwen3VLForConditionalGeneration

    from seekerlite.models import ensure_tiny_model
    from seekerlite.models.positions import PositionKeeper

    path = ensure_tiny_model()
    model = Qwen3VLForConditionalGeneration.from_pretrained(path, dtype=torch.float32)
    visual = model.model.visual
    px = AutoProcessor.from_pretrained(path).image_processor(
        images=[np.random.default_rng(0).integers(0, 255, (96, 128, 3), dtype=np.uint8)], return_tensors="pt")
    keeper = PositionKeeper(model, ratio=0.5)
    table = lambda: float(visual.pos_embed.weight.norm(dim=1).mean())  # noqa: E731
    patches = lambda: float(visual.patch_embed(px["pixel_values"]).norm(dim=1).mean())  # noqa: E731
    assert not visual.pos_embed.weight.requires_grad
    with torch.no_grad():
        assert 1 / 3 < table() / (0.5 * patches()) < 3  # from the probe batch, before any image
        visual(px["pixel_values"], grid_thw=px["image_grid_thw"])
        keeper.step()
        before = table()
        assert before == pytest.approx(0.5 * patches(), rel=1e-4)
        visual.patch_embed.proj.weight.mul_(10)
        visual.patch_embed.proj.bias.mul_(10)
        visual(px["pixel_values"], grid_thw=px["image_grid_thw"])
        keeper.step()
        assert table() == pytest.approx(10 * before, rel=1e-3)
        keeper.close()
        visual.patch_embed.proj.weight.mul_(0.1)
        visual(px["pixel_values"], grid_thw=px["image_grid_thw"])
        keeper.step()  # unhooked: it no longer sees the smaller features
        assert table() == pytest.approx(10 * before, rel=1e-3)
    with pytest.raises(ValueError, match="ratio"):
        PositionKeeper(model, ratio=0)
