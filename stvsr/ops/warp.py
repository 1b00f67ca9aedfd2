"""Backward warping and flow resizing.

Flows are ``(B, 2, H, W)`` in pixels, channel 0 horizontal (x, to the right) and
channel 1 vertical (y, down): output pixel (y, x) samples the input at
``(y + flow[1, y, x], x + flow[0, y, x])``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from stvsr._validate import check_finite, check_float, check_rank, check_tensor

_MODES = ("bilinear", "nearest", "bicubic")
_PADDING = ("zeros", "border", "reflection")


def sampling_dtype(*tensors: torch.Tensor | None) -> torch.dtype:
    """float64 if any tensor is float64, else float32: half types cannot hold pixel positions (bfloat16
    rounds 300.4 to 300, float16 719.5 to 719), so warping and splatting compute in float32."""
    return torch.float64 if any(t is not None and t.dtype == torch.float64 for t in tensors) else torch.float32


def _base_grid(h: int, w: int, like: torch.Tensor) -> torch.Tensor:
    ys = torch.arange(h, device=like.device, dtype=like.dtype)
    xs = torch.arange(w, device=like.device, dtype=like.dtype)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack((gx, gy), dim=0)  # (2, H, W), x first like the flow


def backward_warp(
    x: torch.Tensor,
    flow: torch.Tensor,
    mode: str = "bilinear",
    padding_mode: str = "zeros",
    align_corners: bool = True,
) -> torch.Tensor:
    """Sample ``x`` at every pixel displaced by ``flow`` (``grid_sample`` with pixel flows).

    Args:
        x: ``(B, C, H, W)`` image or features, any range.
        flow: ``(B, 2, H, W)`` displacement in pixels, channel 0 = x, channel 1 = y.
        mode: ``"bilinear"``, ``"nearest"`` or ``"bicubic"``.
        padding_mode: ``"zeros"``, ``"border"`` or ``"reflection"``.
        align_corners: ``True`` maps pixel centres 0 and W-1 to -1 and 1 (so a zero
            flow is an exact identity); ``False`` is grid_sample's half-pixel
            convention, which some authors' code used implicitly (see FMU).

    Returns:
        ``(B, C, H, W)``, same dtype as ``x``. Positions are computed and sampled in float32
        for float16/bfloat16 inputs (float64 stays float64).
    """
    check_tensor(x, "x")
    check_tensor(flow, "flow")
    check_rank(x, "x", 4, "B, C, H, W")
    check_rank(flow, "flow", 4, "B, 2, H, W")
    check_float(x, "x")
    check_float(flow, "flow")
    if flow.shape[1] != 2 or flow.shape[0] != x.shape[0] or flow.shape[2:] != x.shape[2:]:
        raise ValueError(
            f"flow must have shape (B, 2, H, W) = {(x.shape[0], 2, *x.shape[2:])} to match x, got {tuple(flow.shape)}"
        )
    if mode not in _MODES:
        raise ValueError(f"mode must be one of {_MODES}, got {mode!r}")
    if padding_mode not in _PADDING:
        raise ValueError(f"padding_mode must be one of {_PADDING}, got {padding_mode!r}")
    check_finite(flow, "flow")
    h, w = x.shape[-2:]
    # positions and sampling in float32 at least: a half-precision grid cannot hold pixel positions
    # (bfloat16 rounds 300.4 to 300, and a normalised coordinate to ~1/256 of the frame width)
    cdt = sampling_dtype(x, flow)
    flow = flow.to(cdt)
    pos = _base_grid(h, w, flow) + flow  # (B, 2, H, W) absolute pixel positions
    if align_corners:
        gx = 2.0 * pos[:, 0] / max(w - 1, 1) - 1.0
        gy = 2.0 * pos[:, 1] / max(h - 1, 1) - 1.0
    else:
        gx = (2.0 * pos[:, 0] + 1.0) / w - 1.0
        gy = (2.0 * pos[:, 1] + 1.0) / h - 1.0
    grid = torch.stack((gx, gy), dim=-1)
    out = F.grid_sample(x.to(cdt), grid, mode=mode, padding_mode=padding_mode, align_corners=align_corners)
    return out.to(x.dtype)


def resize_flow(
    flow: torch.Tensor, size: tuple[int, int], mode: str = "bilinear", align_corners: bool = False
) -> torch.Tensor:
    """Resize a pixel flow field to ``size = (H', W')`` and scale its vectors to match.

    Args:
        flow: ``(B, 2, H, W)`` in pixels (channel 0 = x, channel 1 = y).
        size: target ``(H', W')``, positive integers.

    Returns:
        ``(B, 2, H', W')`` where the x component is multiplied by ``W'/W`` and the y
        component by ``H'/H``.
    """
    check_tensor(flow, "flow")
    check_rank(flow, "flow", 4, "B, 2, H, W")
    check_float(flow, "flow")
    if flow.shape[1] != 2:
        raise ValueError(f"flow must have 2 channels (x, y), got shape {tuple(flow.shape)}")
    if len(size) != 2 or any((not isinstance(s, int)) or s <= 0 for s in size):
        raise ValueError(f"size must be a pair of positive integers (H, W), got {size!r}")
    h, w = flow.shape[-2:]
    kwargs = {"align_corners": align_corners} if mode in ("bilinear", "bicubic") else {}
    out = F.interpolate(flow, size=tuple(size), mode=mode, **kwargs)
    factor = torch.tensor([size[1] / w, size[0] / h], dtype=flow.dtype, device=flow.device).view(1, 2, 1, 1)
    return out * factor
