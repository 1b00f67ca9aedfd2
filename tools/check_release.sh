#!/usr/bin/env bash
# Release check: build the sdist and the wheel, check what the wheel holds, install it in a
# fresh virtual environment (no --system-site-packages) and smoke-test the installed package.
#
#   tools/check_release.sh                # uses python3; KEEP=1 keeps the work folder
#   PYTHON=python3.12 tools/check_release.sh
#
# Needs the `build` package in the calling Python (`pip install build`) and access to a package
# index for the wheel's dependencies. torch is large: when a local torch wheel sits in a
# --find-links folder (PIP_FIND_LINKS), the check pins torch to that version so pip takes it
# from there instead of downloading the CUDA build; STVSR_TORCH_SPEC="torch==X.Y.Z" pins it
# explicitly. Everything else is installed from the wheel's own requirements, as a user would.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
start=$SECONDS
work=$(mktemp -d "${TMPDIR:-/tmp}/stvsr-release.XXXXXX")
if [ -z "${KEEP:-}" ]; then
    trap 'rm -rf "$work"' EXIT
else
    echo "work folder: $work"
fi
step() { printf '== %s (%ds)\n' "$1" $((SECONDS - start)); }

step "build sdist and wheel"
"$PY" -m build --outdir "$work/dist" . >"$work/build.log" 2>&1 || { tail -40 "$work/build.log"; exit 1; }
# the companion distributions (stvsr-weights, stvsr-weights-2), each its own wheel under 100 MB
for folder in weights weights/volume2; do
    "$PY" -m build --wheel --outdir "$work/dist-weights" "$folder" >>"$work/build.log" 2>&1 || { tail -40 "$work/build.log"; exit 1; }
done
sdist=$(ls "$work"/dist/stvsr-*.tar.gz)
wheel=$(ls "$work"/dist/stvsr-*.whl)
companions=$(ls "$work"/dist-weights/stvsr_weights*.whl)
ls -l "$sdist" "$wheel" $companions

step "companion wheels (stvsr-weights, stvsr-weights-2) contents"
"$PY" - $companions <<'PY'
import sys, zipfile

problems, seen = [], {}
for wheel in sys.argv[1:]:
    infos = zipfile.ZipFile(wheel).infolist()
    names = [i.filename for i in infos]
    pkg = next(n.split("/")[0] for n in names if ".dist-info/" not in n)
    size = sum(i.file_size for i in infos)
    weights = sorted(n for n in names if n.endswith(".safetensors"))
    problems += [f"unexpected file in {pkg}'s wheel: {n}" for n in names
                 if not (n.startswith(pkg + "/") or ".dist-info/" in n)]
    if f"{pkg}/ATTRIBUTION.md" not in names:
        problems.append(f"missing from the companion wheel: {pkg}/ATTRIBUTION.md")
    if size >= 100e6:
        problems.append(f"companion wheel {pkg} holds {size / 1e6:.1f} MB (budget 100 MB)")
    print(f"companion {pkg}: {len(weights)} weight files, {size / 2**20:.1f} MiB unpacked")
    for w in weights:
        name = w.split("/")[-1]
        if name in seen:
            problems.append(f"{name} is in both {seen[name]} and {pkg}")
        seen[name] = pkg
        print("  ", w)
if len(sys.argv) != 3:
    problems.append(f"expected 2 companion wheels, got {sys.argv[1:]}")
if problems:
    print("\n".join(problems), file=sys.stderr)
    sys.exit(1)
PY

step "wheel and sdist contents"
"$PY" - "$wheel" "$sdist" <<'PY'
import sys, tarfile, zipfile

wheel, sdist = sys.argv[1], sys.argv[2]
names = zipfile.ZipFile(wheel).namelist()
problems = []
top = {n.split("/")[0] for n in names}
allowed_top = {"stvsr"} | {t for t in top if t.endswith((".dist-info", ".data"))}
for t in sorted(top - allowed_top):
    problems.append(f"unexpected top-level entry in the wheel: {t}")
for n in names:
    low = n.lower()
    parts = low.split("/")
    if any(p in ("tests", "benchmarks", "tools", "docs", "examples", "configs") for p in parts[:-1]):
        problems.append(f"development file in the wheel: {n}")
    if "conformance" in low:
        problems.append(f"conformance data in the wheel: {n}")
    if low.endswith((".pth", ".pkl", ".pt", ".npz", ".ipynb")):
        problems.append(f"unexpected data file in the wheel: {n}")
    if "__pycache__" in parts or low.endswith(".pyc"):
        problems.append(f"compiled file in the wheel: {n}")
required = ["stvsr/py.typed", "stvsr/data/bbb_160x90.mp4", "stvsr/data/ATTRIBUTION.md",
            "stvsr/zoo/weights/ATTRIBUTION.md"]
for r in required:
    if r not in names:
        problems.append(f"missing from the wheel: {r}")
