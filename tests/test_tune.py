"""`slukit tune`: the `tune` section's checks, the search space, a real search on tiny data,
resuming it, the best recipe, and keras-tuner's distributed mode (chief + worker)."""

import csv
import os
import socket
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from conftest import write_recipe
from slukit.cli import main
from slukit.errors import RecipeError, SlukitError
from slukit.recipe import dump_recipe, load_recipe, validate
from slukit.tune.space import apply_values, choice_labels, decode, describe

ROOT = Path(__file__).resolve().parents[1]

# A search that trains in about a second a trial: word embeddings only, 4 units, 1 epoch.
TINY_TUNE = """\
tune:
  max_trials: 2
  max_epochs: 1
  seed: 1
  space:
    model.encoder: {choice: [gru, bilstm]}
    model.units: {int: [4, 8], step: 4}
    train.learning_rate: {float: [0.005, 0.05], log: true}
"""


def tiny_tune_recipe(tmp_path, data, tune=TINY_TUNE, overrides=()):
    path = write_recipe(tmp_path / "tune.yaml", data, tune)
    text = path.read_text().replace("  word_dim: 8\n", "  word_dim: 8\n  embeddings: [word]\n")
    path.write_text(text)
    return path, load_recipe(path, list(overrides))


def problems(path, overrides=()):
    with pytest.raises(RecipeError) as info:
        load_recipe(path, overrides)
    return info.value.problems


def write(tmp_path, tune=""):
    """A recipe on the demo data with `tune` (dedented) after it; BASE's lines are 1-3."""
    path = tmp_path / "recipe.yaml"
    path.write_text(BASE + textwrap.dedent(tune), encoding="utf-8")
    return path


BASE = """\
name: t
data:
  builtin: demo-en
"""


# ---------------------------------------------------------------- the tune section


def test_tune_is_a_nullable_section_that_train_ignores(tmp_path):
    recipe = load_recipe(write(tmp_path))
    assert recipe["tune"] is None
    recipe = load_recipe(write(tmp_path, "tune:\n  space:\n    model.units: {int: [8, 64], step: 8}\n"))
    assert recipe["tune"] == {"tuner": "random", "objective": "joint", "max_trials": 20, "max_epochs": None,
                              "factor": 3, "initial_trials": None, "executions_per_trial": 1, "seed": None,
                              "space": {"model.units": {"int": [8, 64], "step": 8}}}


def test_every_bad_space_entry_names_its_line_and_key(tmp_path):
    path = write(tmp_path, """\
        tune:
          tuner: grid
          space:
            model.encoder: {choice: [gru, lstm]}
            model.units:
              int: [8, 64]
              stepp: 8
            model.dropout: {int: [0, 1]}
            train.learning_rate: {float: [0, 1e-2], log: true}
            train.batch_size: [32, 64]
            model.unitz: {int: [1, 2]}
            train.epochs: {int: [5, 10]}
            data.train_fraction: {float: [0.1, 0.5]}
            model.embeddings: {choice: [[word], [word, chr]]}
            model.layers: {int: [3, 1]}
            model.dropout_rate: 0.1
        """)
    found = problems(path)
    expected = [
        (":5:", "tune.tuner: 'grid' is not one of random, bayesian, hyperband"),
        (":7:", "tune.space.model.encoder: choice: 'lstm' is not one of bilstm, gru"),
        (":10:", "tune.space.model.units: unknown part 'stepp' (did you mean 'step'?)"),
        (":11:", "tune.space.model.dropout: int: this key takes a number; write {float: [lo, hi]}"),
        (":12:", "tune.space.train.learning_rate: float: must be greater than 0, got 0.0"),
        (":13:", "tune.space.train.batch_size: expected a search spec, got a list; to try these values "
                 "write {choice: [...]}"),
        (":14:", "tune.space.model.unitz: unknown key (did you mean 'model.units'?)"),
        (":15:", "tune.space.train.epochs: the epochs of a trial are set by tune.max_epochs"),
        (":16:", "tune.space.data.train_fraction: only model. and train. keys can be searched"),
        (":17:", "tune.space.model.embeddings: choice: 'chr' is not one of word, char (did you mean 'char'?)"),
        (":18:", "tune.space.model.layers: int: the lower bound must be below the upper one, got [3, 1]"),
        (":19:", "tune.space.model.dropout_rate: unknown key (did you mean 'model.dropout'?)"),
    ]
    assert len(found) == len(expected), found
    for (line, text), problem in zip(expected, found):
        assert problem.startswith(f"{path}{line} {text}"), (line, text, problem)


