"""The SFT collator: chat episodes (text, images, tool calls, tool results) -> a padded batch with loss labels.

    collator = ChatCollator(processor)
    batch = collator([{"id": "s1", "messages_json": json.dumps(messages), "base_dir": "runs/sft_data"}])
    batch["labels"]          # (B, T) int64: the token id on assistant tokens, -100 everywhere else

The rule (nanochat does the same with forced tool-output tokens): the model is trained only on what it will
*generate*, i.e. the text of its own turns: ``<think>…</think>``, the ``<tool_call>`` JSON or the
``<answer>`` and the ``<|im_end|>`` that ends each turn. The system prompt, the question, the images and every
tool result (which Qwen's template renders inside a user turn as ``<tool_response>…</tool_response>``) get
label -100, and so does padding. An assistant message with ``"weight": 0`` (OpenAI's fine-tuning convention) is
context only: its tokens get -100 too (``train.rehearsal`` keeps a rehearsed crop's call out of the loss).

How: TRL ships a *training* variant of Qwen3-VL's chat template with ``{% generation %}`` markers around the
assistant content (``trl/chat_templates/qwen3_vl_training.jinja``); rendering with it and
``return_assistant_tokens_mask=True`` gives a 0/1 mask over the tokens. The processor then expands every image
placeholder into one token per image patch, which the mask must follow: transformers >= 5.18 does that itself, older
versions (5.17 is what unsloth pins) do not and shift the mask, and TRL's own ``assistant_only_loss`` refuses vision
datasets there. So this collator takes the mask from the tokenizer's rendering (one placeholder per image) and
stretches it over each image's tokens (``stretch_over_image_tokens``): the same result on every version. It is
passed to ``SFTTrainer`` as its ``data_collator``.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seekerlite.env import tool_schemas
from seekerlite.models.compat import processor_call_kwargs
from seekerlite.trajectory import images_from_files

IGNORE_INDEX = -100  # label of a token that the loss skips (PyTorch's cross-entropy default)


def training_chat_template(processor: Any) -> str:
    """The chat template with ``{% generation %}`` markers for ``processor`` (TRL's, picked by
    ``get_training_chat_template``); a Qwen3-VL processor whose template TRL does not recognise (a checkpoint's
    own variant) falls back to TRL's ``qwen3_vl_training.jinja`` with a warning."""
    from trl.chat_template_utils import get_training_chat_template

    try:
        template = get_training_chat_template(processor)
    except ValueError:
        if "Qwen3VL" not in type(processor).__name__:
            raise
        import trl

        warnings.warn("seekerlite: the processor's chat template is not TRL's qwen3_vl.jinja; training with TRL's "
                      "qwen3_vl_training.jinja instead", stacklevel=2)
        return (Path(trl.__file__).parent / "chat_templates" / "qwen3_vl_training.jinja").read_text(encoding="utf-8")
    return template if template is not None else processor.chat_template  # None: already has the markers


def example_messages(example: dict[str, Any]) -> list[dict[str, Any]]:
    """The chat messages of one dataset row, images opened as RGB PIL images.

    A row holds ``messages`` (a list) or ``messages_json`` (the same list as a JSON string: Arrow would otherwise
    merge the tool-call argument dicts of all rows into one schema and add ``null`` keys), and ``base_dir``, the
    folder that relative image paths such as ``images/x.png`` start from.
    """
    msgs = example.get("messages")
    if msgs is None:
        msgs = json.loads(example["messages_json"])
    return images_from_files(msgs, Path(example.get("base_dir") or "."))


