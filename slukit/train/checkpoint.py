"""Per-epoch checkpoints, so that `slukit train RECIPE --resume` continues an interrupted run.

A checkpoint lives beside the model directory it will become, at
`<output>.checkpoint/` (`runs/atis` -> `runs/atis.checkpoint/`). It holds no
`model.keras` or `metadata.json`, so it is never taken for a model directory,
and it is deleted once the model directory has been written.

Layout:
    epoch-0004/          the state after 4 epochs (after an early stop within a
                         transfer phase: the first epoch of the next phase)
        variables.npz    the model's variables (weights and the dropout seed
                         state) and the optimizer's (step count, moments)
        best.npz         the best epoch's weights so far (with validation data)
        state.json       next epoch, epochs run, training seconds, the
                         validation monitor (best score, best epoch, its
                         metrics), the resolved recipe and the SHA-256 of the
                         other files; written last

A damaged checkpoint (a digest that differs, a file that does not parse) is
refused on `--resume` with an error that names the file and says how to start
afresh. A checkpoint is never deleted silently: a run without `--resume` to an
output that has one is refused unless `force` (`--force`), and Ctrl-C keeps the
last complete epoch's checkpoint for `--resume`.

Each epoch's checkpoint is written under a temporary name and renamed into
place; older ones are removed after that, so a run killed at any moment leaves
the last complete checkpoint (the highest `epoch-N` with a `state.json`).

What resuming restores: weights, optimizer state, dropout seeds, the epoch
(the training batches of an epoch depend only on the seed and the epoch
number, see `slukit.data.epochs.make_pydataset`), the early-stopping state
and the best weights. A resumed run therefore continues as the interrupted run
would have. Only the chief of a distributed run writes checkpoints and reads
them; it sends the restored state to the other workers.

Example:
    >>> checkpoint_path("runs/atis").as_posix()
    'runs/atis.checkpoint'
"""

import hashlib
import json
import os
import shutil
import zipfile
from pathlib import Path

import keras
import numpy as np

from slukit.errors import RecipeError, SlukitError

SUFFIX = ".checkpoint"
STATE_FILE = "state.json"
#: Recipe keys that may differ between a checkpoint and the run that resumes it.
MAY_DIFFER = ("output", "train.distribute")


def _sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def checkpoint_path(output):
    """The checkpoint location of the model directory `output`."""
    output = Path(output)
    return output.parent / f"{output.name}{SUFFIX}"


def _plain(value):
    """`value` as JSON would give it back (tuples become lists)."""
    return json.loads(json.dumps(value))


def recipe_differences(saved, current, prefix=""):
    """Dotted keys whose values differ between two resolved recipes, `MAY_DIFFER` aside.

    Example:
        >>> recipe_differences({"train": {"epochs": 3, "seed": 0}}, {"train": {"epochs": 5, "seed": 0}})
        ['train.epochs: 3 in the checkpoint, 5 now']
    """
    out = []
    for key in sorted(set(saved) | set(current)):
        dotted = prefix + key
        a, b = saved.get(key), current.get(key)
        if dotted in MAY_DIFFER:
            continue
        if isinstance(a, dict) and isinstance(b, dict):
            out += recipe_differences(a, b, dotted + ".")
        elif a != b:
            out.append(f"{dotted}: {json.dumps(a)} in the checkpoint, {json.dumps(b)} now")
    return out