def test_a_missing_space_and_log_range_rules(tmp_path):
    assert problems(write(tmp_path, "tune:\n  max_trials: 3\n")) == [
        f"{tmp_path / 'recipe.yaml'}:4: tune.space: required key is missing"]
    path = write(tmp_path, "tune:\n  space:\n    model.dropout: {float: [0.1, 0.5], log: true, step: 0.1}\n")
    assert problems(path) == [f"{path}:6: tune.space.model.dropout: step: a log-scale range has no step; "
                              "drop step or log"]


def test_attention_encoders_need_units_that_heads_divide(tmp_path):
    path = write(tmp_path, """\
        tune:
          space:
            model.encoder: {choice: [gru, mha]}
            model.units: {int: [64, 256]}
        """)
    (problem,) = problems(path)
    assert problem.startswith(f"{path}:7: tune.space.model.units: mha needs model.units divisible by "
                              "model.heads, but the space allows units 65 with heads 4")
    assert "step: 4" in problem
    fixed = load_recipe(path, ["tune.space.model.units={int: [64, 256], step: 32}"])
    assert fixed["tune"]["space"]["model.units"] == {"int": [64, 256], "step": 32}


def test_the_heads_check_knows_the_encoders_that_take_heads():
    import inspect

    from slukit.registry import ENCODERS, headed_encoders

    # what the check reads (the registry) against what the encoder layers take
    assert set(headed_encoders()) == {name for name, e in ENCODERS.items()
                                      if "heads" in inspect.signature(e.resolve()).parameters}


def test_set_reaches_into_the_space_and_null_drops_an_entry(tmp_path):
    path = write(tmp_path, "tune:\n  space:\n    model.units: {int: [8, 64], step: 8}\n")
    recipe = load_recipe(path, ["tune.space.train.learning_rate={float: [1e-4, 1e-2], log: true}",
                                "tune.space.model.units=null", "tune.max_trials=3"])
    assert recipe["tune"]["space"] == {"train.learning_rate": {"float": [0.0001, 0.01], "log": True}}
    assert recipe["tune"]["max_trials"] == 3
    bad = problems(path, ["tune.space.model.layers={int: [1, x]}"])
    assert bad == ["--set tune.space.model.layers={int: [1, x]}: tune.space.model.layers: int: "
                   "expected an integer, got 'x'"]


def test_the_shipped_tune_recipe_validates_and_round_trips(tmp_path):
    recipe = load_recipe(ROOT / "recipes" / "atis" / "tune_broad.yaml")
    space = recipe["tune"]["space"]
    assert set(space) == {"model.encoder", "model.embeddings", "model.layers", "model.units",
                          "model.dropout", "train.learning_rate", "train.batch_size"}
    assert space["train.learning_rate"] == {"float": [0.0003, 0.003], "log": True}
    assert recipe["tune"]["max_trials"] == 20
    dumped = tmp_path / "dumped.yaml"
    dumped.write_text(dump_recipe(recipe))
    assert load_recipe(dumped) == recipe == validate(recipe)
    hand_written = load_recipe(ROOT / "recipes" / "atis" / "hlstm_wordchar.yaml")
    for section in ("data", "model", "train"):
        assert recipe[section] == hand_written[section]


def test_import_slukit_tune_stays_light():
    code = ("import sys, slukit.tune, slukit.tune.search, slukit.tune.space\n"
            "heavy = [m for m in ('tensorflow', 'keras', 'keras_tuner', 'numpy') if m in sys.modules]\n"
            "assert not heavy, heavy\n")
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, cwd=ROOT)


# ---------------------------------------------------------------- the space in keras-tuner


