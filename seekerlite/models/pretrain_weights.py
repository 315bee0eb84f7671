"""The shipped perception-pretrained weights of the tiny student: where they are, their hash, and loading them.

    path = ensure_pretrained_tiny_model()      # cache folder: the tiny model with the shipped pretrained weights
    info = check_shipped()                     # the recorded config/hash, after checking the file matches it
    ship("runs/pretrain")                      # copy a pretraining run's weights and log into the package

``model_id="tiny"`` loads the pretrained base (``ensure_pretrained_tiny_model``), ``"tiny-random"`` the random-init
one (``tiny.ensure_tiny_model``). The weights are only the tensors (``model.safetensors``); the tokenizer, processor
and config are rebuilt by ``build_tiny_model`` (deterministic), and a vocabulary digest recorded at shipping time
makes sure the rebuilt tokenizer is the one the weights were trained with.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import uuid
from datetime import UTC
from pathlib import Path
from typing import Any

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
WEIGHTS_FILE = "tiny-pretrained.safetensors"  # the model's tensors, float32
INFO_FILE = "tiny-pretrained.json"  # sha256, pretraining config, vocabulary digest, final accuracies, machine
LOG_FILE = "tiny-pretrained-log.json"  # the whole training log (loss and held-out accuracy curves)
CURVES_FILE = "tiny-pretrained-curves.png"


def sha256_file(path: str | Path) -> str:
    """The hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def vocab_digest(tokenizer: Any) -> str:
    """A digest of a tokenizer's vocabulary (token -> id): the weights' embedding rows follow it."""
    items = sorted(tokenizer.get_vocab().items(), key=lambda kv: kv[1])
    return hashlib.sha256(json.dumps(items, ensure_ascii=False).encode()).hexdigest()


def shipped_info(weights_dir: str | Path = WEIGHTS_DIR) -> dict[str, Any]:
    """The recorded facts about the shipped weights (``tiny-pretrained.json``)."""
    path = Path(weights_dir) / INFO_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: the package ships no pretrained tiny weights; build them with "
                                "`seekerlite build-tiny-model --pretrain --ship`, or use --model tiny-random")
    return json.loads(path.read_text(encoding="utf-8"))


def check_shipped(weights_dir: str | Path = WEIGHTS_DIR) -> dict[str, Any]:
    """``shipped_info`` after checking the weights file's sha256 against it; ValueError naming the file if not."""
    info = shipped_info(weights_dir)
    path = Path(weights_dir) / WEIGHTS_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing (its record {Path(weights_dir) / INFO_FILE} is there)")
    digest = sha256_file(path)
    if digest != info.get("sha256"):
        raise ValueError(f"{path}: sha256 {digest[:12]}... does not match the recorded {str(info.get('sha256'))[:12]}... "
                         f"in {INFO_FILE}; the file is damaged or was replaced without `--ship`")
    return info


def pretrained_model_dir(weights_dir: str | Path = WEIGHTS_DIR) -> Path:
    """The cache folder of the pretrained tiny model: the random model's folder name plus the weights' hash."""
    from seekerlite.models.tiny import tiny_model_dir

    info = shipped_info(weights_dir)
    base = tiny_model_dir(int(info.get("base_seed", 0)))
    return base.parent / f"{base.name}-pretrained-{info['sha256'][:10]}"


def ensure_pretrained_tiny_model(weights_dir: str | Path = WEIGHTS_DIR) -> Path:
    """The pretrained tiny model's cache folder, made on first use from the random one and the shipped tensors.

    The folder appears atomically (safe with parallel workers). Raises ValueError when the file does not match its
    hash or the rebuilt tokenizer's vocabulary is not the one the weights were trained with.
    """
    from seekerlite.models.tiny import build_tiny_model, publish_folder

    out = pretrained_model_dir(weights_dir)
    if (out / "model.safetensors").exists():
        return out
    info = check_shipped(weights_dir)
    base = build_tiny_model(seed=int(info.get("base_seed", 0)))
    from transformers import AutoTokenizer

    digest = vocab_digest(AutoTokenizer.from_pretrained(base))
    if digest != info.get("vocab_sha256"):
        raise ValueError(f"{Path(weights_dir) / INFO_FILE}: the weights were trained with another tokenizer "
                         f"(vocabulary {str(info.get('vocab_sha256'))[:12]}..., rebuilt {digest[:12]}...; TRL's chat "
                         "template or the word list changed); re-derive them with `seekerlite build-tiny-model "
                         "--pretrain --ship`, or use --model tiny-random")
    tmp = out.parent / f".{out.name}.tmp-{uuid.uuid4().hex[:8]}"
    try:
        shutil.copytree(base, tmp)
        shutil.copyfile(Path(weights_dir) / WEIGHTS_FILE, tmp / "model.safetensors")
        build = json.loads((tmp / "seekerlite_build.json").read_text())
        build["pretrained"] = {k: info[k] for k in ("sha256", "final_accuracy", "wall_seconds") if k in info}
        (tmp / "seekerlite_build.json").write_text(json.dumps(build, indent=1))
        publish_folder(tmp, out, "model.safetensors")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def ship(run_dir: str | Path, weights_dir: str | Path = WEIGHTS_DIR, command: str = "") -> dict[str, Any]:
    """Copy a pretraining run (``pretrain``'s folder) into `weights_dir`: the tensors, their record, log and curves."""
    from datetime import datetime

    from transformers import AutoTokenizer

    run, dest = Path(run_dir), Path(weights_dir)
    log = json.loads((run / "pretrain_log.json").read_text(encoding="utf-8"))
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(run / "model" / "model.safetensors", dest / WEIGHTS_FILE)
    shutil.copyfile(run / "pretrain_log.json", dest / LOG_FILE)
    if (run / "pretrain_curves.png").exists():
        shutil.copyfile(run / "pretrain_curves.png", dest / CURVES_FILE)
    info = {"sha256": sha256_file(dest / WEIGHTS_FILE), "bytes": (dest / WEIGHTS_FILE).stat().st_size,
            "base_seed": int(log["config"]["seed"]), "config": log["config"],
            "vocab_sha256": vocab_digest(AutoTokenizer.from_pretrained(run / "model")),
            "final_accuracy": log["final_accuracy"], "chance": log["chance"], "wall_seconds": log["wall_seconds"],
            "versions": log.get("versions", {}), "machine": machine_text(), "command": command,
            "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")}
    (dest / INFO_FILE).write_text(json.dumps(info, indent=1) + "\n", encoding="utf-8")
    return info


def machine_text() -> str:
    """'Linux x86_64, 2 CPU cores, Python 3.11.9' (for records of where a number was measured)."""
    return f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPU cores, Python {platform.python_version()}"
