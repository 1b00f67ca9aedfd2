"""Training clips from still photographs: a smooth synthetic camera path plus a moving object.

Freely licensed video is scarce, freely licensed photographs less so (e.g. the example images of
Debian's ``opencv-doc``). :func:`synthesize_clip` turns one photograph into a short clip whose
motion is known and physically plausible:

- camera: a smooth pan (constant velocity plus a slow sinusoidal wobble), a slow zoom and a small
  rotation, sampled from the photograph with every output frame *shrunk* from the source
  (``oversample`` >= 1.25 source pixels per output pixel), so the frames stay sharp and alias-free
  like real footage rather than blurred by interpolation;
- object: an elliptical patch cut from elsewhere in the photograph, moving on its own straight
  path over the background (occlusion and disocclusion, independent motion).

Each frame is rendered at twice the output size by bilinear sampling and shrunk with the
MATLAB-bicubic :func:`stvsr.ops.imresize` (antialiased). Everything is a pure function of
``seed``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from stvsr.ops.resize import imresize

__all__ = ["synthesize_clip"]


def _affine_grid(src_hw: tuple[int, int], out_hw: tuple[int, int], centre: tuple[float, float], pix: float,
                 angle: float) -> torch.Tensor:
    """``(1, H, W, 2)`` normalised grid: output pixel -> source position (``pix`` source px per output px)."""
    (hs, ws), (ho, wo) = src_hw, out_hw
    ys = (torch.arange(ho, dtype=torch.float64) - (ho - 1) / 2) * pix
    xs = (torch.arange(wo, dtype=torch.float64) - (wo - 1) / 2) * pix
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    c, s = math.cos(angle), math.sin(angle)
    sx = centre[1] + c * gx - s * gy
    sy = centre[0] + s * gx + c * gy
    # align_corners=True units: -1 / +1 are the centres of the first / last source pixels
    return torch.stack((sx * 2 / (ws - 1) - 1, sy * 2 / (hs - 1) - 1), dim=-1)[None].float()


def synthesize_clip(
    image: torch.Tensor,
    frames: int = 24,
    size: tuple[int, int] = (288, 384),
    *,
    oversample: float = 1.5,
    seed: int = 0,
    object_motion: bool = True,
) -> torch.Tensor:
    """One photograph -> a clip with a synthetic camera path and a moving object.

    Args:
        image: ``(3, Hs, Ws)`` float RGB in [0, 1]; the source must hold ``size * oversample``
            pixels plus room to move (about 1.25x that per side).
        frames: number of frames ``T`` (>= 2).
        size: output ``(H, W)``.
        oversample: source pixels per output pixel at the start (>= 1.25: frames are shrunk).
        seed: everything random (path, speeds, object) derives from it.
        object_motion: paste a moving elliptical patch over the background.

    Returns:
        ``(T, 3, H, W)`` uint8 frames.
    """
    if image.ndim != 3 or image.shape[0] != 3 or not image.is_floating_point():
        raise ValueError(f"image must be a float (3, H, W) tensor, got {tuple(image.shape)} {image.dtype}")
    if isinstance(frames, bool) or not isinstance(frames, int) or frames < 2:
        raise ValueError(f"frames must be an int >= 2, got {frames!r}")
    if oversample < 1.25:
        raise ValueError(f"oversample must be >= 1.25 (frames are shrunk from the photograph), got {oversample}")
    h, w = size
    hs, ws = image.shape[-2:]
    span_h, span_w = h * oversample * 1.15, w * oversample * 1.15  # zoom and rotation need margin
    if hs < span_h * 1.05 or ws < span_w * 1.05:
        raise ValueError(f"image {hs}x{ws} is too small for {h}x{w} frames at oversample {oversample} "
                         f"(needs about {math.ceil(span_h * 1.05)}x{math.ceil(span_w * 1.05)})")
    g = torch.Generator().manual_seed(seed)

    def u(lo: float, hi: float) -> float:
        return lo + (hi - lo) * torch.rand((), generator=g, dtype=torch.float64).item()

    # camera: start inside the margin, move at most to the other side of it over the clip
    room_y, room_x = (hs - span_h) / 2, (ws - span_w) / 2
    c0 = (hs / 2 + u(-0.5, 0.5) * room_y, ws / 2 + u(-0.5, 0.5) * room_x)
    vy, vx = u(-1, 1) * room_y / frames, u(-1, 1) * room_x / frames
    wobble, phase = u(0.0, 1.5), u(0, 2 * math.pi)
    zoom = u(-0.1, 0.1) / frames  # relative change of the source footprint per frame
    spin = u(-0.03, 0.03) / frames

    # object: an elliptical patch of the photograph moving on its own straight line
    oh, ow = int(h * u(0.2, 0.35)), int(w * u(0.2, 0.35))
    py, px = int(u(0, hs - 2 * oh)), int(u(0, ws - 2 * ow))
    patch = image[:, py : py + 2 * oh, px : px + 2 * ow]  # rendered at 2x like the frames
    yy = torch.linspace(-1, 1, 2 * oh)[:, None]
    xx = torch.linspace(-1, 1, 2 * ow)[None, :]
    alpha = ((1 - (yy**2 + xx**2)).clamp(0, 1) * 4).clamp(0, 1)  # soft-edged ellipse
    o0 = (u(0, 2 * h - 2 * oh), u(0, 2 * w - 2 * ow))
    ov = (u(-1, 1) * 2 * h / frames * 0.6, u(-1, 1) * 2 * w / frames * 0.6)

    src = image[None]
    out = []
    for k in range(frames):
        cy = c0[0] + vy * k + wobble * math.sin(phase + 0.4 * k)
        cx = c0[1] + vx * k + wobble * math.cos(phase + 0.3 * k)
        pix = oversample * (1 + zoom * k) / 2  # rendered at 2x the output size
        grid = _affine_grid((hs, ws), (2 * h, 2 * w), (cy, cx), pix, spin * k)
        frame = F.grid_sample(src, grid, mode="bilinear", padding_mode="reflection", align_corners=True)[0]
        if object_motion:
            y = int(round(min(max(o0[0] + ov[0] * k, 0), 2 * h - 2 * oh)))
            x = int(round(min(max(o0[1] + ov[1] * k, 0), 2 * w - 2 * ow)))
            region = frame[:, y : y + 2 * oh, x : x + 2 * ow]
            frame[:, y : y + 2 * oh, x : x + 2 * ow] = alpha * patch + (1 - alpha) * region
        small = imresize(frame, size=(h, w)).clamp(0, 1)
        out.append((small * 255).round().to(torch.uint8))
    return torch.stack(out)
