"""tools/zoo_results.py: per-clip runs merge into the summary of one run; anchors come from the cards."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from stvsr.eval import evaluate
from tests.eval.clips import moving_clip, write_folder

ROOT = Path(__file__).resolve().parents[1]


def _tool():
    spec = importlib.util.spec_from_file_location("zoo_results", ROOT / "tools" / "zoo_results.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_per_clip_runs_merge_into_the_whole_run(tmp_path: Path) -> None:
    tool = _tool()
    clips = tmp_path / "clips"
    write_folder(clips / "a", moving_clip(3, 16, 16))
    write_folder(clips / "b", moving_clip(5, 16, 24))
    whole = evaluate(["bicubic_repeat"], "vsr-bi-4x", clips, baselines=False)
    paths = []
    for name in ("a", "b"):
        part = evaluate(["bicubic_repeat"], "vsr-bi-4x", clips / name, baselines=False)
        paths.append(part.save_json(tmp_path / name / "results.json"))
    whole.save_json(tmp_path / "whole.json")
    out = tmp_path / "docs"
    tool.main([str(p) for p in paths] + ["--out", str(out)])
    (merged_path,) = out.glob("*.json")
    merged = json.loads(merged_path.read_text())
    (want,) = whole.to_dict()["overall"]
    (got,) = merged["overall"]
    assert got["frames"] == want["frames"] == 8 and got["clips"] == 2
    for key in ("psnr", "ssim", "psnr_clip_mean", "ssim_clip_mean"):
        assert got[key] == pytest.approx(want[key], abs=1e-12)
    assert [c["clip"] for c in merged["clips"]] == ["a", "b"] and merged["clips"][1]["frames"] == 5
    # runs of different protocols are not merged
    other = evaluate(["bicubic_repeat"], "vsr-bd-4x", clips / "a", baselines=False).save_json(tmp_path / "bd.json")
    bad = json.loads(paths[0].read_text())
    bad["rules"]["metric"] = "something else"
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    with pytest.raises(SystemExit, match="rules"):
        tool.main([str(paths[1]), str(tmp_path / "bad.json"), "--out", str(tmp_path / "x")])
    tool.main([str(other), "--out", str(tmp_path / "y")])
    assert len(list((tmp_path / "y").glob("*.json"))) == 1


def test_anchor_comes_from_the_model_card(tmp_path: Path) -> None:
    tool = _tool()
    got = tool.anchors(["basicvsr.vimeo_bd=Vid4 (BD x4), published"])
    assert got["basicvsr.vimeo_bd"]["psnr"] == 27.96 and got["basicvsr.vimeo_bd"]["ssim"] == 0.8553
    with pytest.raises(SystemExit, match="0 metrics entries"):
        tool.anchors(["basicvsr.vimeo_bd=no such dataset"])
    with pytest.raises(SystemExit, match="MODEL=DATASET"):
        tool.anchors(["basicvsr.vimeo_bd"])


def test_merged_runs_add_their_costs(tmp_path: Path) -> None:
    tool = _tool()
    clips = tmp_path / "clips"
    write_folder(clips / "a", moving_clip(3, 16, 16))
    write_folder(clips / "b", moving_clip(3, 16, 16))
    paths = [evaluate(["bicubic_repeat"], "vsr-bi-4x", clips / n, baselines=False).save_json(tmp_path / n / "r.json")
             for n in ("a", "b")]
    recs = [json.loads(p.read_text())["models"]["bicubic_repeat"] for p in paths]
    tool.main([str(p) for p in paths] + ["--out", str(tmp_path / "docs")])
    (merged,) = (json.loads(p.read_text()) for p in (tmp_path / "docs").glob("*.json"))
    rec = merged["models"]["bicubic_repeat"]
    assert rec["frames_scored"] == 6 and rec["cpu_seconds"] == pytest.approx(sum(r["cpu_seconds"] for r in recs))
    assert rec["peak_rss_mib"] == max(r["peak_rss_mib"] for r in recs)
    assert rec["state_sha256"] == recs[0]["state_sha256"]
