"""Video files in and out, time grids, and the streaming upscaling pipeline."""

from __future__ import annotations

from stvsr.video.pipeline import Summary, Upscaler, upscale_video

__all__ = ["Summary", "Upscaler", "upscale_video"]
