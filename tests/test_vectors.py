"""Word vector files and `slukit embeddings align` (orthogonal Procrustes)."""

import numpy as np
import pytest

from slukit.cli import main
from slukit.errors import DataError
from slukit.preprocess.vectors import read_vectors, write_vectors


def make_pair(tmp_path, n=40, dim=8, seed=0):
    """English vectors, and German ones that are a hidden rotation of them (plus noise)."""
    rng = np.random.default_rng(seed)
    en = {f"en{i}": rng.normal(size=dim) for i in range(n)}
    rotation, _ = np.linalg.qr(rng.normal(size=(dim, dim)))
    de = {f"de{i}": en[f"en{i}"] @ rotation + 0.01 * rng.normal(size=dim) for i in range(n)}
    write_vectors(en, tmp_path / "en.vec")
    write_vectors(de, tmp_path / "de.vec")
    (tmp_path / "seed.txt").write_text("".join(f"en{i} de{i}\n" for i in range(20)))
    (tmp_path / "test.txt").write_text("".join(f"en{i}\tde{i}\n" for i in range(20, n)))
    return tmp_path


def test_align_recovers_a_rotation_and_reports_accuracy(tmp_path, capsys):
    d = make_pair(tmp_path)
    assert main(["embeddings", "align", str(d / "en.vec"), str(d / "de.vec"), "--dictionary",
                 str(d / "seed.txt"), "--test-dictionary", str(d / "test.txt"),
                 "--output", str(d / "en.aligned.vec")]) == 0
    out = capsys.readouterr().out
    assert "100.0% after alignment" in out
    assert "(test, 20 pairs)" in out and out.count("100.0% after") == 2
    aligned, dim = read_vectors(d / "en.aligned.vec")
    target, _ = read_vectors(d / "de.vec")
    cos = aligned["en30"] @ target["de30"] / np.linalg.norm(target["de30"])
    assert dim == 8 and cos > 0.99


def test_align_refuses_to_overwrite_and_reports_bad_dictionary_lines(tmp_path, capsys):
    d = make_pair(tmp_path)
    (d / "out.vec").write_text("keep")
    assert main(["embeddings", "align", str(d / "en.vec"), str(d / "de.vec"), "--dictionary",
                 str(d / "seed.txt"), "--output", str(d / "out.vec")]) == 2
    assert (d / "out.vec").read_text() == "keep"
    (d / "bad.txt").write_text("en1 de1\nen2\n")
    assert main(["embeddings", "align", str(d / "en.vec"), str(d / "de.vec"), "--dictionary",
                 str(d / "bad.txt"), "--output", str(d / "new.vec")]) == 2
    assert "bad.txt:2" in capsys.readouterr().err


def test_vector_file_errors_name_file_and_line(tmp_path):
    path = tmp_path / "v.vec"
    path.write_text("2 3\nplay 1 2 3\njazz 1 2\n")
    with pytest.raises(DataError, match="v.vec:3: 2 numbers, expected 3"):
        read_vectors(path)
