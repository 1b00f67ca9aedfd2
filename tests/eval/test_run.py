from __future__ import annotations

import argparse
import csv
import json

import pytest
import torch

from stvsr.eval import evaluate, open_dataset, weights_sha256
from stvsr.eval.commands import evaluate_arguments, evaluate_command
from stvsr.eval.datasets import load_clip
from stvsr.models.baselines import BicubicBaseline
from tests.eval.clips import moving_clip, write_folder, write_septuplets


def test_datasets_layouts(tmp_path):
    root = write_septuplets(tmp_path / "vimeo", count=2)
    srcs = open_dataset(root)
    assert [s.name for s in srcs] == ["00001/0001", "00001/0002"] and srcs[0].kind == "septuplet"
    assert srcs[0].load().frames.shape == (7, 3, 32, 32)
    lst = tmp_path / "list.txt"
    lst.write_text("00001/0002\n")
    assert [s.name for s in open_dataset(root, list_file=lst)] == ["00001/0002"]
    clips = tmp_path / "clips"
    frames = moving_clip(5, 16, 24)
    write_folder(clips / "a", frames)
    write_folder(clips / "b", moving_clip(3, 16, 24))
    srcs = open_dataset(clips)
    assert [(s.name, s.kind) for s in srcs] == [("a", "folder"), ("b", "folder")]
    clip = load_clip(clips / "a", max_frames=4)
    assert clip.frames.shape == (4, 3, 16, 24)
    torch.testing.assert_close(clip.frames, frames[:4], atol=1e-6, rtol=0)
    with pytest.raises(FileNotFoundError):
        open_dataset(tmp_path / "missing")


def test_weights_sha256_tracks_weights():
    a, b = torch.nn.Conv2d(1, 1, 1), torch.nn.Conv2d(1, 1, 1)
    b.load_state_dict(a.state_dict())
    assert weights_sha256(a) == weights_sha256(b)
    with torch.no_grad():
        b.bias.add_(1)
    assert weights_sha256(a) != weights_sha256(b)
    assert len(weights_sha256(BicubicBaseline())) == 64
    assert len(weights_sha256(torch.nn.BatchNorm2d(2))) == 64  # 0-dim long buffer


def test_evaluate_end_to_end_on_septuplets(tmp_path):
    root = write_septuplets(tmp_path / "vimeo", count=2)
    report = evaluate(["bicubic_blend"], "vimeo-sept-4x2x", root, crops_dir=tmp_path / "crops")
    models = [r.model for r in report.rows]
    assert models == ["bicubic_blend", "bicubic_repeat"] * 2  # the baselines are added once
    assert all(len(r.frames) == 7 for r in report.rows)
    table = report.table()
    assert "protocol vimeo-sept-4x2x" in table and "PSNR-Y" in table and "overall" in table
    assert "00001/0002" in table and "state sha256" in table
    over = {o["model"]: o for o in report.overall()}
    assert over["bicubic_blend"]["frames"] == 14 and over["bicubic_blend"]["clips"] == 2
    assert over["bicubic_blend"]["psnr"] > over["bicubic_repeat"]["psnr"] - 5
    d = report.save_json(tmp_path / "r.json")
    data = json.loads(d.read_text())
    assert data["protocol"]["name"] == "vimeo-sept-4x2x" and data["protocol"]["time"] == "2"
    assert data["stvsr_version"] and len(data["models"]["bicubic_blend"]["state_sha256"]) == 64
    assert data["models"]["bicubic_blend"]["weights_sha256"] is None  # no weights file
    assert data["rules"]["degradation"]["kind"] == "bi" and "8-bit" in data["rules"]["metric"]
    assert len(data["clips"][0]["frames"]) == 7
    rows = [r for r in csv.reader(line for line in report.save_csv(tmp_path / "r.csv").read_text().splitlines()
                                  if not line.startswith("#"))]
    assert rows[0][:6] == ["model", "weights_sha256", "protocol", "cell", "clip", "frames"]
    assert sum(r[4] == "<overall>" for r in rows) == 2 and len(rows) == 1 + 4 + 2
    assert sorted(p.suffix for p in (tmp_path / "crops").iterdir()) == [".png", ".png", ".txt", ".txt"]


def test_evaluate_grid_marks_unsupported_cells(tmp_path):
    clips = tmp_path / "clips"
    write_folder(clips / "a", moving_clip(7, 24, 24))

    class Fixed(BicubicBaseline):
        pass

    fixed = Fixed()
    from stvsr.eval.protocols import unsupported
    from stvsr.models._capabilities import Capabilities

    report = evaluate([fixed], "continuous", clips, baselines=False)
    assert len(report.rows) == 30 and all(r.psnr is not None for r in report.rows)
    # a fixed x4 / t=0.5 model only runs one cell
    spec = Capabilities(task="stvsr", space_scales=(4.0,), times=(0.5,))
    ok = [c for c in __import__("stvsr").eval.PROTOCOLS["continuous"].expand() if unsupported(spec, c) is None]
    assert [c.label for c in ok] == ["s4 x2"]


