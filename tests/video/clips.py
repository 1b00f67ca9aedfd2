"""Real encoded test clips made with PyAV: a square moving at a known speed."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np


def square_frame(k: int, h: int, w: int, speed: int = 2) -> np.ndarray:
    """Gradient background and a white 8x8 square at x = 4 + speed*k (uint8 HWC RGB)."""
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.stack([(xx * 255 // max(w - 1, 1)), (yy * 255 // max(h - 1, 1)), np.full_like(xx, 96)], -1)
    img = img.astype(np.uint8)
    x0 = (4 + speed * k) % max(w - 8, 1)
    img[h // 2 - 4 : h // 2 + 4, x0 : x0 + 8] = 255
    return img


def make_clip(
    path: Path,
    n: int = 10,
    fps: int | Fraction = 24,
    size: tuple[int, int] = (48, 64),
    *,
    codec: str = "libx264",
    pix_fmt: str = "yuv444p",
    pts: list[int] | None = None,
    time_base: Fraction | None = None,
    audio: bool = False,
    options: dict[str, str] | None = None,
) -> Path:
    """Encode ``n`` frames; ``pts``/``time_base`` give variable frame rates."""
    h, w = size
    with av.open(str(path), mode="w") as out:
        vs = out.add_stream(codec, rate=Fraction(fps), options=options or {"crf": "0"} if codec == "libx264" else options)
        vs.width, vs.height, vs.pix_fmt = w, h, pix_fmt
        if time_base is not None:
            vs.time_base = time_base
            vs.codec_context.time_base = time_base
        if audio:
            aus = out.add_stream("aac", rate=48000)
            aus.layout = "mono"
        for k in range(n):
            frame = av.VideoFrame.from_ndarray(square_frame(k, h, w), format="rgb24")
            if pts is not None:
                frame.pts = pts[k]
                frame.time_base = time_base
            for packet in vs.encode(frame):
                out.mux(packet)
        for packet in vs.encode():
            out.mux(packet)
        if audio:
            duration = n / float(fps)
            samples = int(48000 * duration)
            tone = (0.2 * np.sin(2 * np.pi * 440 * np.arange(samples) / 48000)).astype(np.float32)[None]
            for start in range(0, samples, 1024):
                af = av.AudioFrame.from_ndarray(tone[:, start : start + 1024].copy(), format="fltp", layout="mono")
                af.sample_rate = 48000
                af.pts = start
                for packet in aus.encode(af):
                    out.mux(packet)
            for packet in aus.encode():
                out.mux(packet)
    return path
