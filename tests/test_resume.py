"""`slukit train --resume`: per-epoch checkpoints, a killed run continued, Ctrl-C, wrong recipes."""

import io
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from rich.console import Console

from conftest import write_recipe
from slukit.errors import RecipeError, SlukitError
from slukit.recipe import load_recipe
from slukit.train.artifact import is_model_dir, load_model_dir
from slukit.train.checkpoint import Checkpoint, checkpoint_path
from slukit.train.progress import Reporter
from slukit.workflows.train import train_recipe

# Slow enough epochs (many steps of a tiny model) to catch a run between two checkpoints.
SLOW = ["train.epochs=4", "train.min_steps_per_epoch=60", "train.early_stopping.patience=0"]


def start_training(recipe, output, log, *extra):
    command = [sys.executable, "-m", "slukit.cli", "train", str(recipe), "--output", str(output)]
    for override in SLOW:
        command += ["--set", override]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    return subprocess.Popen(command + list(extra), env=env, stdout=log, stderr=subprocess.STDOUT)


def wait_for_checkpoint(process, output, timeout=180):
    """The first complete checkpoint's state, while `process` still runs."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        states = list(checkpoint_path(output).glob("epoch-*/state.json"))
        if states:
            return json.loads(states[0].read_text())
        assert process.poll() is None, "training ended before its first checkpoint was seen"
        time.sleep(0.02)
    process.kill()
    raise AssertionError("no checkpoint appeared")


@pytest.mark.slow
def test_a_killed_run_resumes_from_its_last_checkpoint(tiny_data, tmp_path):
    recipe = write_recipe(tmp_path / "r.yaml", tiny_data)
    output = tmp_path / "runs" / "out"
    with open(tmp_path / "first.log", "w") as log:
        process = start_training(recipe, output, log)
        state = wait_for_checkpoint(process, output)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=60)
    assert 1 <= state["next_epoch"] < 4
    assert not output.exists()  # no model directory from a killed run
    done = json.loads(next(checkpoint_path(output).glob("epoch-*/state.json")).read_text())
    assert not is_model_dir(checkpoint_path(output))

    with open(tmp_path / "second.log", "w") as log:
        assert start_training(recipe, output, log, "--resume").wait(timeout=300) == 0
    said = (tmp_path / "second.log").read_text()
    assert f"{done['next_epoch']} of 4 epochs done" in said
    assert f"epoch   {done['next_epoch'] + 1}/4" in said and "epoch   1/4" not in said
    meta = json.loads((output / "metadata.json").read_text())
    assert meta["resumed_from_epoch"] == done["next_epoch"] and meta["epochs_run"] == 4
    assert load_model_dir(output).recipe["train"]["epochs"] == 4
    assert sorted(p.name for p in output.parent.iterdir()) == ["out"]  # the checkpoint is gone


@pytest.mark.slow
def test_ctrl_c_exits_130_and_keeps_the_progress(tiny_data, tmp_path):
    recipe = write_recipe(tmp_path / "r.yaml", tiny_data)
    output = tmp_path / "runs" / "out"
    with open(tmp_path / "log", "w") as log:
        process = start_training(recipe, output, log)
        wait_for_checkpoint(process, output)
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) == 130
    said = (tmp_path / "log").read_text()
    assert "interrupted: progress kept" in said and "--resume" in said
    assert "Traceback" not in said and said.count("interrupted") == 1
    # No model directory, no lock; the last complete epoch is kept for --resume.
    assert sorted(p.name for p in output.parent.iterdir()) == ["out.checkpoint"]
    assert list(checkpoint_path(output).glob("epoch-*/state.json"))


class StopAt(Reporter):
    """A quiet reporter whose progress callback fails when epoch `epoch` (0-based) begins."""

    def __init__(self, epoch=None):
        super().__init__(quiet=True)
        self.epoch = epoch

    def epoch_callback(self, epochs, steps):
        callback = super().epoch_callback(epochs, steps)
        begin = callback.on_epoch_begin

        def on_epoch_begin(epoch, logs=None):
            if epoch == self.epoch:
                raise RuntimeError("stopped")
            begin(epoch, logs)

        callback.on_epoch_begin = on_epoch_begin
        return callback


def interrupted_then_resumed(recipe, output, stop_at):
    with pytest.raises(RuntimeError, match="stopped"):
        train_recipe(recipe, output=output, reporter=StopAt(stop_at))
    assert checkpoint_path(output).is_dir() and not output.exists()  # kept after an error
    return train_recipe(recipe, output=output, reporter=StopAt(), resume=True)


def same_weights(a, b):
    return all(np.array_equal(x, y) for x, y in zip(a.model.get_weights(), b.model.get_weights()))


def test_a_resumed_run_ends_exactly_as_an_uninterrupted_one(tiny_data, tmp_path):
    # Word dropout, dropout and Adam's moments all carry over (mid-epoch-plan, mid-phase).
    recipe = load_recipe(write_recipe(tmp_path / "r.yaml", tiny_data),
                         ["train.epochs=4", "train.word_dropout=0.2", "data.valid=null"])
    whole = train_recipe(recipe, output=tmp_path / "whole", reporter=StopAt())
    resumed = interrupted_then_resumed(recipe, tmp_path / "resumed", stop_at=2)
    assert same_weights(whole, resumed)
    meta = json.loads((tmp_path / "resumed" / "metadata.json").read_text())
    assert meta["resumed_from_epoch"] == 2 and meta["epochs_run"] == 4


@pytest.mark.slow
def test_a_transfer_resumes_at_a_frozen_phase_boundary(tiny_data, tmp_path):
    source = write_recipe(tmp_path / "s.yaml", tiny_data)
    train_recipe(load_recipe(source, ["train.epochs=1"]), output=tmp_path / "source",
                 reporter=StopAt())
    target = write_recipe(tmp_path / "t.yaml", tiny_data,
                          f"source:\n  model_dir: {tmp_path / 'source'}\n"
                          "transfer:\n  freeze_epochs: {encoder: 1}\n")
    # The best weights end the frozen phase; the next one starts with a fresh optimizer.
    recipe = load_recipe(target, ["train.epochs=3", "train.learning_rate=0.05"])
    whole = train_recipe(recipe, output=tmp_path / "whole", reporter=StopAt())
    resumed = interrupted_then_resumed(recipe, tmp_path / "resumed", stop_at=1)
    assert same_weights(whole, resumed)
    assert (json.loads((tmp_path / "whole" / "metrics.json").read_text())
            == json.loads((tmp_path / "resumed" / "metrics.json").read_text()))


def fake_checkpoint(output, recipe, next_epoch=2):
    folder = checkpoint_path(output) / f"epoch-{next_epoch:04d}"
    folder.mkdir(parents=True)
    np.savez(folder / "variables.npz", m0=np.zeros(1))
    (folder / "state.json").write_text(json.dumps({"next_epoch": next_epoch, "recipe": recipe}))


def messages():
    out = io.StringIO()
    return Reporter(console=Console(file=out, width=400)), out


@pytest.fixture
def recipe(tiny_data, tmp_path):
    return load_recipe(write_recipe(tmp_path / "r.yaml", tiny_data))


def test_resuming_with_another_recipe_is_refused(recipe, tmp_path):
    fake_checkpoint(tmp_path / "out", recipe)
    changed = {**recipe, "train": {**recipe["train"], "learning_rate": 0.5, "distribute": "mirrored"},
               "output": "elsewhere"}
    reporter, _ = messages()
    with pytest.raises(RecipeError) as err:
        Checkpoint(tmp_path / "out", changed).prepare(resume=True, reporter=reporter)
    assert "different recipe" in str(err.value)
    # Only the learning rate counts: output and train.distribute may change.
    assert err.value.problems == ["train.learning_rate: 0.01 in the checkpoint, 0.5 now"]
    Checkpoint(tmp_path / "out", {**changed, "train": {**changed["train"], "learning_rate": 0.01}}
               ).prepare(resume=True, reporter=reporter)


def test_resume_without_a_checkpoint_starts_at_epoch_1(recipe, tmp_path):
    reporter, out = messages()
    checkpoint = Checkpoint(tmp_path / "out", recipe)
    checkpoint.prepare(resume=True, reporter=reporter)
    assert checkpoint.next_epoch == 0 and "no checkpoint" in out.getvalue()


def test_a_fresh_run_replaces_an_old_checkpoint_only_with_force(recipe, tmp_path):
    fake_checkpoint(tmp_path / "out", recipe, next_epoch=3)
    reporter, out = messages()
    checkpoint = Checkpoint(tmp_path / "out", recipe)
    with pytest.raises(SlukitError, match=r"interrupted run \(3 epochs done\).*--resume.*--force"):
        checkpoint.prepare(resume=False, reporter=reporter)
    assert checkpoint_path(tmp_path / "out").exists()
    checkpoint.prepare(resume=False, reporter=reporter, force=True)
    assert checkpoint.next_epoch == 0 and not checkpoint_path(tmp_path / "out").exists()
    assert "interrupted run (3 epochs done)" in out.getvalue() and "--force" in out.getvalue()


@pytest.mark.parametrize("damage", ["state", "variables"])
def test_a_damaged_checkpoint_is_named_on_resume(recipe, tmp_path, damage):
    import numpy as np

    fake_checkpoint(tmp_path / "out", recipe)
    folder = checkpoint_path(tmp_path / "out") / "epoch-0002"
    if damage == "state":
        (folder / "state.json").write_text('{"next_epoch": 2, "reci')
        name = "state.json"
    else:
        (folder / "variables.npz").write_bytes(b"PK\x03\x04 truncated")
        name = "variables.npz"
    with pytest.raises(SlukitError) as err:
        Checkpoint(tmp_path / "out", recipe).prepare(resume=True, reporter=messages()[0])
    assert name in str(err.value) and "damaged" in str(err.value) and "--force" in str(err.value)


def test_disk_full_while_checkpointing_leaves_no_partial_folder(recipe, tmp_path, monkeypatch,
                                                                capsys):
    import errno

    from slukit.cli import main

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", "variables.npz")

    monkeypatch.setattr("numpy.savez", full)
    recipe_path = tmp_path / "r.yaml"
    assert main(["train", str(recipe_path), "--quiet", "--output", str(tmp_path / "m")]) == 2
    err = capsys.readouterr().err
    assert "error: the disk is full" in err and "Traceback" not in err
    place = checkpoint_path(tmp_path / "m")
    assert not list(place.glob(".epoch-*")) if place.exists() else True
    assert not (tmp_path / "m").exists()


def test_a_foreign_folder_in_the_checkpoint_place_is_left_alone(recipe, tmp_path):
    place = checkpoint_path(tmp_path / "out")
    place.mkdir()
    (place / "notes.txt").write_text("keep me")
    with pytest.raises(SlukitError, match="not a slukit checkpoint"):
        Checkpoint(tmp_path / "out", recipe).prepare(resume=False, reporter=messages()[0])
    assert (place / "notes.txt").read_text() == "keep me"


def test_a_swallowed_ctrl_c_still_stops_training_before_anything_is_written(recipe, tmp_path):
    from slukit import interrupt

    interrupt.requested.set()  # as if a KeyboardInterrupt had been raised and lost in a finaliser
    try:
        with pytest.raises(KeyboardInterrupt):
            train_recipe(recipe, output=tmp_path / "out", reporter=Reporter(quiet=True))
    finally:
        interrupt.requested.clear()
    assert not (tmp_path / "out").exists()
