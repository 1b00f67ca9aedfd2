"""Conformance runner for CVRS ``Rescaler_MixNet`` (same calls as ``cvrs_rescaler``; the Mix class never clamps)."""

from __future__ import annotations

from tests.conformance.runners.cvrs_rescaler import run

__all__ = ["run"]
