"""Single-file outputs are written whole or not at all (`slukit.atomic`): a Ctrl-C or a full
disk in the middle leaves the older file (or none), never half of one, and no temporary file."""

import errno

import pytest


class Explodes:
    """A value whose writing raises `error` (an interrupt or a full disk mid-file)."""

    def __init__(self, error):
        self.error = error

    def __iter__(self):
        raise self.error

    def __str__(self):
        raise self.error


def test_aligned_vectors_interrupted_mid_file_keep_the_old_file(tmp_path):
    from slukit.preprocess.vectors import read_vectors, write_vectors

    path = tmp_path / "aligned.vec"
    write_vectors({"old": [1.0, 2.0]}, path)
    with pytest.raises(KeyboardInterrupt):
        write_vectors({"play": [0.5, 0.25], "jazz": Explodes(KeyboardInterrupt())}, path)
    assert read_vectors(path)[0].keys() == {"old"}
    assert [p.name for p in tmp_path.iterdir()] == ["aligned.vec"]


def test_a_full_disk_mid_file_leaves_no_partial_file(tmp_path):
    from slukit.tune.search import write_trials_csv

    path = tmp_path / "trials.csv"
    full = OSError(errno.ENOSPC, "No space left on device")
    with pytest.raises(OSError):
        write_trials_csv([{"trial": 0, "valid_joint": 0.5},
                          {"trial": 1, "valid_joint": Explodes(full)}], path)
    assert list(tmp_path.iterdir()) == []
    write_trials_csv([{"trial": 0, "valid_joint": 0.5}], path)
    assert path.read_text(encoding="utf-8").splitlines() == ["trial,valid_joint", "0,0.5"]


def test_a_swallowed_ctrl_c_keeps_the_old_dictionary(tmp_path):
    from slukit import interrupt
    from slukit.data.parallel import write_dictionary

    path = tmp_path / "en-de.txt"
    write_dictionary([("play", "spiele")], path)
    interrupt.requested.set()  # raised and lost in a library while the file was written
    try:
        with pytest.raises(KeyboardInterrupt):
            write_dictionary([("jazz", "jazz")], path)
    finally:
        interrupt.requested.clear()
    assert path.read_text(encoding="utf-8") == "play spiele\n"
    assert [p.name for p in tmp_path.iterdir()] == ["en-de.txt"]
