"""Distillation: the loss, the label remapping, the refusals, and one student trained end to end."""

import json

import numpy as np
import pytest

from slukit.errors import ModelDirError, RecipeError

pytestmark = pytest.mark.xdist_group("distill")

TINY_MODEL = ("model: {encoder: highway_lstm, word_dim: 8, char_dim: 4, char_filters: 8, "
              "units: 8,\n        layers: 1, max_word_chars: 8}\n")


def tiny_recipe(path, seed=0, distill="", model=TINY_MODEL, epochs=1):
    path.write_text(
        "name: tiny-distill\ndata: {builtin: demo-en, train_fraction: 0.3}\n" + model
        + f"train: {{epochs: {epochs}, batch_size: 16, learning_rate: 0.02, "
          f"label_smoothing: 0.1, seed: {seed}}}\n" + distill,
        encoding="utf-8")
    return path


def random_case(rng, batch=3, time=5, classes=6):
    probs = rng.dirichlet(np.ones(classes), size=(batch, time)).astype("float32")
    soft = rng.dirichlet(np.ones(classes), size=(batch, time)).astype("float32")
    gold = rng.integers(1, classes, size=(batch, time))
    gold[0, 3:] = 0  # padding
    gold[2, 1:] = 0
    soft[gold == 0] = 0.0
    return probs, soft, gold


def soft_ce(probs, soft, valid):
    ce = -(soft * np.log(probs)).sum(-1)
    return float((ce * valid).sum() / valid.sum())


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_the_loss_is_the_gold_loss_at_weight_0_and_the_soft_cross_entropy_at_weight_1(smoothing):
    from slukit.train.distill_loss import DistillationLoss, pack_targets
    from slukit.train.losses import SmoothedSparseCrossentropy

    probs, soft, gold = random_case(np.random.default_rng(0))
    y_true = pack_targets(gold, soft)
    gold_loss = SmoothedSparseCrossentropy(smoothing, ignore_class=0)
    expected_gold = float(gold_loss(gold, probs))
    expected_soft = soft_ce(probs, soft, gold > 0)
    assert expected_gold != pytest.approx(expected_soft, rel=1e-3)
    at = {w: float(DistillationLoss(gold_loss, w, ignore_class=0)(y_true, probs))
          for w in (0.0, 0.3, 1.0)}
    assert at[0.0] == pytest.approx(expected_gold, rel=1e-5)
    assert at[1.0] == pytest.approx(expected_soft, rel=1e-5)
    assert at[0.3] == pytest.approx(0.7 * expected_gold + 0.3 * expected_soft, rel=1e-5)
    # The padding's soft targets and predictions play no part.
    noisy = probs.copy()
    noisy[gold == 0] = np.random.default_rng(1).dirichlet(np.ones(6), size=int((gold == 0).sum()))
    assert float(DistillationLoss(gold_loss, 0.3, ignore_class=0)(y_true, noisy)) == \
        pytest.approx(at[0.3], rel=1e-5)


def test_the_intent_loss_and_the_temperature():
    from slukit.train.distill_loss import DistillationLoss, pack_targets
    from slukit.train.losses import SmoothedSparseCrossentropy

    rng = np.random.default_rng(2)
    probs = rng.dirichlet(np.ones(4), size=5).astype("float32")
    soft = rng.dirichlet(np.ones(4), size=5).astype("float32")
    gold = rng.integers(0, 4, size=5)
    y_true = pack_targets(gold, soft)
    loss = DistillationLoss(SmoothedSparseCrossentropy(), 1.0)
    assert float(loss(y_true, probs)) == pytest.approx(soft_ce(probs, soft, np.ones(5)), rel=1e-5)
    t = 2.0
    tempered = probs ** (1 / t)
    tempered /= tempered.sum(-1, keepdims=True)
    hot = DistillationLoss(SmoothedSparseCrossentropy(), 1.0, temperature=t)
    assert float(hot(y_true, probs)) == pytest.approx(t * t * soft_ce(tempered, soft, np.ones(5)),
                                                      rel=1e-4)


