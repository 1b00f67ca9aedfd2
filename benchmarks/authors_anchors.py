"""The authors' original implementations timed on CPU: the one copy of their figures in the project.

Copied from ``shared/research/originals_cpu.md`` (measured 2026-11-21): each original run from an
unmodified copy of the authors' code (CUDA-only ops replaced by CPU stand-ins) on a 2-vCPU AMD EPYC
(Zen 5, AVX-512) KVM guest, PyTorch 2.15.0, ``torch.set_num_threads(2)``, fp32, ``eval()``,
``no_grad``, batch 1. Time: median wall time of 3 forwards after 1 warm-up. Peak RSS: ``ru_maxrss``
of a fresh process per model after those 4 forwards (interpreter, torch runtime and weights included).

The model times were taken under glibc's **default** malloc; a secondary pass raised glibc's mmap
threshold (``MALLOC_MMAP_THRESHOLD_`` = 1 GiB, ``MALLOC_TRIM_THRESHOLD_`` = 4 GiB; ``tuned`` here,
what :func:`stvsr._malloc.tune_malloc` does with a 2 GiB trim threshold). The reference conv
(:data:`REFERENCE_CONV`) ran at :data:`CONV_GFLOPS` under each condition, in fresh processes.

:func:`normalised_speedup` turns a time of stvsr on another machine (or on this one, busier or
quieter) into a speed-up over the authors' code on a machine with that run's conv speed.
"""

from __future__ import annotations

from dataclasses import dataclass

SOURCE = "shared/research/originals_cpu.md"

REFERENCE_CONV = "64->64 3x3 conv2d with bias on 1x64x144x180 fp32, median of 10 calls after 3 warm-ups"
REFERENCE_CONV_GFLOP = 2 * 64 * 64 * 9 * 144 * 180 / 1e9  # 1.911 GFLOP per call (bias not counted)

# malloc condition -> the reference conv's GFLOP/s in a fresh process on the authors' machine (2 threads)
CONV_GFLOPS: dict[str, float] = {"default": 190.0, "tuned": 411.0}


@dataclass(frozen=True)
class Anchor:
    """One row of the research note's results table (times in seconds per call, peak in GiB)."""

    original: str  # the authors' class (and parameter count)
    workload: str  # the timed call, exactly
    out_frames: int  # HR frames per call
    seconds: float  # median of 3, default malloc
    peak_gib: float  # peak RSS, default malloc
    seconds_tuned: float | None  # median of 3, mmap threshold raised (None: not run)
    params_m: float  # parameters, millions

    def time(self, malloc: str) -> float | None:
        """The authors' seconds per call under ``malloc`` ("default" or "tuned")."""
        return {"default": self.seconds, "tuned": self.seconds_tuned}[malloc]


_MSMR = "4 LR frames 144x180, scale 4x4, time_step=[0.5]"
_SAFA = "one pair bicubic x4 to 576x720, padded to 576x736, inference(x, 0.5): renders t = 0, 0.5, 1"
_CVRS = "inference_up(latent 4x144x180, (7, 576, 720))"

ANCHORS: dict[str, Anchor] = {
    "msmr_fix": Anchor("MsMr fixed (model_fix.Unstrained_ST)", _MSMR, 7, 17.73, 1.86, 11.77, 13.19),
    "msmr_arb": Anchor("MsMr arbitrary (model_arb.Unstrained_ST)", _MSMR, 7, 20.05, 1.84, 14.14, 17.07),
    "msitf": Anchor("MSITF (mystvsr07.Net)", "4 LR frames 144x180 -> 7 x 576x720", 7, 27.86, 3.39, 16.70, 5.59),
    "fmu": Anchor("FMU-STSR (FMU_gridnet.STSR_net)", "4 LR frames 144x180, t=0.5", 5, 7.80, 2.14, 5.33, 20.09),
    "safa": Anchor("SAFA (flownet.SAFA), threshold gate", _SAFA, 3, 10.16, 1.94, 5.72, 4.94),
    "safa_single": Anchor("SAFA, single frame", "same pair, timestep=[0.5]", 1, 3.24, 1.52, 2.09, 4.94),
    "safa_gates_full": Anchor("SAFA, all gates forced full", _SAFA, 3, 14.99, 1.89, None, 4.94),
    "safa_gates_quarter": Anchor("SAFA, all gates forced quarter", _SAFA, 3, 6.75, 1.89, None, 4.94),
    "cvrs_untiled": Anchor("CVRS RescalerNet.inference_up, untiled", _CVRS, 7, 56.59, 20.18, None, 1.48),
    "cvrs_tiled_1x2": Anchor("CVRS, tiled 1x2 (the authors' Vid4 tiling)", _CVRS, 7, 41.34, 10.54, 37.77, 1.48),
    "cvrs_tiled_2x2": Anchor("CVRS, tiled 2x2", _CVRS, 7, 31.06, 5.66, 19.50, 1.48),
}

# SAFA's gate decisions in the timed call (fixture weights, threshold gate), blocks 0-5 per rendered
# frame t = 0, 0.5, 1: F = full (H/2), H = half (H/4), Q = quarter (H/8)
SAFA_GATES = "".join(("FFFFFH", "HFHFHH", "HHHHHH"))


def normalised_speedup(authors_s: float, stvsr_s: float, conv_then: float, conv_now: float) -> float:
    """How much faster stvsr is than the authors' code would be on a machine with this run's conv speed.

    The authors' time scales inversely with the machine's conv throughput: on a machine where the
    reference conv runs at ``conv_now`` GFLOP/s instead of ``conv_then`` it would take
    ``authors_s * conv_then / conv_now``. Divided by stvsr's time on that machine::

        normalised = (authors_s / stvsr_s) * (conv_then / conv_now)

    i.e. both times counted in reference-conv calls of their own run. ``conv_then`` and
    ``conv_now`` must be measured under the same malloc condition as the two times.
    """
    return (authors_s / stvsr_s) * (conv_then / conv_now)
