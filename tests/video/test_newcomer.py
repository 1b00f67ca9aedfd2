"""A newcomer's first run (issue 19): light `--help`, device choice, what runs, progress, summary, options."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

import stvsr
from stvsr._device import auto_device, auto_dtype, cpu_has_native_bf16, resolve_device
from stvsr.video import Upscaler, upscale_video
from stvsr.video.io import VideoError, probe
from stvsr.video.progress import MEASURED, CallProgress, estimate_seconds, format_seconds
from tests.video.clips import make_clip
from tests.video.test_cli import run

ROOT = Path(__file__).resolve().parents[2]


# --- 5. light command line ---------------------------------------------------------------------


@pytest.mark.parametrize("args", [["--help"], ["models", "--help"], ["--version"]])
def test_help_does_not_import_torch(args: list[str]) -> None:
    code = (
        "import sys\n"
        "from stvsr.cli import main\n"
        f"code = main({args!r})\n"
        "heavy = [m for m in ('torch', 'av', 'numpy', 'huggingface_hub') if m in sys.modules]\n"
        "assert code == 0 and not heavy, (code, heavy)\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert res.returncode == 0, res.stderr
    assert "usage" in res.stdout or "stvsr" in res.stdout


def test_subcommand_help_still_lists_its_options() -> None:
    r = run("upscale", "--help")
    assert r.returncode == 0
    for option in ("--device", "--keep-duration", "--max-frames", "--codec", "--threads", "--window", "--tile"):
        assert option in r.stdout, option


def test_upscale_help_explains_defaults_and_advice() -> None:
    text = " ".join(run("upscale", "--help").stdout.split())
    assert "2N-1" in text and "--keep-duration" in text  # 8. the frame count of x2
    assert "default 7" in text and "memory runs out" in text  # 10. --window
    assert "default: whole frames" in text and "start with 256" in text  # 10. --tile
    assert "auto (default): bfloat16 on CPUs with bf16 instructions" in text  # 10. --dtype
    assert "auto (default: CUDA, else Apple MPS, else CPU" in text  # 4.


# --- 4. device ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cuda", "mps", "expected"), [(True, True, "cuda"), (False, True, "mps"), (False, False, "cpu")]
)
def test_auto_device_prefers_cuda_then_mps(monkeypatch: pytest.MonkeyPatch, cuda: bool, mps: bool, expected: str) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)
    assert auto_device().type == expected
    assert resolve_device(None).type == expected and resolve_device("auto").type == expected
    assert resolve_device("cpu").type == "cpu"  # forcing the CPU always works


def test_explicit_devices_that_are_missing_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    with pytest.raises(ValueError, match="--device cuda: no CUDA device"):
        resolve_device("cuda", "--device")
    with pytest.raises(ValueError, match="MPS .* not available"):
        resolve_device("mps")
    with pytest.raises(ValueError, match="--device must be cpu, cuda, cuda:N or mps, got 'tpu'"):
        resolve_device("tpu", "--device")


CPUINFO = "processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f {extra}\nbogomips\t: 4000\n"


@pytest.mark.parametrize(("extra", "native"), [("avx512_bf16", True), ("amx_bf16 amx_tile", True), ("avx512_vnni", False)])
def test_cpu_bf16_detection(extra: str, native: bool) -> None:
    assert cpu_has_native_bf16(CPUINFO.format(extra=extra)) is native
    assert cpu_has_native_bf16("") is False  # unreadable or foreign: float32


@pytest.mark.parametrize("native", [True, False])
def test_auto_dtype_is_bf16_only_on_cpus_with_bf16(monkeypatch: pytest.MonkeyPatch, native: bool) -> None:
    import stvsr._device as dev

    monkeypatch.setattr(dev, "cpu_has_native_bf16", lambda cpuinfo=None: native)
    monkeypatch.setenv("STVSR_AUTO_BF16", "1")  # tests/conftest.py pins auto to float32 elsewhere
    expected = torch.bfloat16 if native else torch.float32
    assert auto_dtype(torch.device("cpu")) == expected
    assert auto_dtype(torch.device("cuda")) == torch.float32  # GPUs: not measured, float32
    for given in (None, "auto", "AUTO"):
        ups = Upscaler("bicubic_blend", device="cpu", dtype=given, progress=False)
        assert ups.dtype == expected and str(expected).removeprefix("torch.") in ups.describe()
    assert Upscaler("bicubic_blend", device="cpu", dtype="float32", progress=False).dtype == torch.float32
    with pytest.raises(ValueError, match="dtype must be one of"):
        Upscaler("bicubic_blend", device="cpu", dtype="fp8", progress=False)
    monkeypatch.setenv("STVSR_AUTO_BF16", "0")
    assert auto_dtype(torch.device("cpu")) == torch.float32


def test_upscaler_says_which_device_was_chosen(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    auto = Upscaler("bicubic_blend", progress=False)
    assert auto.device.type == "cpu" and "device cpu (auto" in auto.describe()
    forced = Upscaler("bicubic_blend", device="cpu", progress=False, tile=64)
    assert "(auto" not in forced.describe()
    text = forced.describe()
    assert "model bicubic_blend" in text and "float32" in text and "window 7" in text and "tiles of 64" in text


# --- 2./3. what runs, estimate, progress ---------------------------------------------------------


def test_estimate_scales_with_frames_and_pixels(monkeypatch: pytest.MonkeyPatch) -> None:
    assert estimate_seconds("no_such_model", "cpu", 10, (64, 64)) is None
    name, device = next(iter(MEASURED))
    one = estimate_seconds(name, device, 10, (100, 100))
    assert one is not None
    assert estimate_seconds(f"{name}.sometag", device, 20, (100, 100))[0] == pytest.approx(2 * one[0])  # type: ignore[index]
    assert estimate_seconds(name, device, 10, (200, 100))[0] == pytest.approx(2 * one[0])  # type: ignore[index]
    assert format_seconds(42) == "42 s" and format_seconds(600) == "10.0 min" and format_seconds(7200) == "2.0 h"


class _Convs(nn.Module):
    """A toy clip model with the stvsr contract and a chain of leaf layers per output frame."""

    def __init__(self) -> None:
        super().__init__()
        self.convs = nn.ModuleList(nn.Conv2d(3, 3, 3, padding=1) for _ in range(4))

    def forward(self, lr: torch.Tensor, scale: object = 4.0, times: tuple[float, ...] = (0.5,)) -> torch.Tensor:
        b, t = lr.shape[:2]
        frames = []
        for i in range(t):
            frames.append(lr[:, i])
            if i + 1 < t:
                frames += [(1 - s) * lr[:, i] + s * lr[:, i + 1] for s in times]
        out = []
        for f in frames:
            for conv in self.convs:
                f = f + 0.0 * conv(f)
            out.append(nn.functional.interpolate(f, scale_factor=2, mode="nearest"))
        return torch.stack(out, dim=1)


def test_call_progress_moves_inside_a_call() -> None:
    model = _Convs()
    seen: list[float] = []
    meter = CallProgress(model, seen.append, interval=0.0)
    meter.attach()
    lr = torch.rand(1, 5, 3, 8, 8)
    assert meter.calibrate("k", lambda: model(lr[..., :4, :4]))
    flops = list(meter.profiles["k"])
    meter.start("k")
    model(lr)
    meter.stop()
    model(lr)  # not started: no updates
    meter.detach()
    assert len(seen) == 9 * 4  # one per leaf call of 9 frames x 4 convs
    assert seen == sorted(seen) and 0 < seen[0] < 0.2 and seen[-1] < 1.0
    assert seen == flops  # the first call reports the calibrated (FLOP) profile ...
    timed = meter.profiles["k"]  # ... then the measured finishing times of its leaves replace it
    assert len(timed) == len(flops) and timed == sorted(timed) and 0 <= timed[0] and timed[-1] <= 0.999
    meter.attach()
    meter.start("k")
    model(lr)
    meter.stop(finished=False)  # a call that raised measures nothing: the profile stays
    meter.detach()
    assert meter.profiles["k"] is timed
    assert not any(h for h in model._forward_hooks.values()) and not model.convs[0]._forward_hooks


def test_progress_bar_moves_inside_model_calls(monkeypatch: pytest.MonkeyPatch) -> None:
    import tqdm.auto

    positions: list[float] = []
    postfixes: list[str] = []

    class Recorder(tqdm.auto.tqdm):  # type: ignore[misc, name-defined]
        def update(self, n: float = 1) -> bool | None:
            out = super().update(n)
            positions.append(float(self.n))
            return out

        def set_postfix_str(self, s: str = "", refresh: bool = True) -> None:
            postfixes.append(s)
            super().set_postfix_str(s, refresh)

    monkeypatch.setattr(tqdm.auto, "tqdm", Recorder)
    monkeypatch.setattr(CallProgress.__init__, "__defaults__", (0.0,))  # report every leaf call
    ups = Upscaler(_Convs(), scale=2.0, fps="x2", window=4, progress=True, device="cpu")
    frames = [torch.rand(3, 8, 8) for _ in range(7)]
    out = list(ups.process(frames, fps_in=10, total=13, frames_in=7))
    assert len(out) == 13 and ups.windows == 3
    first = [p for p in positions if p < 1]
    assert len(first) > 10 and 0 < first[0] < 0.2  # moved inside the first model call, many times
    assert positions == sorted(positions) and positions[-1] == 3.0  # the bar counts the 3 calls
    assert postfixes[0] == "timing the model's layers on a 16x16 crop (once)"  # shown before the calibration
    assert postfixes[-1] == "ETA 0 s, 13/13 frames written"
    assert not any(m._forward_hooks for m in ups.model.modules())  # hooks removed after the job


def test_quiet_jobs_attach_no_hooks() -> None:
    ups = Upscaler(_Convs(), scale=2.0, fps="x2", window=4, progress=False, device="cpu")
    calls: list[int] = []
    ups.model.convs[0].register_forward_hook(lambda *a: calls.append(1))
    assert len(list(ups.process([torch.rand(3, 8, 8) for _ in range(3)], fps_in=10))) == 5
    assert len(calls) == 5 and len(ups.model.convs[0]._forward_hooks) == 1


def test_job_prints_what_runs_and_returns_a_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = make_clip(tmp_path / "in.mp4", n=6, fps=24, size=(16, 24))
    summary = upscale_video(src, tmp_path / "out.mp4", model="bicubic_blend", scale=2, fps="x2", device="cpu")
    err = capsys.readouterr().err
    assert "model bicubic_blend, device cpu, float32, window 7 key frames, no tiling" in err
    assert "24x16 @ 24.000 fps -> 48x32 @ 48.000 fps, 11 output frames" in err
    seconds, _ = estimate_seconds("bicubic_blend", "cpu", 11, (48, 32))  # type: ignore[misc]
    assert f"estimated time ~{format_seconds(seconds)} (measured on 1 thread" in err
    assert "model call 1.00/1" in err and "11/11 frames written" in err
    upscale_video(src, tmp_path / "out2.mp4", model=_Convs(), scale=2, device="cpu")
    assert "no measured speed for _Convs on cpu" in capsys.readouterr().err
    assert (summary.frames_in, summary.frames_out, summary.size_in, summary.size_out) == (6, 11, (24, 16), (48, 32))
    assert (summary.fps_in, summary.fps_out, summary.model, summary.device, summary.dtype) == (
        24, 48, "bicubic_blend", "cpu", "float32"
    )
    assert summary.seconds > 0 and summary.output == str(tmp_path / "out.mp4")
    assert "6 -> 11 frames" in str(summary) and "bicubic_blend on cpu" in str(summary)


def test_quiet_job_prints_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = make_clip(tmp_path / "in.mp4", n=3, size=(16, 16))
    upscale_video(src, tmp_path / "out.mp4", model="bicubic_blend", scale=2, progress=False)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


# --- 8. frame count of x2 and --keep-duration ------------------------------------------------------


def test_keep_duration_repeats_the_last_frame(tmp_path: Path) -> None:
    src = make_clip(tmp_path / "in.mp4", n=6, fps=24, size=(16, 16))
    plain = upscale_video(src, tmp_path / "a.mp4", model="bicubic_blend", scale=2, fps="x2", progress=False)
    kept = upscale_video(src, tmp_path / "b.mp4", model="bicubic_blend", scale=2, fps="x2", progress=False,
                         keep_duration=True)
    assert (plain.frames_out, plain.held) == (11, 0) and (kept.frames_out, kept.held) == (12, 1)
    info = probe(tmp_path / "b.mp4")
    assert info.frames == 12 and info.duration == pytest.approx(6 / 24, abs=1e-3)
    # 24 -> 60 fps: 6 frames last 0.25 s = 15 output frames
    assert upscale_video(src, tmp_path / "c.mp4", model="bicubic_blend", scale=2, fps=60, progress=False,
                         keep_duration=True).frames_out == 15


# --- 9. segments, encoders, threads ------------------------------------------------------------------


def test_segment_options(tmp_path: Path) -> None:
    src = make_clip(tmp_path / "in.mp4", n=12, fps=10, size=(16, 16))
    kw = dict(model="bicubic_blend", scale=2, progress=False)
    assert upscale_video(src, tmp_path / "a.mp4", max_frames=4, **kw).frames_in == 4  # type: ignore[arg-type]
    s = upscale_video(src, tmp_path / "b.mp4", start=0.5, duration=0.3, **kw)  # type: ignore[arg-type]
    assert (s.frames_in, s.frames_out) == (3, 3)
    s = upscale_video(src, tmp_path / "c.mp4", start=0.9, **kw)  # type: ignore[arg-type]
    assert s.frames_in == 3
    with pytest.raises(ValueError, match="max_frames must be an integer >= 2"):
        upscale_video(src, tmp_path / "d.mp4", max_frames=1, **kw)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="start must be a number of seconds >= 0"):
        upscale_video(src, tmp_path / "d.mp4", start=-1, **kw)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="duration must be a positive number"):
        upscale_video(src, tmp_path / "d.mp4", duration=0, **kw)  # type: ignore[arg-type]
    assert not (tmp_path / "d.mp4").exists()


@pytest.mark.parametrize(
    ("codec", "ten_bit", "suffix", "name", "pix_fmt"),
    [("hevc", True, ".mkv", "hevc", "yuv420p10le"), ("h264", True, ".mp4", "h264", "yuv420p10le"),
     ("prores", False, ".mov", "prores", "yuv422p10le"), ("hevc", False, ".mp4", "hevc", "yuv420p")],
)
def test_codecs_through_the_cli(tmp_path: Path, codec: str, ten_bit: bool, suffix: str, name: str, pix_fmt: str) -> None:
    src = make_clip(tmp_path / "in.mp4", n=3, size=(16, 16))
    out = tmp_path / f"out{suffix}"
    args = ["upscale", str(src), str(out), "--model", "bicubic_blend", "--scale", "2", "--quiet", "--codec", codec,
            "--threads", "1"]
    r = run(*args, *(["--10bit"] if ten_bit else []))
    assert r.returncode == 0, r.stderr
    info = probe(out)
    assert (info.codec, info.pix_fmt, info.width) == (name, pix_fmt, 32)
    assert info.bit_depth == (10 if "10" in pix_fmt else 8)


def test_codec_refusals(tmp_path: Path) -> None:
    src = make_clip(tmp_path / "in.mp4", n=3, size=(16, 16))
    kw = dict(model="bicubic_blend", scale=2, progress=False)
    with pytest.raises(VideoError, match="codec prores cannot be written into .mp4 files: use .mov or .mkv"):
        upscale_video(src, tmp_path / "a.mp4", codec="prores", **kw)  # type: ignore[arg-type]
    with pytest.raises(VideoError, match="lossless picks its own codec"):
        upscale_video(src, tmp_path / "a.mkv", codec="hevc", lossless=True, **kw)  # type: ignore[arg-type]
    with pytest.raises(VideoError, match="codec prores writes 10-bit video, not 8-bit"):
        upscale_video(src, tmp_path / "a.mov", codec="prores", bit_depth=8, **kw)  # type: ignore[arg-type]
    r = run("upscale", str(src), str(tmp_path / "b.mp4"), "--threads", "0")
    assert r.returncode == 2 and "--threads must be a positive integer" in r.stderr
    assert not list(tmp_path.glob("a.*")) and not list(tmp_path.glob(".*tmp*"))


# --- 6./7. README and models -----------------------------------------------------------------------


def _outputs(block: str) -> set[str]:
    return set(re.findall(r"[\w./-]+\.(?:mp4|mkv|mov)", block))


def test_readme_examples_write_different_outputs() -> None:
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```(\w+)\n(.*?)```", text, flags=re.S)
    cli = set().union(*(_outputs(b) for lang, b in blocks if lang == "bash" and "stvsr upscale" in b))
    py = set().union(*(_outputs(b) for lang, b in blocks if lang == "python" and "upscale_video" in b))
    cli_out = {o for o in cli if o != "input.mp4"}
    py_out = {o for o in py if o != "input.mp4"}
    assert cli_out and py_out and not cli_out & py_out, (cli_out, py_out)
    assert "2N-1" in text and "--keep-duration" in text
    assert "pip install -e ." in text and 'pip install -e ".[dev]"' in text
    assert "https://download.pytorch.org/whl/cpu" in text


def test_readme_test_command_markers_still_hold_one_command() -> None:
    text = (ROOT / "README.md").read_text()
    m = re.search(r"<!-- test-command -->\s*```bash\n(.*?)```\s*<!-- /test-command -->", text, flags=re.S)
    assert m is not None and m.group(1).strip().startswith("python -m pytest")


def test_models_legend_explains_the_marks() -> None:
    r = run("models")
    assert r.returncode == 0
    rows = {line.split()[0]: line.split() for line in r.stdout.splitlines()[2:] if line and not line[0].isspace()}
    assert rows["rife_basicvsr"][2] == "x4+resize" and rows["msmr_arb"][2] == "arbitrary"
    for mark in ("*: the default weights", "-: no weights registered", "x4+resize: accepts any factor",
                 "arbitrary: a continuous-scale model"):
        assert mark in r.stdout, mark
    assert "x4+resize" not in run("models", "--no-legend").stdout.split("rife_basicvsr")[0]


def test_unknown_model_points_to_stvsr_models(tmp_path: Path) -> None:
    src = make_clip(tmp_path / "in.mp4", n=3, size=(16, 16))
    r = run("upscale", str(src), str(tmp_path / "o.mp4"), "--model", "msmr_ar")
    assert r.returncode == 1 and "`stvsr models` lists them" in r.stderr and "msmr_arb" in r.stderr
    with pytest.raises(ValueError, match="`stvsr models`"):
        stvsr.load("no_such_model")


def test_msmr_forward_is_documented() -> None:
    from stvsr.models.msmr import MsMr

    doc = MsMr.forward.__doc__ or ""
    assert "(B, T, 3, h, w)" in doc and "(B, T + (T-1)*K, 3, H, W)" in doc and "times" in doc


def test_failed_calibration_is_not_retried() -> None:
    model = _Convs()
    meter = CallProgress(model, lambda f: None)
    meter.attach()
    calls: list[int] = []

    def refuse() -> None:
        calls.append(1)
        raise RuntimeError("too small")

    assert not meter.calibrate("k", refuse) and not meter.calibrate("k", refuse)
    assert calls == [1] and "k" not in meter.profiles
    meter.start("k")  # no profile: the call runs without updates
    model(torch.rand(1, 2, 3, 4, 4))
    meter.stop()
    meter.detach()


@pytest.mark.parametrize("native", [True, False])
def test_bf16_training_on_a_cpu_without_bf16_warns(monkeypatch: pytest.MonkeyPatch, native: bool) -> None:
    """--bf16 where every bf16 conv is emulated (several times slower) says so; native CPUs and GPUs stay silent."""
    import warnings

    import stvsr._device as dev

    monkeypatch.setattr(dev, "cpu_has_native_bf16", lambda cpuinfo=None: native)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert dev.warn_if_emulated_bf16("cpu") is (not native)
        assert dev.warn_if_emulated_bf16(torch.device("cuda")) is False
    msgs = [str(w.message) for w in caught]
    assert (len(msgs) == 1 and "emulated" in msgs[0] and "--bf16" in msgs[0]) if not native else not msgs
