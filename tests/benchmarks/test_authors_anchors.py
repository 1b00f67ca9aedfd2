"""``benchmarks/authors_anchors.py`` and the comparison of ``benchmarks/models.py`` with the authors' code.

The anchors are the research note's figures copied exactly (checked against the note where the
checkout has it), the anchored cases run exactly the anchors' workloads, and the normalisation
divides out the machine's conv speed.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from benchmarks import models
from benchmarks.authors_anchors import ANCHORS, CONV_GFLOPS, SAFA_GATES, SOURCE, normalised_speedup

ROOT = Path(__file__).resolve().parents[2]
NOTE = next((p for p in (ROOT / SOURCE, ROOT.parent / SOURCE) if p.is_file()), None)

# anchor -> how its row of the note's results table starts
ROWS = {
    "msmr_fix": "MsMr fixed",
    "msmr_arb": "MsMr arbitrary",
    "msitf": "MSITF",
    "fmu": "FMU-STSR",
    "safa": "SAFA (`flownet.SAFA`",
    "safa_single": "SAFA, single frame",
    "safa_gates_full": "SAFA, all gates forced full",
    "safa_gates_quarter": "SAFA, all gates forced quarter",
    "cvrs_untiled": "CVRS `RescalerNet.inference_up`, untiled",
    "cvrs_tiled_1x2": "CVRS, tiled 1×2",
    "cvrs_tiled_2x2": "CVRS, tiled 2×2",
}


def _number(cell: str) -> float | None:
    match = re.match(r"\**([\d.]+)", cell.strip())
    return float(match.group(1)) if match else None


@pytest.mark.skipif(NOTE is None, reason=f"{SOURCE} is not in this checkout")
def test_anchors_are_the_notes_figures() -> None:
    assert NOTE is not None
    text = NOTE.read_text()
    assert set(ROWS) == set(ANCHORS)
    for key, start in ROWS.items():
        (line,) = [line for line in text.splitlines() if line.startswith(f"| {start}")]
        cells = line.strip("|").split("|")
        anchor = ANCHORS[key]
        assert (_number(cells[3]), _number(cells[5]), _number(cells[9])) == (
            anchor.seconds,
            anchor.peak_gib,
            anchor.seconds_tuned,
        ), key
        params = re.search(r"([\d.]+) M", cells[0])
        assert params is None or float(params.group(1)) == anchor.params_m, key
    assert re.search(r"\| fresh process, default glibc malloc \| \*\*190\*\* \|", text)
    assert re.search(r"mmap threshold raised .*\| \*\*411\*\* \|", text)
    assert CONV_GFLOPS == {"default": 190.0, "tuned": 411.0}
    letters = {"full": "F", "half": "H", "quarter": "Q"}
    gates = ""
    for line in text.splitlines():
        if line.startswith("| scalar t=0.5 |"):
            blocks = line.strip("|").split("|")[2].strip()
            word, _, times = blocks.partition(" ×")
            names = [word] * int(times) if times else [b.strip() for b in blocks.split(",")]
            gates += "".join(letters[n] for n in names)
    assert gates == SAFA_GATES


def test_normalised_speedup() -> None:
    # the authors took 20 s where the reference conv ran at 190 GFLOP/s; stvsr 10 s where it runs at 380:
    # twice as fast in seconds, but on a machine twice as fast, so the same speed
    assert normalised_speedup(20.0, 10.0, 190.0, 380.0) == pytest.approx(1.0)
    assert normalised_speedup(20.0, 10.0, 190.0, 95.0) == pytest.approx(4.0)
    # a machine k times faster at everything leaves it unchanged
    k = 1.7
    assert normalised_speedup(17.73, 6.0 / k, 190.0, 200.0 * k) == pytest.approx(
        normalised_speedup(17.73, 6.0, 190.0, 200.0)
    )


def test_against_authors_rows() -> None:
    row = {"case": "c", "dtype": "float32", "seconds": 5.0, "peak_rss_mb": 2048.0, "params": 13_193_720}
    (fix,) = models.against_authors([{**row, "anchors": ["msmr_fix"]}], 380.0, "default", quick=False)
    assert fix["raw_speedup"] == pytest.approx(17.73 / 5.0)
    assert fix["normalised_speedup"] == pytest.approx(17.73 / 5.0 * 190.0 / 380.0)
    assert (
        fix["params_match"] and fix["comparable"] and fix["stvsr_peak_gib"] == 2.0 and fix["authors_peak_gib"] == 1.86
    )
    untiled, tiled = models.against_authors(
        [{**row, "anchors": ["cvrs_untiled", "cvrs_tiled_2x2"]}], 380.0, "tuned", True
    )
    assert untiled["authors_s"] is None and untiled["normalised_speedup"] is None  # not run with the tuned malloc
    assert tiled["normalised_speedup"] == pytest.approx(19.50 / 5.0 * 411.0 / 380.0) and not tiled["comparable"]


def _anchored(quick: bool) -> list[tuple[str, dict]]:
    return [(s, c) for s in models._systems(None) for c in models._cases(s, quick) if c.get("anchors")]


def test_anchored_cases_are_the_anchors_workloads() -> None:
    cases = {key: case for _, case in _anchored(quick=False) for key in case["anchors"]}
    assert {"msmr_fix", "msmr_arb", "msitf", "fmu", "safa", "cvrs_tiled_1x2"} <= set(cases) <= set(ANCHORS)
    for key, case in cases.items():
        assert case["out_frames"] == ANCHORS[key].out_frames, key
        assert set(case["dtypes"]) == {"float32", "bfloat16"}, key
        args, kwargs = case["inputs"]()
        if key == "safa":  # the authors' call on the pre-upsampled pair, padded to a multiple of 32
            assert case["method"] == "inference" and args[0].shape == (1, 6, 576, 736) and args[1] == 0.5
        elif key.startswith("cvrs"):
            assert case["method"] == "decode" and args[0].shape == (1, 4, 3, 144, 180) and args[1] == (7, 576, 720)
        else:
            assert args[0].shape == (1, 4, 3, 144, 180), key
            assert kwargs["times"] in (0.5, (0.5,)) and kwargs.get("scale", 4.0) == 4.0, key


def test_safa_case_takes_the_authors_gate_decisions() -> None:
    (case,) = [c for s, c in _anchored(quick=True) if s == "safa"]
    model = case["build"]()
    (x, t), _ = case["inputs"]()
    with torch.no_grad():
        for _ in range(2):  # the decisions repeat call after call
            _, gates = model.inference(x, t, return_gates=True)
            bits = ["".join(str(int(b)) for b in bits[0].tolist()) for _, bits in gates]
            assert "".join({"11": "F", "01": "H"}.get(b, "Q") for b in bits) == SAFA_GATES


def test_run_one_quick_row() -> None:
    row = models.run_one("safa", "safa_authors_gates_lr8x8_x4_t0.5", "float32", quick=True, flops=False)
    assert row["anchors"] == ["safa"] and row["conv_gflops"] > 0 and row["seconds"] > 0
