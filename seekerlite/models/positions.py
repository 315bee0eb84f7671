"""The vision tower's absolute position code: a fixed 2D sinusoid, kept at the patch features' scale.

Qwen3-VL adds ``visual.pos_embed`` (an n x n grid of vectors, bilinearly interpolated to the image's patch grid) to
the patch features before the vision blocks; that sum is the only place the tower learns *where* a patch is (its
rotary embedding is relative). In the random tiny model the table's rows are already small against the patch
features, and perception pretraining (AdamW, lr 3e-3) grows the patch features far faster than the table, whose
gradient has no steady direction: in the base pretrained that way the table was ~1:140 of the patch features and
a linear probe could not read a merged vision token's place from the tower's output (``token_probe`` in
benchmarks/position_probe.py, benchmarks/results/position_probe.md). ``PositionKeeper`` replaces the table with a
fixed sinusoid and, after every optimiser step, rescales it to ``ratio`` times the patch features' current mean
norm, so the position stays legible however they grow. The architecture and shapes
are unchanged: the result loads, trains and quantises as any Qwen3-VL.
"""

from __future__ import annotations

from typing import Any


def sinusoid_code(rows: int, dim: int) -> Any:
    """The unit-amplitude 2D code for an ``n x n`` table (``rows = n * n``) of ``dim``-vectors: a quarter of the dims
    each hold sin / cos of the row and of the column index at ``dim/4`` frequencies from 0.5 to n/2 cycles per grid.
    Every row has norm ``sqrt(dim / 2)``. ValueError if the table is not such a grid.

    >>> c = sinusoid_code(16, 8)
    >>> tuple(c.shape), c[0, 2:4].tolist(), len({tuple(r.tolist()) for r in c}), round(float(c.norm(dim=1).mean()), 3)
    ((16, 8), [1.0, 1.0], 16, 2.0)
    """
    import torch

    n = int(round(rows ** 0.5))
    if n * n != rows or dim % 4:
        raise ValueError(f"pos_embed of shape {(rows, dim)} is not an n*n grid of vectors with dim % 4 == 0")
    r, c = torch.meshgrid(torch.arange(n, dtype=torch.float32), torch.arange(n, dtype=torch.float32), indexing="ij")
    freq = torch.linspace(0.5, n / 2, dim // 4) * torch.pi / n
    r, c = r[..., None] * freq, c[..., None] * freq
    return torch.cat([torch.sin(r), torch.cos(r), torch.sin(c), torch.cos(c)], -1).reshape(rows, dim)


def sinusoid_positions(model: Any, scale: float = 1.0) -> None:
    """Overwrite ``model``'s vision position table with ``scale * sinusoid_code``, in place (training may still
    change it; ``PositionKeeper`` holds it fixed at the patch features' scale instead)."""
    import torch

    weight = model.model.visual.pos_embed.weight
    with torch.no_grad():
        weight.copy_(sinusoid_code(*weight.shape) * scale)


class PositionKeeper:
    """Hold the vision position table at ``ratio`` x the patch features' mean norm during training.

        keeper = PositionKeeper(model, ratio=1.0)   # the table becomes the sinusoid code and stops training
        loss.backward(); opt.step(); keeper.step()  # after each step: rescale it to the norm the last forward saw
        keeper.close()                              # remove the hook (the table keeps its last values)

    The patch features' norm is read by a forward hook on ``visual.patch_embed`` (the mean row norm of its output in
    the last forward that had images). ``ratio`` 1 means position and content arrive at the vision blocks with the
    same norm; a linear probe then reads a merged token's place from a pretrained base's vision output far above
    chance where it could not with the learned table (benchmarks/results/position_probe.md)."""

    def __init__(self, model: Any, ratio: float = 1.0) -> None:
        if ratio <= 0:
            raise ValueError(f"PositionKeeper: ratio must be > 0, got {ratio}")
        visual = model.model.visual
        self.weight, self.ratio = visual.pos_embed.weight, ratio
        self.code = sinusoid_code(*self.weight.shape).to(self.weight)
        self.code_norm = float(self.code.norm(dim=1).mean())
        self.patch_norm: float | None = None
        self.weight.requires_grad_(False)
        self._hook = visual.patch_embed.register_forward_hook(self._record)
        self._probe(visual)

    def _record(self, module: Any, args: Any, output: Any) -> None:
        if output.numel():
            self.patch_norm = float(output.detach().norm(dim=-1).mean())

    def _probe(self, visual: Any) -> None:
        """Measure the patch features once on a mid-grey patch batch, so the table is at scale from step 0."""
        import torch

        cfg = visual.config
        width = cfg.in_channels * cfg.temporal_patch_size * cfg.patch_size ** 2
        with torch.no_grad():
            self._record(None, None, visual.patch_embed(torch.zeros(4, width, dtype=self.weight.dtype,
                                                                    device=self.weight.device)
                                                        + torch.linspace(-0.5, 0.5, 4)[:, None].to(self.weight)))
        self.step()

    def step(self) -> None:
        """Rescale the table to ``ratio`` x the last measured patch-feature norm."""
        import torch

        if self.patch_norm is not None:
            with torch.no_grad():
                self.weight.copy_(self.code * (self.ratio * self.patch_norm / self.code_norm))

    def close(self) -> None:
        self._hook.remove()
