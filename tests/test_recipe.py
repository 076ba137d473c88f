"""Tests for slukit.recipe: the schema, loading, overrides, validation, data paths."""

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from slukit.errors import RecipeError
from slukit.recipe import (
    SCHEMA,
    Field,
    apply_override,
    defaults,
    dump_recipe,
    get_field,
    iter_fields,
    load_recipe,
    resolve_data_paths,
    validate,
)
from slukit.recipe import load as load_module
from slukit.recipe import schema as schema_module

MINIMAL = """\
name: demo
data:
  train: atis/train.jsonl
"""


def write(tmp_path, text, name="recipe.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def problems_of(path, overrides=()):
    """Load a recipe that must fail; returns the RecipeError."""
    with pytest.raises(RecipeError) as info:
        load_recipe(path, overrides)
    return info.value


def only_problem(path, overrides=()):
    err = problems_of(path, overrides)
    assert len(err.problems) == 1, err.problems
    return err.problems[0]


# ---------------------------------------------------------------- schema


def test_schema_helpers_cover_every_key():
    keys = dict(iter_fields())
    assert list(keys)[:3] == ["name", "data", "data.builtin"]
    assert keys["train.early_stopping"].type == "section"
    assert keys["train.early_stopping.monitor"].default == "joint"
    assert all(field.doc for field in keys.values()), "every field is documented"
    assert get_field("model.units") is keys["model.units"]
    assert get_field("model.nope") is None and get_field("name.x") is None


def test_defaults_are_fresh_plain_values():
    first, second = defaults(), defaults()
    assert "name" not in first  # required keys have no default
    assert first["model"]["embeddings"] == ["word", "char"]
    first["model"]["embeddings"].append("x")
    assert second["model"]["embeddings"] == ["word", "char"]
    assert defaults()["model"]["embeddings"] == ["word", "char"]


def test_field_rejects_unknown_types():
    with pytest.raises(ValueError):
        Field("integer")
    assert Field("int", default=1).required is False


def test_encoder_choices_follow_the_registry(tmp_path, monkeypatch):
    monkeypatch.setattr(schema_module, "ENCODERS", schema_module.ENCODERS)
    path = write(tmp_path, MINIMAL + "model:\n  encoder: transformer\n")
    assert "model.encoder" in only_problem(path)
    schema_module.register_encoder("transformer")
    assert SCHEMA["model"].fields["encoder"].allowed()[-1] == "transformer"
    assert load_recipe(path)["model"]["encoder"] == "transformer"


# ---------------------------------------------------------------- loading and defaults


def test_minimal_recipe_gets_every_default(tmp_path):
    recipe = load_recipe(write(tmp_path, MINIMAL))
    expected = defaults()
    expected["name"] = "demo"
    expected["data"]["train"] = "atis/train.jsonl"
    expected["output"] = "runs/demo"
    assert recipe == expected
    assert list(recipe) == list(SCHEMA)
    assert recipe["train"]["early_stopping"] == {"patience": 5, "monitor": "joint"}


def test_values_are_converted(tmp_path):
    path = write(tmp_path, MINIMAL + textwrap.dedent("""\
        model:
          units: 64.0
        train:
          learning_rate: 1e-3
          intent_loss_weight: 2
          early_stopping:
          jit_compile: false
        output: out/here
        """))
    recipe = load_recipe(path)
    assert recipe["model"]["units"] == 64 and isinstance(recipe["model"]["units"], int)
    assert recipe["train"]["learning_rate"] == 0.001
    assert isinstance(recipe["train"]["intent_loss_weight"], float)
    assert recipe["train"]["early_stopping"]["patience"] == 5  # an empty section means defaults
    assert recipe["train"]["jit_compile"] is False
    assert recipe["output"] == "out/here"


def test_validate_works_on_a_dict_and_accepts_float_strings():
    recipe = validate({"name": "x", "data": {"train": "t"}, "train": {"learning_rate": "1e-3"}})
    assert recipe["train"]["learning_rate"] == 0.001


def test_validate_names_source_and_lines():
    with pytest.raises(RecipeError) as info:
        validate({"name": "x", "data": {"train": "t"}, "model": {"units": 0}},
                 source="r.yaml", lines={"model": 5, "model.units": 6})
    assert info.value.header == "r.yaml: the recipe has 1 problem:"
    assert info.value.problems == ["r.yaml:6: model.units: must be at least 1, got 0"]


# ---------------------------------------------------------------- error kinds


def test_unknown_key_names_line_and_suggests(tmp_path):
    path = write(tmp_path, """\
        name: demo
        data:
          trian: atis/train.jsonl
        """)
    problems = problems_of(path).problems
    assert "recipe.yaml:3: data.trian: unknown key (did you mean 'data.train'?)" in [
        p.replace(str(path), "recipe.yaml") for p in problems
    ]


def test_unknown_key_in_the_wrong_section_suggests_the_right_one(tmp_path):
    problem = only_problem(write(tmp_path, MINIMAL + "  epochs: 3\n"))
    assert ":4: data.epochs: unknown key (did you mean 'train.epochs'?)" in problem


def test_unknown_key_that_abbreviates_a_key_is_completed(tmp_path):
    problem = only_problem(write(tmp_path, MINIMAL + "model:\n  emb: [word]\n"))
    assert ":5: model.emb: unknown key (did you mean 'model.embeddings'?)" in problem


def test_unknown_key_without_a_close_match_lists_the_keys(tmp_path):
    problem = only_problem(write(tmp_path, MINIMAL + "colour: blue\n"))
    assert problem.endswith(":4: colour: unknown key; a recipe has the keys name, data, model, train, source, transfer, tune, predict, distill, output")


def test_dotted_key_in_a_file_is_explained(tmp_path):
    problem = only_problem(write(tmp_path, MINIMAL + "train.epochs: 3\n"))
    assert ":4: train.epochs: unknown key" in problem and "--set" in problem


def test_bad_choice_names_line_and_suggests(tmp_path):
    path = write(tmp_path, MINIMAL + "model:\n  word_dim: 10\n  encoder: lstm\n")
    assert only_problem(path) == (
        f"{path}:6: model.encoder: 'lstm' is not one of bilstm, gru, highway_lstm, mha, "
        "biattention (did you mean 'bilstm'?)"
    )


@pytest.mark.parametrize(
    "section, line, message",
    [
        ("train", "epochs: abc", "train.epochs: expected an integer, got 'abc'"),
        ("train", "epochs: 2.5", "train.epochs: expected an integer, got 2.5 (it has a fraction)"),
        ("train", "epochs: true", "train.epochs: expected an integer, got true"),
        ("train", "epochs: '3'", "train.epochs: expected an integer, got '3' (a quoted string"),
        ("train", "epochs: 0", "train.epochs: must be at least 1, got 0"),
        ("train", "learning_rate: 0", "train.learning_rate: must be greater than 0, got 0.0"),
        ("train", "learning_rate: fast", "train.learning_rate: expected a number, got 'fast'"),
        ("train", "learning_rate: .inf", "train.learning_rate: expected a finite number"),
        ("train", "jit_compile: yes", "train.jit_compile: expected true or false, got 'yes'"),
        ("train", "jit_compile: 1", "train.jit_compile: expected true or false, got 1"),
        ("train", "early_stopping: 3", "train.early_stopping: expected a section"),
        ("train", "optimizer: Adma", "train.optimizer: 'Adma' is not one of adam, adamw, rmsprop, sgd "
                                     "(did you mean 'adam'?)"),
        ("model", "dropout: 1.0", "model.dropout: must be at least 0 and less than 1, got 1.0"),
        ("model", "embeddings: []", "model.embeddings: expected at least one of word, char"),
        ("model", "embeddings: word", "model.embeddings: expected a list such as [word, char], got 'word'"),
        ("model", "embeddings: [word, wrod, word]",
         "model.embeddings: 'wrod' is not one of word, char (did you mean 'word'?); 'word' is listed twice"),
        ("data", "train_fraction: 0", "data.train_fraction: must be greater than 0 and at most 1, got 0.0"),
        ("data", "format: json", "data.format: 'json' is not one of seqin, tsv, jsonl, massive (did you mean 'jsonl'?)"),
        ("data", "valid: 3", "data.valid: expected a path, got 3; quote it"),
    ],
)
def test_wrong_values_name_key_line_and_expectation(tmp_path, section, line, message):
    if section == "data":
        text = MINIMAL + f"  {line}\n"
        line_no = 4
    else:
        text = MINIMAL + f"{section}:\n  {line}\n"
        line_no = 5
    path = write(tmp_path, text)
    problem = only_problem(path)
    assert problem.startswith(f"{path}:{line_no}: {message}"), problem


def test_name_must_be_a_string(tmp_path):
    problem = only_problem(write(tmp_path, "name: 2024\ndata:\n  train: t\n"))
    assert ":1: name: expected a string, got 2024; quote it" in problem


def test_missing_required_keys(tmp_path):
    problems = problems_of(write(tmp_path, "data:\n  valid: v\n")).problems
    assert any(p.endswith("recipe.yaml: name: required key is missing") for p in problems)
    assert any(":1: data.train: missing (it is required unless data.builtin is set)" in p for p in problems)


def test_empty_file(tmp_path):
    err = problems_of(write(tmp_path, "# nothing yet\n"))
    assert err.problems == [f"{tmp_path / 'recipe.yaml'}: the recipe is empty; "
                            "it needs at least name, and data.train or data.builtin"]


def test_yaml_syntax_error_gives_line_column_and_problem(tmp_path):
    path = write(tmp_path, "name: demo\ndata:\n  train: [a, b\nmodel: {}\n")
    problem = only_problem(path)
    assert problem.startswith(f"{path}:4:")
    assert "invalid YAML: expected ',' or ']'" in problem
    assert "Traceback" not in str(problems_of(path))


def test_tabs_are_explained(tmp_path):
    problem = only_problem(write(tmp_path, "name: demo\ndata:\n\ttrain: a\n"))
    assert ":3:1: invalid YAML:" in problem and "indent with spaces" in problem


def test_top_level_must_be_a_mapping(tmp_path):
    problem = only_problem(write(tmp_path, "- name: demo\n"))
    assert problem.endswith(":1: the recipe must be a mapping of keys (name, data, model, train, source, transfer, tune, predict, distill, output), got a list")


def test_missing_recipe_file(tmp_path):
    err = problems_of(tmp_path / "nope.yaml")
    assert err.problems == [f"{tmp_path / 'nope.yaml'}: no such recipe file"]


def test_duplicate_keys_are_reported(tmp_path):
    problem = only_problem(write(tmp_path, MINIMAL + "name: again\n"))
    assert ":4: name: duplicate key (first given at line 1)" in problem


def test_all_problems_are_reported_together_in_line_order(tmp_path):
    path = write(tmp_path, """\
        name: demo
        data:
          trian: atis/train.jsonl
        model:
          encoder: lstm
          units: -1
        train:
          lowercase: true
        """)
    err = problems_of(path, ["train.epochs=zero"])
    assert err.header == f"{path}: the recipe has 6 problems:"
    lines = [p.split(": ")[0] for p in err.problems]
    assert lines == [f"{path}:2", f"{path}:3", f"{path}:5", f"{path}:6", f"{path}:8", "--set train.epochs=zero"]
    assert "train.lowercase: unknown key (did you mean 'model.lowercase'?)" in err.problems[4]
    assert str(err).count("\n  - ") == 6


# ---------------------------------------------------------------- --set overrides


@pytest.mark.parametrize(
    "text, key, value",
    [
        ("train.batch_size=64", ("train", "batch_size"), 64),
        ("train.learning_rate=1e-3", ("train", "learning_rate"), 0.001),
        ("train.learning_rate=2E-4", ("train", "learning_rate"), 0.0002),
        ("model.dropout=0.5", ("model", "dropout"), 0.5),
        ("train.jit_compile=false", ("train", "jit_compile"), False),
        ("model.embeddings=[word]", ("model", "embeddings"), ["word"]),
        ("data.valid=null", ("data", "valid"), None),
        ("name=with = sign", ("name",), "with = sign"),
        ("name=2024", ("name",), "2024"),
        ("data.train=1e3", ("data", "train"), "1e3"),
    ],
)
def test_apply_override_parses_yaml_values(text, key, value):
    raw = {"name": "x", "model": None}  # an empty section in the file
    apply_override(raw, text)
    target = raw
    for name in key:
        target = target[name]
    assert target == value and type(target) is type(value)


def test_overrides_are_applied_before_validation(tmp_path):
    path = write(tmp_path, MINIMAL + "train:\n  epochs: abc\n")
    recipe = load_recipe(path, ["train.epochs=3", "train.learning_rate=1e-3", "data.valid=null",
                                "model.embeddings=[char]", "train.early_stopping={patience: 0}"])
    assert recipe["train"]["epochs"] == 3
    assert recipe["train"]["learning_rate"] == 0.001
    assert recipe["model"]["embeddings"] == ["char"]
    assert recipe["train"]["early_stopping"] == {"patience": 0, "monitor": "joint"}


def test_override_unknown_key_is_an_error_with_suggestion(tmp_path):
    problem = only_problem(write(tmp_path, MINIMAL), ["data.trian=x.jsonl"])
    assert problem == "--set data.trian=x.jsonl: data.trian: unknown key (did you mean 'data.train'?)"
    with pytest.raises(RecipeError, match="unknown key"):
        apply_override({}, "model.colour=blue")


def test_override_bad_value_is_blamed_on_the_override(tmp_path):
    problem = only_problem(write(tmp_path, MINIMAL), ["train.batch_size=big"])
    assert problem == "--set train.batch_size=big: train.batch_size: expected an integer, got 'big'"


@pytest.mark.parametrize(
    "text, message",
    [
        ("model=3", "--set model=3: model: is a section, not a single value"),
        ("train.epochs", "--set train.epochs: expected KEY=VALUE"),
        ("model.embeddings=[word", "--set model.embeddings=[word: model.embeddings: the value is not valid YAML"),
        ("name.first=x", "--set name.first=x: name.first: unknown key"),
    ],
)
def test_bad_overrides(tmp_path, text, message):
    assert only_problem(write(tmp_path, MINIMAL), [text]).startswith(message)


def test_a_section_override_applies_all_or_nothing():
    raw = {}
    with pytest.raises(RecipeError) as info:
        apply_override(raw, "train.early_stopping={patience: 2, foo: 1}")
    assert raw == {}
    assert info.value.problems == [
        "--set train.early_stopping={patience: 2, foo: 1}: train.early_stopping.foo: unknown key; "
        "train.early_stopping has the keys patience, monitor"
    ]


def test_override_into_a_scalar_is_an_error():
    with pytest.raises(RecipeError, match="train in the recipe is 5, not a section"):
        apply_override({"train": 5}, "train.epochs=3")


# ---------------------------------------------------------------- builtin data


def test_builtin_data_needs_no_train(tmp_path):
    recipe = load_recipe(write(tmp_path, "name: demo\ndata:\n  builtin: demo-en\n"))
    assert recipe["data"]["builtin"] == "demo-en" and recipe["data"]["train"] is None


def test_builtin_conflicts_with_explicit_files(tmp_path):
    path = write(tmp_path, """\
        name: demo
        data:
          builtin: demo-de
          train: atis/train.jsonl
          root: /data
          valid: null
        """)
    problems = problems_of(path).problems
    assert problems == [
        f"{path}:4: data.train: cannot be used together with data.builtin (demo-de); remove one of the two",
        f"{path}:5: data.root: cannot be used together with data.builtin (demo-de); remove one of the two",
    ]


def test_builtin_paths_come_from_the_package(tmp_path, monkeypatch):
    folder = tmp_path / "builtin" / "demo-en"
    folder.mkdir(parents=True)
    (folder / "train.jsonl").write_text("")
    (folder / "test.jsonl").write_text("")
    monkeypatch.setattr(load_module, "BUILTIN_DIR", tmp_path / "builtin")
    recipe = load_recipe(write(tmp_path, "name: demo\ndata:\n  builtin: demo-en\n"))
    paths = resolve_data_paths(recipe)
    assert paths["train"] == folder / "train.jsonl"
    assert paths["valid"] is None and paths["test"] == folder / "test.jsonl"


# ---------------------------------------------------------------- data paths


def test_resolve_data_paths_uses_slukit_data(tmp_path, monkeypatch):
    (tmp_path / "corpus" / "atis").mkdir(parents=True)
    (tmp_path / "corpus" / "atis" / "train.jsonl").write_text("")
    monkeypatch.setenv("SLUKIT_DATA", str(tmp_path / "corpus"))
    paths = resolve_data_paths(load_recipe(write(tmp_path, MINIMAL)))
    assert paths == {
        "train": tmp_path / "corpus" / "atis" / "train.jsonl",
        "valid": None, "test": None, "format": None, "root": tmp_path / "corpus",
    }


def test_resolve_data_paths_defaults_to_dot_data(tmp_path, monkeypatch):
    monkeypatch.delenv("SLUKIT_DATA", raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data" / "atis").mkdir(parents=True)
    (tmp_path / "data" / "atis" / "train.jsonl").write_text("")
    paths = resolve_data_paths(load_recipe(write(tmp_path, MINIMAL)))
    assert paths["train"] == tmp_path / "data" / "atis" / "train.jsonl"


def test_missing_data_file_names_key_path_and_root(tmp_path, monkeypatch):
    monkeypatch.setenv("SLUKIT_DATA", str(tmp_path))
    recipe = load_recipe(write(tmp_path, MINIMAL + "  test: atis/test.jsonl\n"))
    with pytest.raises(RecipeError) as info:
        resolve_data_paths(recipe)
    assert info.value.problems == [
        f"data.train: no such file or folder: {tmp_path / 'atis' / 'train.jsonl'} "
        f"(the data root {tmp_path} comes from $SLUKIT_DATA)",
        f"data.test: no such file or folder: {tmp_path / 'atis' / 'test.jsonl'} "
        f"(the data root {tmp_path} comes from $SLUKIT_DATA)",
    ]


def test_data_root_in_the_recipe_wins_and_is_named(tmp_path, monkeypatch):
    monkeypatch.setenv("SLUKIT_DATA", "/elsewhere")
    recipe = load_recipe(write(tmp_path, MINIMAL + f"  root: {tmp_path / 'mine'}\n"))
    with pytest.raises(RecipeError) as info:
        resolve_data_paths(recipe)
    (problem,) = info.value.problems
    assert problem.startswith(f"data.train: no such file or folder: {tmp_path / 'mine' / 'atis' / 'train.jsonl'}")
    assert "comes from data.root and does not exist" in problem


def test_default_root_is_explained(tmp_path, monkeypatch):
    monkeypatch.delenv("SLUKIT_DATA", raising=False)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(RecipeError, match=r"is the default \./data and does not exist; set data.root or \$SLUKIT_DATA"):
        resolve_data_paths(load_recipe(write(tmp_path, MINIMAL)))


# ---------------------------------------------------------------- dumping


def test_dump_recipe_round_trips(tmp_path):
    path = write(tmp_path, MINIMAL + "train:\n  learning_rate: 1e-5\n")
    recipe = load_recipe(path, ["name=1e3", "model.embeddings=[char]", "data.format=jsonl"])
    text = dump_recipe(recipe)
    assert text.startswith("name: '1e3'\n")
    assert "  embeddings: [char]\n" in text
    assert [line.split(":")[0] for line in text.splitlines() if line and not line[0].isspace()] == list(SCHEMA)
    assert load_recipe(write(tmp_path, text, "dumped.yaml")) == recipe


def test_dump_keeps_schema_order_for_any_input_order():
    text = dump_recipe({"output": None, "train": {"seed": 1, "epochs": 2}, "name": "x"})
    assert text == "name: x\n\ntrain:\n  epochs: 2\n  seed: 1\n\noutput: null\n"


# ---------------------------------------------------------------- import cost


def test_import_pulls_in_nothing_heavy():
    code = ("import sys, slukit.recipe; "
            "print(sorted(m for m in ('tensorflow', 'keras', 'numpy') if m in sys.modules))")
    repo = Path(__file__).resolve().parents[1]
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=repo)
    assert result.stdout.strip() == "[]"


RECIPES = sorted((Path(__file__).resolve().parents[1] / "recipes").glob("*.yaml"))


@pytest.mark.parametrize("path", RECIPES, ids=[p.name for p in RECIPES])
def test_shipped_recipes_validate(path):
    recipe = load_recipe(path)
    assert load_recipe(path) == validate(recipe)


def test_a_recipe_without_data_is_reported_not_crashed(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("name: x\n")
    with pytest.raises(RecipeError, match="data.train"):
        load_recipe(path)
