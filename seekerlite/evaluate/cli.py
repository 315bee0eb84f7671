"""``seekerlite eval``: evaluate a policy (or score a V2P-Bench response file) and write the results.

    seekerlite eval --model runs/grpo --data toy:2@7 --out runs/eval/grpo          # the run's own env settings
    seekerlite eval --model no-tool:runs/grpo --data toy:2@7 --out runs/eval/grpo-no-tool
    seekerlite eval --model oracle --data sample_data/annotations/vtest_samples.jsonl --out runs/eval/oracle
    seekerlite eval --responses V2P-Bench/data/Qwen2.5-VL-72B-Instruct.jsonl --out runs/eval/qwen72b
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from seekerlite.evaluate.metrics import summarize
from seekerlite.evaluate.run import EvalConfig, evaluate, records_from_responses, settle_with_policy
from seekerlite.evaluate.tables import EvalResult, markdown_table, write_results


def build_parser() -> argparse.ArgumentParser:
    from seekerlite.cliargs import add_config_arguments

    p = argparse.ArgumentParser(prog="seekerlite eval", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    add_config_arguments(p, EvalConfig)
    p.add_argument("--override", dest="_override", action="store_true",
                   help="use the settings given here even where they differ from the run.json of --model")
    return p


def run_eval(cfg: EvalConfig, explicit: set[str] | None = None, override: bool = False) -> EvalResult:
    """Evaluate as configured, write the results (and run.json) into ``cfg.output_dir``; returns the result."""
    from seekerlite.data import load_samples
    from seekerlite.runs import RunInfo, write_run

    out = Path(cfg.output_dir)
    if cfg.responses:
        records = records_from_responses(cfg.responses)
        result = EvalResult(f"responses:{Path(cfg.responses).stem}", records,
                            summarize(records, cfg.n_bootstrap, cfg.seed), [None] * len(records),
                            {"responses": cfg.responses, "n_bootstrap": cfg.n_bootstrap, "seed": cfg.seed},
                            data=cfg.responses, scoring_rule="v2p-first-char")
    else:
        cfg = settle_with_policy(cfg, explicit, override)
        samples, base = load_samples(cfg.data, out_dir=out, video_root=cfg.video_root, frame_root=cfg.frame_root,
                                     locate_prompt_frames=cfg.locate_prompt_frames)
        result = evaluate(None, samples, base, cfg)
        result.data = cfg.data
    write_run(out, RunInfo("eval", env=cfg.env, seed=cfg.seed, data=cfg.responses or cfg.data,
                           parent=cfg.policy if Path(cfg.policy).exists() else None,
                           config=json.loads(json.dumps(result.config, default=str))))
    write_results(result, out)
    return result


def main_eval(argv: list[str] | None = None) -> int:
    """Entry point of ``seekerlite eval``."""
    from seekerlite.cliargs import config_from_args

    args = build_parser().parse_args(argv)
    override = args.__dict__.pop("_override")
    from seekerlite.runlock import RunLock

    cfg, explicit = config_from_args(EvalConfig, args)
    with RunLock(cfg.output_dir):  # one process per run folder
        result = run_eval(cfg, explicit, override)
    print(markdown_table(result.summary))
    for note in result.notes:
        print(f"note: {note}")
    print(f"wrote {cfg.output_dir}/results.json, results.md and the figures/transcripts next to them")
    return 0
