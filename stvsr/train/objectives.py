"""Training objectives: modules whose forward returns the loss terms of one batch.

Wrapping the model in an objective module (and the objective in DDP) keeps gradient
synchronisation correct for models trained through a method other than ``forward``
(FMU's ``forward_window``, CVRS's ``encode``/``decode``).

* ``stvsr``: ``model(lr, scale, times)`` against all GT frames: Charbonnier, census
  (ternary) and MsMr's flow-guided context consistency terms.
* ``fmu``: FMU on 4-key windows (``data.keys: 4``): RSDN's structure-detail loss on the 4
  HR key frames (:func:`~stvsr.train.losses.structure_detail_loss`), Charbonnier on the
  HR intermediate frames between keys 1 and 2, and Charbonnier on the LR intermediate
  frames against the same degradation of their GT (the released outputs suggest this
  recipe; FMU's training code was not released).
* ``cvrs``: :func:`~stvsr.train.losses.cvrs_losses` on the GT clip (``T`` frames) with a
  latent of ``(keys, h, w)`` (the batch's LR size).
"""

from __future__ import annotations

import inspect
from typing import Any

import torch
from torch import nn

from stvsr.train.config import LossConfig
from stvsr.train.data import Batch, DataConfig, _degrade
from stvsr.train.losses import FlowContextConsistencyLoss, charbonnier, cvrs_losses, structure_detail_loss, ternary

__all__ = ["CvrsObjective", "FmuObjective", "StvsrObjective", "build_objective"]


class StvsrObjective(nn.Module):
    def __init__(self, model: nn.Module, loss: LossConfig, flow: nn.Module | None = None) -> None:
        super().__init__()
        self.model = model
        self.loss = loss
        self.flow_loss = FlowContextConsistencyLoss(flow, loss.charbonnier_eps) if flow is not None else None
        # the unclamped output where the model offers it: a clamp has zero gradient wherever an
        # output overshoots [0, 1], which stalls a freshly initialised upsampler
        accepts = "clamp" in inspect.signature(model.forward).parameters
        self._kw: dict[str, Any] = {"clamp": False} if accepts else {}

    def forward(self, batch: Batch) -> dict[str, torch.Tensor]:
        pred = self.model(batch.lr, scale=batch.scale, times=batch.times, **self._kw).float()
        terms: dict[str, torch.Tensor] = {}
        if self.loss.charbonnier:
            terms["charbonnier"] = self.loss.charbonnier * charbonnier(pred, batch.gt, self.loss.charbonnier_eps)
        if self.loss.ternary:
            terms["ternary"] = self.loss.ternary * ternary(pred, batch.gt)
        if self.flow_loss is not None and self.loss.flow_consistency:
            terms["flow_consistency"] = self.loss.flow_consistency * self.flow_loss(pred, batch.gt)
        return terms


class FmuObjective(nn.Module):
    def __init__(self, model: nn.Module, loss: LossConfig, data: DataConfig) -> None:
        super().__init__()
        self.model = model
        self.loss = loss
        self.data = data

    def forward(self, batch: Batch) -> dict[str, torch.Tensor]:
        k = len(batch.times)
        keys = [i * (k + 1) for i in range(4)]
        mids = [k + 1 + j for j in range(1, k + 1)]  # stamps between keys 1 and 2
        out = self.model.forward_window(batch.lr, times=batch.times)  # type: ignore[operator]
        gt = batch.gt
        eps = self.loss.charbonnier_eps
        sd_w = (1.0, self.loss.structure_detail, self.loss.structure_detail)
        with torch.no_grad():
            lr_t = _degrade(gt[:, mids], batch.scale[0], (batch.lr.shape[-2], batch.lr.shape[-1]), self.data)
        return {
            "charbonnier": self.loss.charbonnier
            * (
                structure_detail_loss(out.hr_keyframes.float(), out.hr_structure.float(), out.hr_detail.float(),
                                      gt[:, keys], weights=sd_w, eps=eps)
                + charbonnier(out.hr_interp.float(), gt[:, mids], eps)
            ),
            "lr_interp": self.loss.lr_interp * charbonnier(out.lr_interp.float(), lr_t, eps),
        }


class CvrsObjective(nn.Module):
    def __init__(self, model: nn.Module, loss: LossConfig) -> None:
        super().__init__()
        self.model = model
        self.loss = loss

    def forward(self, batch: Batch) -> dict[str, torch.Tensor]:
        size = (batch.lr.shape[1], batch.lr.shape[-2], batch.lr.shape[-1])
        w = {"reconstruction": self.loss.charbonnier, "stego": self.loss.cvrs_stego, "latent": self.loss.cvrs_latent}
        terms = cvrs_losses(self.model, batch.gt.float(), size, weights=w, eps=self.loss.charbonnier_eps)
        return {k: w[k] * terms[k] for k in ("reconstruction", "stego", "latent")}


def build_objective(name: str, model: nn.Module, loss: LossConfig, data: DataConfig,
                    flow: nn.Module | None = None) -> nn.Module:
    """The objective module ``name`` (``stvsr`` | ``fmu`` | ``cvrs``) around ``model``."""
    objectives: dict[str, Any] = {
        "stvsr": lambda: StvsrObjective(model, loss, flow),
        "fmu": lambda: FmuObjective(model, loss, data),
        "cvrs": lambda: CvrsObjective(model, loss),
    }
    if name not in objectives:
        raise ValueError(f"objective must be one of {sorted(objectives)}, got {name!r}")
    return objectives[name]()
