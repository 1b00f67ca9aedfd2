"""Warm starts: copy the real (authors') weights of one zoo model into parts of another.

:func:`warm_start` applies *rules* ``(target_pattern, source_pattern, slice)``:
every target key matching ``target_pattern`` (a regular expression, fully matched)
is renamed with ``source_pattern`` (``re.sub`` replacement) to a source key; the
tensor is copied when both exist and their shapes agree (``slice=None``) or after
slicing the source (``slice="in[3:]"``: input channels 3 onwards, for an input conv
whose extra leading inputs the target does not have). Everything else is left
untouched and listed in the returned :class:`WarmStartReport`.

Documented rule sets (:data:`RULES`, keyed by ``(target family, source name)``):

``("msmr", "spynet")`` and ``("msmr", "basicvsr")``
    SpyNet: all 62 tensors ``spy.basic_module.{0-5}.basic_module.{0-4}.conv.{weight,bias}``
    and the buffers ``spy.mean``/``spy.std`` from ``spynet.*`` (the ``spynet`` entry's own
    keys are ``basic_module.*``; both layouts are accepted).
``("msmr", "basicvsr")`` also copies the residual trunks
    * fix variant: ``{backward,forward}_resblocks.main.2.{i}.conv{1,2}.{weight,bias}`` from
      ``{backward,forward}_trunk.main.2.{i}...`` and ``forward_resblocks_insert`` from
      ``forward_trunk`` (i < min of both block counts; 30 in the released models), and the
      input convs ``*.main.0.weight`` from BasicVSR's ``*_trunk.main.0.weight[:, 3:]``
      (BasicVSR's trunk input is ``cat[LR frame (3), feature (64)]``; MsMr's is the 64-ch
      feature) plus the biases;
    * arb variant: the same blocks at ``*.main.{i}.conv{1,2}`` and input convs ``*.conv1``
      (scale-aware adapters are new and keep their initialisation).
``("basicvsr", "spynet")``
    SpyNet into ``spynet.*``.
``("rife_basicvsr", "basicvsr")`` / ``("rife_basicvsr", "rife_hdv3")``
    every tensor into ``vsr.*`` / ``vfi.*`` (the two halves are those models).
``("safa", "rife_hdv3")``
    SAFA's six flow blocks' stem and residual convs from the analogous convs of RIFE's
    finest IFBlock (``ifnet.block3``: ``conv0.0.0`` and ``convblock.{0-3}.0``), where shapes
    agree. On the released shapes none do (RIFE's stem sees 4+4+... image channels and its
    convs are wider; SAFA's 80-channel blocks see 247 feature channels), so the report lists
    0 copied tensors and every shape mismatch: the rule makes the attempt explicit rather
    than silently skipped, and copies whatever matches in retrained/resized variants.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

__all__ = ["RULES", "WarmStartReport", "carry_image_msmr", "fit_subpixel_taps", "least_used_channels",
           "preserve_function_fmu", "preserve_function_msmr", "preserve_function_msitf", "preserve_function_safa", "rules_for", "upsampler_image_path", "warm_start"]

Rule = tuple[str, str, "str | None"]

_SPY: list[Rule] = [(r"spy\.(basic_module\..*|mean|std)", r"spynet.\1", None)]
_SPY_BARE: list[Rule] = [(r"spy\.(basic_module\..*|mean|std)", r"\1", None)]

RULES: dict[tuple[str, str], list[Rule]] = {
    ("msmr_fix", "spynet"): _SPY_BARE + _SPY,
    ("msmr_arb", "spynet"): _SPY_BARE + _SPY,
    ("msmr_fix", "basicvsr"): _SPY
    + [
        (r"backward_resblocks\.main\.2\.(\d+\.conv[12]\.(weight|bias))", r"backward_trunk.main.2.\1", None),
        (r"forward_resblocks\.main\.2\.(\d+\.conv[12]\.(weight|bias))", r"forward_trunk.main.2.\1", None),
        (r"forward_resblocks_insert\.main\.2\.(\d+\.conv[12]\.(weight|bias))", r"forward_trunk.main.2.\1", None),
        (r"backward_resblocks\.main\.0\.weight", r"backward_trunk.main.0.weight", "in[3:]"),
        (r"forward_resblocks\.main\.0\.weight", r"forward_trunk.main.0.weight", "in[3:]"),
        (r"forward_resblocks_insert\.main\.0\.weight", r"forward_trunk.main.0.weight", "in[3:]"),
        (r"backward_resblocks\.main\.0\.bias", r"backward_trunk.main.0.bias", None),
        (r"forward_resblocks\.main\.0\.bias", r"forward_trunk.main.0.bias", None),
        (r"forward_resblocks_insert\.main\.0\.bias", r"forward_trunk.main.0.bias", None),
    ],
    ("msmr_arb", "basicvsr"): _SPY
    + [
        (r"backward_resblocks\.main\.(\d+\.conv[12]\.(weight|bias))", r"backward_trunk.main.2.\1", None),
        (r"forward_resblocks\.main\.(\d+\.conv[12]\.(weight|bias))", r"forward_trunk.main.2.\1", None),
        (r"forward_resblocks_insert\.main\.(\d+\.conv[12]\.(weight|bias))", r"forward_trunk.main.2.\1", None),
        (r"backward_resblocks\.conv1\.weight", r"backward_trunk.main.0.weight", "in[3:]"),
        (r"forward_resblocks\.conv1\.weight", r"forward_trunk.main.0.weight", "in[3:]"),
        (r"forward_resblocks_insert\.conv1\.weight", r"forward_trunk.main.0.weight", "in[3:]"),
        (r"backward_resblocks\.conv1\.bias", r"backward_trunk.main.0.bias", None),
        (r"forward_resblocks\.conv1\.bias", r"forward_trunk.main.0.bias", None),
        (r"forward_resblocks_insert\.conv1\.bias", r"forward_trunk.main.0.bias", None),
    ],
    ("basicvsr", "spynet"): [(r"spynet\.(.*)", r"\1", None)],
    ("rife_basicvsr", "basicvsr"): [(r"vsr\.(.*)", r"\1", None)],
    ("rife_basicvsr", "rife_hdv3"): [(r"vfi\.(.*)", r"\1", None)],
    ("safa", "rife_hdv3"): [
        # SAFA block i's stem / two residual convs <-> RIFE IFBlock 3's (its finest) stem / first convs
        (r"block\.convblock\.\d+\.conv_stem\.0\.(weight|bias)", r"ifnet.block3.conv0.0.0.\1", None),
        (r"block\.convblock\.\d+\.conv_backbone\.0\.conv\.0\.(weight|bias)", r"ifnet.block3.convblock.0.0.\1", None),
        (r"block\.convblock\.\d+\.conv_backbone\.0\.conv\.2\.(weight|bias)", r"ifnet.block3.convblock.1.0.\1", None),
        (r"block\.convblock\.\d+\.conv_backbone\.1\.conv\.0\.(weight|bias)", r"ifnet.block3.convblock.2.0.\1", None),
        (r"block\.convblock\.\d+\.conv_backbone\.1\.conv\.2\.(weight|bias)", r"ifnet.block3.convblock.3.0.\1", None),
    ],
}


@dataclass
class WarmStartReport:
    """What :func:`warm_start` did: ``copied`` target <- source keys, and what it could not copy."""

    copied: dict[str, str] = field(default_factory=dict)
    shape_mismatch: list[str] = field(default_factory=list)
    no_source: list[str] = field(default_factory=list)

    @property
    def tensors(self) -> int:
        return len(self.copied)

    def summary(self) -> str:
        return (f"warm start: {len(self.copied)} tensors copied, {len(self.shape_mismatch)} shape mismatches, "
                f"{len(self.no_source)} without a source tensor")


def rules_for(target: str, source: str) -> list[Rule]:
    """The documented rules of ``(target registry name, source registry name)``."""
    try:
        return RULES[(target, source)]
    except KeyError:
        known = ", ".join(f"{t}<-{s}" for t, s in RULES)
        raise ValueError(f"no warm-start rules for {target} <- {source}; known: {known}") from None


def _slice(src: torch.Tensor, how: str | None) -> torch.Tensor:
    if how is None:
        return src
    m = re.fullmatch(r"in\[(\d*):(\d*)\]", how)
    if not m:
        raise ValueError(f"unknown slice {how!r} (expected 'in[a:b]')")
    a = int(m.group(1)) if m.group(1) else None
    b = int(m.group(2)) if m.group(2) else None
    return src[:, a:b]


def warm_start(
    model: nn.Module,
    source: Mapping[str, torch.Tensor] | nn.Module,
    rules: Sequence[Rule],
    *,
    strict: bool = False,
) -> WarmStartReport:
    """Copy tensors of ``source`` into ``model`` following ``rules`` (module docs).

    Args:
        model: the model to initialise (modified in place).
        source: a state_dict or a module (e.g. ``stvsr.load("basicvsr")``).
        rules: ``(target_regex, source_replacement, slice)`` triples, first match wins.
        strict: raise if a target key matched by a rule has no source tensor or a different shape.

    Returns:
        :class:`WarmStartReport` listing every copied tensor (``target <- source``).
    """
    src = source.state_dict() if isinstance(source, nn.Module) else dict(source)
    report = WarmStartReport()
    own = model.state_dict()
    compiled = [(re.compile(t), s, sl) for t, s, sl in rules]
    with torch.no_grad():
        for key, tensor in own.items():
            for pat, repl, how in compiled:
                if not pat.fullmatch(key):
                    continue
                skey = pat.sub(repl, key)
                if skey not in src:
                    continue
                value = _slice(src[skey], how)
                if tuple(value.shape) != tuple(tensor.shape):
                    report.shape_mismatch.append(f"{key} {tuple(tensor.shape)} <- {skey} {tuple(value.shape)}")
                    break
                tensor.copy_(value.to(dtype=tensor.dtype, device=tensor.device))
                report.copied[key] = skey + (f"{how}" if how else "")
                break
            else:
                if any(p.fullmatch(key) for p, _, _ in compiled):
                    report.no_source.append(key)
    if strict and (report.shape_mismatch or report.no_source):
        raise ValueError(report.summary() + ": " + "; ".join((report.shape_mismatch + report.no_source)[:10]))
    return report


# ----------------------------------------------------------------------------- function-preserving starts
def _centre_identity(conv: Any, in_offset: int = 0, gain: float = 1.0) -> None:
    """``conv`` becomes ``out[o] = gain * in[in_offset + o]`` (centre tap only, zero bias)."""
    w = conv.weight
    out_c, _, kh, kw = w.shape
    w.zero_()
    idx = torch.arange(out_c)
    w[idx, idx + in_offset, kh // 2, kw // 2] = gain
    if conv.bias is not None:
        conv.bias.zero_()


def _first_conv(trunk: Any) -> Any:
    """The input conv of a residual trunk: ``conv1`` (scale-aware) or ``main[0]`` (plain)."""
    return trunk.conv1 if hasattr(trunk, "conv1") else trunk.main[0]


def _blocks(trunk: Any) -> list[Any]:
    """The residual blocks of a trunk (``conv1``/``conv2``/``res_scale``), in order."""
    return [m for m in trunk.modules() if hasattr(m, "conv2") and hasattr(m, "res_scale")]


def _identity_residual_trunk(trunk: Any) -> None:
    """A residual trunk (plain or scale-aware) starts as ``LReLU(x)``.

    The input conv becomes the centre-tap identity; every residual block keeps its (warm-started)
    ``conv1`` and gets a zero ``conv2`` (the block is the identity, yet ``conv1``'s filters are
    there to be used as soon as ``conv2`` moves); scale-aware adapters get zero expert kernels.
    """
    _centre_identity(_first_conv(trunk))
    for blk in _blocks(trunk):
        blk.conv2.weight.zero_()
        blk.conv2.bias.zero_()
    _zero_adapters(trunk)


def _zero_adapters(module: nn.Module) -> None:
    from stvsr.layers.scale_aware import SAAdapt

    for m in module.modules():
        if isinstance(m, SAAdapt):
            m.adapt.weight_pool.zero_()  # x + 0 * mask: the identity


@torch.no_grad()
def preserve_function_msmr(model: nn.Module) -> list[str]:
    """Initialise MsMr's modules that BasicVSR has no counterpart for so that they pass features through.

    Call after the ``("msmr_*", "basicvsr")`` warm start. Afterwards (before any training step):

    - ``deform_align`` is exactly the flow warp of the propagated feature (zero offset residual,
      centre-tap identity on the propagated half, weights doubled to undo the untrained mask 0.5);
    - the temporal fusion returns ``LReLU(feature + aligned feature)`` (attention branch zeroed),
      the input BasicVSR's forward trunk was trained on, up to the LR-frame term that the
      feature extractor is fitted to supply (:func:`fit_msmr_feature_extractor`);
    - ``insert`` returns the mean of the two key features splatted to time ``t`` (PCD at the finest
      level reduced to its zero-offset DCN, learned blend and mask at zero / one half);
    - ``forward_resblocks_insert`` is ``LReLU(x)`` (zero residual branches) and every scale-aware
      adapter is the identity.

    Only the upsampler keeps a random initialisation: no part of BasicVSR maps to it, so it is
    trained first with everything else frozen. Returns the names of the re-initialised modules.
    """
    touched: list[str] = []
    model_: Any = model  # submodules are reached by the authors' names
    c = model_.deform_align.out_channels
    # 1) alignment: DCN = flow warp of the propagated half of cat[prop, neighbour]
    _centre_identity(model_.deform_align, 0, 2.0)
    model_.deform_align.conv_offset[-1].weight.zero_()
    model_.deform_align.conv_offset[-1].bias.zero_()
    touched.append("deform_align")
    # 2) fusion of [backward, feature, aligned forward] (channel index c * 3 + t): feature + aligned
    fuse = model_.atten_fuse
    w = fuse.short_cut_out.weight
    w.zero_()
    fuse.short_cut_out.bias.zero_()
    idx = torch.arange(c)
    w[idx, idx * 3 + 1, 1, 1] = 1.0
    w[idx, idx * 3 + 2, 1, 1] = 1.0
    fuse.att.feat_fusion[0].weight.zero_()  # attention output (feat + feat * attn) / 2 = 0
    fuse.att.feat_fusion[0].bias.zero_()
    touched.append("atten_fuse")
    # 3) insert: mean of the key features splatted to t
    ins = model_.insert
    _centre_identity(ins.fea_L1_conv, 3)  # cat[image (3), feature]: the feature
    for pcd in (ins.pcd_ab, ins.pcd_ba):
        dcn = pcd.dcn_pack["l1"]
        _centre_identity(dcn, 0, 2.0)
        dcn.conv_offset.weight.zero_()
        dcn.conv_offset.bias.zero_()
        _centre_identity(pcd.feat_conv["l1"], 0)  # cat[dcn, up(coarser)]: the dcn
    ins.mask_l1.weight.zero_()
    ins.mask_l1.bias.zero_()
    ins.blend.weight.zero_()
    ins.blend.bias.zero_()
    touched.append("insert")
    _identity_residual_trunk(model_.forward_resblocks_insert)
    touched.append("forward_resblocks_insert")
    for name in ("lr_feat_extract", "backward_resblocks", "forward_resblocks", "arb_upample"):
        _zero_adapters(getattr(model_, name))
    return touched


@torch.no_grad()
def carry_image_msmr(model: nn.Module, basicvsr: nn.Module | Mapping[str, torch.Tensor],
                     channels: Sequence[int]) -> list[str]:
    """Give MsMr a bicubic-like floor: three feature channels carry the LR frame from input to upsampler.

    Call after :func:`preserve_function_msmr`. MsMr has no global residual, so a model warm-started
    from BasicVSR (whose trunks learned the *detail* above an upsampled base image) has to relearn
    the image itself in its upsampler, which takes far longer than two CPU cores give it. Here the
    feature channels ``channels`` (``K``, three of them) hold the RGB LR frame everywhere:

    - ``lr_feat_extract`` outputs the frame in ``K`` and zeros elsewhere;
    - ``deform_align`` writes zeros to ``K`` (aligned ``K`` = 0, so trunk inputs hold one frame);
    - the backward and forward trunks copy ``K`` through (identity rows in the input conv, no block
      reads or writes ``K``), and their input convs read the frame from ``K`` with BasicVSR's own
      image weights: ``W_feat * aligned + W_img * frame`` is BasicVSR's trunk input conv exactly,
      except for BasicVSR's feature channels ``K``, which are dropped;
    - fusion (``feature + aligned``), ``insert`` (mean of the splatted key features) and the insert
      trunk (identity) then carry the frame, or the mean of the two splatted key frames, to the upsampler.

    :func:`upsampler_image_path` then makes the upsampler interpolate ``K``. Returns the touched modules.
    """
    src = basicvsr.state_dict() if isinstance(basicvsr, nn.Module) else basicvsr
    m: Any = model
    k = torch.as_tensor(list(channels))
    if len(k) != 3 or len(set(k.tolist())) != 3:
        raise ValueError(f"channels must be 3 distinct feature channels, got {list(channels)}")
    c = _first_conv(m.backward_resblocks).out_channels
    rest = torch.tensor([i for i in range(c) if i not in set(k.tolist())])
    # the frame extractor: RGB into K, nothing else
    first = _first_conv(m.lr_feat_extract)
    first.weight.zero_()
    first.bias.zero_()
    first.weight[k, torch.arange(3), 1, 1] = 1.0
    for blk in _blocks(m.lr_feat_extract):
        blk.conv2.weight.zero_()
        blk.conv2.bias.zero_()
    _zero_adapters(m.lr_feat_extract)
    # aligned features are zero in K
    m.deform_align.weight[k] = 0.0
    if m.deform_align.bias is not None:
        m.deform_align.bias[k] = 0.0
    for name, src_name in (("backward_resblocks", "backward_trunk"), ("forward_resblocks", "forward_trunk")):
        trunk = getattr(m, name)
        w, b = _first_conv(trunk).weight, _first_conv(trunk).bias
        sw, sb = src[f"{src_name}.main.0.weight"], src[f"{src_name}.main.0.bias"]  # cat[frame (3), feature]
        w.zero_()
        w[rest[:, None], rest[None, :]] = sw[rest][:, 3 + rest].to(w)
        w[rest[:, None], k[None, :]] = sw[rest][:, :3].to(w)
        b.copy_(sb.to(b))
        b[k] = 0.0
        w[k, k, 1, 1] = 1.0
        for blk in _blocks(trunk):
            blk.conv1.weight[:, k] = 0.0
            blk.conv2.weight[k] = 0.0
            blk.conv2.bias[k] = 0.0
    return ["lr_feat_extract", "deform_align", "backward_resblocks", "forward_resblocks"]


def upsampler_image_path(model: nn.Module, channels: Sequence[int], mids: Sequence[int] = (0, 1, 2),
                         noise: float = 0.02) -> dict[str, torch.Tensor]:
    """Route feature channels ``channels`` (the frame, :func:`carry_image_msmr`) through upsampler maps ``mids``.

    Every other input of the output conv starts at zero, so the model's output is exactly the
    upsampler's interpolation of the carried frame; the offsets of the arbitrary upsampler start at
    zero (plain resampling). Returns ``{parameter name: 0/1 mask}`` of the weights that form the
    interpolation filters (the sub-pixel convs' rows of ``mids`` reading the frame, the branch mix of
    ``mids``, the output conv's columns ``mids``): fit them alone, with these masks on the gradients,
    to turn the path into a good interpolator (the masks keep the path separate from the rest).
    ``noise``: standard deviation of a perturbation of the masked sub-pixel taps (0: exact copies).
    """
    m: Any = model
    up = m.arb_upample
    k = torch.as_tensor(list(channels))
    mm = torch.as_tensor(list(mids))
    masks: dict[str, torch.Tensor] = {}
    with torch.no_grad():
        sac = up.spacial_adaptive_conv
        if hasattr(sac, "weight_pool"):  # SAConv (fixed model): identity on K for every expert
            sac.weight_pool[:, k] = 0.0
            sac.weight_pool[:, k, k, 1, 1] = 1.0
        else:  # SAAdapt: identity already (zero experts)
            sac.adapt.weight_pool.zero_()
        branches = up.cascade_ps_result
        for name in ("ps_x2", "ps_x4", "ps_x8"):
            conv, r = getattr(branches, name).upsample_conv, getattr(branches, name).scale_factor
            rows = (mm[:, None] * r * r + torch.arange(r * r)[None, :]).flatten()
            reads = k if (not branches.cascade or name == "ps_x2") else mm
            w = conv.weight
            w[rows] = 0.0
            conv.bias[rows] = 0.0
            mask = torch.zeros_like(w)
            mask[rows[:, None], reads[None, :]] = 1.0
            w.add_(mask * noise * torch.randn_like(w))
            # start from nearest-neighbour copies: sub-pixel rows of map j read channel j's centre
            for j in range(len(mm)):
                w[rows.view(len(mm), -1)[j], reads[j], 1, 1] += 1.0
            masks[f"arb_upample.cascade_ps_result.{name}.upsample_conv.weight"] = mask
        avg0, avg2 = up.soft_average[0], up.soft_average[2]
        avg0.weight[mm] = 1.0 / 3.0
        avg0.bias[mm] = 0.0
        mask0 = torch.zeros_like(avg0.weight)
        mask0[mm] = 1.0
        masks["arb_upample.soft_average.0.weight"] = mask0
        avg2.weight[mm] = 0.0
        avg2.weight[mm, mm] = 1.0
        avg2.bias[mm] = 0.0
        up.sa_adapt.adapt.weight_pool.zero_()
        red = up.reduce
        red.weight.zero_()
        red.bias.zero_()
        red.weight[torch.arange(3), mm, 1, 1] = 1.0
        mask_r = torch.zeros_like(red.weight)
        mask_r[:, mm] = 1.0
        masks["arb_upample.reduce.weight"] = mask_r
        if hasattr(up, "sa_up"):
            up.sa_up.offset.weight.zero_()
            up.sa_up.offset.bias.zero_()
    return masks


def least_used_channels(basicvsr: nn.Module | Mapping[str, torch.Tensor], n: int = 3) -> list[int]:
    """The ``n`` feature channels BasicVSR's trunks read and write least (summed weight norms).

    Where :func:`carry_image_msmr` puts the frame: the BasicVSR function loses the least there.
    """
    src = basicvsr.state_dict() if isinstance(basicvsr, nn.Module) else basicvsr
    score = torch.zeros(src["backward_trunk.main.0.weight"].shape[0])
    for key, w in src.items():
        if not key.endswith("weight") or "_trunk." not in key or w.dim() != 4:
            continue
        if key.endswith("main.0.weight"):
            score += w[:, 3:].float().flatten(2).norm(dim=(0, 2))
        elif key.endswith("conv1.weight"):
            score += w.float().flatten(2).norm(dim=(0, 2))
        elif key.endswith("conv2.weight"):
            score += w.float().flatten(1).norm(dim=1)
    return sorted(torch.argsort(score)[:n].tolist())


@torch.no_grad()
def preserve_function_safa(model: nn.Module, *, knots: int = 20, limit: float = 9.0, delta: float = 0.04,
                           gain: float = 10.0) -> list[int]:
    """Start SAFA as the parameter-free baseline: upsampled keys and a linear blend ``(1 - t) I0 + t I1``.

    SAFA renders ``mask * warp(I0) + (1 - mask) * warp(I1) + residual`` from pre-upsampled frames, so
    it has a bicubic floor built in; what it lacks untrained is a time-aware mask (it sees ``t`` only
    as a feature map). Afterwards, before any training step:

    - every flow increment is zero (warps are the identity) and the reconstruction residual is zero
      (its last conv);
    - the first scale-adaptive block turns its time map into ``knots`` ReLU hinges
      ``gain * relu(t - a_k)`` (plus two affine ramps) in channels that no other block writes, and the
      shared flow head sums them into a mask logit: ``logit(1 - t)`` on ``[delta, 1 - delta]`` (mask
      error ~1e-3) and linear from there to ``+-limit`` at the keys (mask 0.99988); the hinges are
      constant in space, so every gate branch gives the same value. ``delta`` and ``gain`` keep the
      head's coefficients near 10: an ill-conditioned fit (coefficients ~1e4 that cancel) turns the
      first optimiser steps into mask changes of whole units;
    - the flow head reads nothing else yet (zero weights), while the blocks keep their random stems:
      the head's gradient is then the product of the loss and real features. (The other way round,
      a random head over zero stems, Adam's first steps move every stem weight by the learning rate
      at once and the flows by pixels.)

    Returns the channels that hold the hinges.
    """
    m: Any = model
    net = m.block
    blocks = list(net.convblock)
    c = blocks[0].conv_stem[0].out_channels
    cin = blocks[0].conv_stem[0].in_channels
    if knots + 2 > c:
        raise ValueError(f"knots must leave room in the {c} feature channels, got {knots}")
    # knots at delta, 1 - delta and cosine-spaced between (dense where logit(1 - t) bends)
    u = torch.linspace(0, 1, knots, dtype=torch.float64)
    a = delta + (1 - 2 * delta) * (0.5 - 0.5 * torch.cos(torch.pi * u))
    tt = torch.linspace(0, 1, 4001, dtype=torch.float64)
    edge = math.log((1 - delta) / delta)
    inner = torch.log((1 - tt) / tt).clamp(-edge, edge)
    ramp = (limit - edge) * ((delta - tt).clamp_min(0) - (tt - 1 + delta).clamp_min(0)) / delta
    target = inner + ramp
    basis = torch.cat([(tt[:, None] + 1), (2 - tt[:, None]), (tt[:, None] - a[None]).clamp_min(0)], 1) * gain
    coef = torch.linalg.lstsq(basis, target[:, None]).solution[:, 0]
    chans = list(range(c - knots - 2, c))  # the last channels: away from the flow head's output grouping
    w_t = gain * torch.cat([torch.tensor([1.0, -1.0], dtype=torch.float64), torch.ones(knots, dtype=torch.float64)])
    b_t = gain * torch.cat([torch.tensor([1.0, 2.0], dtype=torch.float64), -a])
    for k, blk in enumerate(blocks):
        conv, act = blk.conv_stem[0], blk.conv_stem[1]
        conv.weight[chans] = 0.0
        conv.bias[chans] = 0.0
        for r in blk.conv_backbone:
            r.beta.zero_()  # residual branches off: the hinge channels pass through the block unchanged
        if k == 0:
            kh, kw = conv.weight.shape[-2:]
            conv.weight[chans, cin - 1, kh // 2, kw // 2] = w_t.to(conv.weight)  # the time map is the last input
            conv.bias[chans] = b_t.to(conv.bias)
            act.weight[chans] = 0.0  # PReLU -> ReLU: the hinge
    flow_conv = net.convflow[0]  # c -> 24, then PixelShuffle(2): output channel j reads rows 4j..4j+3
    flow_conv.weight.zero_()
    flow_conv.bias.zero_()
    kh, kw = flow_conv.weight.shape[-2:]
    for r in range(16, 20):  # the mask logit (flow channel 4)
        flow_conv.weight[r, chans, kh // 2, kw // 2] = coef.to(flow_conv.weight)
    last = m.lastconv[-2]  # the residual's last conv (before the final PixelShuffle)
    last.weight.zero_()
    last.bias.zero_()
    return chans


@torch.no_grad()
def preserve_function_msitf(model: nn.Module, readout: float = 0.1) -> str:
    """Start MSITF at its own parameter-free base: the trilinear upsampling of the input clip.

    MSITF adds its reconstruction to ``F.interpolate(clip, (2N - 1, 4h, 4w), "trilinear")`` (keys
    bilinear x4; the authors' time sampling, ``align_corners=False``, mixes 7% of the next frame into
    the inner keys; intermediate frames blends of their neighbours). The last conv (``conv_last``)
    is scaled to ``readout`` times its initialisation: at 0 the network renders exactly that base,
    but it is a saddle from which it does not leave (measured: 200 steps of 2 clips with Adam at
    2e-4 moved ``conv_last`` by 3e-4 and validation by 0.001 dB, since the layers before it get no
    gradient through zero weights and ``conv_last`` none consistent from random features). At 0.1
    the reconstruction adds ~0.002 to each pixel (about -0.05 dB) and every layer learns from the
    first step through a fixed random readout. Everything else keeps its initialisation (no zoo
    model has MSITF's feature interpolation, ConvLSTM or Swin trunk). Returns the line a training
    log records.
    """
    last: Any = getattr(model, "conv_last", None)
    if not isinstance(last, nn.Conv2d):
        raise TypeError(f"model must be an MSITF (with a conv_last), got {type(model).__name__}")
    if not 0 <= readout <= 1:
        raise ValueError(f"readout must be in [0, 1], got {readout!r}")
    last.weight.mul_(readout)
    if last.bias is not None:
        last.bias.mul_(readout)
    return f"function-preserving init: conv_last x {readout:g}, the output is MSITF's trilinear base + a small readout"


def fit_subpixel_taps(lr: torch.Tensor, hr: torch.Tensor, scale: int, size: int = 3) -> torch.Tensor:
    """The best linear depth-to-space upsampler of ``size x size`` LR taps, by least squares.

    Args:
        lr: ``(N, C, h, w)`` LR frames.
        hr: ``(N, C, scale*h, scale*w)`` the frames they were degraded from.
        scale: integer upsampling factor.
        size: odd tap window.

    Returns:
        ``(scale * scale, size, size)`` float64: HR pixel ``(scale*y + dy, scale*x + dx)`` is
        approximated by ``sum(taps[dy*scale + dx] * lr[y - size//2 :, x - size//2 :][:size, :size])``,
        the same filter for every channel (fitted on interior pixels only).
    """
    if lr.dim() != 4 or hr.shape != (*lr.shape[:2], scale * lr.shape[2], scale * lr.shape[3]):
        raise ValueError(f"lr must be (N, C, h, w) and hr (N, C, {scale}h, {scale}w), got {tuple(lr.shape)} "
                         f"and {tuple(hr.shape)}")
    if size % 2 != 1 or min(lr.shape[-2:]) <= size:
        raise ValueError(f"size must be odd and smaller than the LR frames, got {size}")
    r = size // 2
    x = lr.double().reshape(-1, 1, *lr.shape[-2:])
    patches = torch.nn.functional.unfold(x, size)  # (NC, size*size, L) over interior centres
    a = patches.transpose(1, 2).reshape(-1, size * size)
    y = hr.double().reshape(-1, 1, *hr.shape[-2:])
    # HR pixels of the interior LR centres, one column per sub-pixel position
    y = torch.nn.functional.pixel_unshuffle(y, scale)[:, :, r : lr.shape[2] - r, r : lr.shape[3] - r]
    b = y.reshape(y.shape[0], scale * scale, -1).transpose(1, 2).reshape(-1, scale * scale)
    taps = torch.linalg.lstsq(a, b).solution  # (size*size, scale*scale)
    return taps.t().reshape(scale * scale, size, size)


@torch.no_grad()
def preserve_function_fmu(model: nn.Module, taps: torch.Tensor, readout: float = 0.1) -> str:
    """Start FMU as a linear upsampler of every key frame and a linear blend of the two middle ones.

    FMU's HR frame at ``t`` is the mask blend ``((1-t) M I1' + t (1-M) I2') / ((1-t) M + t (1-M))`` of
    its warped HR keys plus a GridNet residual, and its HR keys come from RSDN, which has no
    upsampled-input skip. Afterwards, before any training step:

    - RSDN renders ``taps`` (:func:`fit_subpixel_taps`, ``(16, 3, 3)``) applied to each key frame:
      its input convs write the frame's detail and structure into six channels each as ``+x`` and
      ``-x`` (the LeakyReLU keeps ``x = (a - b) / 1.1``), the residual blocks do not write those
      channels, and the detail/structure output convs read them through the taps, summed by the
      last conv. The other channels keep their initialisation with their readout scaled by
      ``readout`` (a zero readout is a saddle: MSITF, measured);
    - PWC-Net's last flow convs (every level and the refiner) are zero: all flows are zero, so the
      warps are identities;
    - the mask net's last conv is zero (mask 0.5: the blend is ``(1 - t) I1 + t I2``) and both
      GridNets' output convs are scaled by ``readout`` (flow residuals and offsets ~0, the HR
      residual ~0).

    Returns the line a training log records.
    """
    m: Any = model
    rsdn, cell = m.vsrnet, m.vsrnet.neuro
    r = rsdn.scale
    if taps.shape[0] != r * r or taps.shape[1] != taps.shape[2]:
        raise ValueError(f"taps must be ({r * r}, k, k), got {tuple(taps.shape)}")
    k = taps.shape[-1]
    if cell.conv_od.kernel_size != (k, k):
        raise ValueError(f"taps must be {cell.conv_od.kernel_size}, got {k}x{k}")
    carriers = torch.arange(6)  # +x, -x of the 3 colour channels of the current frame
    out_ch = 3 * r * r
    for conv in (cell.conv_d, cell.conv_s):  # input: (pair frames 6, hidden nf, previous output 48)
        conv.weight[carriers] = 0.0
        conv.bias[carriers] = 0.0
        for c in range(3):
            conv.weight[2 * c, 3 + c, k // 2, k // 2] = 1.0
            conv.weight[2 * c + 1, 3 + c, k // 2, k // 2] = -1.0
    for i in range(1, cell.blocks + 1):
        blk = getattr(cell, f"SD{i}")
        for conv in (blk.conv_d2, blk.conv_s2):
            conv.weight.mul_(readout)
            conv.bias.mul_(readout)
            conv.weight[carriers] = 0.0
            conv.bias[carriers] = 0.0
    t = taps.to(cell.conv_od.weight) / 1.1  # LeakyReLU(0.1): LReLU(x) - LReLU(-x) = 1.1 x
    for conv in (cell.conv_od, cell.conv_os):
        conv.weight.mul_(readout)
        conv.bias.mul_(readout)
        conv.weight[:, carriers] = 0.0
        for c in range(3):
            rows = c * r * r + torch.arange(r * r)  # pixel_shuffle: channel c's sub-pixels
            conv.weight[rows, 2 * c] = t
            conv.weight[rows, 2 * c + 1] = -t
    last = rsdn.conv  # (od, os) -> out: their sum
    last.weight.zero_()
    last.bias.zero_()
    idx = torch.arange(out_ch)
    last.weight[idx, idx, 1, 1] = 1.0
    last.weight[idx, out_ch + idx, 1, 1] = 1.0
    pwc = m.flownet
    for dec in (pwc.moduleTwo, pwc.moduleThr, pwc.moduleFou, pwc.moduleFiv, pwc.moduleSix):
        dec.moduleSix[0].weight.zero_()
        dec.moduleSix[0].bias.zero_()
    pwc.moduleRefiner.moduleMain[-1].weight.zero_()
    pwc.moduleRefiner.moduleMain[-1].bias.zero_()
    m.masknet.conv3.weight.zero_()
    m.masknet.conv3.bias.zero_()
    for grid in (m.refinenet, m.synthnet):
        conv = grid.Lout.block[-1]
        conv.weight.mul_(readout)
        conv.bias.mul_(readout)
    return (f"function-preserving init: RSDN renders the fitted {k}x{k} x{r} taps, zero flows, mask 0.5 "
            f"(linear blend), readouts x {readout:g}")