def test_evaluate_command(tmp_path, capsys):
    clips = tmp_path / "clips"
    write_folder(clips / "a", moving_clip(5, 32, 32))
    p = argparse.ArgumentParser()
    evaluate_arguments(p)
    args = p.parse_args(["bicubic_repeat", "-p", "vid4-bd-4x2x", "-d", str(clips), "-o", str(tmp_path / "out"),
                         "--no-baselines", "-q"])
    assert evaluate_command(args) == 0
    out = capsys.readouterr().out
    assert "bicubic_repeat" in out and "vid4-bd-4x2x" in out
    assert (tmp_path / "out" / "results.csv").exists() and (tmp_path / "out" / "results.json").exists()


def test_registry_weights_record_the_registry_file_sha256(tmp_path):
    from stvsr.models._hub import file_sha256
    from stvsr.zoo import load, model_card, resolve_weights

    clips = tmp_path / "clips"
    write_folder(clips / "a", moving_clip(2, 32, 32))
    report = evaluate(["basicvsr.vimeo_bd", load("basicvsr.vimeo_bd")], "vsr-bd-4x", clips, baselines=False)
    by_name = report.models
    registry_sha = model_card("basicvsr.vimeo_bd")["weights"]["sha256"]
    rec = by_name["basicvsr.vimeo_bd"]
    # the sha256 of the weights file itself (what `stvsr models` and the card show), not a state_dict hash
    assert rec["weights_sha256"] == registry_sha == file_sha256(resolve_weights("basicvsr.vimeo_bd"))
    assert rec["weights_file"] == "basicvsr.vimeo_bd.safetensors" and rec["state_sha256"] != registry_sha
    # a module handed in directly: its source is unknown, only the state hash is recorded
    mod = by_name["basicvsr"]
    assert mod["weights_sha256"] is None and mod["state_sha256"] == rec["state_sha256"]
    assert report.to_dict()["rules"]["degradation"]["kernel_size"] == 12


def test_model_options_in_the_name_are_loaded_and_recorded(tmp_path):
    """`entry(key=value)` is what results record for a model with builder options: it loads again, from
    Python and the CLI, and the record keeps the options, CPU time and peak memory of the run."""
    clips = tmp_path / "clips"
    write_folder(clips / "a", moving_clip(3, 16, 16))
    report = evaluate(["rife_basicvsr(order=vsr_first)"], "vid4-bi-4x2x", clips, baselines=False, pretrained=False)
    rec = report.models["rife_basicvsr(order=vsr_first)"]
    assert rec["options"] == {"order": "vsr_first"} and rec["registry_name"] == "rife_basicvsr"
    assert rec["frames_scored"] == 3 and rec["cpu_seconds"] > 0
    assert rec["dtype"] == "float32" and rec["device"] == "cpu"
    assert rec["peak_rss_mib"] is None or rec["peak_rss_mib"] > 10
    assert report.rows[0].model == "rife_basicvsr(order=vsr_first)"


def test_split_options():
    from stvsr.zoo._names import split_options

    assert split_options("rife_basicvsr(order=vsr_first, tta='hflip')") == (
        "rife_basicvsr", {"order": "vsr_first", "tta": "hflip"})
    assert split_options("msmr_arb.stvsr(authors_compat=True)") == ("msmr_arb.stvsr", {"authors_compat": True})
    assert split_options("msmr_arb") == ("msmr_arb", {})
    assert split_options("clips/run(1).safetensors") == ("clips/run(1).safetensors", {})  # not a registry name
    for bad, msg in (("rife_basicvsr(1)", "key=value"), ("rife_basicvsr(order=f(x))", "literal"),
                     ("rife_basicvsr(order=)", "key=value")):
        with pytest.raises(ValueError, match=msg):
            split_options(bad)


def test_evaluation_runs_float32_unless_asked(tmp_path, monkeypatch):
    """`stvsr upscale` defaults to dtype "auto" (bf16 on CPUs with bf16); figures stay float32."""
    import stvsr._device as dev
    from stvsr.video import pipeline

    monkeypatch.setenv("STVSR_AUTO_BF16", "1")
    monkeypatch.setattr(dev, "cpu_has_native_bf16", lambda cpuinfo=None: True)
    seen = []
    real = pipeline.Upscaler.__init__

    def spy(self, *a, **k):
        real(self, *a, **k)
        seen.append(self.dtype)

    monkeypatch.setattr(pipeline.Upscaler, "__init__", spy)
    clips = tmp_path / "clips"
    write_folder(clips / "a", moving_clip(3, 16, 16))
    evaluate(["bicubic_blend"], "vid4-bi-4x2x", clips, baselines=False)
    evaluate(["bicubic_blend"], "vid4-bi-4x2x", clips, baselines=False, dtype=torch.bfloat16)
    assert seen and seen[0] == torch.float32 and seen[-1] == torch.bfloat16