class Checkpoint:
    """The checkpoint of one training run's model directory.

    Args:
        output: the model directory the run writes.
        recipe: the run's resolved recipe (saved with each checkpoint and
            compared on resume).
        enabled: False on the workers of a distributed run that are not the
            chief: they read and write nothing.
    """

    def __init__(self, output, recipe, enabled=True):
        self.path = checkpoint_path(output)
        self.recipe = _plain(recipe)
        self.enabled = enabled
        self.state = None  # the state resumed from

    @property
    def next_epoch(self):
        """The epoch training continues at (0 for a fresh start)."""
        return self.state["next_epoch"] if self.state else 0

    def latest(self):
        """The newest complete checkpoint folder, or None."""
        if not self.path.is_dir():
            return None
        done = [p for p in self.path.glob("epoch-*") if (p / STATE_FILE).is_file()]
        return max(done, key=lambda p: int(p.name.split("-")[1]), default=None)

    def prepare(self, resume, reporter, force=False):
        """Before training: loads the checkpoint to resume from (`resume`), or
        removes one left by an interrupted run when `force` (a fresh start).

        Raises:
            RecipeError: `resume` and the checkpoint was made from another recipe.
            SlukitError: a checkpoint exists and neither `resume` nor `force`; or it is
                damaged.
        """
        if not self.enabled:
            return
        if self.path.exists() and not self._looks_like_checkpoint():
            raise SlukitError(f"{self.path}: exists and is not a slukit checkpoint; move it away "
                              f"(slukit keeps the checkpoint of OUTPUT in OUTPUT{SUFFIX})")
        latest = self.latest()
        if not resume:
            if latest is not None:
                try:
                    done = f"{int(self._read_state(latest)['next_epoch'])} epochs done"
                except (SlukitError, KeyError, TypeError, ValueError):
                    done = "damaged"
                if not force:
                    raise SlukitError(
                        f"{self.path} holds the checkpoint of an interrupted run ({done}): "
                        "continue it with `slukit train RECIPE --resume`, or pass --force to "
                        "start afresh (which deletes it)")
                reporter.warn(f"{self.path} holds the checkpoint of an interrupted run ({done}); "
                              "--force: starting afresh and removing it")
            shutil.rmtree(self.path, ignore_errors=True)
            return
        if latest is None:
            reporter.warn(f"--resume: no checkpoint in {self.path}, so training starts at epoch 1")
            shutil.rmtree(self.path, ignore_errors=True)
            return
        state = self._read_state(latest)
        differences = recipe_differences(state["recipe"], self.recipe)
        if differences:
            raise RecipeError(differences, header=(
                f"--resume: {self.path} was made from a different recipe; resume with the "
                f"recipe (and --set overrides) it was made from, or train without --resume to "
                f"start afresh:"))
        self._check_files(latest, state)
        self.state = state
        self.folder = latest
        reporter.info(f"resuming from {latest}: {state['next_epoch']} of "
                      f"{self.recipe['train']['epochs']} epochs done")

    def _damaged(self, path, what):
        return SlukitError(f"{path}: {what}; the checkpoint is damaged. Start afresh with "
                           f"`slukit train RECIPE --force` (without --resume), which deletes "
                           f"{self.path}")

    def _read_state(self, folder):
        path = folder / STATE_FILE
        try:
            state = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, ValueError) as err:
            raise self._damaged(path, f"not valid JSON ({err})") from None
        if not isinstance(state, dict) or not isinstance(state.get("next_epoch"), int) \
                or not isinstance(state.get("recipe"), dict):
            raise self._damaged(path, "not a checkpoint state (next_epoch, recipe)")
        return state

    def _check_files(self, folder, state):
        """The files' digests against `state.json` (checkpoints that record them), and
        the `.npz` archives' own checksums."""
        for name, digest in (state.get("file_sha256") or {}).items():
            path = folder / name
            if not path.is_file():
                raise self._damaged(path, "missing")
            if _sha256(path) != digest:
                raise self._damaged(path, "its content changed since it was written "
                                          "(SHA-256 differs)")
        for path in (folder / "variables.npz", folder / "best.npz"):
            if not path.exists():
                if path.name == "best.npz":
                    continue
                raise self._damaged(path, "missing")
            try:
                with zipfile.ZipFile(path) as archive:
                    bad = archive.testzip()
            except (zipfile.BadZipFile, OSError, EOFError) as err:
                raise self._damaged(path, f"not a readable archive ({err})") from None
            if bad is not None:
                raise self._damaged(path, f"{bad} fails its checksum")

    def restore(self, model, monitor=None, optimizer=True):
        """Loads the resumed state into `model` and `monitor`; with `optimizer`,
        the optimizer's too (it must be built)."""
        if not self.state:
            return
        try:
            self._restore(model, monitor, optimizer)
        except SlukitError:  # a ValueError too: `_restore`'s own message is passed on as it is
            raise
        except (ValueError, OSError, EOFError, KeyError, zipfile.BadZipFile) as err:
            raise self._damaged(self.folder, f"unreadable ({type(err).__name__}: "
                                f"{str(err)[:120]})") from None

    def _restore(self, model, monitor, optimizer):
        with np.load(self.folder / "variables.npz") as arrays:
            parts = [("m", list(model.variables))]
            if optimizer:
                parts.append(("o", list(model.optimizer.variables)))
            for prefix, targets in parts:
                saved = sorted((f for f in arrays.files if f.startswith(prefix)),
                               key=lambda f: int(f[1:]))
                if len(saved) != len(targets) or any(
                        arrays[f].shape != tuple(v.shape) for f, v in zip(saved, targets)):
                    raise SlukitError(f"{self.folder}: the checkpoint does not fit this model "
                                      f"(its variables differ); start afresh with `slukit train "
                                      f"RECIPE --force` (without --resume)")
                for f, v in zip(saved, targets):
                    v.assign(arrays[f])
        if monitor is not None and self.state.get("monitor"):
            saved = self.state["monitor"]
            monitor.best, monitor.best_epoch = saved["best"], saved["best_epoch"]
            monitor.best_metrics = saved["best_metrics"]
            best = self.folder / "best.npz"
            if best.is_file():
                with np.load(best) as weights:
                    monitor.best_weights = [weights[f"w{i}"] for i in range(len(weights.files))]

    def save(self, model, monitor, next_epoch, epochs_run, train_seconds):
        """Writes the state after an epoch (see the module doc), replacing older ones."""
        if not self.enabled:
            return
        self.path.mkdir(parents=True, exist_ok=True)
        name = f"epoch-{next_epoch:04d}"
        tmp = self.path / f".{name}.tmp-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        try:
            self._write(tmp, model, monitor, next_epoch, epochs_run, train_seconds)
        except BaseException:  # disk full, Ctrl-C: no partial checkpoint is left behind
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        target = self.path / name
        shutil.rmtree(target, ignore_errors=True)
        tmp.rename(target)
        for old in self.path.iterdir():
            if old != target:
                shutil.rmtree(old, ignore_errors=True) if old.is_dir() else old.unlink()

    def _write(self, tmp, model, monitor, next_epoch, epochs_run, train_seconds):
        optimizer = model.optimizer.variables if model.optimizer is not None else []
        np.savez(tmp / "variables.npz",
                 **{f"m{i}": keras.ops.convert_to_numpy(v) for i, v in enumerate(model.variables)},
                 **{f"o{i}": keras.ops.convert_to_numpy(v) for i, v in enumerate(optimizer)})
        monitor_state = None
        if monitor is not None:
            monitor_state = {"best": monitor.best, "best_epoch": monitor.best_epoch,
                             "best_metrics": monitor.best_metrics}
            if monitor.best_weights is not None:
                np.savez(tmp / "best.npz", **{f"w{i}": w for i, w in enumerate(monitor.best_weights)})
        state = {"next_epoch": next_epoch, "epochs_run": epochs_run,
                 "train_seconds": round(train_seconds, 2), "monitor": monitor_state,
                 "recipe": self.recipe,
                 "file_sha256": {p.name: _sha256(p) for p in sorted(tmp.iterdir())}}
        (tmp / STATE_FILE).write_text(json.dumps(state, indent=2) + "\n", encoding="utf-8")

    def remove(self):
        """Deletes the checkpoint (the model directory has been written)."""
        if self.enabled:
            shutil.rmtree(self.path, ignore_errors=True)

    def interrupted(self):
        """After Ctrl-C: the last complete epoch's checkpoint is kept for `--resume`
        (a fresh run's too, as a killed run's would be); without one, the empty
        folder is removed. Returns the line to tell the user."""
        if not self.enabled:
            return "stopped"
        latest = self.latest()
        if latest is None:
            shutil.rmtree(self.path, ignore_errors=True)
            return "stopped before the first epoch ended; nothing was written"
        for tmp in self.path.glob(".epoch-*"):
            shutil.rmtree(tmp, ignore_errors=True)
        done = int(latest.name.split("-")[1])
        return (f"progress kept: {done} epoch(s) done, in {self.path}; "
                "`slukit train RECIPE --resume` continues from there")

    def _looks_like_checkpoint(self):
        return self.path.is_dir() and all(p.name.startswith(("epoch-", ".epoch-"))
                                          for p in self.path.iterdir())


class CheckpointCallback(keras.callbacks.Callback):
    """Writes a checkpoint after every epoch. Runs after the validation monitor,
    so the checkpoint holds that epoch's early-stopping state.

    Args:
        checkpoint: a `Checkpoint`.
        monitor: the `ValidationMonitor`, or None.
        epochs_run: epochs the interrupted run had trained (a resumed run).
        seconds: its training seconds.
    """

    def __init__(self, checkpoint, monitor=None, epochs_run=0, seconds=0.0):
        super().__init__()
        self.checkpoint = checkpoint
        self.monitor = monitor
        self.epochs_run = epochs_run
        self.seconds = seconds
        self.phase_end = None  # the epoch the current model.fit stops at
        self.started = None

    def on_epoch_begin(self, epoch, logs=None):
        import time

        self.started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        import time

        self.epochs_run += 1
        self.seconds += time.perf_counter() - self.started
        # An early stop ends the phase: training goes on at the next phase's first epoch.
        next_epoch = self.phase_end if self.model.stop_training else epoch + 1
        self.checkpoint.save(self.model, self.monitor, next_epoch, self.epochs_run, self.seconds)