def test_with_a_crf_the_soft_term_is_added_to_the_crf_likelihood():
    import keras

    from slukit.models.crf import CRFLoss, SlotCRF
    from slukit.train.distill_loss import DistillationLoss, pack_targets

    probs, soft, gold = random_case(np.random.default_rng(3))
    crf = SlotCRF(6)
    crf.build((None, None, 6))
    crf.transitions.assign(np.random.default_rng(4).normal(size=(5, 5)).astype("float32"))
    crf_loss = CRFLoss(crf)
    y_true = pack_targets(gold, soft)
    expected = 0.6 * float(crf_loss(gold, probs)) + 0.4 * soft_ce(probs, soft, gold > 0)
    got = float(DistillationLoss(crf_loss, 0.4, ignore_class=0)(y_true, probs))
    assert got == pytest.approx(expected, rel=1e-5)
    assert keras.ops.convert_to_numpy(crf.transitions).any()


@pytest.mark.parametrize("max_steps", [0, 3])
def test_soft_targets_ride_with_their_utterances_through_bucketed_batches(max_steps):
    from slukit.data.demo import builtin_path
    from slukit.data.readers import read_examples
    from slukit.distill import DistillTrainSet, SoftTargets
    from slukit.preprocess import SLUPreprocessor

    examples = read_examples(builtin_path("demo-en", "train"))[:90]
    pre = SLUPreprocessor.fit(examples)
    n, intents, tags = len(examples), len(pre.intents), len(pre.tags)
    # Each utterance's soft targets name it: entry 0 holds its index.
    soft_intents = np.zeros((n, intents), "float32")
    soft_intents[:, 0] = np.arange(n) / n
    soft_tags = [np.full((len(ex.tokens), tags), (i + 1) / n, "float32") for i, ex in enumerate(examples)]
    train_set = DistillTrainSet(examples, SoftTargets(soft_intents, soft_tags), {})
    cfg = {"batch_size": 8, "seed": 0, "word_dropout": 0.5, "min_steps_per_epoch": 0,
           "max_steps_per_epoch": max_steps}
    batches, lengths = train_set.training_batches(pre, cfg)
    assert lengths == [len(ex.tokens) for ex in examples]
    seen, dropped = set(), 0
    for _ in range(2):
        for b in range(len(batches)):
            inputs, labels = batches[b]
            length = inputs["word_ids"].shape[1]
            assert labels["intent"].shape == (8, 1 + intents)
            assert labels["slots"].shape == (8, length, 1 + tags)
            for row in range(8):
                i = int(round(labels["intent"][row, 1] * n))
                ex = examples[i]
                seen.add(i)
                assert labels["intent"][row, 0] == pre.encode_intent(ex.intent)
                real = len(ex.tokens)
                np.testing.assert_array_equal(labels["slots"][row, :real, 0], pre.encode_tags(ex.tags))
                np.testing.assert_allclose(labels["slots"][row, :real, 1:], (i + 1) / n)
                assert not labels["slots"][row, real:].any()  # padding: gold 0, no distribution
                clean = pre.encode_inputs(ex.tokens)["word_ids"]
                dropped += int((inputs["word_ids"][row, :real] != clean).sum())
        batches.on_epoch_end()
    assert dropped > 0  # word dropout changed the inputs, not the targets
    assert len(seen) > n // 2


def test_teacher_labels_are_remapped_by_name():
    from slukit.distill import label_map, remap

    teacher = ["<pad>", "B-city", "O", "B-time", "I-city"]
    student = ["<pad>", "O", "B-city", "I-city"]
    mapping = label_map(teacher, student, "runs/t", "slot tags")
    assert mapping.tolist() == [0, 2, 1, 4]
    probs = np.array([[0.1, 0.2, 0.3, 0.2, 0.2]])  # B-time: the teacher's own label
    out = remap(probs, mapping, pad=True)
    np.testing.assert_allclose(out, [[0.0, 0.3 / 0.7, 0.2 / 0.7, 0.2 / 0.7]])
    with pytest.raises(ModelDirError, match=r"runs/t: this teacher lacks 1 slot tags.*B-date"):
        label_map(teacher, student + ["B-date"], "runs/t", "slot tags")


