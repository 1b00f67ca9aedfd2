"""Score the packaged BasicVSR / RIFE+BasicVSR weights on Vid4 (not run by CI: slow on CPU).

    python tools/reproduce_vid4.py basicvsr --vid4 /path/to/vid4 --out /tmp/vid4_basicvsr
    python tools/reproduce_vid4.py rife_basicvsr --vid4 /path/to/vid4 --out /tmp/vid4_rife_basicvsr
    python tools/reproduce_vid4.py summary --out /tmp/vid4_basicvsr     # combine per-clip results

Vid4 is read from ``<vid4>/{calendar,city,foliage,walk}.mkv`` (lossless RGB, PyAV) or
from folders of PNGs ``<vid4>/<clip>/*.png``. Vid4 has no licence: it is never shipped.

Protocol (as in the BasicVSR paper / mmedit, and the STVSR papers' Vid4 block):

* **Degradation (BI)**: ``LR = uint8(round(255 * imresize(GT / 255, 1/4)))`` with
  MATLAB-compatible bicubic (:func:`stvsr.ops.imresize`, antialiased).
* ``basicvsr`` (VSR): the whole clip's LR in, every frame scored.
* ``rife_basicvsr`` (STVSR, x4 space, x2 time): LR of the even-indexed frames
  (0, 2, 4, ...) in, ``times=(0.5,)``; outputs are GT frames ``0 .. 2(K-1)``. City has
  34 frames, so its last frame has no right key frame and is not produced: 170 of 171
  frames are scored.
* **Metric**: outputs clamped and rounded to uint8; Y = BT.601 studio range
  (``16 + (65.481 R + 128.553 G + 24.966 B) / 255`` for RGB in [0, 1]) on the uint8
  images, not rounded; PSNR with peak 255, SSIM (Wang et al., Gaussian 11x11, sigma 1.5),
  crop border 0. Reported: the mean over all scored frames and the mean of the per-clip
  means. ``stvsr.metrics`` is used as a cross-check when it is available.

Per-clip JSON goes to ``--out`` (one file per clip, so clips can run as separate
low-priority processes); ``summary`` prints the combined figures.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

CLIPS = ("calendar", "city", "foliage", "walk")


# ----------------------------------------------------------------------------- data


def read_clip(vid4: Path, clip: str) -> np.ndarray:
    """``(T, H, W, 3)`` uint8 RGB ground truth."""
    mkv = vid4 / f"{clip}.mkv"
    if mkv.is_file():
        import av

        with av.open(str(mkv)) as container:
            return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])
    folder = vid4 / clip
    files = sorted(folder.glob("*.png"))
    if not files:
        raise FileNotFoundError(f"no {mkv} and no PNGs in {folder}")
    from PIL import Image

    return np.stack([np.asarray(Image.open(f).convert("RGB")) for f in files])


def to_tensor(frames: np.ndarray) -> torch.Tensor:
    """``(T, H, W, 3)`` uint8 -> ``(1, T, 3, H, W)`` float32 in [0, 1]."""
    return torch.from_numpy(frames).permute(0, 3, 1, 2).unsqueeze(0).float() / 255.0


def degrade_bi(gt: np.ndarray) -> torch.Tensor:
    """MATLAB-bicubic x1/4, quantised to uint8 like MATLAB's imresize on uint8 images."""
    from stvsr.ops import imresize

    x = to_tensor(gt).double()
    lr = imresize(x, scale=0.25)
    return (lr * 255.0).round().clamp(0, 255).float() / 255.0


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """``(1, T, 3, H, W)`` in [0, 1] -> ``(T, H, W, 3)`` uint8."""
    return (x[0].clamp(0, 1) * 255.0).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()


# ----------------------------------------------------------------------------- metrics


def rgb_to_y(img: np.ndarray) -> np.ndarray:
    """uint8 RGB ``(..., 3)`` -> float64 Y in [16, 235] (BT.601, MATLAB ``rgb2ycbcr``)."""
    x = img.astype(np.float64) / 255.0
    return 16.0 + x @ np.array([65.481, 128.553, 24.966])


def psnr_y(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((rgb_to_y(a) - rgb_to_y(b)) ** 2))
    return math.inf if mse == 0 else 10.0 * math.log10(255.0**2 / mse)


def _gauss_window(dtype: torch.dtype) -> torch.Tensor:
    g = torch.exp(-((torch.arange(11, dtype=dtype) - 5) ** 2) / (2 * 1.5**2))
    g = g / g.sum()
    return (g[:, None] * g[None, :])[None, None]


def ssim_y(a: np.ndarray, b: np.ndarray) -> float:
    """SSIM on Y (peak 255), valid-region Gaussian filtering as in BasicSR/mmedit."""
    x = torch.from_numpy(rgb_to_y(a))[None, None]
    y = torch.from_numpy(rgb_to_y(b))[None, None]
    w = _gauss_window(torch.float64)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    mx, my = F.conv2d(x, w), F.conv2d(y, w)
    sxx = F.conv2d(x * x, w) - mx**2
    syy = F.conv2d(y * y, w) - my**2
    sxy = F.conv2d(x * y, w) - mx * my
    s = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx**2 + my**2 + c1) * (sxx + syy + c2))
    return float(s.mean())


