"""Video files in and out, time grids, and the streaming upscaling pipeline.

``Summary``, ``Upscaler`` and ``upscale_video`` resolve lazily, so that the light modules
(``stvsr.video.options`` for ``stvsr upscale --help``) import no torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from stvsr.video.pipeline import Summary, Upscaler, upscale_video

__all__ = ["Summary", "Upscaler", "upscale_video"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from stvsr.video import pipeline

        return getattr(pipeline, name)
    raise AttributeError(f"module 'stvsr.video' has no attribute {name!r}")