def test_the_recipe_section_is_validated(tmp_path):
    from slukit.recipe import load_recipe

    path = tiny_recipe(tmp_path / "r.yaml", distill="distill: {teachers: 2}\n")
    recipe = load_recipe(path)
    assert recipe["distill"] == {"teachers": 2, "teacher_dirs": None, "teachers_output": None,
                                 "weight": 0.5, "temperature": 1.0}
    assert load_recipe(tiny_recipe(tmp_path / "plain.yaml"))["distill"] is None
    with pytest.raises(RecipeError, match="distill.teacher_dirs: cannot be used together with"):
        load_recipe(path, ["distill.teacher_dirs=[a, b]"])
    with pytest.raises(RecipeError, match="distill.teachers: is null \(it is required unless distill.teacher_dirs"):
        load_recipe(path, ["distill.teachers=null"])
    with pytest.raises(RecipeError, match="distill.weight: must be at least 0 and at most 1"):
        load_recipe(path, ["distill.weight=1.5"])
    with pytest.raises(RecipeError, match="distill.teacher_dirs: expected at least one path"):
        load_recipe(path, ["distill.teachers=null", "distill.teacher_dirs=[]"])


def test_bad_teacher_dirs_and_unsupported_recipes_are_refused(tmp_path, capsys):
    from slukit.cli import main
    from slukit.distill import distill_recipe
    from slukit.recipe import load_recipe

    (tmp_path / "empty").mkdir()
    path = tiny_recipe(tmp_path / "r.yaml",
                       distill=f"distill: {{teacher_dirs: [{tmp_path / 'empty'}]}}\n")
    with pytest.raises(ModelDirError, match=r"empty: not a finished slukit model directory"):
        distill_recipe(load_recipe(path), output=tmp_path / "student")
    assert not (tmp_path / "student").exists()
    assert main(["distill", str(path), "--output", str(tmp_path / "s")]) == 2
    assert "empty: not a finished slukit model directory" in capsys.readouterr().err

    assert main(["distill", str(tiny_recipe(tmp_path / "plain.yaml"))]) == 2
    assert "no distill section; pass --teachers N" in capsys.readouterr().err
    assert main(["distill", str(tiny_recipe(tmp_path / "plain.yaml")), "--teachers", "2",
                 "--set", "train.distribute=mirrored"]) == 2
    assert "distill does not support train.distribute: mirrored" in capsys.readouterr().err
    assert main(["distill", str(tiny_recipe(tmp_path / "plain.yaml")), "--teachers", "2",
                 "--set", "data.stream=true"]) == 2
    assert "distill does not support streamed training data" in capsys.readouterr().err

    from slukit.tune.search import check_tunable

    tunable = load_recipe(tiny_recipe(tmp_path / "plain.yaml"),
                          ["distill.teachers=2", "tune.space.model.units={choice: [8, 16]}"])
    with pytest.raises(RecipeError, match="distill does not support slukit tune"):
        check_tunable(tunable)


def test_a_teacher_of_other_data_is_refused(tmp_path):
    from slukit.distill import check_teacher_data
    from slukit.recipe import load_recipe

    recipe = load_recipe(tiny_recipe(tmp_path / "r.yaml", distill="distill: {teachers: 1}\n"))
    check_teacher_data("runs/t", {"data": dict(recipe["data"], train_fraction=1.0)}, recipe)
    with pytest.raises(ModelDirError, match=r"runs/t: this teacher's recipe names other data.*"
                                            r"data.builtin: demo-de \(teacher\)"):
        check_teacher_data("runs/t", {"data": dict(recipe["data"], builtin="demo-de")}, recipe)


