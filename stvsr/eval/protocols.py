"""Named evaluation protocols with their exact rules.

Published STVSR numbers depend on small choices (which frames are inputs, which
are scored, how LR frames are made, how long clips are cut into windows), so each
protocol fixes all of them and :func:`plan` turns a protocol and a clip length into
the concrete lists of input frames, model windows and scored frames.

Rules shared by every protocol
------------------------------
* **Ground truth**: the clip's frames as read (8-bit RGB from PNG / lossless video),
  indexed ``0 .. N-1``. They are first *mod-cropped* (bottom/right) so that the LR
  size is a whole number of pixels: ``h = floor(H / s)``, HR cropped to
  ``round(s * h)`` (for integer ``s``: the largest multiple of ``s``; a no-op on Vid4
  and Vimeo-90K).
* **Time**: a protocol's time factor is the ratio ``r = a / b`` (reduced fraction) of
  output to input frame rate. LR inputs ("key frames") are the GT frames whose index
  is a multiple of ``a`` (``0, a, 2a, ...`` up to the last one that fits); the model
  is asked for ``times = (1/a, 2/a, ..., (a-1)/a)`` between every pair of keys, which
  reproduces every GT index from the first to the last key; the *scored* frames are
  the produced GT indices that are multiples of ``b`` (all of them for an integer
  factor). ``r = 4/5`` ("30->24 fps") therefore feeds every 4th frame and scores every
  5th.
* **Space**: :func:`stvsr.ops.degrade`, the module training uses too. BI = MATLAB-compatible
  bicubic (antialiased) :func:`stvsr.ops.imresize` by ``1/s``; BD =
  :func:`stvsr.ops.bd_degrade`: MATLAB ``imfilter(gt, fspecial('gaussian', 12, 1.6),
  'replicate')`` sampled at 1-based rows / columns ``s/2 : s : end`` (BasicVSR / MMEditing /
  KAIR's Vimeo-90K and Vid4 BDx4; each LR pixel is centred on its ``s x s`` HR block). LR
  frames are rounded to 8-bit values (halves up), as the LR PNGs of the benchmarks are.
* **Frames after the last key** (an even-length clip at x2: Vid4 ``city``'s frame 33) are
  produced as MsMr's ``test_vid4.py`` does: a second pass over the key grid shifted to end
  on the last frame (``N-1, N-1-a, ...``; LR made the same way); only the frames after the
  last key are taken from it, so every frame is produced and scored once. Not for
  rate-conversion cells (``b > 1``) or ``score="interpolated"`` protocols (there the last
  frame would be a copy of an input): those frames are not scored.
* **Windows**: the model runs through :class:`stvsr.video.Upscaler`, the streaming engine
  of ``stvsr upscale`` (:mod:`stvsr.models._windowed`: windows of ``L`` keys sharing
  ``overlap`` keys, each output frame from the window where it is farthest from the
  edges), so the score is the one of what users get and memory stays bounded on whole
  clips. ``L`` is the user's choice, else the model's exact ``input_frames`` (RIFE: 2),
  else the protocol's (``"clip"``: all keys in one call, the papers' VSR protocol), else
  the ``stvsr upscale`` default (7 keys, overlap 2).
* **Scores**: :func:`stvsr.metrics.psnr` / :func:`stvsr.metrics.ssim` (BasicSR
  protocol: outputs clamped and rounded to 8-bit) per scored frame, on the protocol's
  channel (Y = BT.601 luma) with its ``crop_border``; a clip's score is the mean over
  its scored frames; the overall score is reported both as the mean over all scored
  frames and as the mean of the clip means.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from fractions import Fraction
from typing import Any

import torch
from torch import nn

from stvsr.models._capabilities import PLAIN_MODULE, Capabilities, capabilities_of
from stvsr.models._windowed import default_overlap, default_window, plan_windows
from stvsr.ops.degradation import degrade as degrade_frames

__all__ = [
    "PROTOCOLS",
    "CONTINUOUS_SCALES",
    "CONTINUOUS_TIMES",
    "ModelSpec",
    "unsupported",
    "Plan",
    "Protocol",
    "degrade",
    "get_protocol",
    "list_protocols",
    "plan",
    "prepare",
    "run_clip",
]

#: the ``continuous`` protocol's grid
CONTINUOUS_SCALES = (1.5, 2.0, 2.5, 3.0, 3.5, 4.0)
CONTINUOUS_TIMES: tuple[Fraction, ...] = (Fraction(2), Fraction(3), Fraction(4), Fraction(6), Fraction(4, 5))


@dataclass(frozen=True)
class Protocol:
    """One evaluation setting (a cell of a grid protocol is a Protocol too).

    Attributes:
        name: registry name (``vid4-bi-4x2x``) or ``<grid>/<cell>`` for grid cells.
        summary: one line.
        degradation: ``"bi"``, ``"bd"`` or ``"none"`` (space factor 1).
        scale: space factor ``s`` (HR / LR).
        time: output / input frame rate ``r`` (1: no temporal upsampling).
        y_channel: score BT.601 luma (True) or RGB.
        crop_border: pixels dropped at each side before scoring.
        window: default key frames per model call: an int, ``"clip"`` (the whole clip in one
            call) or None (the ``stvsr upscale`` default).
        score: ``"all"`` produced frames matching the output grid, or ``"interpolated"``
            (frame interpolation: key frames are copies of the input and are skipped).
        cells: grid protocols only: the concrete cells (see :func:`Protocol.expand`).
        notes: protocol-specific rules (which paper's protocol it follows).
    """

    name: str
    summary: str
    degradation: str = "bi"
    scale: float = 4.0
    time: Fraction = Fraction(2)
    y_channel: bool = True
    crop_border: int = 0
    window: int | str | None = None
    score: str = "all"
    cells: tuple[Protocol, ...] = field(default=())
    notes: str = ""

    @property
    def task(self) -> str:
        """What the protocol tests: ``stvsr``, ``vsr`` (space only) or ``vfi`` (time only)."""
        if self.time == 1:
            return "vsr"
        return "vfi" if self.scale == 1 else "stvsr"

    @property
    def label(self) -> str:
        """Short cell label: ``s4.0 x2``, ``s2.5 30->24``."""
        r = self.time
        t = f"x{r.numerator}" if r.denominator == 1 else f"{r.denominator * 6}->{r.numerator * 6}fps"
        return f"s{self.scale:g} {t}"

    def expand(self) -> tuple[Protocol, ...]:
        """The concrete protocols to run: ``cells`` for a grid, else ``(self,)``."""
        return self.cells or (self,)

    def describe(self) -> dict[str, Any]:
        """JSON-ready description of the exact rules (recorded with every result)."""
        d = asdict(self)
        d.pop("cells")
        d["time"] = str(self.time)
        d["task"] = self.task
        if self.cells:
            d["cells"] = [c.label for c in self.cells]
        return d


def _continuous_cells() -> tuple[Protocol, ...]:
    cells = []
    for s in CONTINUOUS_SCALES:
        for r in CONTINUOUS_TIMES:
            p = Protocol("", "", "bi", s, r, window=4)
            cells.append(replace(p, name=f"continuous/{p.label.replace(' ', '_')}", summary=f"continuous cell {p.label}"))
    return tuple(cells)


PROTOCOLS: dict[str, Protocol] = {
    p.name: p
    for p in (
        Protocol(
            "vid4-bi-4x2x",
            "Vid4, BI x4 space, x2 time: LR = bicubic 1/4 of the even frames, every produced frame scored on Y",
            notes="MsMr / BasicVSR-style Vid4 STVSR test (MsMr test_vid4.py with the OFR-BRN float Y fix): "
            "keys = GT 0, 2, 4, ...; times (0.5,); the last frame of an even-length clip from a pass over the "
            "odd frames (as test_vid4.py); windows of the stvsr upscale default (7 keys, overlap 2) instead of "
            "the whole clip per call (12-18 GB for MsMr); Y, crop 0.",
        ),
        Protocol(
            "vid4-bd-4x2x",
            "Vid4, BD x4 space (Gaussian sigma 1.6), x2 time: even frames in, every produced frame scored on Y",
            degradation="bd",
            window=4,
            notes="Zooming Slow-Mo / MSITF BD protocol with BasicVSR / MMEditing's BDx4 (stvsr.ops.bd_degrade: "
            "12x12 Gaussian sigma 1.6, replicate, 1-based samples s/2:s:end); windows of 4 LR keys -> 7 GT "
            "frames sharing one key (ZSM test_index_generation); unlike ZSM the tail window is moved back "
            "instead of dropping the tail frames.",
        ),
        Protocol(
            "vimeo-sept-4x2x",
            "Vimeo-90K septuplets, BI x4: frames 1, 3, 5, 7 in, all 7 scored on Y",
            window=4,
            notes="Vimeo-90K-T (sep_testlist / fast-medium-slow lists): im1, im3, im5, im7 are the LR keys; "
            "im1..im7 are scored; Y, crop 0.",
        ),
        Protocol(
            "continuous",
            "space x{1.5..4.0} by time x{2,3,4,6} and 30->24 fps, BI, scored per cell on Y",
            window=4,
            cells=_continuous_cells(),
            notes="Grid of continuous STVSR settings; cells a model cannot run (fixed scale/time) are n/a.",
        ),
        Protocol(
            "vsr-bi-4x",
            "space-only video SR: every frame bicubic 1/4 in, every frame scored on Y",
            time=Fraction(1),
            window="clip",
            notes="BasicVSR / RSDN Vid4 BI protocol: all frames in, all frames scored, Y, crop 0.",
        ),
        Protocol(
            "vsr-bd-4x",
            "space-only video SR, BD: every frame Gaussian-blurred (sigma 1.6) and subsampled x4, all scored on Y",
            degradation="bd",
            time=Fraction(1),
            window="clip",
            notes="BasicVSR / MMEditing Vid4 BDx4 protocol: stvsr.ops.bd_degrade (MATLAB imfilter with "
            "fspecial('gaussian', 12, 1.6), 'replicate', then 1-based rows/columns s/2:s:end) on all frames, "
            "all frames scored, Y, crop 0.",
        ),
        Protocol(
            "vfi-2x",
            "frame interpolation only: even frames in at full size, odd (interpolated) frames scored on RGB",
            degradation="none",
            scale=1.0,
            y_channel=False,
            window=2,
            score="interpolated",
            notes="Vimeo-triplet-style VFI test: inputs are GT frames, only the produced middle frames are "
            "scored, RGB PSNR/SSIM.",
        ),
    )
}


def list_protocols() -> list[str]:
    return list(PROTOCOLS)


def get_protocol(name: str | Protocol) -> Protocol:
    """A protocol by name (``vid4-bi-4x2x``, ...; a grid cell ``continuous/s2.5_x3`` also works)."""
    if isinstance(name, Protocol):
        return name
    if name in PROTOCOLS:
        return PROTOCOLS[name]
    for p in PROTOCOLS.values():
        for c in p.cells:
            if c.name == name:
                return c
    raise ValueError(f"unknown protocol {name!r}; choose from {', '.join(PROTOCOLS)}")


# ------------------------------------------------------------------------------------- planning
@dataclass(frozen=True)
class Plan:
    """Frame bookkeeping of one clip under one protocol (indices are GT frame indices).

    Attributes:
        keys: GT indices of the LR inputs.
        times: the ``t`` values between each pair of keys that the scored frames need.
        scored: GT indices scored, ascending.
        step: ``a``: GT frames per key interval.
        window, overlap: key frames per model call and shared by neighbouring calls
            (the windowing engine :mod:`stvsr.models._windowed` runs them).
        windows: ``(first_key, last_key_exclusive)`` positions in ``keys`` per model call.
        tail_keys: GT indices of the LR inputs of the tail pass (frames after the last key;
            see the module docs), ``()`` when there is none.
        tail: GT indices taken from the tail pass.
    """

    keys: tuple[int, ...]
    times: tuple[float, ...]
    scored: tuple[int, ...]
    step: int
    window: int
    overlap: int
    windows: tuple[tuple[int, int], ...]
    tail_keys: tuple[int, ...] = ()
    tail: tuple[int, ...] = ()


def resolve_window(protocol: Protocol, caps: Capabilities, window: int | str | None, n_keys: int) -> int:
    """Key frames per call: ``window``, else the model's exact frame count, else the protocol's
    (``"clip"``: all ``n_keys``), else the default of ``stvsr upscale``."""
    if window is None:
        window = caps.input_frames or protocol.window
    if window is None:
        return default_window(caps)
    if window == "clip":
        return max(2, n_keys)
    if isinstance(window, bool) or not isinstance(window, int) or window < 2:
        raise ValueError(f"window must be an int >= 2, 'clip' or None, got {window!r}")
    return window


def plan(
    protocol: Protocol, n_frames: int, window: int | str | None = None, caps: Capabilities = PLAIN_MODULE
) -> Plan:
    """Which frames go in, which windows run, which frames are scored (module docs)."""
    if protocol.cells:
        raise ValueError(f"{protocol.name} is a grid: plan one of its cells (protocol.expand())")
    if n_frames < 1:
        raise ValueError(f"a clip needs at least one frame, got {n_frames}")
    a, b = protocol.time.numerator, protocol.time.denominator
    if a > 1 and n_frames <= a:
        raise ValueError(f"{protocol.name} needs at least {a + 1} frames (two key frames), the clip has {n_frames}")
    keys = tuple(range(0, n_frames, a))
    w = resolve_window(protocol, caps, window, len(keys))
    ov = default_overlap(w)
    windows = tuple(plan_windows(len(keys), w, ov)) if len(keys) >= 2 else ((0, 1),)
    produced = [g for g in range(0, keys[-1] + 1, b)]
    if protocol.score == "interpolated":
        produced = [g for g in produced if g % a]
    tail_keys: tuple[int, ...] = ()
    tail: tuple[int, ...] = ()
    last = n_frames - 1
    if last > keys[-1] and b == 1 and protocol.score != "interpolated":
        # frames after the last key (even-length clips at x2): MsMr's test_vid4.py runs the clip
        # again on the key grid shifted to end on the last frame; we take only those frames from it
        n_tail = min(w, last // a + 1)
        tail_keys = tuple(last - a * j for j in reversed(range(n_tail)))
        tail = tuple(range(keys[-1] + 1, last + 1))
    times = tuple(sorted({(g % a) / a for g in (*produced, *tail) if g % a}))
    return Plan(keys, times, tuple(sorted({*produced, *tail})), a, w, ov, windows, tail_keys, tail)


def degrade(hr: torch.Tensor, protocol: Protocol, *, quantize: bool = True) -> torch.Tensor:
    """LR frames of ``hr`` ``(..., 3, H, W)`` (already mod-cropped) under the protocol's degradation.

    A thin adapter over :func:`stvsr.ops.degrade` (the one degradation code, shared with training).
    """
    return degrade_frames(hr, protocol.degradation, protocol.scale, quantize=quantize)


def mod_crop(hr: torch.Tensor, scale: float) -> torch.Tensor:
    """Crop ``(..., H, W)`` bottom/right to ``round(s * floor(H / s))`` (module docs)."""
    h, w = hr.shape[-2:]
    hh = round(scale * math.floor(h / scale + 1e-9))
    ww = round(scale * math.floor(w / scale + 1e-9))
    if hh < 1 or ww < 1:
        raise ValueError(f"a {h}x{w} frame is too small for scale {scale}")
    return hr[..., :hh, :ww]


def prepare(
    protocol: Protocol, frames: torch.Tensor, window: int | str | None = None, caps: Capabilities = PLAIN_MODULE
) -> tuple[Plan, torch.Tensor, torch.Tensor]:
    """``frames`` ``(N, 3, H, W)`` -> ``(plan, gt (N, 3, H', W') mod-cropped, lr (M, 3, h, w) keys)``."""
    if frames.dim() != 4 or frames.shape[1] != 3:
        raise ValueError(f"frames must be (N, 3, H, W), got {tuple(frames.shape)}")
    p = plan(protocol, frames.shape[0], window, caps)
    gt = mod_crop(frames, protocol.scale)
    lr = degrade(gt[list(p.keys)], protocol)
    return p, gt, lr


# ------------------------------------------------------------------------------------- models
#: older name of :class:`~stvsr.models._capabilities.Capabilities` (``ModelSpec.from_model(model)``)
ModelSpec = Capabilities


def unsupported(caps: Capabilities, protocol: Protocol) -> str | None:
    """Why a model with capabilities ``caps`` cannot run ``protocol`` (None if it can)."""
    if caps.task not in ("stvsr", "vsr", "vfi"):
        return f"task {caps.task!r} is not evaluated by these protocols"
    if caps.task == "vsr" and protocol.time != 1:
        return "a video SR model makes no new frames"
    if caps.task == "vfi" and protocol.scale != 1:
        return "a frame interpolation model does not upscale"
    if not caps.supports_scale(protocol.scale):
        return f"fixed space scale x{caps.native_scale:g}"
    if protocol.time != 1:
        need = [j / protocol.time.numerator for j in range(1, protocol.time.numerator)]
        if not caps.supports_times(need):
            return f"fixed times {list(caps.times or ())}"
    return None


def run_clip(
    model: nn.Module,
    protocol: Protocol,
    frames: torch.Tensor,
    *,
    window: int | str | None = None,
    spec: Capabilities | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
    keep_outputs: bool = False,
) -> dict[str, Any]:
    """Evaluate one clip: returns ``{"frames": [(gt_index, is_key, psnr, ssim)], "outputs": {...}}``.

    The model runs through :class:`stvsr.video.Upscaler` (the streaming engine of ``stvsr
    upscale``): each output frame is scored as it comes and released, so memory does not grow
    with the clip.

    Args:
        model: an stvsr model (forward contract) in eval mode.
        protocol: a concrete protocol (not a grid).
        frames: GT ``(N, 3, H, W)`` in [0, 1].
        window: key frames per call, or ``"clip"`` (default: the model's fixed ``input_frames``,
            else the protocol's, else the ``stvsr upscale`` default).
        spec: model capabilities (default: ``model.capabilities``).
        device, dtype: where / in which precision to run (default float32; bf16/fp16 through autocast).
        keep_outputs: also return the scored output frames ``{gt_index: (3, H, W)}`` (plots, crops).
    """
    from stvsr.metrics import psnr, ssim
    from stvsr.video.pipeline import Upscaler

    caps = spec or capabilities_of(model)
    reason = unsupported(caps, protocol)
    if reason:
        raise ValueError(f"cannot run {protocol.name}: {reason}")
    p, gt, lr = prepare(protocol, frames, window, caps)
    dev = torch.device(device) if device is not None else next(
        (t.device for t in model.parameters()), torch.device("cpu")
    )
    yc, cb = protocol.y_channel, protocol.crop_border
    with_ssim = min(gt.shape[-2:]) - 2 * cb >= 11
    keyset = set(p.keys)
    rows: list[tuple[int, bool, float, float]] = []
    outputs: dict[int, torch.Tensor] = {}
    windows = 0

    def score(gt_index: int, out: torch.Tensor) -> None:
        if tuple(out.shape[-2:]) != tuple(gt.shape[-2:]):
            raise ValueError(f"output {tuple(out.shape)} does not match the protocol's {tuple(gt.shape[-2:])} frames")
        target = gt[gt_index][None]
        ps = float(psnr(out[None], target, y_channel=yc, crop_border=cb)[0])
        ss = float(ssim(out[None], target, y_channel=yc, crop_border=cb)[0]) if with_ssim else math.nan
        rows.append((gt_index, gt_index in keyset, ps, ss))
        if keep_outputs:
            outputs[gt_index] = out

    def stream(keys: tuple[int, ...], key_lr: torch.Tensor, take: set[int]) -> None:
        nonlocal windows
        ups = Upscaler(
            # the measuring stick stays float32 unless asked (Upscaler's own default is "auto")
            model, scale=protocol.scale, fps=protocol.time, device=dev, dtype=dtype or torch.float32, window=p.window,
            overlap=p.overlap, cut_threshold=None, progress=False,
        )
        step = protocol.time.denominator
        for k, out in enumerate(ups.process(iter(key_lr), fps_in=1)):
            g = keys[0] + k * step
            if g in take:
                score(g, out)
        windows += ups.windows

    stream(p.keys, lr, set(p.scored) - set(p.tail))
    if p.tail:
        stream(p.tail_keys, degrade(gt[list(p.tail_keys)], protocol), set(p.tail))
    rows.sort()
    if [r[0] for r in rows] != list(p.scored):
        raise ValueError(f"the model produced GT frames {[r[0] for r in rows]}; the protocol scores {list(p.scored)}")
    result: dict[str, Any] = {"frames": rows, "n_inputs": len(p.keys) + len(p.tail_keys), "windows": windows}
    if keep_outputs:
        result["outputs"] = outputs
        result["gt"] = {i: gt[i] for i, *_ in rows}
        result["lr"] = {k: lr[j] for j, k in enumerate(p.keys)}
    return result
