"""`slukit tune`: a keras-tuner search over a recipe's `tune.space`, resumable.

The output folder (default `runs/<name>-tune`) holds:

- `recipe.yaml`: the resolved recipe that was searched. A rerun into the same
  folder must search the same recipe (only `tune.max_trials` may change).
- `search/`: keras-tuner's project (`oracle.json`, one `trial_*/trial.json`
  each). It is reloaded, never overwritten, so a search that was stopped
  continues where it stopped: finished trials are kept and an interrupted one
  runs again; a larger `tune.max_trials` adds trials to a finished search.
- `trials.csv`: every trial, its values, validation scores and status.
- `best_recipe.yaml`: the recipe with the best trial's values, without the
  `tune` section, ready for `slukit train`.

Distributed search uses keras-tuner's own environment variables: a process
with `KERASTUNER_TUNER_ID=chief` (and `KERASTUNER_ORACLE_IP`,
`KERASTUNER_ORACLE_PORT`) serves the trials and writes the results when they
are done; each worker (`KERASTUNER_TUNER_ID=tuner0`, `tuner1`, ...) runs trials.

Example:
    >>> from slukit.recipe import load_recipe
    >>> result = tune_recipe(load_recipe("recipes/atis/tune_broad.yaml"))   # doctest: +SKIP
    >>> result.best_recipe_path                                           # doctest: +SKIP
    PosixPath('runs/atis-tune-broad-tune/best_recipe.yaml')
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import io
import logging
import os
from pathlib import Path

from slukit.errors import RecipeError, SlukitError
from slukit.registry import METRICS
from slukit.tune.space import apply_values, decode, describe, format_value, short_names

PROJECT = "search"
#: Recipe keys that may differ when a search is resumed.
RESUMABLE_CHANGES = ("tune.max_trials", "output")
ENV = ("KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT")


@dataclasses.dataclass
class TuneResult:
    """What a finished search produced (None on a distributed worker)."""

    path: Path
    best_recipe_path: Path
    best_recipe: dict
    trials: list  # one dict per trial, as in trials.csv, in trial order


def distributed_role(environ=None) -> str | None:
    """`"chief"`, `"worker"` or None (no distributed search), from keras-tuner's variables.

    Example:
        >>> distributed_role({}) is None
        True
        >>> distributed_role({"KERASTUNER_TUNER_ID": "tuner1", "KERASTUNER_ORACLE_IP": "127.0.0.1",
        ...                   "KERASTUNER_ORACLE_PORT": "8000"})
        'worker'
    """
    environ = os.environ if environ is None else environ
    if "KERASTUNER_ORACLE_IP" not in environ:
        return None
    missing = [name for name in ENV if not environ.get(name)]
    if missing:
        raise SlukitError(f"distributed search: KERASTUNER_ORACLE_IP is set but {', '.join(missing)} "
                          "is not; set all three (see docs/tuning.md)")
    return "chief" if "chief" in environ["KERASTUNER_TUNER_ID"] else "worker"


def default_output(recipe) -> Path:
    return Path(f"runs/{recipe['name']}-tune")


def check_tunable(recipe) -> None:
    """A recipe can be searched: it has a `tune` section, is no transfer recipe, and its
    `train.distribute` is `default` or `mirrored` (each trial then trains on every local GPU)."""
    if not recipe.get("tune"):
        raise RecipeError(f"{recipe.get('name')}: the recipe has no `tune` section; add one with "
                          "a space, such as tune: {space: {model.units: {int: [64, 256], step: 32}}} "
                          "(see docs/tuning.md)")
    if recipe.get("source"):
        raise RecipeError("tune: a transfer recipe (one with a `source` section) cannot be searched; "
                          "search the target-only recipe, then add `source` to the best recipe")
    if recipe.get("distill"):
        raise RecipeError("tune: distill does not support slukit tune (a recipe with a `distill` "
                          "section); search the recipe without it, then distill the best recipe")
    if not recipe["data"].get("builtin") and not recipe["data"].get("valid"):
        raise RecipeError("data.valid: slukit tune ranks trials on validation data; the recipe has none")
    if recipe["train"].get("distribute") == "multi_worker":
        raise RecipeError("train.distribute: multi_worker spreads one training over several machines; "
                          "slukit tune spreads a search over machines with keras-tuner's distributed "
                          "mode instead (a chief and workers, see docs/tuning.md); here use "
                          "train.distribute: default, or mirrored for every GPU of each machine")
    vectors = [("model.word_vectors", recipe["model"].get("word_vectors"))]
    vectors += [("tune.space.model.word_vectors", path)
                for path in recipe["tune"]["space"].get("model.word_vectors", {}).get("choice", [])]
    for key, path in vectors:
        if path and not Path(path).is_file():
            raise RecipeError(f"{key}: file not found: {path}")


def check_resume(output: Path, recipe: dict, write: bool = True) -> bool:
    """Records the searched recipe in `output`, or checks that a rerun searches the same one.

    Args:
        write: record the recipe (the chief, or a search without workers); a
            worker only checks it against the chief's, when that is there.

    Returns True when `output` already holds this search (it resumes).

    Raises:
        SlukitError: when `output` holds a search of a different recipe, or
            other files.
    """
    from slukit.recipe.load import dump_recipe, load_recipe

    path = output / "recipe.yaml"
    resumed = path.exists()
    if resumed:
        try:
            before = load_recipe(path)
        except SlukitError:
            before = {}
        changed = [key for key in _differences(before, recipe) if key not in RESUMABLE_CHANGES]
        if changed:
            raise SlukitError(f"{output} holds a search of another recipe (changed: {', '.join(changed)}); "
                              "to continue it, rerun with the same recipe (only --max-trials, i.e. "
                              "tune.max_trials, may change); to start a new search, choose another --output or remove the folder")
    elif write and output.exists() and any(p.name != PROJECT for p in output.iterdir()):
        raise SlukitError(f"{output}: exists and holds no search (no recipe.yaml); choose another "
                          "--output or remove it")
    if write:
        from slukit.atomic import write_text_atomically

        output.mkdir(parents=True, exist_ok=True)
        write_text_atomically(path, dump_recipe(recipe))
    return resumed


def _differences(a, b, prefix="") -> list:
    """Dotted keys whose values differ between two nested dicts."""
    if not isinstance(a, dict) or not isinstance(b, dict):
        return [] if a == b else [prefix.rstrip(".") or "the recipe"]
    keys = list(a) + [k for k in b if k not in a]
    if prefix == "tune.space.":  # entries are whole specs
        return [prefix + k for k in keys if a.get(k) != b.get(k)]
    return [d for k in keys for d in _differences(a.get(k), b.get(k), f"{prefix}{k}.")]


def make_tuner(recipe, hypermodel, directory, reporter):
    """The keras-tuner tuner named by `tune.tuner`, reloading any search in `directory`."""
    import keras_tuner

    from slukit.tune.hypermodel import objective_name

    tune, train = recipe["tune"], recipe["train"]
    seed = tune["seed"] if tune["seed"] is not None else train["seed"]
    common = dict(
        objective=keras_tuner.Objective(objective_name(tune["objective"]), direction="max"),
        seed=seed + 1,  # keras-tuner takes seed 0 for "no seed"
        directory=str(directory), project_name=PROJECT, overwrite=False,
        executions_per_trial=tune["executions_per_trial"],
        max_consecutive_failed_trials=3,
    )
    if tune["tuner"] == "hyperband":
        base, specific = keras_tuner.Hyperband, dict(
            max_epochs=tune["max_epochs"] or train["epochs"], factor=tune["factor"])
    elif tune["tuner"] == "bayesian":
        try:
            import sklearn  # noqa: F401  (keras-tuner's Bayesian optimisation needs it)
        except ImportError:
            raise SlukitError("tune.tuner: bayesian needs scikit-learn: pip install scikit-learn "
                              "(or use tuner: random)") from None
        base, specific = keras_tuner.BayesianOptimization, dict(
            max_trials=tune["max_trials"], num_initial_points=tune["initial_trials"])
    else:
        base, specific = keras_tuner.RandomSearch, dict(max_trials=tune["max_trials"])
    hypermodel.keep_checkpoints = tune["tuner"] == "hyperband"
    with contextlib.redirect_stdout(io.StringIO()):  # keras-tuner's "Reloading Tuner from ..."
        tuner = _with_progress(base)(hypermodel=hypermodel, reporter=reporter, recipe=recipe,
                                     **common, **specific)
    if distributed_role() != "worker":
        tuner.oracle.max_trials = tune["max_trials"]  # hyperband: a cap on its brackets' trials
    return tuner


def _with_progress(base):
    """`base` (a keras-tuner tuner class) printing one line as each trial starts and ends."""

    class SLUTuner(base):
        def __init__(self, *args, reporter, recipe, **kwargs):
            self.reporter = reporter
            self.space = recipe["tune"]["space"]
            self.objective_key = recipe["tune"]["objective"]
            super().__init__(*args, **kwargs)

        def _configure_tensorboard_dir(self, callbacks, trial, execution=0):
            # keras-tuner imports tensorboard here on the TensorFlow backend even when no
            # TensorBoard callback is given (slukit gives none); TensorFlow no longer installs it.
            if any(type(c).__name__ == "TensorBoard" for c in callbacks):
                super()._configure_tensorboard_dir(callbacks, trial, execution)

        def on_trial_begin(self, trial):
            super().on_trial_begin(trial)
            self.hypermodel.execution = 0
            values = decode(self.space, trial.hyperparameters.values)
            epochs = trial.hyperparameters.values.get("tuner/epochs")
            more = f", epochs {trial.hyperparameters.values['tuner/initial_epoch'] + 1}-{epochs}" \
                if epochs else ""
            self.reporter.stage(f"trial {_number(trial)}{_of(self.oracle)}")
            self.reporter.info(describe(values) + more)

        def on_trial_end(self, trial):
            super().on_trial_end(trial)
            done = self.oracle.get_trial(trial.trial_id)
            if done.status != "COMPLETED":
                last = (done.message or "").strip().splitlines()[-1:] or ["no message"]
                self.reporter.warn(f"trial {_number(done)} failed: {last[0]}")
                return
            row = trial_row(done, self.space, self.objective_key)
            best = self.oracle.get_best_trials(1)
            best_text = (f"; best so far {100 * best[0].score:.2f} (trial {_number(best[0])})"
                         if best and best[0].score is not None else "")
            self.reporter.info(
                f"trial {_number(done)}: valid {self.objective_key} "
                f"{100 * row['valid_' + self.objective_key]:.2f} (intent "
                f"{100 * row['valid_intent_accuracy']:.2f}, slot F1 {100 * row['valid_slot_f1']:.2f}), "
                f"best epoch {row['best_epoch']}, {row['train_seconds']:.0f}s{best_text}")

    SLUTuner.__name__ = SLUTuner.__qualname__ = f"SLU{base.__name__}"
    return SLUTuner


def _number(trial) -> int:
    """A trial's number as users count, from 1 (keras-tuner's ids count from 0)."""
    try:
        return int(trial.trial_id) + 1
    except (TypeError, ValueError):
        return trial.trial_id


def _of(oracle) -> str:
    limit = getattr(oracle, "max_trials", None)
    return f" of {limit}" if limit else ""


def trial_row(trial, space, objective) -> dict:
    """One trial as a flat dict: number, status, validation scores, epochs, then its values."""
    values = decode(space, trial.hyperparameters.values)

    def metric(name):
        if trial.metrics.exists(name):
            value = trial.metrics.get_last_value(name)
            return None if value is None else float(value)
        return None

    row = {"trial": _number(trial), "status": trial.status}
    for name in dict.fromkeys([objective, *METRICS]):
        row[f"valid_{name}"] = metric(f"val_{name}")
    for name in ("best_epoch", "epochs_run", "train_seconds", "parameters"):
        value = metric(name)
        row[name] = None if value is None else (round(value, 1) if name == "train_seconds" else int(value))
    row.update({key: values.get(key) for key in space})
    return row


def write_trials_csv(rows, path) -> None:
    from slukit.atomic import atomic_open

    path = Path(path)
    with atomic_open(path, "w", newline="", encoding="utf-8") as f:  # whole or not at all
        if not rows:
            return
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        for row in rows:
            writer.writerow({k: format_value(v) if isinstance(v, (list, bool)) or v is None else v
                             for k, v in row.items()})


def best_recipe_of(recipe, best_row) -> dict:
    """The recipe with the best trial's values, without `tune`, named `<name>-best`."""
    values = {key: best_row[key] for key in recipe["tune"]["space"]}
    best = apply_values(recipe, values)
    best["tune"] = None
    best["name"] = f"{recipe['name']}-best"
    best["output"] = f"runs/{best['name']}"
    return best


