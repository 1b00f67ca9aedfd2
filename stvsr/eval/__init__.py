"""Evaluation: datasets, named protocols with exact rules, and result tables.

    report = stvsr.eval.evaluate(["msmr_fix"], "vid4-bi-4x2x", "/data/vid4")
    print(report.table()); report.save_csv("vid4.csv"); report.save_json("vid4.json")

See :mod:`stvsr.eval.protocols` for the rules of each protocol and
:mod:`stvsr.eval.datasets` for the dataset layouts.
"""

from __future__ import annotations

from stvsr.eval.datasets import Clip, ClipSource, load_clip, open_dataset
from stvsr.eval.protocols import PROTOCOLS, ModelSpec, Plan, Protocol, get_protocol, list_protocols, plan, run_clip
from stvsr.eval.run import BASELINES, ClipScore, EvalReport, evaluate, weights_sha256

__all__ = [
    "BASELINES",
    "PROTOCOLS",
    "Clip",
    "ClipScore",
    "ClipSource",
    "EvalReport",
    "ModelSpec",
    "Plan",
    "Protocol",
    "evaluate",
    "get_protocol",
    "list_protocols",
    "load_clip",
    "open_dataset",
    "plan",
    "run_clip",
    "weights_sha256",
]