def test_declare_turns_each_spec_into_one_hyperparameter():
    import keras_tuner

    from slukit.tune.space import declare

    space = {"model.encoder": {"choice": ["gru", "mha"]},
             "model.embeddings": {"choice": [["word", "char"], ["word"]]},
             "model.layers": {"int": [1, 3]},
             "model.units": {"int": [64, 256], "step": 32},
             "train.learning_rate": {"float": [3e-4, 3e-3], "log": True},
             "model.word_vectors": {"choice": [None, "v.vec"]}}
    hp = keras_tuner.HyperParameters()
    values = declare(hp, space)
    kinds = {p.name: type(p).__name__ for p in hp.space}
    assert kinds == {"model.encoder": "Choice", "model.embeddings": "Choice", "model.layers": "Int",
                     "model.units": "Int", "train.learning_rate": "Float", "model.word_vectors": "Choice"}
    assert hp.space[1].values == ["word+char", "word"] and hp.space[5].values == ["null", "v.vec"]
    assert hp.space[3].step == 32 and hp.space[4].sampling == "log"
    assert values["model.embeddings"] == ["word", "char"] and values["model.word_vectors"] is None
    hp.values.update({"model.embeddings": "word", "model.word_vectors": "v.vec", "model.units": 96})
    values = declare(hp, space)
    assert values["model.embeddings"] == ["word"] and values["model.word_vectors"] == "v.vec"
    recipe = apply_values({"model": {"units": 128}, "train": {"learning_rate": 0.1}}, values)
    assert recipe["model"]["units"] == 96 and recipe["train"]["learning_rate"] == 3e-4
    assert describe({"model.units": 96, "train.learning_rate": 0.00123}) == "units=96 learning_rate=0.00123"
    assert choice_labels([True, False]) == {True: True, False: False}
    assert decode(space, {"model.embeddings": "word", "tuner/epochs": 3}) == {"model.embeddings": ["word"]}


# ---------------------------------------------------------------- the command's errors


