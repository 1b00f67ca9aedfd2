"""CVRS: continuous space-time video *resampling* with invertible motion steganography.

Y. Zhang and Z. Chen, "Continuous Space-Time Video Resampling with Invertible Motion
Steganography", CVPR 2025 (code: ``hahazh/CSTVR``, no licence file; reimplemented
from a description, nothing copied).

CVRS is a resampler, not a super-resolver of arbitrary low-resolution video::

    hr (B, T, 3, H, W) --downet--> latent (B, T', 3, H', W')   learned space-time down-sampler
        --IMSM hide--> stego (B, T', 3, H', W'), 8-bit          looks like an ordinary LR video,
                                                                hides the dropped frames' motion
    stego --IMSM reveal--> latent --upnet--> (B, T'', 3, H'', W'')  any size, incl. 30 <-> 24 fps

Parts (authors' key prefixes kept so their checkpoints load unchanged):

- ``downet``: :class:`STREVDown` (conv + residual 3D blocks + :class:`ImplicitModulation3D`).
- ``upnet``: :class:`STREVUpDense` (``RescalerNet``: 3D dense blocks; Tx2_Sx1 and "Contin"
  weights) or :class:`STREVUpMix` (``Rescaler_MixNet``: dense blocks alternating with
  Video-Swin layers; every other Tx/Sx setting).
- ``inverter``: :class:`IMSM` (``IND_inv3D``): two levels of space pixel-unshuffle and
  affine couplings, a bijection between the latent and a same-size stego video. It
  also holds ``downsample``, a copy of the down-sampler that inference never uses
  (present in the authors' inverter checkpoints).

Layout: the public methods take and return ``(B, T, C, H, W)`` RGB like every stvsr
model; internally (and in the authors' code) tensors are ``(B, C, T, H, W)``.
Sizes are always ``(T, H, W)``. Time is cell-centred over the clip: output frame
``k`` of ``T_out`` sits at input frame position ``(2k+1) T_in / (2 T_out) - 1/2``
(:func:`cvrs_time_grid`); there is no timestamp argument, the frame rate changes
through ``T_out`` versus ``T_in`` (:func:`cvrs_frames_for_fps`).

Stego convention: :meth:`CVRS.downscale` returns float values ``k / 255`` (or a
``uint8`` tensor with ``as_uint8=True``); :meth:`CVRS.upscale` accepts both.
Quantisation rounds by default (as in training); ``quantize="truncate"`` reproduces
the authors' test scripts (``astype(uint8)``); ``quantize=None`` keeps floats.

Memory: the implicit heads evaluate the query grid in tiles of at most
``max_chunk_bytes`` working memory (default 256 MiB per tile), so any output size
fits; the authors' code materialises ~6 GB for 7x576x720 and tiles frames by hand.
Without autograd the down-sampler's full-resolution trunk also runs on row bands
under the same budget (halo = its receptive field, same values); its output feature
(M channels at full input size, 0.75 GB for 7x576x720 at M = 64) is still held whole,
because every latent voxel may read any input cell.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from typing import Any

import torch
from torch import nn

from stvsr._validate import check_positive_int, check_tensor
from stvsr.layers.implicit3d import ImplicitModulation3D, cell_centre_positions
from stvsr.layers.invertible import AffineCoupling3d, DenseBlock3d, InvertibleSequential, SpacePixelUnshuffle3d
from stvsr.layers.swin3d import SwinLayer3D
from stvsr.models._base import StvsrModel
from stvsr.models._capabilities import Capabilities

__all__ = [
    "CVRS",
    "IMSM",
    "CVRSConfig",
    "STREVDown",
    "STREVUpDense",
    "STREVUpMix",
    "cvrs_frames_for_fps",
    "cvrs_time_grid",
    "quantize_8bit",
]

_DEFAULT_CHUNK = 256 * 2**20


# ----------------------------------------------------------------------------- config


@dataclass
class CVRSConfig:
    """Every constructor argument of :class:`CVRS` (``CVRS(**asdict(cfg))`` rebuilds it).

    Down-sampler: ``down_channels`` M, ``down_blocks`` N, ``down_kernel`` of the first conv.
    Up-sampler ``up_variant``: ``"dense"`` (``RescalerNet``: ``up_channels`` M_up, ``up_blocks``
    dense blocks, ``fuse_channels`` f) or ``"mix"`` (``Rescaler_MixNet``: ``up_channels`` = dim,
    ``up_blocks`` dense blocks before each Swin layer, ``depths``/``num_heads`` per Swin layer,
    ``window_size``, ``use_shuffle``, ``use_shortcut``). IMSM: ``imsm_blocks`` couplings per
    level (``None``: no IMSM, a rescaler only) and the config of its unused ``downsample``
    copy (``imsm_down_*``, default: as the down-sampler).
    """

    down_channels: int = 64
    down_blocks: int = 4
    down_kernel: tuple[int, int, int] = (3, 3, 3)
    up_variant: str = "mix"
    up_channels: int = 64
    up_blocks: int = 2
    fuse_channels: int = 64
    depths: tuple[int, ...] = (2, 2, 2, 2, 2, 2)
    num_heads: tuple[int, ...] = (4, 4, 4, 4, 4, 4)
    window_size: tuple[int, int, int] = (3, 7, 7)
    use_shuffle: bool = True
    use_shortcut: bool = True
    in_channels: int = 3
    imsm_blocks: int | None = 8
    imsm_down_channels: int | None = None
    imsm_down_blocks: int | None = None
    imsm_down_kernel: tuple[int, int, int] | None = None
    max_chunk_bytes: int | None = field(default=_DEFAULT_CHUNK)

    def __post_init__(self) -> None:
        if self.up_variant not in ("dense", "mix"):
            raise ValueError(f"up_variant must be 'dense' or 'mix', got {self.up_variant!r}")
        if self.up_variant == "dense" and not (self.use_shuffle and self.use_shortcut):
            raise ValueError("the dense up-sampler always uses the pixel shuffle and the shortcut path")
        if len(self.depths) != len(self.num_heads):
            raise ValueError(f"depths {self.depths} and num_heads {self.num_heads} must have the same length")
        if self.use_shuffle and self.up_channels % 4:
            raise ValueError(f"up_channels must be divisible by 4 with the pixel shuffle, got {self.up_channels}")
        self.down_kernel = tuple(int(k) for k in self.down_kernel)  # type: ignore[assignment]
        self.window_size = tuple(int(w) for w in self.window_size)  # type: ignore[assignment]
        self.depths = tuple(int(d) for d in self.depths)
        self.num_heads = tuple(int(h) for h in self.num_heads)
        if self.imsm_down_kernel is not None:
            self.imsm_down_kernel = tuple(int(k) for k in self.imsm_down_kernel)  # type: ignore[assignment]

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable dict (tuples as lists)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


# ----------------------------------------------------------------------------- helpers


def cvrs_time_grid(n_in: int, n_out: int) -> list[float]:
    """Positions of the ``n_out`` output frames in input-frame units (input frame ``i`` at ``i``).

    CVRS's grids are cell-centred over the clip: ``u_k = (2k + 1) n_in / (2 n_out) - 1/2``.
    E.g. 7 -> 4: ``[0.375, 2.125, 3.875, 5.625]``; 4 -> 5 (24 -> 30 fps): ``[-0.1, 0.7, 1.5, 2.3, 3.1]``.
    """
    for v, name in ((n_in, "n_in"), (n_out, "n_out")):
        check_positive_int(v, name)
    return cell_centre_positions(n_in, n_out)


def cvrs_frames_for_fps(n_frames: int, fps_in: float, fps_out: float) -> int:
    """Frame count covering the same duration at ``fps_out``: ``round(n_frames fps_out / fps_in)`` (half up).

    The rate is exact when ``n_frames fps_out / fps_in`` is an integer, e.g. 5 frames at
    30 fps -> 4 at 24 fps, 4 at 24 -> 5 at 30; otherwise the cell-centred grid spreads
    the rounded count over the clip. Always at least 1.
    """
    check_positive_int(n_frames, "n_frames")
    for v, name in ((fps_in, "fps_in"), (fps_out, "fps_out")):
        if not isinstance(v, (int, float, Fraction)) or isinstance(v, bool) or not math.isfinite(v) or v <= 0:
            raise ValueError(f"{name} must be a positive finite number, got {v!r}")
    exact = Fraction(n_frames) * Fraction(fps_out).limit_denominator(10**6) / Fraction(fps_in).limit_denominator(10**6)
    return max(1, math.floor(exact + Fraction(1, 2)))


def quantize_8bit(x: torch.Tensor, mode: str | None = "round") -> torch.Tensor:
    """Clamp to [0, 1] and quantise to multiples of 1/255 (``"round"`` or ``"truncate"``; ``None``: clamp only).

    With autograd on, the gradient passes straight through the rounding (``Quantize_ste``).
    """
    if mode not in ("round", "truncate", None):
        raise ValueError(f"quantize must be 'round', 'truncate' or None, got {mode!r}")
    x = x.clamp(0, 1)
    if mode is None:
        return x
    q = (torch.round(x * 255) if mode == "round" else torch.floor(x * 255)) / 255
    return x + (q - x).detach() if torch.is_grad_enabled() and x.requires_grad else q


def _check_size(size: object, name: str) -> tuple[int, int, int]:
    if isinstance(size, torch.Size):
        size = tuple(size)
    if (
        not isinstance(size, Sequence)
        or isinstance(size, str)
        or len(size) != 3
        or any(isinstance(s, bool) or not isinstance(s, int) for s in size)
    ):
        raise TypeError(f"{name} must be three ints (T, H, W), got {size!r}")
    if min(size) < 1:
        raise ValueError(f"{name} must be positive (T, H, W), got {tuple(size)}")
    return int(size[0]), int(size[1]), int(size[2])


def _check_clip(x: object, name: str) -> torch.Tensor:
    t = check_tensor(x, name)
    if t.dim() != 5:
        raise ValueError(f"{name} must be a 5-D tensor of layout (B, T, C, H, W), got shape {tuple(t.shape)}")
    if not t.is_floating_point():
        raise TypeError(f"{name} must have a floating dtype, got {t.dtype}")
    if t.shape[2] != 3:
        hint = " (it looks like (B, C, T, H, W); stvsr uses (B, T, C, H, W))" if t.shape[1] == 3 else ""
        raise ValueError(f"{name} must have 3 channels in dim 2 (B, T, C, H, W), got shape {tuple(t.shape)}{hint}")
    return t


def _check_mult4(h: int, w: int, name: str) -> None:
    if h % 4 or w % 4:
        raise ValueError(
            f"{name} height and width must be multiples of 4 (the IMSM pixel-unshuffles twice by 2), "
            f"got (H, W) = {(h, w)}"
        )


def _to_bcthw(x: torch.Tensor) -> torch.Tensor:
    return x.transpose(1, 2)


# ----------------------------------------------------------------------------- blocks


class ResidualBlock3dNoBN(nn.Module):
    """``x + conv2(PReLU(conv1(x)))``, 3x3x3 convs, one shared PReLU slope (keys conv1, conv2, relu)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv3d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv3d(channels, channels, 3, padding=1)
        self.relu = nn.PReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv2(self.relu(self.conv1(x)))
        # in place without autograd: these blocks run at full HR resolution, one copy less matters
        return out.add_(x) if not torch.is_grad_enabled() else x + out


