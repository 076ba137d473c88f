"""A model directory that proves itself: digests, sizes and rules, checked before loading.

`metadata.json` records the SHA-256 of every other file in the directory
(`file_sha256`, by path relative to it) and the size of each vocabulary
(`vocab_sizes`). `slukit.train.artifact.write_model_dir` seals every directory
it writes; a step that changes files afterwards (a calibration, a re-written
vocabulary) calls `seal(path)` again.

`verify_model_dir(path)` is what every loader calls (`Predictor.from_dir`,
`slukit evaluate`, the exports, a transfer's source model): it reads only the
small files and hashes the others, imports no TensorFlow, and refuses any
damage with one `ModelDirError` that names the file and says what is wrong:

- a missing, unreadable or malformed file (`metadata.json`, `recipe.yaml`,
  `preprocessor.json`, a vocabulary that is not UTF-8 or repeats a line);
- a file whose digest is not the recorded one, or that the record lacks;
- text rules this slukit does not implement, or vocabulary paths that leave
  the directory (`slukit.preprocess.rules`);
- a `model.keras` that is not a complete Keras archive ("model.keras is damaged").

Directories written before digests were recorded have no `file_sha256`; they
get every check but the digests.

Example:
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "notes.txt").write_text("hello")
    >>> file_digests(d)
    {'notes.txt': '2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824'}
"""

import hashlib
import json
import os
import zipfile
from pathlib import Path

from slukit.errors import ModelDirError
from slukit.model_dir import METADATA_FILE

#: What a Keras 3 `.keras` archive holds.
KERAS_MEMBERS = ("config.json", "model.weights.h5")


def sha256_file(path, chunk=1 << 20):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def model_files(directory):
    """Every file under `directory` but `metadata.json`, as sorted relative POSIX paths."""
    directory = Path(directory)
    found = []
    for root, dirs, files in os.walk(directory):
        dirs.sort()
        for name in files:
            rel = (Path(root) / name).relative_to(directory).as_posix()
            if rel != METADATA_FILE:
                found.append(rel)
    return sorted(found)


def file_digests(directory):
    """`{relative path: sha256}` of every file but `metadata.json`."""
    directory = Path(directory)
    return {rel: sha256_file(directory / rel) for rel in model_files(directory)}


def _count_lines(path):
    lines = path.read_bytes().split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    return len(lines)


def vocab_sizes(directory):
    """`{words, chars, intents, tags: lines}` of the vocabularies `preprocessor.json` names."""
    from slukit.preprocess.rules import file_problems

    directory = Path(directory)
    rules = read_json(directory, "preprocessor.json")
    problems = file_problems(rules.get("files"))
    if problems:
        raise ModelDirError(problems, header=f"{directory / 'preprocessor.json'}: "
                            "settings this slukit cannot use:")
    return {key: _count_lines(directory / rel) for key, rel in rules["files"].items()
            if rel and (directory / rel).is_file()}


def seal(directory):
    """Records the digests and vocabulary sizes of `directory` in its `metadata.json`
    (call it after changing a file of a written model directory).

    The write goes through a temporary file and a rename, so a crash leaves the old
    `metadata.json` or the new one, never half of one.
    """
    directory = Path(directory)
    path = directory / METADATA_FILE
    meta = read_json(directory, METADATA_FILE)  # a clear ModelDirError if it is damaged
    meta["file_sha256"] = file_digests(directory)
    if (directory / "preprocessor.json").is_file():
        meta["vocab_sizes"] = vocab_sizes(directory)
    tmp = directory / f".{METADATA_FILE}.tmp-{os.getpid()}"
    try:
        tmp.write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return meta


def _damaged(directory, name, what):
    return ModelDirError(f"{Path(directory) / name}: {what}; the model directory is damaged "
                         "(retrain it, or restore it from a copy)")


def read_json(directory, name):
    path = Path(directory) / name
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise _damaged(directory, name, "missing") from None
    except UnicodeDecodeError:
        raise _damaged(directory, name, "not UTF-8 text") from None
    except ValueError as err:
        raise _damaged(directory, name, f"not valid JSON ({err})") from None
    if not isinstance(value, dict):
        raise _damaged(directory, name, f"expected a JSON object, got {type(value).__name__}")
    return value