@dataclass
class ChatCollator:
    """Tokenize a list of chat rows with the training template and build ``labels`` (see module docstring)."""

    processor: Any  # a Qwen3-VL processor (tokenizer + image processor + chat template)
    max_length: int | None = None  # longest allowed episode in tokens; longer raises (cutting would split images)
    tools: list[dict[str, Any]] = field(default_factory=tool_schemas)  # the tool schemas shown in the system turn
    chat_template: str | None = None  # None = training_chat_template(processor)

    def __post_init__(self) -> None:
        if self.chat_template is None:
            self.chat_template = training_chat_template(self.processor)

    def __call__(self, examples: list[dict[str, Any]]) -> dict[str, Any]:
        import torch

        conversations = [example_messages(e) for e in examples]
        tokenizer = getattr(self.processor, "tokenizer", self.processor)
        tokenizer.padding_side = "right"  # labels line up with input_ids; generation sets "left" itself
        batch = self.processor.apply_chat_template(  # text + pixels, each image expanded to its patch tokens
            conversations, tools=self.tools, chat_template=self.chat_template, tokenize=True, return_dict=True,
            return_tensors="pt", **processor_call_kwargs(self.processor, padding=True))
        input_ids, attention = batch["input_ids"], batch["attention_mask"]  # (B, T) each
        if self.max_length is not None and input_ids.shape[1] > self.max_length:
            lengths = {e.get("id", i): int(n) for i, (e, n) in enumerate(zip(examples, attention.sum(1), strict=True))}
            raise ValueError(f"episode longer than max_length={self.max_length} tokens: {lengths}. Raise max_length, "
                             "or make episodes shorter (fewer overview/crop frames, smaller images); episodes are "
                             "never cut, since a cut could split an image's tokens from its pixels")
        mask = torch.zeros_like(input_ids, dtype=torch.bool)  # (B, T) True on tokens inside {% generation %}
        for row, conversation in enumerate(conversations):
            n = int(attention[row].sum())  # right padding: the row's tokens come first
            mask[row, :n] = torch.tensor(self.assistant_mask(conversation, input_ids[row, :n].tolist()))
        if not mask.any():
            raise ValueError(f"no assistant tokens in batch {[e.get('id') for e in examples]}: nothing to learn")
        batch["labels"] = input_ids.masked_fill(~mask, IGNORE_INDEX)  # (B, T)
        return dict(batch)

    def assistant_mask(self, conversation: list[dict[str, Any]], ids: list[int]) -> list[bool]:
        """The ``{% generation %}`` mask over ``ids`` (one episode as the processor tokenized it, images expanded).

        The mask comes from the *tokenizer's* rendering of the same template, where each image is still one
        placeholder token, and is then stretched over each image's run of patch tokens. (The processor's own
        ``return_assistant_tokens_mask`` ignores that expansion on transformers < 5.18 and shifts the mask.)
        """
        tokenizer = getattr(self.processor, "tokenizer", self.processor)
        text = tokenizer.apply_chat_template(conversation, tools=self.tools, chat_template=self.chat_template,
                                             tokenize=True, return_dict=True, return_assistant_tokens_mask=True)
        mask = drop_unweighted_turns(conversation, text["assistant_masks"])
        return stretch_over_image_tokens(text["input_ids"], mask, ids, self.vision_pad_ids)

    @property
    def vision_pad_ids(self) -> set[int]:
        tokenizer = getattr(self.processor, "tokenizer", self.processor)
        return {tokenizer.convert_tokens_to_ids(t) for t in ("<|image_pad|>", "<|video_pad|>")}


def drop_unweighted_turns(conversation: list[dict[str, Any]], mask: list[int]) -> list[int]:
    """`mask` with the runs of assistant messages whose ``weight`` is 0 cleared (each assistant message renders as
    one ``{% generation %}`` run, in order; raises if the runs and the messages do not pair up).

    >>> drop_unweighted_turns([{"role": "assistant", "weight": 0}, {"role": "assistant"}], [0, 1, 1, 0, 1])
    [0, 0, 0, 0, 1]
    """
    turns = [m for m in conversation if m.get("role") == "assistant"]
    if all(m.get("weight", 1) for m in turns):
        return list(mask)
    runs = [k for k, v in enumerate(mask) if v and (k == 0 or not mask[k - 1])]
    if len(runs) != len(turns):
        raise ValueError(f"{len(turns)} assistant messages rendered as {len(runs)} trained runs: cannot tell which "
                         "tokens belong to a message with weight 0")
    out = list(mask)
    for start, m in zip(runs, turns, strict=True):
        if m.get("weight", 1) == 0:
            k = start
            while k < len(out) and out[k]:
                out[k], k = 0, k + 1
    return out