def library_scores(out: np.ndarray, gt: np.ndarray) -> dict[str, float | None]:
    """Mean Y-PSNR / Y-SSIM by ``stvsr.metrics`` (a cross-check of the functions above)."""
    try:
        from stvsr import metrics
    except ImportError:
        return {"psnr_y": None, "ssim_y": None}
    # frame by frame: the library works in float64, a whole clip at once needs >10 GB
    psnrs = [metrics.psnr(o, g, y_channel=True, crop_border=0) for o, g in zip(out, gt)]
    ssims = [metrics.ssim(o, g, y_channel=True, crop_border=0) for o, g in zip(out, gt)]
    return {"psnr_y": float(np.mean(psnrs)), "ssim_y": float(np.mean(ssims))}


# ----------------------------------------------------------------------------- models


def load_model(name: str, tag: str | None, weights: Path | None) -> torch.nn.Module:
    """``stvsr.load`` when available, else the packaged safetensors loaded strictly."""
    if weights is None:
        try:
            import stvsr

            return stvsr.load(f"{name}.{tag}" if tag else name).float().eval()
        except (ImportError, AttributeError):
            pass
    from safetensors.torch import load_file

    from stvsr.models._base import load_state_dict_strict
    from stvsr.zoo._catalog import get_entry

    entry = get_entry(name)
    tag = tag or entry.default_tag
    from stvsr.zoo._weights import packaged_path

    path = weights or packaged_path(str(entry.weights[tag].packaged))
    if path is None:
        raise FileNotFoundError(f"{name}.{tag}: no packaged weights file (core package or stvsr-weights)")
    model = entry.build()
    if str(path).endswith(".safetensors"):
        sd = load_file(str(path))
    else:  # an authors' checkpoint (fp32 reference run)
        from stvsr.zoo.convert import load_authors_checkpoint

        sd = entry.converter(load_authors_checkpoint(path)).state_dict()  # type: ignore[misc]
    load_state_dict_strict(model, sd)
    return model.float().eval()


def run_clip(model: torch.nn.Module, name: str, gt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Returns (outputs uint8, matching GT uint8)."""
    lr = degrade_bi(gt)
    with torch.inference_mode():
        if name == "basicvsr":
            out = model(lr)
            ref = gt
        else:
            keys = lr[:, ::2]
            out = model(keys, scale=4, times=(0.5,))
            ref = gt[: out.shape[1]]
    return to_uint8(out), ref


def score(out: np.ndarray, ref: np.ndarray) -> dict[str, object]:
    psnrs = [psnr_y(o, g) for o, g in zip(out, ref)]
    ssims = [ssim_y(o, g) for o, g in zip(out, ref)]
    return {
        "frames": len(psnrs),
        "psnr_y": float(np.mean(psnrs)),
        "ssim_y": float(np.mean(ssims)),
        "psnr_y_per_frame": psnrs,
        "ssim_y_per_frame": ssims,
        "stvsr_metrics": library_scores(out, ref),
    }


def summary(out_dir: Path) -> dict[str, object]:
    per = {c: json.loads((out_dir / f"{c}.json").read_text()) for c in CLIPS if (out_dir / f"{c}.json").is_file()}
    all_p = [p for r in per.values() for p in r["psnr_y_per_frame"]]
    all_s = [s for r in per.values() for s in r["ssim_y_per_frame"]]
    res = {
        "clips": {
            c: {"frames": r["frames"], "psnr_y": round(r["psnr_y"], 4), "ssim_y": round(r["ssim_y"], 4)}
            for c, r in per.items()
        },
        "frames": len(all_p),
        "psnr_y_mean_over_frames": float(np.mean(all_p)) if all_p else None,
        "ssim_y_mean_over_frames": float(np.mean(all_s)) if all_s else None,
        "psnr_y_mean_over_clips": float(np.mean([r["psnr_y"] for r in per.values()])) if per else None,
        "ssim_y_mean_over_clips": float(np.mean([r["ssim_y"] for r in per.values()])) if per else None,
    }
    return res


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", choices=("basicvsr", "rife_basicvsr", "summary"))
    parser.add_argument("--vid4", type=Path, default=Path("/work/shared/data/vid4"))
    parser.add_argument("--out", type=Path, required=True, help="folder for per-clip JSON results")
    parser.add_argument("--clips", nargs="+", default=list(CLIPS), choices=CLIPS)
    parser.add_argument("--tag", default=None, help="weight tag (default: the registry's default)")
    parser.add_argument(
        "--weights",
        type=Path,
        default=None,
        help="a safetensors file or an authors' .pth/.pkl instead of the packaged weights",
    )
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: leave torch's default)")
    parser.add_argument(
        "--channels-last",
        action="store_true",
        help="channels_last convolutions (faster on CPU; changes results only at float rounding level)",
    )
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.model == "summary":
        print(json.dumps(summary(args.out), indent=1))
        return
    if args.threads:
        torch.set_num_threads(args.threads)
    model = load_model(args.model, args.tag, args.weights)
    if args.channels_last:
        model = model.to(memory_format=torch.channels_last)
    for clip in args.clips:
        t0 = time.time()
        gt = read_clip(args.vid4, clip)
        out, ref = run_clip(model, args.model, gt)
        res = score(out, ref)
        res.update(
            clip=clip,
            model=args.model,
            tag=args.tag,
            weights=str(args.weights or "packaged"),
            seconds=round(time.time() - t0, 1),
        )
        (args.out / f"{clip}.json").write_text(json.dumps(res))
        print(
            f"{clip}: {res['frames']} frames, Y-PSNR {res['psnr_y']:.4f} dB, Y-SSIM {res['ssim_y']:.4f}, "
            f"{res['seconds']} s",
            flush=True,
        )
    print(json.dumps(summary(args.out), indent=1))


if __name__ == "__main__":
    main()