def _conv_prelu(
    cin: int, cout: int, kernel: Sequence[int] | int = 3, padding: Sequence[int] | int = 1
) -> nn.Sequential:
    return nn.Sequential(nn.Conv3d(cin, cout, kernel, padding=padding), nn.PReLU())  # type: ignore[arg-type]


class STREVDown(nn.Module):
    """Learned space-time down-sampler (``STREV_down``): ``(B, 3, T, H, W)`` -> ``(B, 3, T', H', W')``, not clamped.

    ``first_block`` conv (kernel ``kernel_size``, padding ``(1, (kh-1)/2, (kw-1)/2)`` -- the
    temporal padding is always 1, so T is kept only for kt = 3) + PReLU, ``blocks`` residual
    3D blocks, then an :class:`ImplicitModulation3D` queried at the target size.
    """

    def __init__(
        self,
        in_channels: int = 3,
        mid_channels: int = 64,
        blocks: int = 4,
        kernel_size: Sequence[int] = (3, 3, 3),
        max_chunk_bytes: int | None = _DEFAULT_CHUNK,
    ) -> None:
        super().__init__()
        kt, kh, kw = (int(k) for k in kernel_size)
        self.kernel_size = (kt, kh, kw)
        self.mid_channels = mid_channels
        self.first_block = _conv_prelu(in_channels, mid_channels, (kt, kh, kw), (1, (kh - 1) // 2, (kw - 1) // 2))
        self.feat_extractor = nn.Sequential(*[ResidualBlock3dNoBN(mid_channels) for _ in range(blocks)])
        self.down_head = ImplicitModulation3D(mid_channels, max_chunk_bytes=max_chunk_bytes)

    def forward(self, x: torch.Tensor, size: Sequence[int], **head_kw: Any) -> torch.Tensor:
        t_feat = x.shape[2] + 3 - self.kernel_size[0]
        if t_feat < 1:
            raise ValueError(
                f"the down-sampler's temporal kernel {self.kernel_size[0]} needs at least "
                f"{self.kernel_size[0] - 2} input frames, got {x.shape[2]}"
            )
        budget = head_kw.get("max_chunk_bytes", "default")
        budget = self.down_head.max_chunk_bytes if budget == "default" else budget
        return self.down_head(self.features(x, budget), size, **head_kw)

    def features(self, x: torch.Tensor, max_bytes: int | None = None) -> torch.Tensor:
        """The trunk ``(B, 3, T, H, W)`` -> ``(B, M, T + 3 - kt, H, W)``.

        Without autograd and with a budget ``max_bytes``, the trunk runs on row bands with a
        halo as deep as its receptive field (``(kh-1)/2 + 2 * blocks`` rows), which gives the
        same values while only one band's activations are alive (the trunk works at full
        input resolution, ~0.75 GB per activation for 7 x 576 x 720 x 64).
        """
        m = self.mid_channels
        b, _, t, h, w = x.shape
        per_row = 4 * b * m * t * w * x.element_size()  # input reorder, activation, two conv outputs
        if max_bytes is None or torch.is_grad_enabled() or per_row * h <= max_bytes:
            return self.feat_extractor(self.first_block(x))
        halo = (self.kernel_size[1] - 1) // 2 + 2 * len(self.feat_extractor)
        rows = max(8, max_bytes // per_row - 2 * halo)
        # channels-last storage: the head then gathers from it without another full-size copy
        out = x.new_empty((b, t + 3 - self.kernel_size[0], h, w, m)).permute(0, 4, 1, 2, 3)
        for r0 in range(0, h, rows):
            r1 = min(r0 + rows, h)
            e0, e1 = max(r0 - halo, 0), min(r1 + halo, h)
            band = self.feat_extractor(self.first_block(x[:, :, :, e0:e1]))
            out[:, :, :, r0:r1] = band[:, :, :, r0 - e0 : r0 - e0 + r1 - r0]
            del band
        return out


class STREVUpDense(nn.Module):
    """``RescalerNet``'s up-sampler: ``(B, 3, T', H', W')`` (H', W' even) -> ``(B, 3, T, H, W)``, not clamped.

    conv (3 -> M/4) + PReLU, space unshuffle x2 (M ch), ``fuse_out(dense blocks(u)) + fuse_in(u)``
    (each M -> 4f + PReLU), space shuffle (f ch), :class:`ImplicitModulation3D` (f).
    """

    def __init__(
        self,
        in_channels: int = 3,
        mid_channels: int = 64,
        blocks: int = 4,
        fuse_channels: int = 64,
        max_chunk_bytes: int | None = _DEFAULT_CHUNK,
    ) -> None:
        super().__init__()
        self.first_block = _conv_prelu(in_channels, mid_channels // 4)
        self.relu = nn.PReLU()  # unused; present in the authors' checkpoints
        self.dense3d_backbone = nn.Sequential(
            *[DenseBlock3d(mid_channels, mid_channels, 32, (1, 3, 3), (3, 1, 1), residual=True) for _ in range(blocks)]
        )
        self.fuse_channel_in = _conv_prelu(mid_channels, 4 * fuse_channels)
        self.fuse_channel_out = _conv_prelu(mid_channels, 4 * fuse_channels)
        self.head = ImplicitModulation3D(fuse_channels, max_chunk_bytes=max_chunk_bytes)
        self.shuffle = SpacePixelUnshuffle3d(2)
        self.needs_even = True

    def forward(self, x: torch.Tensor, size: Sequence[int], **head_kw: Any) -> torch.Tensor:
        u = self.shuffle(self.first_block(x))
        z = self.fuse_channel_out(self.dense3d_backbone(u)) + self.fuse_channel_in(u)
        return self.head(self.shuffle.inverse(z), size, **head_kw)


class STREVUpMix(nn.Module):
    """``Rescaler_MixNet``'s up-sampler: dense blocks alternating with Video-Swin layers.

    conv (3 -> dim/4 with shuffle, else dim) + PReLU, [space unshuffle], for each stage i
    ``layers[2i]`` = ``blocks`` x dense block (residual iff ``use_shortcut``) and ``layers[2i+1]`` =
    :class:`SwinLayer3D` (``depths[i]``, ``num_heads[i]``, ``window_size``), then
    ``fuse_out(x) [+ fuse_in(s)]`` (-> 4f or f, + PReLU), [space shuffle], implicit head (f).
    """

    def __init__(
        self,
        in_channels: int = 3,
        dim: int = 64,
        blocks: int = 2,
        depths: Sequence[int] = (2, 2),
        num_heads: Sequence[int] = (4, 4),
        window_size: Sequence[int] = (3, 7, 7),
        fuse_channels: int = 64,
        use_shortcut: bool = True,
        use_shuffle: bool = True,
        max_chunk_bytes: int | None = _DEFAULT_CHUNK,
    ) -> None:
        super().__init__()
        r2 = 4 if use_shuffle else 1
        self.first_block = _conv_prelu(in_channels, dim // r2)
        self.fuse_channel_out = _conv_prelu(dim, r2 * fuse_channels)
        self.fuse_channel_in = _conv_prelu(dim, r2 * fuse_channels) if use_shortcut else None
        self.relu = nn.PReLU()  # unused; present in the authors' checkpoints
        layers: list[nn.Module] = []
        for depth, heads in zip(depths, num_heads, strict=True):
            layers.append(
                nn.Sequential(
                    *[DenseBlock3d(dim, dim, 32, (1, 3, 3), (3, 1, 1), residual=use_shortcut) for _ in range(blocks)]
                )
            )
            layers.append(SwinLayer3D(dim, depth, heads, window_size))
        self.layers = nn.ModuleList(layers)
        self.head = ImplicitModulation3D(fuse_channels, max_chunk_bytes=max_chunk_bytes)
        self.shuffle = SpacePixelUnshuffle3d(2) if use_shuffle else None
        self.needs_even = use_shuffle

    def forward(self, x: torch.Tensor, size: Sequence[int], **head_kw: Any) -> torch.Tensor:
        x = self.first_block(x)
        if self.shuffle is not None:
            x = self.shuffle(x)
        s = x
        for layer in self.layers:
            x = layer(x)
        x = self.fuse_channel_out(x)
        if self.fuse_channel_in is not None:
            x = x + self.fuse_channel_in(s)
        if self.shuffle is not None:
            x = self.shuffle.inverse(x)
        return self.head(x, size, **head_kw)


# ----------------------------------------------------------------------------- IMSM


class IMSM(StvsrModel):
    """Invertible Motion Steganography Module (``IND_inv3D``): latent <-> stego, same size.

    ``inv_block.operations`` = [unshuffle x2 (3 -> 12 ch), ``block_num`` couplings (split 3/9),
    unshuffle x2 (-> 48 ch), ``block_num`` couplings (split 3/45)]; couplings are
    :class:`~stvsr.layers.invertible.AffineCoupling3d` with clamp 1 and dense 3D sub-nets.
    ``hide`` runs the stack and pixel-shuffles the 48-ch result back to 3 ch at full size;
    ``reveal`` is the exact inverse. Both clamp to [0, 1] by default (as the authors).
    H and W must be multiples of 4; T is free. ``downsample`` is a :class:`STREVDown` the
    authors' inverter checkpoints carry but inference does not use (:meth:`encode` runs it).

    Rebuild with ``IMSM(**model.config)``.
    """

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(task="resampler", space_scales=(), times=(), min_frames=1)

    def __init__(
        self,
        block_num: int = 8,
        down_channels: int = 64,
        down_blocks: int = 4,
        down_kernel: Sequence[int] = (3, 3, 3),
        max_chunk_bytes: int | None = _DEFAULT_CHUNK,
    ) -> None:
        super().__init__()
        check_positive_int(block_num, "block_num")
        self.config = {
            "block_num": block_num,
            "down_channels": down_channels,
            "down_blocks": down_blocks,
            "down_kernel": [int(k) for k in down_kernel],
            "max_chunk_bytes": max_chunk_bytes,
        }
        self.downsample = STREVDown(3, down_channels, down_blocks, down_kernel, max_chunk_bytes)
        ops: list[nn.Module] = [SpacePixelUnshuffle3d(2)]
        ops += [AffineCoupling3d(12, 3, clamp=1.0) for _ in range(block_num)]
        ops += [SpacePixelUnshuffle3d(2)]
        ops += [AffineCoupling3d(48, 3, clamp=1.0) for _ in range(block_num)]
        self.inv_block = InvertibleSequential(ops)
        self._shuffle = SpacePixelUnshuffle3d(2)

    # (B, C, T, H, W) internals -------------------------------------------------------
    def hide_bcthw(self, latent: torch.Tensor, clamp: bool = True) -> torch.Tensor:
        """Authors' ``inference_latent2RGB`` without no_grad: ``(B, 3, T, H, W)`` -> stego."""
        _check_mult4(latent.shape[-2], latent.shape[-1], "latent")
        stego = self._shuffle.inverse(self._shuffle.inverse(self.inv_block(latent)))
        return stego.clamp(0, 1) if clamp else stego

    def reveal_bcthw(self, stego: torch.Tensor, clamp: bool = True) -> torch.Tensor:
        """Authors' ``inference_RGB2latent`` without no_grad: ``(B, 3, T, H, W)`` stego -> latent."""
        _check_mult4(stego.shape[-2], stego.shape[-1], "stego")
        latent = self.inv_block.inverse(self._shuffle(self._shuffle(stego)))
        return latent.clamp(0, 1) if clamp else latent

    # public (B, T, C, H, W) ------------------------------------------------------------
    def hide(self, latent: torch.Tensor, *, clamp: bool = True) -> torch.Tensor:
        """Latent ``(B, T, 3, H, W)`` -> stego ``(B, T, 3, H, W)``, clamped to [0, 1] (not quantised)."""
        latent = _check_clip(latent, "latent")
        return _to_bcthw(self.hide_bcthw(_to_bcthw(latent), clamp))

    def reveal(self, stego: torch.Tensor, *, clamp: bool = True) -> torch.Tensor:
        """Stego ``(B, T, 3, H, W)`` (float in [0, 1] or uint8) -> latent ``(B, T, 3, H, W)``."""
        if isinstance(stego, torch.Tensor) and stego.dtype == torch.uint8:
            stego = stego.to(next(self.parameters()).dtype) / 255
        stego = _check_clip(stego, "stego")
        return _to_bcthw(self.reveal_bcthw(_to_bcthw(stego), clamp))

    def encode(self, hr: torch.Tensor, size: Sequence[int], **head_kw: Any) -> torch.Tensor:
        """The unused ``downsample`` copy (authors' ``IND_inv3D.inference_down``, no clamp), (B, T, C, H, W)."""
        hr = _check_clip(hr, "hr")
        return _to_bcthw(self.downsample(_to_bcthw(hr), _check_size(size, "size"), **head_kw))

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        return self.hide(latent)


# ----------------------------------------------------------------------------- CVRS


class CVRS(StvsrModel):
    """CVRS space-time resampler: ``downscale`` HR video to an 8-bit stego video, ``upscale`` it back.

    Rebuild with ``CVRS(**model.config)`` (the fields of :class:`CVRSConfig`). All public
    methods use ``(B, T, 3, H, W)`` RGB float in [0, 1] and sizes ``(T, H, W)``.

    Example::

        stego = cvrs.downscale(hr, size=(4, 144, 180))          # (B, 4, 3, 144, 180), values k/255
        out = cvrs.upscale(stego, size=(7, 576, 720))           # (B, 7, 3, 576, 720)
        out = cvrs.resample(hr, (4, 144, 180))                  # both; back to hr's size

    ``authors_compat`` clamps: the dense variant (``RescalerNet``) clamps the latent and the
    raw up-sampler output to [0, 1]; the Mix variant clamps neither (:meth:`encode` /
    :meth:`decode` with ``clamp=None`` follow this). The user-facing :meth:`upscale` clamps by
    default either way.
    """

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(task="resampler", min_frames=1)

    def __init__(self, **config: Any) -> None:
        super().__init__()
        cfg = CVRSConfig(**config)
        self.cfg = cfg
        self.config = cfg.to_dict()
        chunk = cfg.max_chunk_bytes
        self.downet = STREVDown(cfg.in_channels, cfg.down_channels, cfg.down_blocks, cfg.down_kernel, chunk)
        self.upnet: STREVUpDense | STREVUpMix
        if cfg.up_variant == "dense":
            self.upnet = STREVUpDense(cfg.in_channels, cfg.up_channels, cfg.up_blocks, cfg.fuse_channels, chunk)
        else:
            self.upnet = STREVUpMix(
                cfg.in_channels,
                cfg.up_channels,
                cfg.up_blocks,
                cfg.depths,
                cfg.num_heads,
                cfg.window_size,
                cfg.fuse_channels,
                cfg.use_shortcut,
                cfg.use_shuffle,
                chunk,
            )
        self.inverter: IMSM | None = None
        if cfg.imsm_blocks is not None:
            self.inverter = IMSM(
                cfg.imsm_blocks,
                cfg.imsm_down_channels or cfg.down_channels,
                cfg.imsm_down_blocks if cfg.imsm_down_blocks is not None else cfg.down_blocks,
                cfg.imsm_down_kernel or cfg.down_kernel,
                chunk,
            )
        # authors_compat: RescalerNet clamps latent and output; Rescaler_MixNet clamps neither
        self.clamps_natively = cfg.up_variant == "dense"

    @property
    def max_chunk_bytes(self) -> int | None:
        """Working-memory budget of one query tile of the implicit heads (bytes; None: no tiling)."""
        return self.upnet.head.max_chunk_bytes

    @max_chunk_bytes.setter
    def max_chunk_bytes(self, value: int | None) -> None:
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value <= 0):
            raise ValueError(f"max_chunk_bytes must be a positive int or None, got {value!r}")
        for m in self.modules():
            if isinstance(m, ImplicitModulation3D):
                m.max_chunk_bytes = value

    def _head_kw(self, max_chunk_bytes: int | None | str) -> dict[str, Any]:
        return {} if max_chunk_bytes == "default" else {"max_chunk_bytes": max_chunk_bytes}

    def _require_inverter(self) -> IMSM:
        if self.inverter is None:
            raise RuntimeError(
                "this CVRS has no IMSM (a rescaler only: imsm_blocks=None); use encode/decode, "
                "or convert both checkpoints with stvsr.convert_checkpoint('cvrs', ...)"
            )
        return self.inverter

    # latent level ----------------------------------------------------------------------
    def encode(
        self,
        hr: torch.Tensor,
        size: Sequence[int],
        *,
        clamp: bool | None = None,
        max_chunk_bytes: int | None | str = "default",
    ) -> torch.Tensor:
        """HR ``(B, T, 3, H, W)`` -> latent ``(B, T', 3, H', W')`` with ``size = (T', H', W')``.

        ``clamp=None`` follows the authors (dense variant clamps to [0, 1], Mix does not).
        """
        hr = _check_clip(hr, "hr")
        size = _check_size(size, "size")
        latent = self.downet(_to_bcthw(hr), size, **self._head_kw(max_chunk_bytes))
        if self.clamps_natively if clamp is None else clamp:
            latent = latent.clamp(0, 1)
        return _to_bcthw(latent)

    def decode(
        self,
        latent: torch.Tensor,
        size: Sequence[int],
        *,
        clamp: bool | None = None,
        max_chunk_bytes: int | None | str = "default",
    ) -> torch.Tensor:
        """Latent ``(B, T', 3, H', W')`` -> ``(B, T, 3, H, W)`` with ``size = (T, H, W)``.

        H', W' must be even with the pixel shuffle. ``clamp=None`` follows the authors.
        """
        latent = _check_clip(latent, "latent")
        size = _check_size(size, "size")
        if self.upnet.needs_even and (latent.shape[-2] % 2 or latent.shape[-1] % 2):
            raise ValueError(
                f"latent height and width must be even (the up-sampler pixel-unshuffles by 2), "
                f"got (H, W) = {tuple(latent.shape[-2:])}"
            )
        out = self.upnet(_to_bcthw(latent), size, **self._head_kw(max_chunk_bytes))
        if self.clamps_natively if clamp is None else clamp:
            out = out.clamp(0, 1)
        return _to_bcthw(out)

    # user API --------------------------------------------------------------------------
    def downscale(
        self,
        hr: torch.Tensor,
        size: Sequence[int],
        *,
        quantize: str | None = "round",
        as_uint8: bool = False,
        max_chunk_bytes: int | None | str = "default",
    ) -> torch.Tensor:
        """HR video ``(B, T, 3, H, W)`` -> stego video ``(B, T', 3, H', W')``, ``size = (T', H', W')``.

        H', W' must be multiples of 4. The stego is clamped to [0, 1] and quantised to
        multiples of 1/255: ``quantize="round"`` (default; as in training), ``"truncate"``
        (the authors' test scripts) or ``None`` (float, for analysis). ``as_uint8=True``
        returns a ``uint8`` tensor of the levels instead of ``k / 255`` floats.
        """
        inverter = self._require_inverter()
        size = _check_size(size, "size")
        _check_mult4(size[1], size[2], "size")
        if as_uint8 and quantize is None:
            raise ValueError("as_uint8=True needs quantize='round' or 'truncate'")
        latent = self.encode(hr, size, max_chunk_bytes=max_chunk_bytes)
        stego = quantize_8bit(inverter.hide_bcthw(_to_bcthw(latent)), quantize)
        stego = _to_bcthw(stego)
        return torch.round(stego * 255).to(torch.uint8) if as_uint8 else stego

    def upscale(
        self,
        stego: torch.Tensor,
        size: Sequence[int],
        *,
        clamp: bool = True,
        max_chunk_bytes: int | None | str = "default",
    ) -> torch.Tensor:
        """Stego ``(B, T', 3, H', W')`` (float ``k/255`` in [0, 1], or ``uint8``) -> ``(B, T, 3, H, W)``.

        ``size = (T, H, W)`` is any size; clamped to [0, 1] unless ``clamp=False``.
        """
        inverter = self._require_inverter()
        if isinstance(stego, torch.Tensor) and stego.dtype == torch.uint8:
            stego = stego.to(next(self.parameters()).dtype) / 255
        stego = _check_clip(stego, "stego")
        _check_mult4(stego.shape[-2], stego.shape[-1], "stego")
        latent = inverter.reveal_bcthw(_to_bcthw(stego))
        return self.decode(_to_bcthw(latent), size, clamp=clamp, max_chunk_bytes=max_chunk_bytes)

    def resample(
        self,
        hr: torch.Tensor,
        size: Sequence[int],
        out_size: Sequence[int] | None = None,
        *,
        quantize: str | None = "round",
        clamp: bool = True,
        return_stego: bool = False,
        max_chunk_bytes: int | None | str = "default",
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """``downscale`` to ``size`` then ``upscale`` to ``out_size`` (default: ``hr``'s own size).

        Returns the reconstruction ``(B, T, 3, H, W)``, or ``(stego, reconstruction)``
        with ``return_stego=True``.
        """
        hr = _check_clip(hr, "hr")
        if out_size is None:
            out_size = (hr.shape[1], hr.shape[3], hr.shape[4])
        out_size = _check_size(out_size, "out_size")
        stego = self.downscale(hr, size, quantize=quantize, max_chunk_bytes=max_chunk_bytes)
        out = self.upscale(stego, out_size, clamp=clamp, max_chunk_bytes=max_chunk_bytes)
        return (stego, out) if return_stego else out

    def forward(
        self, hr: torch.Tensor, size: Sequence[int], out_size: Sequence[int] | None = None, **kw: Any
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Same as :meth:`resample`."""
        return self.resample(hr, size, out_size, **kw)
