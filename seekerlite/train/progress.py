"""A calm terminal for training: one progress line per phase, the full per-step log in a file of the run folder.

    from seekerlite.train.progress import calm_trainer, quiet_libraries
    quiet_libraries(four_bit=False)                    # before the model loads: no loading bars, no bnb hints
    calm_trainer(trainer, "SFT", "runs/sft/train_log.jsonl")   # replaces TRL's printed dicts with one tqdm line

TRL/transformers print every logged dict (``{'loss': ..., 'grad_norm': ...}``) when their own progress bar is off
(``disable_tqdm=True``), and progress bars when it is on. ``calm_trainer`` removes both and adds
``CalmProgress``: one tqdm line for the phase (step N/M, the latest loss or reward, seconds) while every logged
dict goes, one JSON line each, to ``train_log.jsonl`` in the run folder (the same dicts the Trainer keeps in
``state.log_history``).
"""

from __future__ import annotations

import functools
import json
import logging
import os
import sys
import warnings
from pathlib import Path
from typing import Any

LOG_NAME = "train_log.jsonl"  # per-step log of a training run, in its output folder
SHOWN = {"loss": "loss", "reward": "reward", "rewards/accuracy/mean": "acc", "episode/tool_calls": "tools"}


REPORT_TO = {"none": None, "tensorboard": "tensorboard", "wandb": "wandb", "trackio": "trackio"}  # value -> package


def check_report_to(value: str) -> str:
    """`value` when it is a tracker TRL knows and its package imports; ValueError saying what to do otherwise.
    TensorBoard logs land in the run folder (``<output_dir>/runs/<date>_<host>/``, transformers' default)."""
    import importlib.util

    if value not in REPORT_TO:
        raise ValueError(f"--report-to {value!r}: want one of {list(REPORT_TO)}")
    pkg = REPORT_TO[value]
    if pkg is not None and importlib.util.find_spec(pkg) is None:
        raise ValueError(f"--report-to {value}: the {pkg} package is not installed (pip install {pkg})")
    return value


def quiet_libraries(four_bit: bool = False) -> None:
    """Silence what the libraries print that a user did not ask about: the weight-loading and shard-writing
    progress bars of transformers, bitsandbytes' CPU-kernel hint (kept when 4-bit was asked for), the
    transformers deprecation FutureWarnings about ``gradient_checkpointing`` names that TRL passes on."""
    if not four_bit:  # first: importing transformers' pieces may import bitsandbytes, which logs the hint then
        logging.getLogger("bitsandbytes").setLevel(logging.ERROR)
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    warnings.filterwarnings("ignore", message=r".*gradient_checkpointing.* is deprecated", category=FutureWarning)
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")


class CalmProgress:
    """One tqdm progress line for a training phase; each logged dict appended to a JSON-lines file.

    A ``transformers.TrainerCallback`` (made one by `calm_trainer`; this module imports no transformers itself, so
    that `check_report_to` and `quiet_libraries` run before anything loads)."""

    def __init__(self, phase: str, log_path: str | Path | None = None, file: Any = None) -> None:
        self.phase = phase
        self.log_path = Path(log_path) if log_path is not None else None
        self.file = file
        self.bar: Any = None
        self.shown: dict[str, str] = {}

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        from tqdm import (
            tqdm,  # text, not a notebook widget: committed notebook outputs show the bar
        )

        if state.is_world_process_zero:
            self.bar = tqdm(total=state.max_steps, initial=state.global_step, desc=self.phase, unit="step",
                            file=self.file or sys.stderr, dynamic_ncols=True, mininterval=1.0, leave=True)
        if self.log_path is not None and state.is_world_process_zero:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            if state.global_step == 0:  # a fresh run starts a fresh log; a resumed one appends to its own
                self.log_path.write_text("")

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.bar is not None:
            self.bar.update(state.global_step - self.bar.n)

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any) -> None:
        logs = dict(logs or {})
        if self.log_path is not None and state.is_world_process_zero:
            with self.log_path.open("a") as fh:
                fh.write(json.dumps({"step": state.global_step, **logs}, default=str) + "\n")
        for key, short in SHOWN.items():
            if isinstance(logs.get(key), (int, float)):
                self.shown[short] = f"{logs[key]:.3g}"
        if self.bar is not None and self.shown:
            self.bar.set_postfix(self.shown, refresh=False)

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.bar is not None:
            self.bar.update(state.global_step - self.bar.n)
            self.bar.close()
            self.bar = None


@functools.cache
def _callback_class() -> type:
    """CalmProgress as a subclass of transformers' TrainerCallback (every event the Trainer calls exists)."""
    from transformers import TrainerCallback

    return type("CalmProgressCallback", (CalmProgress, TrainerCallback), {})


def calm_trainer(trainer: Any, phase: str, log_path: str | Path | None = None) -> CalmProgress:
    """Replace the Trainer's printing callbacks (per-step dicts, its own bars) with one `CalmProgress` line."""
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    trainer.remove_callback(PrinterCallback)
    trainer.remove_callback(ProgressCallback)
    cb = _callback_class()(phase, log_path)
    trainer.add_callback(cb)
    return cb
