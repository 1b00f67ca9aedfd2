"""``stvsr.load`` names, local folders (save_pretrained round trip), explicit weights, listing and cards."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import stvsr
from stvsr.models._base import CheckpointError
from stvsr.zoo import WeightsChecksumError, parse_name
from tests.zoo.conftest import TOY, TOY_BARE, TOY_PAIR, ToyWeights, make_toy, toy_input


def _out(model: torch.nn.Module) -> torch.Tensor:
    with torch.no_grad():
        return model(toy_input())


def test_save_pretrained_round_trip(toy: ToyWeights, zoo_env: dict[str, Path]) -> None:
    model = make_toy(seed=3, channels=5)
    model.registry_name = TOY
    folder = model.save_pretrained(zoo_env["tmp"] / "out")
    assert sorted(p.name for p in folder.iterdir()) == ["README.md", "config.json", "model.safetensors"]
    doc = json.loads((folder / "config.json").read_text())
    assert doc["registry_name"] == TOY and doc["config"] == {"channels": 5, "bias": True}
    assert doc["stvsr_version"] == stvsr.__version__ and doc["library_name"] == "stvsr"
    assert len(doc["weights"]["sha256"]) == 64 and doc["card"]["licence"] == "Apache-2.0"
    readme = (folder / "README.md").read_text()
    assert readme.startswith("---\nlibrary_name: stvsr\nlicense: apache-2.0\n") and "# zz_toy" in readme
    for name in (folder, str(folder), f"local:{folder}", folder / "model.safetensors", folder / "config.json"):
        loaded = stvsr.load(name)
        assert not loaded.training and loaded.config == model.config
        assert torch.equal(_out(loaded), _out(model))  # bit-equal
    # the safetensors file alone records its architecture
    single = zoo_env["tmp"] / "alone.safetensors"
    single.write_bytes((folder / "model.safetensors").read_bytes())
    assert torch.equal(_out(stvsr.load(single)), _out(model))
    # architecture only
    assert stvsr.load(folder, pretrained=False).inp.weight.shape == model.inp.weight.shape


def test_save_pretrained_records_tag_card(toy: ToyWeights, zoo_env: dict[str, Path]) -> None:
    (zoo_env["packaged"] / toy.filename).write_bytes(toy.file.read_bytes())
    folder = stvsr.load(f"{TOY}.a").save_pretrained(zoo_env["tmp"] / "tagged")
    doc = json.loads((folder / "config.json").read_text())
    assert doc["tag"] == "a" and doc["card"]["metrics"][0]["dataset"] == "toy"
    assert "| toy | 1.0 |" in (folder / "README.md").read_text()
    assert stvsr.load(folder).weights_tag == "a"


def test_save_pretrained_needs_name(toy: ToyWeights, zoo_env: dict[str, Path]) -> None:
    with pytest.raises(ValueError, match="registry name"):
        make_toy().save_pretrained(zoo_env["tmp"] / "x")


def test_folder_tampered_and_truncated(toy: ToyWeights, zoo_env: dict[str, Path]) -> None:
    model = make_toy()
    folder = model.save_pretrained(zoo_env["tmp"] / "f", name=TOY)
    weights = folder / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    with pytest.raises(WeightsChecksumError, match="model.safetensors"):
        stvsr.load(folder)
    # without a recorded sha256, a truncated file is refused when it does not parse
    doc = json.loads((folder / "config.json").read_text())
    del doc["weights"]["sha256"]
    (folder / "config.json").write_text(json.dumps(doc))
    weights.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="truncated"):
        stvsr.load(folder)
    (folder / "config.json").unlink()
    with pytest.raises(ValueError, match="no config.json"):
        stvsr.load(f"local:{folder}")


def test_folder_state_dict_must_match_strictly(toy: ToyWeights, zoo_env: dict[str, Path]) -> None:
    folder = make_toy().save_pretrained(zoo_env["tmp"] / "f", name=TOY)
    doc = json.loads((folder / "config.json").read_text())
    doc["config"]["channels"] = 7
    del doc["weights"]["sha256"]
    (folder / "config.json").write_text(json.dumps(doc))
    with pytest.raises(CheckpointError, match="shape mismatch"):
        stvsr.load(folder)


def test_unknown_names_suggest(toy: ToyWeights) -> None:
    with pytest.raises(ValueError, match=r"unknown model 'bicubic_blnd'; did you mean 'bicubic_blend'"):
        stvsr.load("bicubic_blnd")
    with pytest.raises(ValueError, match=r"has no weights tagged 'b'.*tags: a"):
        stvsr.load(f"{TOY}.b")
    with pytest.raises(ValueError, match="did you mean 'zz_toy.a'"):
        stvsr.load(f"{TOY}.aa")
    with pytest.raises(ValueError, match="did you mean"):
        stvsr.model_card("zz_tyo")
    with pytest.raises(FileNotFoundError, match="hf-hub:org/name"):
        stvsr.load("org/name")
    with pytest.raises(FileNotFoundError):
        stvsr.load("local:/no/such/folder")
    with pytest.raises(FileNotFoundError):
        stvsr.load("missing.safetensors")
    with pytest.raises(TypeError):
        stvsr.load(3)  # type: ignore[arg-type]


def test_ambiguous_name_and_path(toy: ToyWeights, zoo_env: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(zoo_env["tmp"])
    Path(TOY).mkdir()
    assert parse_name(TOY).kind == "registry"  # a folder that is no model folder does not shadow the registry
    make_toy().save_pretrained(TOY, name=TOY)
    with pytest.raises(ValueError, match=f"local:{TOY}"):
        stvsr.load(TOY)
    assert parse_name(f"local:{TOY}").kind == "local"
    assert stvsr.load(f"local:{TOY}").registry_name == TOY


def test_explicit_weights(toy: ToyWeights, zoo_env: dict[str, Path]) -> None:
    ref = _out(toy.model)
    # the stvsr safetensors file (its sha256 need not be registered: it is the user's file)
    assert torch.equal(_out(stvsr.load(TOY_BARE, weights=toy.file)), ref)
    # a save_pretrained folder
    folder = toy.model.save_pretrained(zoo_env["tmp"] / "f", name=TOY)
    assert torch.equal(_out(stvsr.load(TOY, weights=folder)), ref)
    with pytest.raises(ValueError, match="not 'zz_toy_bare'"):
        stvsr.load(TOY_BARE, weights=folder)
    # the authors' .pth goes through the converter (torch.load(weights_only=True))
    pth = zoo_env["tmp"] / "authors.pth"
    torch.save({"state_dict": {f"module.{k}": v for k, v in toy.model.state_dict().items()}}, pth)
    assert torch.equal(_out(stvsr.load(TOY_BARE, weights=pth)), ref)
    # the authors' state_dict saved as safetensors is detected and converted too
    from safetensors.torch import save_file

    authors_st = zoo_env["tmp"] / "authors.safetensors"
    save_file({f"module.{k}": v.contiguous() for k, v in toy.model.state_dict().items()}, str(authors_st))
    assert torch.equal(_out(stvsr.load(TOY_BARE, weights=authors_st)), ref)
    with pytest.raises(ValueError, match="pretrained=False"):
        stvsr.load(TOY, pretrained=False, weights=toy.file)
    with pytest.raises(ValueError, match="registry names"):
        stvsr.load(f"local:{folder}", weights=toy.file)
    with pytest.raises(ValueError, match="authors' checkpoint"):
        stvsr.load(pth)


def test_device_dtype_overrides(toy: ToyWeights) -> None:
    model = stvsr.load(TOY_BARE, pretrained=False, dtype="float64", device="cpu", channels=6)
    assert model.inp.weight.dtype == torch.float64 and model.inp.weight.shape[0] == 6
    assert model.gain.dtype == torch.float64
    with pytest.raises(ValueError, match="floating"):
        stvsr.load(TOY_BARE, pretrained=False, dtype=torch.int32)
    with pytest.raises(ValueError, match="dtype"):
        stvsr.load(TOY_BARE, pretrained=False, dtype="nonsense")


def test_weights_free_models_load_without_weights() -> None:
    model = stvsr.load("bicubic_blend")
    assert not model.training and sum(p.numel() for p in model.parameters()) == 0
    assert stvsr.load("bicubic_repeat", pretrained=False).config["mode"] == "repeat"


def test_list_models(toy: ToyWeights) -> None:
    everything = stvsr.list_models()
    assert everything == sorted(everything) and {TOY, TOY_BARE, TOY_PAIR, "bicubic_blend"} <= set(everything)
    assert stvsr.list_models("zz_toy*") == [TOY, TOY_BARE, TOY_PAIR]
    assert stvsr.list_models(["zz_toy", "bicubic_r*"]) == ["bicubic_repeat", TOY]
    pretrained = stvsr.list_models("zz_*", pretrained=True)
    assert pretrained == [f"{TOY}.a"]
    assert stvsr.list_models("zz_toy.a", pretrained=True) == [f"{TOY}.a"]
    assert stvsr.list_models("zz_*", pretrained=False) == [TOY_BARE, TOY_PAIR]
    assert {"bicubic_blend", "bicubic_repeat"} <= set(stvsr.list_models(pretrained=True))  # weights-free
    assert "bicubic_blend" not in stvsr.list_models(pretrained=False)
    assert set(stvsr.list_models("zz_*", task="stvsr")) == {TOY, TOY_BARE, TOY_PAIR}
    assert stvsr.list_models("zz_*", task="vfi") == []
    assert stvsr.list_models("no_such_*") == []


def test_model_card(toy: ToyWeights) -> None:
    card = stvsr.model_card(TOY)
    assert card["name"] == TOY and card["tag"] == "a" and card["tags"] == ["a"]
    assert card["weights"]["sha256"] == toy.sha256 and card["weights"]["hf_revision"]
    assert card["metrics"][0]["protocol"] == "none" and card["training_data"] == "none"
    assert stvsr.model_card(f"{TOY}.a") == card
    bare = stvsr.model_card(TOY_BARE)
    assert bare["tag"] is None and "weights" not in bare
    assert stvsr.model_card("bicubic_blend")["weights_free"] is True
