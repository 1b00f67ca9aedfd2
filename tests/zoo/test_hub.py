"""Weight resolution: user folder, Hugging Face cache (offline, pinned revision), package; checksums."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import torch

import stvsr
from stvsr.zoo import (
    NoPretrainedWeightsError,
    WeightsChecksumError,
    WeightsNotFoundError,
    install_weights,
    resolve_weights,
)
from tests.zoo.conftest import REPO, REV, TOY, TOY_BARE, ToyWeights, hub_snapshot, toy_input


def _same_output(model: torch.nn.Module, toy: ToyWeights) -> None:
    x = toy_input()
    with torch.no_grad():
        assert torch.equal(model(x), toy.model(x))


def test_user_folder(toy: ToyWeights, zoo_env: dict[str, Path]) -> None:
    dest = zoo_env["home"] / "weights" / toy.filename
    dest.parent.mkdir()
    shutil.copy(toy.file, dest)
    assert resolve_weights(TOY) == dest
    model = stvsr.load(TOY)
    assert not model.training and model.weights_tag == "a" and model.registry_name == TOY
    _same_output(model, toy)
    _same_output(stvsr.load(f"{TOY}.a"), toy)


def test_hub_cache_offline_pinned_revision(toy: ToyWeights, zoo_env: dict[str, Path]) -> None:
    snap = hub_snapshot(zoo_env["cache"], REPO, REV, {toy.filename: toy.file.read_bytes()})
    path = resolve_weights(TOY)
    assert path.parent == snap and path.name == toy.filename
    _same_output(stvsr.load(TOY), toy)


def test_hub_revision_argument_and_refs(toy: ToyWeights, zoo_env: dict[str, Path]) -> None:
    other = "f" * 40
    hub_snapshot(zoo_env["cache"], REPO, other, {toy.filename: toy.file.read_bytes()}, ref="main")
    # the pinned revision is not cached: not found offline (nothing else has the file)
    with pytest.raises(WeightsNotFoundError):
        resolve_weights(TOY)
    # an explicit revision wins over the pinned one; "main" resolves through refs/main
    assert resolve_weights(TOY, revision=other).parent.name == other
    _same_output(stvsr.load(TOY, revision="main"), toy)


def test_missing_offline_message(toy: ToyWeights, zoo_env: dict[str, Path]) -> None:
    with pytest.raises(WeightsNotFoundError) as info:
        stvsr.load(TOY)
    msg = str(info.value)
    user = zoo_env["home"] / "weights" / toy.filename
    assert f"Place the file {toy.filename} (sha256 {toy.sha256}) at {user}" in msg
    assert "HF_HUB_OFFLINE" in msg and REPO in msg and f"--revision {REV}" in msg
    assert f"stvsr convert {TOY} AUTHORS.pth" in msg  # the entry has a converter
    assert isinstance(info.value, FileNotFoundError)


def test_packaged_last(toy: ToyWeights, zoo_env: dict[str, Path]) -> None:
    packaged = zoo_env["packaged"] / toy.filename
    shutil.copy(toy.file, packaged)
    assert resolve_weights(TOY) == packaged
    snap = hub_snapshot(zoo_env["cache"], REPO, REV, {toy.filename: toy.file.read_bytes()})
    assert resolve_weights(TOY).parent == snap  # the Hub/cache comes before the package
    user = zoo_env["home"] / "weights" / toy.filename
    user.parent.mkdir()
    shutil.copy(toy.file, user)
    assert resolve_weights(TOY) == user  # the user folder comes first
    _same_output(stvsr.load(TOY), toy)


@pytest.mark.parametrize("damage", ["flip", "truncate"])
@pytest.mark.parametrize("where", ["home", "hub", "packaged"])
def test_checksum_refused(toy: ToyWeights, zoo_env: dict[str, Path], damage: str, where: str) -> None:
    data = bytearray(toy.file.read_bytes())
    if damage == "flip":
        data[-1] ^= 0xFF  # same size, one tensor value changed
    else:
        data = data[: len(data) // 2]
    if where == "home":
        bad = zoo_env["home"] / "weights" / toy.filename
        bad.parent.mkdir()
        bad.write_bytes(bytes(data))
    elif where == "hub":
        bad = hub_snapshot(zoo_env["cache"], REPO, REV, {toy.filename: bytes(data)}) / toy.filename
    else:
        bad = zoo_env["packaged"] / toy.filename
        bad.write_bytes(bytes(data))
    with pytest.raises(WeightsChecksumError) as info:
        stvsr.load(TOY)
    assert str(bad) in str(info.value) and toy.sha256 in str(info.value)


def test_install_weights(toy: ToyWeights, zoo_env: dict[str, Path]) -> None:
    weights_dir = zoo_env["home"] / "weights"
    truncated = zoo_env["tmp"] / "truncated.safetensors"
    truncated.write_bytes(toy.file.read_bytes()[:100])
    with pytest.raises(WeightsChecksumError, match="not installed"):
        install_weights(TOY, truncated)
    assert not weights_dir.exists() or not any(weights_dir.iterdir())  # no half file, no temp file
    dest = install_weights(TOY, toy.file)
    assert dest == weights_dir / toy.filename and sorted(os.listdir(weights_dir)) == [toy.filename]
    _same_output(stvsr.load(TOY), toy)
    # without src: fetched through the usual resolution (here the package) and copied
    dest.unlink()
    shutil.copy(toy.file, zoo_env["packaged"] / toy.filename)
    assert install_weights(f"{TOY}.a") == dest and dest.is_file()


def test_no_weights_registered(toy: ToyWeights) -> None:
    with pytest.raises(NoPretrainedWeightsError, match="pretrained=False"):
        stvsr.load(TOY_BARE)
    model = stvsr.load(TOY_BARE, pretrained=False)
    assert isinstance(model, torch.nn.Module) and not model.training


def test_hub_folder_layout(toy: ToyWeights, zoo_env: dict[str, Path]) -> None:
    folder = toy.model.save_pretrained(zoo_env["tmp"] / "saved", name=TOY)
    files = {n: (folder / n).read_bytes() for n in ("config.json", "model.safetensors", "README.md")}
    hub_snapshot(zoo_env["cache"], "org/toy-folder", REV, files)
    for name in ("hf-hub:org/toy-folder", f"hf-hub:org/toy-folder@{REV}"):
        model = stvsr.load(name)
        assert model.registry_name == TOY
        _same_output(model, toy)
    card = stvsr.model_card("hf-hub:org/toy-folder")
    assert card["name"] == TOY and card["summary"] == "Toy model of the zoo tests."
    with pytest.raises(WeightsNotFoundError, match="hf download org/toy-folder --revision") as info:
        stvsr.load("hf-hub:org/toy-folder@" + "e" * 40)
    assert "config.json" in str(info.value)
    with pytest.raises(WeightsNotFoundError, match="hf download org/missing"):
        stvsr.load("hf-hub:org/missing")


def test_hub_folder_sha_mismatch(toy: ToyWeights, zoo_env: dict[str, Path]) -> None:
    folder = toy.model.save_pretrained(zoo_env["tmp"] / "saved", name=TOY)
    other = zoo_env["tmp"] / "other"
    torch.manual_seed(5)
    type(toy.model)(channels=4).save_pretrained(other, name=TOY)  # same layout, other values
    files = {
        "config.json": (folder / "config.json").read_bytes(),
        "model.safetensors": (other / "model.safetensors").read_bytes(),
    }
    hub_snapshot(zoo_env["cache"], "org/toy-bad", REV, files)
    with pytest.raises(WeightsChecksumError, match="config.json"):
        stvsr.load("hf-hub:org/toy-bad")
    assert isinstance(stvsr.load("hf-hub:org/toy-bad", pretrained=False), torch.nn.Module)


def test_bad_hub_names() -> None:
    for bad in ("hf-hub:", "hf-hub:noslash", "hf-hub:org/repo@", "hf-hub:a/b/c"):
        with pytest.raises(ValueError, match="hf-hub:org/repo"):
            stvsr.load(bad)


def test_weights_assembled_from_parts(toy: ToyWeights, zoo_env: dict[str, Path]) -> None:
    from stvsr.models._registry import _REGISTRY, WeightSource, register_model, register_weights
    from tests.zoo.conftest import Toy

    class Two(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.left, self.right = Toy(), Toy()

    name = "zz_toy_two"
    register_model(name, card={})(Two)
    try:
        register_weights(name, "ab", WeightSource(
            filename="zz_toy_two.ab.safetensors", sha256="0" * 64,
            parts=(("left.", f"{TOY}.a", ""), ("right.", f"{TOY}.a", "")),
        ), default=True)
        shutil.copy(toy.file, zoo_env["packaged"] / toy.filename)  # the part is found as a packaged file
        two = stvsr.load(name)
        for half in (two.left, two.right):
            assert all(torch.equal(v, toy.model.state_dict()[k]) for k, v in half.state_dict().items())
        assert stvsr.model_card(name)["weights"]["parts"][0] == ["left.", f"{TOY}.a", ""]
        (zoo_env["packaged"] / toy.filename).unlink()
        with pytest.raises(WeightsNotFoundError, match=f"assembled from {TOY}.a"):
            stvsr.load(name)
        with pytest.raises(ValueError, match="parts entries"):
            WeightSource(filename="x.safetensors", sha256="0" * 64, parts=(("a.", "no_tag", ""),))
    finally:
        _REGISTRY.pop(name, None)