def test_cli_refuses_a_recipe_without_tune_or_with_a_bad_space(tmp_path, capsys):
    path = write(tmp_path)
    assert main(["tune", str(path)]) == 2
    err = capsys.readouterr().err
    assert "has no `tune` section" in err and "Traceback" not in err
    path = write(tmp_path, "tune:\n  space:\n    model.encoder: {choice: [gru, lstm]}\n")
    assert main(["tune", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{path}:6: tune.space.model.encoder: choice: 'lstm'" in err and "Traceback" not in err
    assert main(["tune", str(path), "--set", "tune.space.model.encoder={choice: [gru]}",
                 "--best", "0"]) == 2
    assert "--best: expected at least 1" in capsys.readouterr().err
    no_valid = tmp_path / "no_valid.yaml"
    no_valid.write_text("name: x\ndata: {train: t.jsonl}\ntune: {space: {model.layers: {int: [1, 2]}}}\n")
    assert main(["tune", str(no_valid)]) == 2
    assert "data.valid: slukit tune ranks trials on validation data" in capsys.readouterr().err
    path = write(tmp_path, "tune:\n  space:\n    model.layers: {int: [1, 2]}\n")
    assert main(["tune", str(path), "--set", "train.distribute=multi_worker"]) == 2
    assert "train.distribute: multi_worker spreads one training" in capsys.readouterr().err
    path = write(tmp_path, "tune:\n  space:\n    train.distribute: {choice: [default, mirrored]}\n")
    assert problems(path)[0].startswith(
        f"{path}:6: tune.space.train.distribute: where training runs is not a hyper-parameter")


# ---------------------------------------------------------------- a real search


def read_trials(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_search_resumes_after_a_kill_extends_and_writes_a_trainable_best_recipe(tmp_path, tiny_data, monkeypatch):
    from slukit.train.progress import Reporter
    from slukit.workflows.train import train_recipe
    from slukit.tune.hypermodel import SLUHyperModel
    from slukit.tune.search import tune_recipe

    _, recipe = tiny_tune_recipe(tmp_path, tiny_data)
    output = tmp_path / "search"
    fits = []
    real_fit = SLUHyperModel.fit

    def interrupted_fit(self, hp, model, *args, **kwargs):
        fits.append(dict(hp.values))
        if len(fits) == 2:
            raise KeyboardInterrupt  # Ctrl-C in the middle of the second trial
        return real_fit(self, hp, model, *args, **kwargs)

    monkeypatch.setattr(SLUHyperModel, "fit", interrupted_fit)
    with pytest.raises(KeyboardInterrupt):
        tune_recipe(recipe, output=output, reporter=Reporter(quiet=True))
    assert (output / "recipe.yaml").exists() and not (output / "best_recipe.yaml").exists()

    # Rerun with one trial more: the interrupted trial runs again, then one new one.
    fits.clear()
    monkeypatch.setattr(SLUHyperModel, "fit", lambda self, *a, **k: fits.append(1) or real_fit(self, *a, **k))
    _, recipe3 = tiny_tune_recipe(tmp_path, tiny_data, overrides=["tune.max_trials=3"])
    result = tune_recipe(recipe3, output=output, reporter=Reporter(quiet=True))
    assert len(fits) == 2, "trial 1 is not trained again"
    rows = read_trials(output / "trials.csv")
    assert [r["trial"] for r in rows] == ["1", "2", "3"]
    assert all(r["status"] == "COMPLETED" for r in rows)
    assert {r["model.encoder"] for r in rows} <= {"gru", "bilstm"}
    assert all(r["model.units"] in ("4", "8") for r in rows)
    assert all(0.005 <= float(r["train.learning_rate"]) <= 0.05 for r in rows)
    for r in rows:
        joint = (float(r["valid_intent_accuracy"]) + float(r["valid_slot_f1"])) / 2
        assert float(r["valid_joint"]) == pytest.approx(joint)
        assert r["epochs_run"] == "1" and int(r["parameters"]) > 0

    # The best recipe: the best trial's values, no tune section, and it trains.
    best_row = max(rows, key=lambda r: (float(r["valid_joint"]), -int(r["trial"])))
    best = load_recipe(result.best_recipe_path)
    assert best == result.best_recipe
    assert best["tune"] is None and best["name"] == "tiny-best" and best["output"] == "runs/tiny-best"
    assert best["model"]["encoder"] == best_row["model.encoder"]
    assert best["model"]["units"] == int(best_row["model.units"])
    assert best["train"]["learning_rate"] == pytest.approx(float(best_row["train.learning_rate"]))
    assert best["model"]["layers"] == recipe["model"]["layers"]  # not searched: as in the recipe
    assert result.best_recipe_path.read_text().startswith("# The best of 3 trials")
    trained = train_recipe(load_recipe(result.best_recipe_path, ["train.epochs=1"]),
                           output=tmp_path / "best-model", reporter=Reporter(quiet=True))
    assert (trained.path / "model.keras").exists() and "valid" in trained.metrics

    # A finished search reruns without training; a different recipe is refused.
    fits.clear()
    tune_recipe(recipe3, output=output, reporter=Reporter(quiet=True))
    assert fits == []
    changed = load_recipe(tmp_path / "tune.yaml", ["tune.max_trials=3", "model.layers=2"])
    with pytest.raises(SlukitError, match=r"holds a search of another recipe \(changed: model.layers\)"):
        tune_recipe(changed, output=output, reporter=Reporter(quiet=True))


def test_every_tuner_is_built_from_the_recipe(tmp_path, tiny_data):
    import keras_tuner

    from slukit.data.load import load_splits
    from slukit.train.progress import Reporter
    from slukit.tune.hypermodel import SLUHyperModel
    from slukit.tune.search import make_tuner

    _, recipe = tiny_tune_recipe(tmp_path, tiny_data)
    splits = load_splits(recipe)
    expected = {"random": keras_tuner.RandomSearch, "bayesian": keras_tuner.BayesianOptimization,
                "hyperband": keras_tuner.Hyperband}
    for name, base in expected.items():
        recipe["tune"].update(tuner=name, max_epochs=4, factor=2, initial_trials=2)
        tuner = make_tuner(recipe, SLUHyperModel(recipe, splits), tmp_path / name, Reporter(quiet=True))
        assert isinstance(tuner, base)
        assert tuner.oracle.max_trials == 2
        assert tuner.oracle.objective.name == "val_joint" and tuner.oracle.objective.direction == "max"
        assert sorted(p.name for p in tuner.oracle.get_space().space) == [
            "model.encoder", "model.units", "train.learning_rate"]
        if name == "hyperband":
            assert tuner.oracle.max_epochs == 4 and tuner.oracle.factor == 2
        if name == "bayesian":
            assert tuner.oracle.num_initial_points == 2


def test_a_mirrored_search_builds_and_trains_every_trial_in_the_strategy(tmp_path, tiny_data, monkeypatch):
    import tensorflow as tf

    from slukit.train.progress import Reporter
    from slukit.tune import hypermodel
    from slukit.tune.search import tune_recipe

    _, recipe = tiny_tune_recipe(tmp_path, tiny_data, overrides=[
        "tune.max_trials=1", "train.distribute=mirrored"])
    strategies, distributions = [], []
    real_build, real_fit = hypermodel.build_model, hypermodel.fit
    monkeypatch.setattr(hypermodel, "build_model", lambda *a, **k: (
        strategies.append(type(tf.distribute.get_strategy()).__name__), real_build(*a, **k))[1])
    monkeypatch.setattr(hypermodel, "fit", lambda *a, **k: (
        distributions.append(k["distribution"].kind), real_fit(*a, **k))[1])
    result = tune_recipe(recipe, output=tmp_path / "search", reporter=Reporter(quiet=True))
    assert set(strategies) == {"MirroredStrategy"} and distributions == ["mirrored"]
    assert result.trials[0]["status"] == "COMPLETED"
    assert result.best_recipe["train"]["distribute"] == "mirrored"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_distributed_chief_and_worker_share_one_search(tmp_path, tiny_data, monkeypatch):
    """A chief (here, in a thread of this process) serves 2 trials to a worker process."""
    from slukit.train.progress import Reporter
    from slukit.tune.search import tune_recipe

    path, recipe = tiny_tune_recipe(tmp_path, tiny_data)
    output = tmp_path / "search"
    port = str(free_port())
    env = {**os.environ, "KERASTUNER_TUNER_ID": "tuner0", "KERASTUNER_ORACLE_IP": "127.0.0.1",
           "KERASTUNER_ORACLE_PORT": port, "TF_CPP_MIN_LOG_LEVEL": "3"}
    worker = subprocess.Popen([sys.executable, "-m", "slukit", "tune", str(path), "--output", str(output),
                               "--quiet"], env=env, cwd=tmp_path, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    for name, value in env.items():
        if name.startswith("KERASTUNER_"):
            monkeypatch.setenv(name, "chief" if name == "KERASTUNER_TUNER_ID" else value)
    outcome = {}

    def chief():
        try:
            outcome["result"] = tune_recipe(recipe, output=output, reporter=Reporter(quiet=True))
        except BaseException as err:  # noqa: BLE001 (reported below)
            outcome["error"] = err

    thread = threading.Thread(target=chief, daemon=True)
    thread.start()
    try:
        log, _ = worker.communicate(timeout=120)
    finally:
        worker.kill()
    thread.join(timeout=60)
    assert worker.returncode == 0, log
    assert "worker done: the chief writes the results" in log
    assert "trial 1 of 2" in log and "trial 2 of 2" in log
    assert not thread.is_alive() and "error" not in outcome, outcome
    rows = read_trials(output / "trials.csv")
    assert [(r["trial"], r["status"]) for r in rows] == [("1", "COMPLETED"), ("2", "COMPLETED")]
    assert load_recipe(outcome["result"].best_recipe_path)["tune"] is None


def test_a_search_of_another_recipe_names_the_cli_flag(tmp_path, tiny_data):
    """The hint once said `--set tune.max_trials`, for the flag `--max-trials`."""
    from slukit.tune.search import check_resume

    _, recipe = tiny_tune_recipe(tmp_path, tiny_data)
    output = tmp_path / "search"
    assert check_resume(output, recipe) is False
    assert check_resume(output, {**recipe, "tune": {**recipe["tune"], "max_trials": 9}}) is True
    changed = load_recipe(tmp_path / "tune.yaml", ["model.layers=2"])
    with pytest.raises(SlukitError, match=r"changed: model.layers.*only --max-trials"):
        check_resume(output, changed)


def test_a_missing_data_file_is_reported_before_tensorflow_loads(tmp_path, tiny_data):
    path, _ = tiny_tune_recipe(tmp_path, tiny_data)
    (tiny_data / "valid.jsonl").unlink()
    code = ("import sys; from slukit.cli import main; rc = main(sys.argv[1:]); "
            "print(rc, 'tensorflow' in sys.modules)")
    run = subprocess.run([sys.executable, "-c", code, "tune", str(path), "--output",
                          str(tmp_path / "search")], capture_output=True, text=True, timeout=60)
    assert run.stdout.split() == ["2", "False"], run.stderr
    assert "data.valid: no such file or folder" in run.stderr