def stretch_over_image_tokens(text_ids: list[int], text_mask: list[int], ids: list[int],
                              pad_ids: set[int]) -> list[bool]:
    """Carry a mask from a sequence with one placeholder per image (``text_ids``) to the same sequence with each
    placeholder repeated once per image token (``ids``); raise if the two differ anywhere else.

    >>> stretch_over_image_tokens([5, 9, 6, 7], [0, 0, 1, 1], [5, 9, 9, 9, 6, 7], {9})
    [False, False, False, False, True, True]
    """
    out: list[bool] = []
    j = 0
    for k, tok in enumerate(ids):
        if k > 0 and tok in pad_ids and ids[k - 1] == tok:
            out.append(out[-1])  # the same image's run goes on
            continue
        if j >= len(text_ids) or text_ids[j] != tok:
            raise ValueError(f"the processor's and the tokenizer's renderings differ at token {k}: {tok} vs "
                             f"{text_ids[j] if j < len(text_ids) else 'end'}")
        out.append(bool(text_mask[j]))
        j += 1
    if j != len(text_ids):
        raise ValueError(f"the tokenizer's rendering has {len(text_ids) - j} tokens more than the processor's")
    return out


def loss_mask_spans(processor: Any, input_ids: Any, labels: Any) -> list[tuple[str, bool]]:
    """(token text, trained?) per token of one row, special tokens included, padding dropped.

    Runs of image-pad tokens are folded into one ``<|image_pad|>×N`` span so a figure stays readable.
    """
    tokenizer = getattr(processor, "tokenizer", processor)
    pad = tokenizer.pad_token_id
    spans: list[tuple[str, bool]] = []
    ids, labs = [int(i) for i in input_ids], [int(x) for x in labels]
    end = len(ids)
    while end and ids[end - 1] == pad and labs[end - 1] == IGNORE_INDEX:
        end -= 1
    i = 0
    while i < end:
        j = i + 1
        while j < end and ids[j] == ids[i] and tokenizer.convert_ids_to_tokens(ids[i]) == "<|image_pad|>":
            j += 1
        text = tokenizer.decode([ids[i]], skip_special_tokens=False)
        spans.append((text if j == i + 1 else f"{text}×{j - i}", labs[i] != IGNORE_INDEX))
        i = j
    return spans


def draw_loss_mask(spans: list[tuple[str, bool]], width: int = 110, max_lines: int = 60,
                   title: str | None = None) -> Any:
    """A figure of the tokens as text: trained tokens on green, masked ones on grey, neighbouring tokens in
    alternating shades so their boundaries show (a matplotlib ``Figure``).

    Args:
        spans: ``loss_mask_spans`` output.
        width: Characters per line.
        max_lines: Lines drawn at most (the middle of long episodes is elided).
        title: Figure title.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    shades = {True: ("#7fd67f", "#b5ebb5"), False: ("#dddddd", "#f0f0f0")}  # trained / masked, two shades each
    lines: list[list[tuple[str, str]]] = [[]]  # per line: (text piece, background colour)
    col = 0
    for k, (text, trained) in enumerate(spans):
        colour = shades[trained][k % 2]
        for n, piece in enumerate(text.split("\n")):
            if n > 0:
                lines.append([])
                col = 0
            while piece:
                room = width - col
                if room <= 0:
                    lines.append([])
                    col, room = 0, width
                lines[-1].append((piece[:room], colour))
                col += len(piece[:room])
                piece = piece[room:]
    if len(lines) > max_lines:  # keep the start (prompt) and the end (the answer), elide the middle
        head = max_lines // 3
        elided = [(f"… {len(lines) - max_lines + 1} lines …", "white")]
        lines = lines[:head] + [elided] + lines[-(max_lines - head - 1):]
    char_w, line_h = 0.0627, 0.19  # inches per character (0.602 em of 7.5 pt DejaVu Sans Mono) / per line
    fig = plt.figure(figsize=((width + 2) * char_w, len(lines) * line_h + 1.1))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, width + 2)
    ax.set_ylim(len(lines) + 2.6, -0.5)  # a title row on top, a legend row at the bottom
    ax.axis("off")
    for y, line in enumerate(lines):
        x = 0
        for piece, colour in line:
            ax.text(x + 0.5, y + 1.6, piece, family="monospace", fontsize=7.5, va="center", ha="left",
                    bbox={"boxstyle": "square,pad=0.05", "lw": 0, "fc": colour})
            x += len(piece)
    ax.legend(handles=[Patch(fc=shades[True][0], label="label = token (trained)"),
                       Patch(fc=shades[False][0], label="label = -100 (masked)")],
              loc="lower right", fontsize=8, ncol=2, frameon=False)
    if title:
        ax.text(0.5, 0.2, title, fontsize=10, weight="bold", va="center")
    return fig
