"""Training: data sampling, losses, warm starts and the loop (``stvsr train CONFIG``).

    cfg = stvsr.train.load_config("configs/msmr_fix_skvideo.yaml", ["steps=10"])
    stvsr.train.train(cfg)

Modules: :mod:`~stvsr.train.data` (random space-time crops, degradations),
:mod:`~stvsr.train.losses`, :mod:`~stvsr.train.warmstart`, :mod:`~stvsr.train.config`,
:mod:`~stvsr.train.loop`.
"""

from __future__ import annotations

from stvsr.train.config import TrainConfig, load_config
from stvsr.train.data import Batch, ClipBank, DataConfig, make_batch
from stvsr.train.loop import EMA, build_model, train
from stvsr.train.losses import (
    FlowContextConsistencyLoss,
    charbonnier,
    cvrs_losses,
    structure_detail_loss,
    structure_detail_split,
    ternary,
)
from stvsr.train.warmstart import RULES, WarmStartReport, rules_for, warm_start

__all__ = [
    "EMA",
    "RULES",
    "Batch",
    "ClipBank",
    "DataConfig",
    "FlowContextConsistencyLoss",
    "TrainConfig",
    "WarmStartReport",
    "build_model",
    "charbonnier",
    "cvrs_losses",
    "load_config",
    "make_batch",
    "rules_for",
    "structure_detail_loss",
    "structure_detail_split",
    "ternary",
    "train",
    "warm_start",
]
