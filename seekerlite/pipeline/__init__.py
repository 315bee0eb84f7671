"""The data pipeline: candidate questions -> checked, masked, marked samples -> SFT trajectories and RL samples.

    seekerlite pipeline run --config seekerlite/configs/pipeline_demo.json --out runs/x    # resumes when re-run

    from seekerlite.pipeline import load_config, run_pipeline, format_counts
    print(format_counts(run_pipeline(load_config("demo"), "runs/x")))

Each stage is a function over an iterable of records that yields one ``Outcome`` per record (kept, or dropped
with reasons), and a CLI step (``seekerlite pipeline step <stage> --input F --out RUN``):

    store.py          stage files in a run folder: append + fsync, drops with reasons, counts, resume by id
    stage1_filter.py  filter_samples: low-cost text rules (+ an optional yes/no model scorer)
    stage2_verify.py  verify_samples: the video decodes, bounds, the instance is visible in the span (+ a VLM check)
    stage3_masks.py   mask_samples: every instance tracked (seekerlite.tracking: SAM2 / OpenCV) or its exact toy mask
    stage4_render.py  render_samples / choose_frame: best frame, prompt type drawn from a distribution, F_vp saved
    trajectories.py   synthesize_trajectories: a teacher's episodes, kept when right and well formed (SFT data)
    curate.py         curate_samples: pass rate over k rollouts, keep 0 < rate < 1, optional MC -> OE (RL data)
    scorers.py        YesNoScorer: P(yes) of any local model, for stage 1 and stage 2's optional checks
    runner.py         PipelineConfig, sources, run_pipeline, counts table and funnel chart
    cli.py            main_pipeline(argv), main_track(argv)
"""

from seekerlite.pipeline.curate import CurateConfig, curate_samples
from seekerlite.pipeline.store import (
    STAGES,
    Outcome,
    StageCounts,
    StageFiles,
    compare_runs,
    run_stage,
)
from seekerlite.pipeline.runner import (
    PipelineConfig,
    SourceConfig,
    format_counts,
    load_config,
    plot_funnel,
    read_counts,
    run_one_stage,
    run_pipeline,
)
from seekerlite.pipeline.stage1_filter import FilterConfig, filter_samples, rule_reasons
from seekerlite.pipeline.stage2_verify import VerifyConfig, verify_samples
from seekerlite.pipeline.stage3_masks import MaskConfig, mask_samples
from seekerlite.pipeline.stage4_render import (
    FrameScore,
    RenderConfig,
    choose_frame,
    render_samples,
    score_frames,
)
from seekerlite.pipeline.trajectories import SynthConfig, synthesize_trajectories

__all__ = [
    "STAGES",
    "CurateConfig",
    "FilterConfig",
    "FrameScore",
    "MaskConfig",
    "Outcome",
    "PipelineConfig",
    "RenderConfig",
    "SourceConfig",
    "StageCounts",
    "StageFiles",
    "SynthConfig",
    "VerifyConfig",
    "choose_frame",
    "compare_runs",
    "curate_samples",
    "filter_samples",
    "format_counts",
    "load_config",
    "mask_samples",
    "plot_funnel",
    "read_counts",
    "render_samples",
    "rule_reasons",
    "run_one_stage",
    "run_pipeline",
    "run_stage",
    "score_frames",
    "synthesize_trajectories",
    "verify_samples",
]
