"""Progress inside model calls and a stable ETA (issue 19 item 3), on fake slow models and a fake clock."""

from __future__ import annotations

from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from stvsr._progress import listen, steps
from stvsr.models._base import StvsrModel
from stvsr.models._capabilities import Capabilities
from stvsr.models._windowed import window_plan
from stvsr.models.two_stage import RifeBasicVSR
from stvsr.video import Upscaler, progress
from stvsr.video.progress import EtaMeter


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class _Sleep(nn.Module):
    """A leaf module that "takes" ``seconds`` on the fake clock."""

    def __init__(self, clock: FakeClock, seconds: float) -> None:
        super().__init__()
        self.clock, self.seconds, self.factor = clock, seconds, 1.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.clock.now += self.seconds * self.factor
        return x


class SlowModel(StvsrModel):
    """Any scale and time; every output frame costs 4 leaf calls of 0.25 s (first call ``warmup`` times slower)."""

    def __init__(self, clock: FakeClock, warmup: float = 1.0, announce: bool = True) -> None:
        super().__init__()
        self.config = {}
        self.clock, self.warmup = clock, warmup
        self.leaves = nn.ModuleList(_Sleep(clock, 0.25) for _ in range(4))
        self.call_ends: list[float] = []
        self.announces_steps = announce

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(task="stvsr")

    def forward(self, lr: torch.Tensor, scale: Any = 2.0, times: tuple[float, ...] = (0.5,)) -> torch.Tensor:
        t, k = lr.shape[1], len(times)
        sh, sw = scale if isinstance(scale, tuple) else (scale, scale)
        size = (round(lr.shape[-2] * sh), round(lr.shape[-1] * sw))
        factor = self.warmup if not self.call_ends else 1.0
        out = []
        with steps(frames=(t + (t - 1) * k, 1.0)) as plan:
            for i in range(t + (t - 1) * k):
                x = lr[:, min(i // (k + 1), t - 1)]
                for leaf in self.leaves:
                    leaf.factor = factor
                    x = leaf(x)
                out.append(F.interpolate(x, size=size, mode="nearest"))
                plan.step("frames")
        self.call_ends.append(self.clock.now)
        return torch.stack(out, dim=1)


def _job(monkeypatch: pytest.MonkeyPatch, model: SlowModel, frames: int = 20) -> dict[str, Any]:
    """Run a job with a progress bar; returns the bar's moves and the ETAs given, on the fake clock."""
    import tqdm.auto

    clock = model.clock
    monkeypatch.setattr(progress, "clock", clock)
    moves: list[tuple[float, float]] = []
    etas: list[tuple[float, float, float | None]] = []

    class Recorder(tqdm.auto.tqdm):  # type: ignore[misc, name-defined]
        def update(self, n: float = 1) -> bool | None:
            out = super().update(n)
            moves.append((clock(), float(self.n)))
            return out

    real = EtaMeter.remaining

    def remaining(self: EtaMeter) -> float | None:
        value = real(self)
        etas.append((clock(), self.done, value))
        return value

    monkeypatch.setattr(tqdm.auto, "tqdm", Recorder)
    monkeypatch.setattr(EtaMeter, "remaining", remaining)
    ups = Upscaler(model, scale=2.0, fps="x2", window=4, progress=True, device="cpu")
    out = list(ups.process([torch.rand(3, 4, 4) for _ in range(frames)], fps_in=10, frames_in=frames))
    calls = len(window_plan(frames, 4, 2))
    calibration = 0 if model.announces_steps else 1  # one profiling call on a small crop
    assert len(out) == 2 * frames - 1 and len(model.call_ends) == calls + calibration
    return {"moves": moves, "etas": etas, "calls": calls, "end": clock()}


def _eta_at_quarter(job: dict[str, Any]) -> tuple[float, float]:
    """(ETA given, true remaining time) at the first ETA once 25% of the job's model calls are done."""
    for now, done, value in job["etas"]:
        if done >= 0.25 * job["calls"] and value is not None:
            return value, job["end"] - now
    raise AssertionError("no ETA after 25% of the job")


def test_first_update_comes_before_the_first_call_ends(monkeypatch: pytest.MonkeyPatch) -> None:
    model = SlowModel(FakeClock())
    job = _job(monkeypatch, model)
    first = next((when, pos) for when, pos in job["moves"] if pos > 0)
    assert first[1] < 0.2 and first[0] <= 1.0 < model.call_ends[0]  # after the first output frame (1 s)
    inside = [pos for when, pos in job["moves"] if pos < 1]
    assert len(inside) >= 5 and inside == sorted(inside)


@pytest.mark.parametrize("warmup", [1.0, 3.0])
def test_eta_after_a_quarter_is_within_30_percent(monkeypatch: pytest.MonkeyPatch, warmup: float) -> None:
    job = _job(monkeypatch, SlowModel(FakeClock(), warmup=warmup))
    assert job["calls"] >= 8
    given, true = _eta_at_quarter(job)
    assert abs(given / true - 1) <= 0.3, (given, true)


def test_eta_inside_the_first_call_of_a_short_job(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two calls (the demo's --max-frames 9 shape): 25% of the job lies inside the first call."""
    job = _job(monkeypatch, SlowModel(FakeClock()), frames=6)
    assert job["calls"] == 2
    given, true = _eta_at_quarter(job)
    assert abs(given / true - 1) <= 0.3, (given, true)


def test_models_that_announce_no_steps_are_calibrated_once(monkeypatch: pytest.MonkeyPatch) -> None:
    model = SlowModel(FakeClock(), announce=False)
    job = _job(monkeypatch, model, frames=8)
    first = next((when, pos) for when, pos in job["moves"] if pos > 0)
    assert first[1] < 1  # the calibrated leaf profile moves the bar inside the first call too


def test_eta_meter_leaves_the_warm_up_call_out(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = FakeClock()
    monkeypatch.setattr(progress, "clock", clock)
    eta = EtaMeter(10, prior=5.0)
    assert eta.remaining() == 50.0  # the prior before any measurement
    eta.begin()
    clock.now += 1.0
    eta.exclude(1.0)  # a calibration run
    clock.now += 0.5
    eta.partial(0.1)  # too little of the first call: still the prior
    assert eta.remaining() == pytest.approx(5.0 * 9.9)
    clock.now += 1.5
    eta.partial(0.5)  # 2 s for half the (warm-up) call: 4 s per call
    assert eta.remaining() == pytest.approx(4.0 * 9.5)
    clock.now += 4.0
    eta.end()  # the first call: 6 s, calibration left out
    assert eta.durations == [6.0] and eta.remaining() == pytest.approx(6.0 * 9)
    eta.begin()
    clock.now += 0.2
    eta.partial(0.1)  # the second call, 10% in 0.2 s: 2 s per call, the warm-up call is left out
    assert eta.remaining() == pytest.approx(2.0 * 8.9)
    clock.now += 1.8
    eta.end()
    assert eta.remaining() == pytest.approx(2.0 * 8)
    assert EtaMeter(None).remaining() is None


def test_announced_steps_nest_and_only_move_forward() -> None:
    model = RifeBasicVSR(vfi={"widths": [8, 8, 8, 8]}, vsr={"num_feat": 8, "num_block": 1}, order="vfi_first").eval()
    seen: list[float] = []
    lr = torch.rand(1, 4, 3, 8, 8)
    with torch.no_grad(), listen(seen.append):
        model(lr, scale=4.0, times=(0.25, 0.5))
    # RIFE: 6 frames; BasicVSR on 10 frames: 18 flows, 10 backward and 10 forward steps
    assert len(seen) == 6 + 18 + 10 + 10  # one report per step; the last one capped at 0.999, not 100%
    assert seen == sorted(seen) and 0 < seen[0] < 0.05 and seen[-1] == 0.999
    with torch.no_grad():
        model(lr)  # nobody listening: silent plans
    silent: list[float] = []
    with listen(silent.append), steps(a=(1, 1.0)) as outer:
        with steps(b=(2, 1.0)) as inner:  # opened inside a plan but outside a span: silent
            inner.step("b")
        outer.step("a")
    assert silent == [0.999]
