"""Calibrated confidences: temperature scaling, ECE, the prediction's new keys, the fallback."""

import doctest
import json
import shutil

import numpy as np
import pytest

from slukit import calibration
from slukit.calibration import expected_calibration_error, fit_temperature, nll
from slukit.preprocess import confidence as confidence_module
from slukit.preprocess.confidence import Confidence, scale


@pytest.mark.parametrize("module", [calibration, confidence_module])
def test_docstring_examples_run(module):
    result = doctest.testmod(module)
    assert result.attempted and not result.failed


def overconfident(n=2000, true_t=2.5, classes=4, seed=0):
    """Probabilities sharpened by `true_t` from a calibrated source, with labels drawn
    from the calibrated probabilities: the best temperature is about `true_t`."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 2, size=(n, classes))
    calibrated = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    labels = np.array([rng.choice(classes, p=p) for p in calibrated])
    sharp = scale(calibrated, 1 / true_t)
    return sharp, labels, calibrated


def test_temperature_recovers_the_sharpening_and_lowers_nll_and_ece():
    sharp, labels, _ = overconfident()
    t = fit_temperature(sharp, labels)
    assert 2.0 < t < 3.1
    assert nll(sharp, labels, t) < nll(sharp, labels, 1.0)
    before = expected_calibration_error(sharp.max(-1), sharp.argmax(-1) == labels)
    after_probs = scale(sharp, t)
    after = expected_calibration_error(after_probs.max(-1), after_probs.argmax(-1) == labels)
    assert after < before / 2
    assert (after_probs.argmax(-1) == sharp.argmax(-1)).all()  # the ranking never changes


def test_temperature_of_calibrated_probabilities_stays_near_one():
    _, labels, calibrated = overconfident()
    assert 0.85 < fit_temperature(calibrated, labels) < 1.15
    assert fit_temperature(np.zeros((0, 3)), np.zeros(0, dtype=int)) == 1.0


def test_ece_of_perfect_and_worst_predictions():
    assert expected_calibration_error([1.0, 1.0], [1, 1]) == 0.0
    assert expected_calibration_error([1.0, 1.0], [0, 0]) == 1.0
    assert expected_calibration_error([], []) == 0.0


def test_confidence_round_trips_and_fallback_overrides():
    c = Confidence(intent_temperature=1.7, slot_temperature=1.2, fallback_threshold=0.4)
    assert Confidence.from_dict(json.loads(json.dumps(c.to_dict()))) == c
    assert Confidence.from_dict(None) == Confidence()
    assert Confidence.from_dict({"intent_temperature": 2.0, "future_key": 1}).intent_temperature == 2.0
    assert c.falls_back(0.39) and not c.falls_back(0.4)
    assert not c.with_fallback(0).falls_back(0.01)
    assert c.with_fallback(intent="ask_again").fallback_intent == "ask_again"
    assert not Confidence().falls_back(0.0)


def test_prediction_has_ranking_slot_confidences_and_fallback():
    from slukit.data.example import Example
    from slukit.preprocess import SLUPreprocessor

    pre = SLUPreprocessor.fit([Example(["fly", "to", "new", "york"], ["O", "O", "B-city", "I-city"],
                                       "Flight"), Example(["hi"], ["O"], "Greet")])
    tags = pre.tags.tokens  # <pad>, O, B-city, I-city
    tag_probs = np.full((4, len(tags)), 0.01)
    for i, t in enumerate(["O", "O", "B-city", "I-city"]):
        tag_probs[i, tags.index(t)] = 0.9 if i != 3 else 0.6
    tag_probs /= tag_probs.sum(-1, keepdims=True)
    intent_probs = np.array([0.7, 0.3]) if pre.intents.tokens[0] == "Flight" else np.array([0.3, 0.7])

    raw = pre.prediction("fly to new york", intent_probs, tag_probs)
    assert raw["intent"] == "Flight" and raw["intent_confidence"] == pytest.approx(0.7)
    assert [r["intent"] for r in raw["intent_ranking"]] == ["Flight", "Greet"]
    assert raw["fallback"] is False
    (slot,) = raw["slots"]
    assert slot["value"] == "new york"
    assert slot["confidence"] == pytest.approx(tag_probs[3, tags.index("I-city")], abs=1e-6)

    pre.confidence = Confidence(intent_temperature=3.0, slot_temperature=2.0,
                                fallback_threshold=0.6, fallback_intent="ask_again")
    soft = pre.prediction("fly to new york", intent_probs, tag_probs)
    assert soft["intent_confidence"] < 0.6 and soft["fallback"] is True
    assert soft["intent"] == "ask_again"
    assert soft["intent_ranking"][0]["intent"] == "Flight"  # the ranking is kept
    assert soft["tags"] == raw["tags"]
    assert soft["slots"][0]["confidence"] < slot["confidence"]


def test_training_calibrates_and_stores_it(trained_model_dir):
    metrics = json.loads((trained_model_dir / "metrics.json").read_text())
    for split in ("valid", "test"):
        for key in ("intent_ece", "intent_ece_uncalibrated", "slot_ece", "slot_ece_uncalibrated"):
            assert 0.0 <= metrics[split][key] <= 1.0
    rules = json.loads((trained_model_dir / "preprocessor.json").read_text())
    conf = rules["confidence"]
    assert calibration.T_MIN <= conf["intent_temperature"] <= calibration.T_MAX
    assert calibration.T_MIN <= conf["slot_temperature"] <= calibration.T_MAX
    assert conf["fitted_on"].startswith("valid")
    # the fitted temperature does not make the validation set worse calibrated (NLL-optimal)
    assert metrics["valid"]["intent_ece"] <= metrics["valid"]["intent_ece_uncalibrated"] + 0.05


def test_refit_and_predict_with_fallback_flag(trained_model_dir, tmp_path, capsys):
    from slukit.cli import main

    model = tmp_path / "model"
    shutil.copytree(trained_model_dir, model)
    rules = json.loads((model / "preprocessor.json").read_text())
    del rules["confidence"]  # as a model trained before calibration existed
    (model / "preprocessor.json").write_text(json.dumps(rules))
    meta = json.loads((model / "metadata.json").read_text())
    del meta["file_sha256"]  # nor digests, which came later still
    (model / "metadata.json").write_text(json.dumps(meta))
    conf, ece = calibration.refit_model_dir(model)
    assert "file_sha256" in json.loads((model / "metadata.json").read_text())  # sealed again
    assert json.loads((model / "preprocessor.json").read_text())["confidence"] == conf.to_dict()
    assert set(ece) == {"valid", "test"} and "intent_ece" in ece["test"]

    assert main(["predict", str(model), "", "wake me up at 7 am"]) == 0
    plain = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    low = min(plain, key=lambda r: r["intent_confidence"])
    assert low["intent_confidence"] < 1.0
    threshold = (low["intent_confidence"] + 1.0) / 2
    assert main(["predict", "--fallback-threshold", str(threshold), "--fallback-intent",
                 "ask_again", str(model), low["text"]]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["intent"] == "ask_again" and result["fallback"] is True
    assert result["intent_ranking"] == low["intent_ranking"]
    assert main(["predict", "--fallback-threshold", "1.5", str(model), "x"]) == 2
    assert "--fallback-threshold" in capsys.readouterr().err
