"""A skip marker for training steps under trl < 1.16 (the pinned [unsloth] stack, .ci/pinned): TRL's fused LM head
computes log-probs with a Triton-only kernel there, which cannot run on a CPU (trl 1.16 falls back to torch)."""

from __future__ import annotations

import importlib.metadata

import pytest
from packaging.version import Version

TRL_STEPS_RUN_ON_CPU = Version(importlib.metadata.version("trl")) >= Version("1.16")
CPU_STEPS = pytest.mark.skipif(not TRL_STEPS_RUN_ON_CPU, reason=(
    "trl < 1.16 (the pinned [unsloth] stack): SFTTrainer/GRPOTrainer training steps go through the fused LM head, "
    "whose log-prob kernel (trl/kernels/chunked_logprob.py) is Triton-only and cannot run on a CPU"))
