"""A yes/no scorer over any local model: P("yes") against P("no") for the next token after a question.

    scorer = YesNoScorer("tiny")                                    # the embedded tiny Qwen3-VL (random weights)
    scorer.score("Is this question about one marked instance? ...")  # -> float in (0, 1)
    scorer.score("Is the marked person visible?", images=[img1, img2])

Stage 1 uses it on question text; stage 2 on frames of the clip. The model is any Qwen3-VL (the tiny one, a
folder, a hub id: loaded by ``models.load_student``) or a text-only causal LM (``AutoModelForCausalLM``; no
images then). With the tiny model the scores are noise: it shows the mechanics, not a judgement.
"""

from __future__ import annotations

import math
from typing import Any

from seekerlite.config import is_tiny

YES_WORDS = ("yes", "Yes", " yes", " Yes")
NO_WORDS = ("no", "No", " no", " No")


def _first_ids(tokenizer: Any, words: tuple[str, ...]) -> list[int]:
    ids = {tokenizer.encode(w, add_special_tokens=False)[0] for w in words if tokenizer.encode(w, add_special_tokens=False)}
    return sorted(ids)


class YesNoScorer:
    """Scores prompts by the model's next-token preference for "yes" over "no" (a probability in (0, 1))."""

    def __init__(self, model_id: str = "tiny") -> None:

        self.model_id = model_id
        self.model, self.processor, self.tokenizer, self.vision = _load(self.model_id)
        self.yes_ids, self.no_ids = _first_ids(self.tokenizer, YES_WORDS), _first_ids(self.tokenizer, NO_WORDS)
        if not self.yes_ids or not self.no_ids:
            raise ValueError(f"{model_id}: the tokenizer has no token for 'yes'/'no'")

    def score(self, prompt: str, images: list[Any] | None = None) -> float:
        """P(yes) / (P(yes) + P(no)) for the first token of the reply to `prompt` (with `images`, if any)."""
        import torch

        if images and not self.vision:
            raise ValueError(f"{self.model_id} is a text-only model: it cannot look at images")
        content = [{"type": "image", "image": im} for im in images or []] + [{"type": "text", "text": prompt}]
        messages = [{"role": "user", "content": content}]
        if self.vision:
            from seekerlite.models.compat import processor_call_kwargs

            inputs = self.processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=True,
                                                        return_dict=True, return_tensors="pt",
                                                        **processor_call_kwargs(self.processor))
        elif self.tokenizer.chat_template:
            inputs = self.tokenizer.apply_chat_template([{"role": "user", "content": prompt}], add_generation_prompt=True,
                                                        return_tensors="pt", return_dict=True)
        else:
            inputs = self.tokenizer(prompt + "\nAnswer (yes or no):", return_tensors="pt")
        inputs = {k: v.to(self.model.device) if hasattr(v, "to") else v for k, v in dict(inputs).items()}
        with torch.no_grad():
            logits = self.model(**inputs).logits[0, -1].float()  # (vocab,)
        logp = torch.log_softmax(logits, -1)
        yes = torch.logsumexp(logp[self.yes_ids], 0).item()
        no = torch.logsumexp(logp[self.no_ids], 0).item()
        return 1.0 / (1.0 + math.exp(no - yes))


def _load(model_id: str) -> tuple[Any, Any, Any, bool]:
    """(model, processor or None, tokenizer, takes images) for a Qwen3-VL or a text-only causal LM."""
    import torch

    from seekerlite.models import load_student

    vision = True
    if not is_tiny(model_id):
        from transformers import AutoConfig

        try:
            cfg = AutoConfig.from_pretrained(model_id)
        except OSError as e:
            raise FileNotFoundError(f"cannot load scorer model {model_id!r}: not a local folder and not fetchable from "
                                    f"the hub here ({e.__class__.__name__}); pass a local folder, or 'tiny'") from e
        vision = hasattr(cfg, "vision_config")
    if vision:
        student = load_student(model_id, inference=True)
        return student.model, student.processor, student.processor.tokenizer, True
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_id)
    model = AutoModelForCausalLM.from_pretrained(model_id).eval()
    if torch.cuda.is_available():
        model = model.to("cuda")
    return model, None, tok, False
