"""Pretrained word vectors in the fastText / word2vec text format (`.vec`).

The format: an optional header line `COUNT DIM`, then one word per line
followed by DIM numbers, separated by spaces. Aligned bilingual vectors
(fastText aligned, MUSE) use the same format.

Example:
    >>> import pathlib, tempfile
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "tiny.vec"
    >>> _ = p.write_text("2 3\\nplay 0.1 0.2 0.3\\njazz 1 0 0\\n")
    >>> vectors, dim = read_vectors(p)
    >>> dim, sorted(vectors)
    (3, ['jazz', 'play'])
"""

from pathlib import Path

import numpy as np

from slukit.data.parallel import read_dictionary  # noqa: F401  (its old import path)
from slukit.errors import DataError


def read_vectors(path, keep=None, lowercase=False):
    """Reads `path` into `{word: float32 vector}` and returns it with the dimension.

    Args:
        path: the `.vec` file.
        keep: if given, only words in this set are kept (the file is streamed,
            so large files need little memory).
        lowercase: lower-case the file's words (the first vector of a word wins).
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: word vector file not found")
    vectors, dim, problems = {}, None, []
    with path.open("r", encoding="utf-8", errors="strict") as f:
        try:
            for line_no, line in enumerate(f, 1):
                parts = line.rstrip("\n\r").rstrip(" ").split(" ")
                if line_no == 1 and len(parts) == 2 and all(p.isdigit() for p in parts):
                    dim = int(parts[1])
                    continue
                if len(parts) < 2:
                    if line.strip():
                        problems.append(f"{path}:{line_no}: expected a word and its numbers")
                    continue
                word, numbers = parts[0], parts[1:]
                if dim is None:
                    dim = len(numbers)
                if len(numbers) != dim:
                    problems.append(f"{path}:{line_no}: {len(numbers)} numbers, expected {dim}")
                    continue
                if lowercase:
                    word = word.lower()
                if (keep is not None and word not in keep) or word in vectors:
                    continue
                try:
                    vectors[word] = np.asarray(numbers, dtype="float32")
                except ValueError:
                    problems.append(f"{path}:{line_no}: not a number among the values")
        except UnicodeDecodeError as err:
            raise DataError(f"{path}: not valid UTF-8 after line {line_no - 1} ({err.reason})") from None
    if problems:
        raise DataError(problems[:20], header=f"{path}: {len(problems)} malformed line(s):")
    if dim is None:
        raise DataError(f"{path}: no vectors in the file")
    return vectors, dim


def embedding_matrix(vocabulary, vectors, dim, seed=0, scale=0.05):
    """A `[len(vocabulary), dim]` matrix: pretrained rows where the word has a
    vector, small random rows elsewhere, zeros for padding. Also returns how
    many words were covered."""
    rng = np.random.default_rng(seed)
    matrix = rng.uniform(-scale, scale, size=(len(vocabulary), dim)).astype("float32")
    matrix[0] = 0.0
    covered = 0
    for i, word in enumerate(vocabulary.tokens):
        vec = vectors.get(word)
        if vec is not None:
            matrix[i] = vec
            covered += 1
    return matrix, covered


def write_vectors(vectors, path):
    """Writes `{word: vector}` in the `.vec` text format (with its header line)."""
    vectors = dict(vectors)
    dim = len(next(iter(vectors.values()))) if vectors else 0
    from slukit.atomic import atomic_open

    with atomic_open(path, "w", encoding="utf-8") as f:  # whole or not at all
        f.write(f"{len(vectors)} {dim}\n")
        for word, vec in vectors.items():
            f.write(word + " " + " ".join(f"{x:.6g}" for x in vec) + "\n")


def _unit_rows(matrix):
    return matrix / np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-8)


def procrustes(source, target, pairs):
    """The orthogonal map `W` (`dim x dim`) minimising `|X W - Y|` over the dictionary
    pairs found in both vector sets (Schönemann 1966; MUSE's supervised mode).

    Returns `(W, pairs used)`. Vectors are length-normalised first.
    """
    used = [(s, t) for s, t in pairs if s in source and t in target]
    if len(used) < 2:
        raise DataError(f"only {len(used)} dictionary pairs have vectors on both sides; need at least 2")
    x = _unit_rows(np.stack([source[s] for s, _ in used]))
    y = _unit_rows(np.stack([target[t] for _, t in used]))
    u, _, vt = np.linalg.svd(x.T @ y)
    return u @ vt, used


def translation_accuracy(source, target, pairs, mapping=None):
    """Share of `pairs` whose source word's nearest target word (cosine) is the
    dictionary's translation, after applying `mapping` to the source vectors.
    Pairs missing a vector on either side are left out."""
    used = [(s, t) for s, t in pairs if s in source and t in target]
    if not used:
        return 0.0, 0
    words = list(target)
    index = {w: i for i, w in enumerate(words)}
    y = _unit_rows(np.stack([target[w] for w in words]))
    x = _unit_rows(np.stack([source[s] for s, _ in used]))
    if mapping is not None:
        x = x @ mapping
    nearest = np.argmax(x @ y.T, axis=1)
    hits = sum(int(nearest[i] == index[t]) for i, (_, t) in enumerate(used))
    return hits / len(used), len(used)


def align_files(source_path, target_path, dictionary_path, output_path, test_dictionary=None,
                pairs=None):
    """Aligns source vectors to the target space and writes them; returns a report dict.

    `pairs` (word pairs) replaces the seed dictionary read from `dictionary_path`."""
    source, _ = read_vectors(source_path)
    target, _ = read_vectors(target_path)
    dim_s, dim_t = len(next(iter(source.values()))), len(next(iter(target.values())))
    if dim_s != dim_t:
        raise DataError(f"{source_path} has {dim_s} dimensions but {target_path} has {dim_t}; "
                        "both sides need the same size")
    pairs = pairs if pairs is not None else read_dictionary(dictionary_path)
    mapping, used = procrustes(source, target, pairs)
    report = {"pairs": len(pairs), "pairs_with_vectors": len(used)}
    report["accuracy_before"], _ = translation_accuracy(source, target, pairs)
    report["accuracy_after"], _ = translation_accuracy(source, target, pairs, mapping)
    if test_dictionary:
        test_pairs = read_dictionary(test_dictionary)
        report["test_accuracy_before"], report["test_pairs"] = translation_accuracy(source, target, test_pairs)
        report["test_accuracy_after"], _ = translation_accuracy(source, target, test_pairs, mapping)
    write_vectors({w: _unit_rows(v[None])[0] @ mapping for w, v in source.items()}, output_path)
    return report
