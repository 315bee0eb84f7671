"""One policy factory with one spec grammar, used by ``seekerlite episode``, evaluation, SFT synthesis (the
teacher) and RL curation (the rollout policy).

    policy, env = make_policy("no-tool:runs/sft", EnvConfig())   # the SFT student answering without tools
    policy, env = make_policy("http://localhost:8000/v1#Qwen/Qwen3-VL-8B-Instruct", EnvConfig())

Specs (``POLICY_HELP``): ``oracle`` | ``random`` | ``noisy-oracle:P`` (the oracle's calls, right with probability
P) | ``no-tool[:SPEC]`` (SPEC, default ``tiny``, answering from the first turn alone: the env gets no tool
rounds; ``no-tool:random`` is a uniform guess) | ``oracle-look:SPEC`` (the oracle's crop, then SPEC answers: its
perception given the right look) | ``tiny`` | ``tiny-random`` | a run folder, LoRA adapter folder
or model folder (``models.load_trained``) | a hub id | ``http(s)://host/v1#MODEL`` (an OpenAI-compatible
endpoint; the key comes from $OPENAI_API_KEY).
"""

from __future__ import annotations

import os

from seekerlite.config import EnvConfig, StudentConfig, no_tool_env
from seekerlite.policies.loop import Policy
from seekerlite.policies.scripted import (
    NoisyOraclePolicy,
    OracleLookPolicy,
    OraclePolicy,
    RandomPolicy,
)

POLICY_HELP = ("oracle | random | noisy-oracle:P | no-tool[:SPEC] | oracle-look:SPEC | tiny | tiny-random | tiny-pretrained | a run, adapter or model "
               "folder | a hub id | http(s)://host/v1#MODEL (an OpenAI-compatible endpoint)")


WRAPPERS = ("no-tool:", "oracle-look:")  # specs that wrap another spec


def inner_spec(spec: str) -> str:
    """The spec a ``no-tool:`` / ``oracle-look:`` spec wraps (where its weights come from); `spec` otherwise.

    >>> inner_spec("oracle-look:runs/grpo"), inner_spec("no-tool:runs/sft"), inner_spec("runs/sft")
    ('runs/grpo', 'runs/sft', 'runs/sft')
    """
    return spec.partition(":")[2] if spec.startswith(WRAPPERS) else spec


def make_policy(spec: str, env: EnvConfig | None = None, *, student: StudentConfig | None = None, seed: int = 0,
                max_new_tokens: int = 128, do_sample: bool = False, temperature: float = 1.0,
                base_model: str | None = None) -> tuple[Policy, EnvConfig]:
    """(policy, the environment it runs in) from a spec (see the module docstring).

    Args:
        spec: the policy.
        env: the environment; ``no-tool:`` specs get a copy without tool rounds.
        student: how to load a model spec (backend, 4-bit, device); default: the run's own, else the preset.
        seed: seeds scripted policies.
        max_new_tokens: per model reply.
        do_sample, temperature: sample model replies (RL curation needs rollouts that differ).
        base_model: the base of an adapter folder, when not the one it records.
    """
    env = env or EnvConfig()
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"a policy spec must be a non-empty string ({POLICY_HELP}), got {spec!r}")
    if spec == "no-tool" or spec.startswith("no-tool:"):
        inner = spec.partition(":")[2] or "tiny"
        if inner == "random":
            policy: Policy = RandomPolicy(seed=seed, p_answer=1.0)
        else:
            policy, _ = make_policy(inner, env, student=student, seed=seed, max_new_tokens=max_new_tokens,
                                    do_sample=do_sample, temperature=temperature, base_model=base_model)
        policy.name = f"no-tool:{inner}"
        return policy, no_tool_env(env)
    if spec.startswith("oracle-look:"):
        inner, _ = make_policy(spec.partition(":")[2], env, student=student, seed=seed, max_new_tokens=max_new_tokens,
                               do_sample=do_sample, temperature=temperature, base_model=base_model)
        return OracleLookPolicy(inner, seed=seed), env
    if spec == "oracle":
        return OraclePolicy(seed=seed), env
    if spec == "random":
        return RandomPolicy(seed=seed), env
    if spec.startswith("noisy-oracle"):
        p = spec.partition(":")[2]
        try:
            return NoisyOraclePolicy(float(p) if p else 0.5, seed=seed), env
        except ValueError as e:
            raise ValueError(f"policy {spec!r}: want noisy-oracle:P with P in [0, 1] ({e})") from None
    if spec.startswith(("http://", "https://")):
        from seekerlite.policies.endpoint import OpenAIPolicy

        url, _, model = spec.partition("#")
        if not model:
            raise ValueError(f"endpoint policy {spec!r}: name the model after '#', e.g. "
                             "http://localhost:8000/v1#Qwen/Qwen3-VL-8B-Instruct")
        return OpenAIPolicy(url, model, api_key=os.environ.get("OPENAI_API_KEY"), max_tokens=max_new_tokens,
                            temperature=temperature if do_sample else 0.0), env
    from seekerlite.budget import fit_processor
    from seekerlite.models.loading import load_trained
    from seekerlite.policies.hf import HFPolicy

    st = load_trained(spec, student, inference=True, base_model=base_model)
    fit_processor(st.processor, env)  # the frame limit SFT and GRPO train with: the same tokens per frame here
    return HFPolicy(st.model, st.processor, max_new_tokens=max_new_tokens, do_sample=do_sample,
                    temperature=temperature, name=spec), env