@pytest.mark.slow
def test_distill_trains_two_teachers_and_a_normal_student_that_exports(tmp_path):
    """Student seed 2: at train_fraction 0.3, the teachers' samples (seeds 3 and 4) hold
    every label of the student's (seed 1's sample lacks a tag of seed 0's)."""
    from slukit.cli import main
    from slukit.export.tflite import export_tflite
    from slukit.integrity import verify_model_dir
    from slukit.predict import Predictor
    from slukit.train.artifact import load_model_dir

    recipe = tiny_recipe(tmp_path / "r.yaml", seed=2)
    student = tmp_path / "student"
    assert main(["distill", str(recipe), "--teachers", "2", "--output", str(student),
                 "--quiet"]) == 0
    teachers = [tmp_path / "student.teachers" / f"seed{k}" for k in (3, 4)]
    for teacher in teachers:
        verify_model_dir(teacher)
        assert load_model_dir(teacher).recipe["train"]["seed"] == int(teacher.name[4:])
    meta = verify_model_dir(student)
    record = meta["distill"]
    assert [t["dir"] for t in record["teachers"]] == [str(t) for t in teachers]
    assert record["teachers"][0]["test"]["utterances"] > 0
    for split in ("valid", "test"):
        assert 0.0 <= record["ensemble"][split]["intent_accuracy"] <= 1.0
    metrics = json.loads((student / "metrics.json").read_text(encoding="utf-8"))
    assert set(metrics) >= {"valid", "test"}
    bundle = load_model_dir(student)
    assert bundle.recipe["distill"]["teachers"] == 2
    assert not any("distill" in layer.name for layer in bundle.model.layers)
    assert len(bundle.model.layers) == len(load_model_dir(teachers[0]).model.layers)

    # One teacher alone, remapped to the student's label order, scores as that teacher.
    from slukit.data.load import load_splits
    from slukit.distill import ensemble_metrics, load_teacher
    from slukit.recipe import load_recipe
    from slukit.workflows.steps import fit_preprocessor

    loaded = load_recipe(recipe)
    splits = load_splits(loaded)
    student_pre = fit_preprocessor(splits["train"], loaded["model"])
    teacher = load_teacher(teachers[1], loaded)
    assert teacher.preprocessor.tags.tokens != student_pre.tags.tokens  # a real remapping
    alone = ensemble_metrics([teacher], student_pre, splits)
    assert alone["test"] == pytest.approx({k: teacher.metrics["test"][k] for k in alone["test"]})

    texts = ["play some jazz by miles davis", "wake me up at seven am tomorrow"]
    expected = Predictor.from_dir(student).predict(texts)
    report = export_tflite(student, tmp_path / "student.tflite", lengths=(8, 16),
                           analyzer=False, latency_runs=1)
    assert report["parity"]["tag_agreement"] == 1.0
    assert len(expected) == 2

    # The finished teachers are reused; a teacher of other settings is refused.
    from slukit.distill import train_teachers
    from slukit.train.progress import Reporter

    stamps = [(t / "metadata.json").stat().st_mtime_ns for t in teachers]
    with_two = load_recipe(recipe, ["distill.teachers=2"])
    assert train_teachers(with_two, student, Reporter(quiet=True)) == teachers
    assert [(t / "metadata.json").stat().st_mtime_ns for t in teachers] == stamps
    with pytest.raises(ModelDirError, match=r"seed3: holds a teacher trained from other settings "
                                            r"\(the recipe's model differ"):
        train_teachers(load_recipe(recipe, ["distill.teachers=2", "model.units=16"]), student,
                       Reporter(quiet=True))

    # Training a recipe with teacher_dirs (as `slukit train` does): a CRF student with label
    # smoothing.
    crf = tiny_recipe(tmp_path / "crf.yaml", seed=2,
                      model=TINY_MODEL.replace("max_word_chars: 8", "max_word_chars: 8, "
                                               "slot_decoder: crf"),
                      distill=f"distill: {{teacher_dirs: [{teachers[0]}, {teachers[1]}], "
                              "weight: 0.7, temperature: 2.0}\n")
    from slukit.models.crf import CRFLoss
    from slukit.train.distill_loss import DistillationLoss
    from slukit.workflows.train import train_recipe

    result = train_recipe(load_recipe(crf), output=tmp_path / "crf-student",
                          reporter=Reporter(quiet=True))
    losses = result.model.loss  # what the student was compiled with
    assert isinstance(losses["slots"], DistillationLoss) and losses["slots"].weight == 0.7
    assert isinstance(losses["slots"].gold_loss, CRFLoss)
    assert losses["intent"].gold_loss.label_smoothing == 0.1
    meta = verify_model_dir(tmp_path / "crf-student")
    assert meta["distill"]["weight"] == 0.7 and meta["distill"]["temperature"] == 2.0
    assert meta["distill"]["ensemble"] == record["ensemble"]  # the same teachers, the same data
    crf_bundle = load_model_dir(tmp_path / "crf-student")
    assert np.abs(crf_bundle.model.get_layer("slot_crf").scores()[1]).max() > 0
