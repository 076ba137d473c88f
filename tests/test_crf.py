"""The CRF slot decoder: its likelihood, its Viterbi, and one model trained, saved and exported."""

import itertools
import json

import numpy as np
import pytest

from slukit.models.crf import SlotCRF, crf_negative_log_likelihood
from slukit.preprocess.decoding import viterbi

pytestmark = pytest.mark.xdist_group("crf")


def path_score(path, emissions, start, step, end):
    return (start[path[0]] + sum(emissions[t, k] for t, k in enumerate(path))
            + sum(step[a, b] for a, b in zip(path, path[1:])) + end[path[-1]])


def random_scores(rng, tags=3):
    return (rng.normal(size=tags).astype("float32"), rng.normal(size=(tags, tags)).astype("float32"),
            rng.normal(size=tags).astype("float32"))


def test_slot_crf_layer_passes_probabilities_through_and_owns_the_scores():
    from layer_test_case import run_layer_test

    probs = np.random.default_rng(2).dirichlet(np.ones(4), size=(1, 3)).astype("float32")
    layer = run_layer_test(SlotCRF, {"num_tags": 4}, {"probs": probs}, (1, 3, 4),
                           padded_inputs={"probs": np.pad(probs, ((0, 0), (0, 2), (0, 0)))},
                           real_steps=3)
    assert np.allclose(np.asarray(layer(probs)), probs)
    start, step, end = layer.scores()
    assert start.shape == (3,) and step.shape == (3, 3) and end.shape == (3,)
    assert layer.compute_mask(probs, np.ones((1, 3), bool)) is None


def test_negative_log_likelihood_is_exact_on_padded_batches():
    rng = np.random.default_rng(0)
    start, step, end = random_scores(rng)
    emissions = rng.normal(size=(3, 4, 3)).astype("float32")
    labels = np.array([[0, 2, 1, 0], [1, 1, 0, 0], [2, 0, 0, 0]])
    lengths = [4, 2, 1]
    mask = np.arange(4)[None, :] < np.array(lengths)[:, None]
    nll = np.asarray(crf_negative_log_likelihood(emissions, labels, mask, start, step, end))
    for b, n in enumerate(lengths):
        scores = [path_score(p, emissions[b], start, step, end)
                  for p in itertools.product(range(3), repeat=n)]
        expected = np.log(np.sum(np.exp(scores))) - path_score(labels[b, :n], emissions[b],
                                                               start, step, end)
        assert nll[b] == pytest.approx(expected, abs=1e-4)


def test_viterbi_finds_the_best_path_under_learned_scores():
    rng = np.random.default_rng(1)
    for _ in range(20):
        start, step, end = (x.astype(np.float64) for x in random_scores(rng, 4))
        log_probs = np.log(rng.dirichlet(np.ones(4), size=5))
        best = max(itertools.product(range(4), repeat=5),
                   key=lambda p: path_score(p, log_probs, start, step, end))
        assert viterbi(log_probs, start, step, end) == list(best)


def test_learned_transitions_change_the_decoded_tags():
    from slukit.data.example import Example
    from slukit.preprocess import SLUPreprocessor

    pre = SLUPreprocessor.fit([Example(["new", "york"], ["B-city", "I-city"], "w")],
                              slot_decoding="bio")
    tags = pre.tags.tokens[1:]  # O, B-city, I-city in some order
    probs = np.zeros((2, 4))
    for t, row in enumerate([{"O": 0.1, "B-city": 0.5, "I-city": 0.4},
                             {"O": 0.6, "B-city": 0.1, "I-city": 0.3}]):
        probs[t, 1:] = [row[tag] for tag in tags]  # alone: B-city, O
    assert pre.decode_tags(probs) == ["B-city", "O"]
    step = np.zeros((3, 3))
    step[tags.index("B-city"), tags.index("O")] = -5.0  # a city rarely ends after one word
    pre.slot_transitions = {"start": [0.0] * 3, "step": step.tolist(), "end": [0.0] * 3}
    assert pre.decode_tags(probs) == ["B-city", "I-city"]
    reloaded = json.loads(json.dumps(pre.rules()))
    assert reloaded["slot_transitions"]["step"] == step.tolist()


@pytest.fixture(scope="module", params=[False, True], ids=["crf", "crf+intent_distribution"])
def crf_model_dir(tmp_path_factory, request):
    from slukit.recipe import load_recipe
    from slukit.train.progress import Reporter
    from slukit.workflows.train import train_recipe

    base = tmp_path_factory.mktemp("crf")
    recipe = base / "crf.yaml"
    recipe.write_text(
        "name: tiny-crf\ndata: {builtin: demo-en, train_fraction: 0.3}\n"
        "model: {encoder: highway_lstm, word_dim: 8, char_dim: 4, char_filters: 8, units: 8,\n"
        f"        layers: 1, max_word_chars: 8, slot_decoder: crf,\n"
        f"        intent_distribution_to_slot: {str(request.param).lower()}}}\n"
        "train: {epochs: 2, batch_size: 16, learning_rate: 0.02, label_smoothing: 0.1, seed: 0}\n",
        encoding="utf-8")
    return train_recipe(load_recipe(recipe), output=base / "model",
                        reporter=Reporter(quiet=True)).path


def test_crf_model_saves_its_transitions_and_every_runtime_decodes_alike(crf_model_dir, tmp_path):
    import tensorflow as tf
    import tensorflow_text  # noqa: F401

    from slukit.export.saved_model import export_saved_model
    from slukit.export.tflite import export_tflite
    from slukit.lite import LitePredictor
    from slukit.predict import Predictor
    from slukit.train.artifact import load_model_dir

    bundle = load_model_dir(crf_model_dir)
    learned = bundle.model.get_layer("slot_crf").scores()[1]
    assert np.abs(learned).max() > 0  # trained, not left at zero
    rules = json.loads((crf_model_dir / "preprocessor.json").read_text(encoding="utf-8"))
    np.testing.assert_allclose(rules["slot_transitions"]["step"], learned)

    texts = ["play some jazz by miles davis", "wake me up at seven am tomorrow",
             "what is the weather in new york city", "rate this book five stars", ""]
    expected = Predictor.from_dir(crf_model_dir).predict(texts)
    report = export_tflite(crf_model_dir, tmp_path / "crf.tflite", lengths=(8, 16),
                           analyzer=False, latency_runs=1)
    assert report["parity"]["tag_agreement"] == 1.0
    assert report["gpu"]["errors"] == []
    lite = LitePredictor(tmp_path / "crf.tflite").predict(texts)
    assert [p["tags"] for p in lite] == [p["tags"] for p in expected]
    assert [p["intent"] for p in lite] == [p["intent"] for p in expected]

    export_saved_model(crf_model_dir, tmp_path / "saved")
    serve = tf.saved_model.load(str(tmp_path / "saved")).signatures["serving_default"]
    got = serve(text=tf.constant(texts))
    for i, ref in enumerate(expected):
        n = int(got["num_tokens"][i])
        assert [t.decode() for t in got["tags"][i][:n].numpy()] == ref["tags"]