weights = sorted(n for n in names if n.startswith("stvsr/zoo/weights/") and n.endswith(".safetensors"))
licences = sorted(n for n in names if n.startswith("stvsr/zoo/weights/LICENSE"))
if not any(n.endswith("LICENSE") for n in names if ".dist-info/" in n) and not any("licenses/" in n for n in names):
    print("note: no LICENSE file inside the wheel's dist-info")
sd = tarfile.open(sdist).getnames()
sd_conf = [n for n in sd if "conformance" in n and not n.endswith(".py")]
size = sum(i.file_size for i in zipfile.ZipFile(wheel).infolist())
if size >= 100e6:
    problems.append(f"core wheel holds {size / 1e6:.1f} MB (budget 100 MB): move weights to weights/ (stvsr-weights)")
print(f"wheel: {len(names)} files, {size / 2**20:.1f} MiB unpacked; {len(weights)} weight files, "
      f"{len(licences)} weight licences; sdist: {len(sd)} entries ({len(sd_conf)} conformance data files)")
for w in weights:
    print("  ", w)
if problems:
    print("\n".join(problems), file=sys.stderr)
    sys.exit(1)
PY

step "fresh virtual environment"
"$PY" -m venv "$work/venv"
vpy="$work/venv/bin/python"
"$vpy" -m pip install -q --upgrade pip >/dev/null 2>&1 || true
constraints="$work/constraints.txt"
: >"$constraints"
torch_spec=${STVSR_TORCH_SPEC:-}
if [ -z "$torch_spec" ]; then
    for d in ${PIP_FIND_LINKS:-}; do
        local_torch=$(ls "$d"/torch-*.whl 2>/dev/null | sort -V | tail -1 || true)
        if [ -n "$local_torch" ]; then
            v=$(basename "$local_torch" | cut -d- -f2 | cut -d+ -f1)
            torch_spec="torch==$v"
        fi
    done
fi
if [ -n "$torch_spec" ]; then
    echo "$torch_spec" >"$constraints"
    echo "torch pinned: $torch_spec"
fi

step "install the wheel"
"$vpy" -m pip install -q -c "$constraints" "$wheel" $companions >"$work/install.log" 2>&1 \
    || { grep -v "is ignored: it is neither" "$work/install.log" | tail -40; exit 1; }

step "smoke test of the installed package"
cd "$work"   # away from the source tree: only the installed package can be imported
export STVSR_HOME="$work/home" HF_HUB_OFFLINE=1 OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
"$vpy" - <<'PY'
import sys, time
t = time.perf_counter()
import stvsr
heavy = [m for m in ("torch", "av", "huggingface_hub", "timm") if m in sys.modules]
assert not heavy, f"import stvsr imported {heavy}"
assert "/venv/" in stvsr.__file__, f"stvsr imported from {stvsr.__file__}, not from the fresh venv"
print(f"stvsr {stvsr.__version__} from {stvsr.__file__} ({(time.perf_counter() - t) * 1000:.0f} ms)")

import torch
from stvsr.zoo._catalog import get_entry
from stvsr.zoo import resolve_weights

names = stvsr.list_models()
assert names, "empty registry"
shipped = []
for name in names:
    entry = get_entry(name)
    for tag, src in entry.weights.items():
        if src.packaged:
            path = resolve_weights(f"{name}.{tag}")   # checks the sha256
            assert "site-packages" in str(path), path
            shipped.append(f"{name}.{tag}")
        elif src.parts:
            stvsr.load(f"{name}.{tag}")   # assembled from packaged parts, each sha256-checked
            shipped.append(f"{name}.{tag} (assembled)")
print(f"{len(names)} models; packaged weights verified: {', '.join(shipped) or 'none'}")

model = stvsr.load("bicubic_blend")
out = model(torch.rand(1, 2, 3, 8, 8), scale=2.0, times=(0.5,))
assert out.shape == (1, 3, 3, 16, 16), out.shape
default = "rife_basicvsr"
if default in names and get_entry(default).weights:
    model = stvsr.load(default)
    with torch.no_grad():
        out = model(torch.rand(1, 2, 3, 16, 16), scale=4.0, times=(0.5,))
    assert out.shape == (1, 3, 3, 64, 64) and 0 <= float(out.min()) and float(out.max()) <= 1, out.shape
    print(f"{default} (shipped weights) runs: {tuple(out.shape)}")
PY
clip=$("$vpy" -c "import importlib.resources as r; print(r.files('stvsr') / 'data' / 'bbb_160x90.mp4')")
"$work/venv/bin/stvsr" --version
"$work/venv/bin/stvsr" models >"$work/models.txt"
head -5 "$work/models.txt"
"$work/venv/bin/stvsr" info "$clip"
"$vpy" -m stvsr --help >/dev/null

step "done: release check passed"
