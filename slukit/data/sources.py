"""Where a recipe's data is: the data root, the files of each split, and the built-in sets.

- `resolve_data_paths(recipe)`: the absolute, existing files of a validated recipe's
  splits, relative to the data root (`data.root`, else `$SLUKIT_DATA`, else `./data`);
  a missing file names its key, the path and where the root came from.
- `split_paths(recipe)`: `{split: (path, format)}` as the loaders read them.
- `builtin_path(name, split)`: a split of a data set shipped in `slukit/data/builtin/`.
- `resolve_data_arg(data)`: the DATA argument of `slukit evaluate` (a path, or `demo-en:valid`).

Example:
    >>> builtin_path("demo-de", "valid").relative_to(BUILTIN_ROOT).as_posix()
    'demo-de/valid.jsonl'
    >>> data_root({"root": "/srv/data"})
    (PosixPath('/srv/data'), 'data.root')
"""

from __future__ import annotations

import os
from pathlib import Path

from slukit.errors import DataError, RecipeError
from slukit.registry import BUILTIN_DATASETS, SPLITS

#: The data sets shipped with slukit, one folder each (`slukit.data.demo` writes them).
BUILTIN_ROOT = Path(__file__).resolve().parent / "builtin"
DATA_ENV = "SLUKIT_DATA"
DEFAULT_DATA_ROOT = "./data"


def resolve_data_paths(recipe: dict) -> dict:
    """The absolute data paths of a validated recipe, checked to exist.

    Returns `{"train": Path, "valid": Path | None, "test": Path | None,
    "format": str | None, "root": Path}`; a None format means "detect it
    from each path". Relative paths are relative to the data root:
    `data.root`, else `$SLUKIT_DATA`, else `./data` (relative roots are
    relative to the current working directory). With `data.builtin` the
    files come from the package.

    Raises:
        RecipeError: naming each missing file's key, the path looked for,
            and the data root and where that came from.

    Example:
        >>> resolve_data_paths(load_recipe("recipes/atis.yaml"))["train"]  # doctest: +SKIP
        PosixPath('/home/me/data/atis/train')
    """
    data = recipe["data"]
    if data.get("builtin"):
        return _builtin_paths(data["builtin"])
    root, origin = data_root(data)
    paths = {split: _under(root, data.get(split)) for split in SPLITS}
    missing = [
        _missing_file(split, path, root, origin)
        for split, path in paths.items()
        if path is not None and not path.exists()
    ]
    if missing:
        count = len(missing)
        raise RecipeError(missing, header=f"{count} data {'path was' if count == 1 else 'paths were'} not found:")
    return {**paths, "format": data.get("format"), "root": root}


def data_root(data: dict) -> tuple[Path, str]:
    """The absolute data root of a recipe's `data` section, and where it came from.

    Example:
        >>> data_root({"root": "/srv/data"})
        (PosixPath('/srv/data'), 'data.root')
    """
    if data.get("root"):
        return _absolute(data["root"]), "data.root"
    if os.environ.get(DATA_ENV):
        return _absolute(os.environ[DATA_ENV]), f"${DATA_ENV}"
    return _absolute(DEFAULT_DATA_ROOT), f"the default {DEFAULT_DATA_ROOT}"


def _absolute(path) -> Path:
    return Path(os.path.abspath(os.path.expanduser(str(path))))


def _under(root: Path, path) -> Path | None:
    """`path` (relative to `root`, or absolute) as an absolute Path; None stays None."""
    if path is None:
        return None
    return Path(os.path.abspath(root / os.path.expanduser(str(path))))


def _missing_file(split, path, root, origin) -> str:
    """`"data.train: no such file or folder: /abs/path (the data root /abs comes from $SLUKIT_DATA)"`."""
    default = origin.startswith("the default")
    why = f"the data root {root} {'is' if default else 'comes from'} {origin}"
    if not root.exists():
        why += " and does not exist"
    if default:
        why += f"; set data.root or ${DATA_ENV} to use another"
    return f"data.{split}: no such file or folder: {path} ({why})"


def _builtin_paths(name: str) -> dict:
    """The files of a data set shipped in `slukit/data/builtin/<name>/`.

    Each split is the entry named `<split>` or `<split>.<ext>` there.
    """
    folder = BUILTIN_ROOT / name
    entries = sorted(folder.iterdir()) if folder.is_dir() else []
    paths = {split: next((p for p in entries if split in (p.name, p.stem)), None) for split in SPLITS}
    if paths["train"] is None:
        raise RecipeError([f"data.builtin: the builtin data set {name!r} has no training data "
                           f"in {folder}; the slukit installation looks incomplete"])
    return {**paths, "format": None, "root": folder}


def builtin_path(name: str, split: str) -> Path:
    """The path of a shipped built-in split, e.g. `builtin_path("demo-de", "valid")`.

    Raises:
        DataError: `name` is not one of `BUILTIN_DATASETS`, or `split` not one of `SPLITS`.
    """
    if name not in BUILTIN_DATASETS:
        raise DataError(f"unknown built-in dataset {name!r}; "
                        f"the built-in datasets are: {', '.join(BUILTIN_DATASETS)}")
    if split not in SPLITS:
        raise DataError(f"unknown split {split!r} of built-in dataset {name!r}; "
                        f"the splits are: {', '.join(SPLITS)}")
    return BUILTIN_ROOT / name / f"{split}.jsonl"


def split_paths(recipe):
    """`{split: (path or None, format or None)}` for a validated recipe."""
    data = recipe["data"]
    if data.get("builtin"):
        return {s: (builtin_path(data["builtin"], s), "jsonl") for s in SPLITS}
    paths = resolve_data_paths(recipe)
    return {s: (paths.get(s), paths.get("format")) for s in SPLITS}


def resolve_data_arg(data, format=None):
    """`(path, format)` for a DATA argument: a file or folder, or a built-in
    data set as `demo-en` / `demo-en:valid` (the test split by default)."""
    name, _, split = str(data).partition(":")
    if name in BUILTIN_DATASETS and not Path(data).exists():
        return builtin_path(name, split or "test"), "jsonl"
    if not Path(data).exists():
        raise DataError(f"{data}: no such file or folder (built-in data sets: "
                        f"{', '.join(BUILTIN_DATASETS)}, optionally with :train/:valid/:test)")
    return Path(data), format