def write_best_recipe(recipe, best_row, path, objective, trials_done, source=None) -> dict:
    """Writes `best_recipe.yaml` (with a comment saying where it comes from); returns it."""
    from slukit.recipe.load import dump_recipe, validate

    best = validate(best_recipe_of(recipe, best_row), source=str(path))
    header = [
        f"# The best of {trials_done} trials of `slukit tune{' ' + str(source) if source else ''}`: "
        f"trial {best_row['trial']}, valid {objective} {100 * best_row['valid_' + objective]:.2f} "
        f"(intent accuracy {100 * best_row['valid_intent_accuracy']:.2f}, "
        f"slot F1 {100 * best_row['valid_slot_f1']:.2f}).",
        "# Searched: " + ", ".join(f"{key}={format_value(best_row[key])}" for key in recipe["tune"]["space"]),
        f"# Train it: slukit train {path}",
    ]
    from slukit.atomic import write_text_atomically

    write_text_atomically(path, "\n".join(header) + "\n" + dump_recipe(best))
    return best


def print_best_table(reporter, rows, space, objective, count=5) -> None:
    """A rich table of the best `count` completed trials: their values and validation scores."""
    from rich import box
    from rich.table import Table

    done = [r for r in rows if r["status"] == "COMPLETED" and r[f"valid_{objective}"] is not None]
    best = sorted(done, key=lambda r: (-r[f"valid_{objective}"], r["trial"]))[:count]
    names = short_names(space)
    score_columns = list(dict.fromkeys([objective, *METRICS]))
    labels = {"joint": "joint", "intent_accuracy": "intent", "slot_f1": "slot F1",
              "sentence_accuracy": "sentence"}
    header = ["trial", *[names[key] for key in space], *[labels[name] for name in score_columns], "epochs"]
    cells = [[str(row["trial"]), *[format_value(row[key]) for key in space],
              *[f"{100 * row['valid_' + name]:.2f}" for name in score_columns],
              f"{row['best_epoch']}/{row['epochs_run']}"] for row in best]
    table = Table(title=f"best {len(best)} of {len(done)} trials, by valid {objective}",
                  box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    for i, name in enumerate(header):
        numeric = i == 0 or i > len(space)
        table.add_column(name, justify="right" if numeric else "left", no_wrap=True,
                         min_width=max((len(row[i]) for row in cells), default=1))
    for row in cells:
        table.add_row(*row)
    reporter.console.print(table)
    reporter.info("scores on the validation data, in %; epochs: best/run")


def tune_recipe(recipe, output=None, reporter=None, quiet=False, best=5, source=None):
    """Searches the recipe's `tune.space` and writes trials.csv and best_recipe.yaml.

    Args:
        recipe: a validated recipe with a `tune` section (`slukit.recipe.load_recipe`).
        output: the search folder; default `runs/<name>-tune`. A folder that
            holds this search already is resumed.
        reporter: a `Reporter` for progress; trial and epoch lines go through it.
        quiet: print only one line per trial, not every epoch.
        best: rows in the table of best trials.
        source: how to name the recipe in best_recipe.yaml's comment (its path).

    Returns:
        A `TuneResult`, or None on a distributed worker (the chief writes the results).
    """
    from slukit.train.progress import Reporter

    reporter = reporter or Reporter()
    check_tunable(recipe)
    role = distributed_role()
    output = Path(output or default_output(recipe))
    from slukit.train.lock import output_lock

    # One search process per folder; the workers of a distributed search share the chief's.
    with (output_lock(output, "search") if role != "worker" else contextlib.nullcontext()):
        return _search(recipe, output, reporter, quiet, best, source, role)


def _search(recipe, output, reporter, quiet, best, source, role):
    from slukit.train.progress import Reporter

    resumed = check_resume(output, recipe, write=role != "worker")
    output.mkdir(parents=True, exist_ok=True)
    try:
        import keras_tuner  # noqa: F401
    except ImportError:
        raise SlukitError("slukit tune needs keras-tuner: pip install keras-tuner") from None
    from slukit.workflows.steps import load_data
    from slukit.tune.hypermodel import SLUHyperModel

    logging.getLogger("tensorflow").setLevel(logging.ERROR)  # retracing notes: each trial is a new model

    splits = load_data(recipe, reporter)
    if not splits["valid"]:
        raise RecipeError("data.valid: slukit tune ranks trials on validation data; the recipe has none")
    hypermodel = SLUHyperModel(recipe, splits, reporter=Reporter(reporter.console, quiet=quiet or reporter.quiet))
    tuner = make_tuner(recipe, hypermodel, output, reporter)
    tune = recipe["tune"]
    if role != "worker":
        finished = [t for t in tuner.oracle.trials.values() if t.status in ("COMPLETED", "FAILED")]
        if resumed and finished:
            reporter.info(f"resuming the search in {output}: {len(finished)} of {tune['max_trials']} "
                          "trials done")
    if role == "chief":
        reporter.info(f"chief: serving trials on {os.environ['KERASTUNER_ORACLE_IP']}:"
                      f"{os.environ['KERASTUNER_ORACLE_PORT']}; start the workers now")
    elif role == "worker":
        reporter.info(f"worker {os.environ['KERASTUNER_TUNER_ID']}: asking "
                      f"{os.environ['KERASTUNER_ORACLE_IP']}:{os.environ['KERASTUNER_ORACLE_PORT']} for trials")
    try:
        tuner.search(verbose=1 if role == "chief" else 0)
    except RuntimeError as err:
        if "consecutive failures" not in str(err):
            raise
        raise SlukitError(f"the search stopped: 3 trials in a row failed; the last one said:\n{err}") from None
    if role == "worker":
        reporter.info("worker done: the chief writes the results")
        return None

    oracle = tuner.oracle
    rows = [trial_row(t, tune["space"], tune["objective"])
            for t in sorted(oracle.trials.values(), key=_number)]
    write_trials_csv(rows, output / "trials.csv")
    done = [r for r in rows if r["status"] == "COMPLETED" and r[f"valid_{tune['objective']}"] is not None]
    if not done:
        raise SlukitError(f"no trial finished; see the messages in {output / PROJECT}/trial_*/trial.json")
    best_row = max(done, key=lambda r: (r[f"valid_{tune['objective']}"], -r["trial"]))
    path = output / "best_recipe.yaml"
    best_recipe = write_best_recipe(recipe, best_row, path, tune["objective"], len(done), source)
    print_best_table(reporter, rows, tune["space"], tune["objective"], best)
    reporter.info(f"trials: {output / 'trials.csv'}")
    return TuneResult(path=output, best_recipe_path=path, best_recipe=best_recipe, trials=rows)
