"""A toy world: short videos of moving shapes with exact masks, and questions that need the visual prompt.

    clip = generate_clip(ToyWorldConfig(), seed=3)       # frames (T, H, W, 3) uint8, masks {id: (T, H, W) bool}
    qs = make_questions(clip, clip.target_id, np.random.default_rng(0))
    path = generate_dataset("runs/toy", n_clips=8)        # videos/*.mp4, prompts/*.png, samples.jsonl

    world.py      ToyWorldConfig, the clip's objects and events, generate_clip (simulation and rendering)
    questions.py  the registry of question families (attribute, temporal, ...; TOOL_TASKS need a crop) and make_questions
    dataset.py    world_config (the world asking some families), the frame to mark, render_prompt, generate_dataset
"""

from seekerlite.toyworld.dataset import (
    choose_prompt_frame,
    generate_dataset,
    render_prompt,
    world_config,
)
from seekerlite.toyworld.questions import (
    FAMILIES,
    TASKS,
    TOOL_TASKS,
    QuestionFamily,
    QuestionItem,
    Subject,
    family,
    make_questions,
)
from seekerlite.toyworld.world import (
    DEFAULT_COLORS,
    EDGES,
    SHAPES,
    ToyClip,
    ToyEvent,
    ToyObject,
    ToyWorldConfig,
    generate_clip,
    time_bins,
    to_masklet,
)

__all__ = [
    "DEFAULT_COLORS", "EDGES", "FAMILIES", "SHAPES", "TASKS", "TOOL_TASKS", "QuestionFamily", "QuestionItem", "Subject",
    "ToyClip", "ToyEvent", "ToyObject", "ToyWorldConfig", "choose_prompt_frame", "family", "generate_clip",
    "generate_dataset", "make_questions", "render_prompt", "time_bins", "to_masklet", "world_config",
]