def check_keras_archive(path):
    """A clear error unless `path` is a readable Keras 3 `.keras` zip archive."""
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            missing = [m for m in KERAS_MEMBERS if m not in names]
            if missing:
                raise ModelDirError(f"{path}: {path.name} is damaged (the archive lacks "
                                    f"{', '.join(missing)}); retrain the model or restore it")
            bad = archive.testzip()
            if bad is not None:
                raise ModelDirError(f"{path}: {path.name} is damaged ({bad} fails its "
                                    "checksum); retrain the model or restore it")
    except ModelDirError:  # a ValueError too: raised above, passed on as it is
        raise
    except (zipfile.BadZipFile, EOFError, OSError, ValueError) as err:
        if isinstance(err, FileNotFoundError):
            raise ModelDirError(f"{path}: missing") from None
        raise ModelDirError(f"{path}: {path.name} is damaged (not a complete Keras archive: "
                            f"{err}); retrain the model or restore it") from None


def verify_model_dir(path):
    """Checks a finished model directory as described in the module doc; returns its
    metadata dict. Raises `ModelDirError` naming the first damaged file."""
    from slukit.preprocess.rules import rule_problems
    from slukit.model_dir import require_model_dir

    directory = require_model_dir(path)
    meta = read_json(directory, METADATA_FILE)
    recorded = meta.get("file_sha256")
    if recorded is not None:
        if not isinstance(recorded, dict):
            raise _damaged(directory, METADATA_FILE, "file_sha256 is not a table")
        present = model_files(directory)
        for rel in sorted(set(recorded) - set(present)):
            raise _damaged(directory, rel, "missing (metadata.json records it)")
        for rel in present:
            if rel not in recorded:
                raise ModelDirError(
                    f"{directory / rel}: not recorded in metadata.json's file_sha256; remove it, "
                    "or if a step of yours wrote it on purpose, record it with "
                    "`slukit.integrity.seal(model_dir)`")
            if sha256_file(directory / rel) != recorded[rel]:
                raise _damaged(directory, rel, "its content changed since the model was written "
                               "(its SHA-256 is not the one metadata.json records)")
    rules = read_json(directory, "preprocessor.json")
    problems = rule_problems(rules)
    if problems:
        raise ModelDirError(problems, header=f"{directory / 'preprocessor.json'}: "
                            "settings this slukit cannot use:")
    sizes = meta.get("vocab_sizes") or {}
    for key, rel in rules["files"].items():
        if not rel:
            continue
        vocab = directory / rel
        if not vocab.resolve().is_relative_to(directory.resolve()):
            raise _damaged(directory, "preprocessor.json", f"files.{key} points outside the "
                           "model directory")
        if not vocab.is_file():
            raise _damaged(directory, rel, "missing (preprocessor.json names it)")
        try:
            lines = vocab.read_text(encoding="utf-8").split("\n")
        except UnicodeDecodeError:
            raise _damaged(directory, rel, "not UTF-8 text") from None
        if lines and lines[-1] == "":
            lines.pop()
        if len(set(lines)) != len(lines):
            raise _damaged(directory, rel, "a line is repeated (each token must be unique)")
        if key in sizes and sizes[key] != len(lines):
            raise _damaged(directory, rel, f"{len(lines)} lines where metadata.json records "
                           f"{sizes[key]}")
    try:
        import yaml

        recipe = yaml.safe_load((directory / "recipe.yaml").read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise _damaged(directory, "recipe.yaml", "not UTF-8 text") from None
    except yaml.YAMLError as err:
        raise _damaged(directory, "recipe.yaml", f"not valid YAML "
                       f"({str(err).splitlines()[0]})") from None
    if not isinstance(recipe, dict):
        raise _damaged(directory, "recipe.yaml", "not a recipe (expected a mapping)")
    check_keras_archive(directory / "model.keras")
    return meta


def model_fits_vocab(model, preprocessor, directory):
    """After loading: the model's embedding and output sizes match the vocabularies
    (a vocabulary with a line too many would give ids past the embedding table)."""
    expected = []
    for layer_name, attr, vocab, what in (("word_embedding", "vocab_size", preprocessor.words, "words"),
                                          ("char_embedding", "vocab_size", preprocessor.chars, "chars")):
        if vocab is None:
            continue
        try:
            layer = model.get_layer(layer_name)
        except ValueError:
            continue
        size = getattr(layer, attr, None)
        if size is not None:
            expected.append((what, int(size), len(vocab)))
    for name, vocab, what in (("intent", preprocessor.intents, "intents"),
                              ("slots", preprocessor.tags, "tags")):
        try:
            units = getattr(model.get_layer(name), "units", None)
        except ValueError:
            units = None
        if units is not None:
            expected.append((what, int(units), len(vocab)))
    for what, size, lines in expected:
        if size != lines:
            raise ModelDirError(f"{Path(directory) / 'vocab' / (what + '.txt')}: {lines} entries, "
                                f"but the model was built for {size}; the model directory is "
                                "damaged (retrain it, or restore it from a copy)")
