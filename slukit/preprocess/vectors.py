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
