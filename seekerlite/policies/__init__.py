"""Policies and the episode loop: ``loop`` (run_episode(s)), ``scripted`` (oracle, random, noisy oracle, evidence-limited answers), ``hf``
(any transformers VLM), ``endpoint`` (an OpenAI-compatible server) and ``factory`` (make_policy from a spec)."""

from seekerlite.policies.endpoint import OpenAIPolicy, to_openai_messages
from seekerlite.policies.factory import POLICY_HELP, inner_spec, make_policy
from seekerlite.policies.hf import HFPolicy
from seekerlite.policies.loop import (
    Episode,
    Policy,
    PolicyReply,
    n_assistant,
    run_episode,
    run_episodes,
    run_tool,
)
from seekerlite.policies.scripted import (
    EvidencePolicy,
    NoisyOraclePolicy,
    OracleLookPolicy,
    OraclePolicy,
    RandomLookPolicy,
    RandomPolicy,
    has_evidence,
    to_1000,
)

__all__ = ["POLICY_HELP", "Episode", "EvidencePolicy", "HFPolicy", "NoisyOraclePolicy", "OpenAIPolicy", "OracleLookPolicy", "OraclePolicy", "Policy", "PolicyReply",
           "RandomLookPolicy", "RandomPolicy", "has_evidence", "inner_spec", "make_policy", "n_assistant", "run_episode", "run_episodes", "run_tool", "to_1000", "to_openai_messages"]
