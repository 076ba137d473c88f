"""The light runtime: an exported .tflite on LiteRT only, the same JSON as `slukit predict`."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from slukit.lite import LiteError, LitePredictor, windows
from slukit.lite.predictor import assign_windows

# One worker builds the module's models once (pytest -n 2 --dist loadgroup).
pytestmark = pytest.mark.xdist_group("lite")

TINY_WORDS = """\
name: tiny-lite
data: {builtin: demo-en, train_fraction: 0.2}
model: {embeddings: [word], word_dim: 8, units: 8, layers: 1}
train: {epochs: 1, batch_size: 16, learning_rate: 0.01, seed: 0}
"""

TEXTS = ["play high hopes by panic at the disco", "Wake ME up at 7 am", "",
         "   weather  in\tBerlin ", "Ｐｌａｙ jazz", "rate this book five stars"]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A word-only BiLSTM, trained once and exported at lengths 4 and 8."""
    from slukit.export.tflite import export_tflite
    from slukit.recipe import load_recipe
    from slukit.train.progress import Reporter
    from slukit.workflows.train import train_recipe

    base = tmp_path_factory.mktemp("lite")
    (base / "tiny.yaml").write_text(TINY_WORDS, encoding="utf-8")
    model_dir = train_recipe(load_recipe(base / "tiny.yaml"), output=base / "model",
                             reporter=Reporter(quiet=True)).path
    path = base / "export" / "tiny.tflite"
    report = export_tflite(model_dir, path, lengths=(4, 8), analyzer=False, latency_runs=2)
    return model_dir, path, report


def test_same_json_as_the_keras_predictor(exported):
    from slukit.predict import Predictor

    model_dir, path, report = exported
    assert report["inputs"] == ["word_ids"]
    lite = LitePredictor(path)
    assert lite.lengths == [4, 8]
    expected = Predictor.from_dir(model_dir).predict(TEXTS)
    for got, ref in zip(lite.predict(TEXTS), expected):
        assert_same_prediction(got, ref)


def assert_same_prediction(got, ref, tol=1e-5):
    """Equal predictions, confidences (calibrated, rounded to 6 places) within `tol`."""
    got, ref = json.loads(json.dumps(got)), json.loads(json.dumps(ref))
    assert abs(got.pop("intent_confidence") - ref.pop("intent_confidence")) < tol
    for a, b in zip(got["intent_ranking"], ref["intent_ranking"]):
        assert abs(a.pop("confidence") - b.pop("confidence")) < tol
    for a, b in zip(got["slots"], ref["slots"]):
        assert abs(a.pop("confidence") - b.pop("confidence")) < tol
    assert got == ref


def test_calibration_travels_in_the_metadata(exported):
    model_dir, path, _ = exported
    stored = json.loads((model_dir / "preprocessor.json").read_text())["confidence"]
    meta = json.loads(path.with_suffix(".json").read_text())
    assert meta["rules"]["confidence"] == stored
    lite = LitePredictor(path, fallback_threshold=1.0, fallback_intent="ask_again")
    result = lite.predict_one("")
    assert result["fallback"] is (result["intent_confidence"] < 1.0)


def test_picks_the_shortest_length_that_fits(exported):
    lite = LitePredictor(exported[1])
    assert [lite.length_for(n) for n in (0, 1, 4, 5, 8, 9)] == [4, 4, 4, 8, 8, None]


def test_long_input_is_windowed_and_every_token_is_tagged(exported):
    lite = LitePredictor(exported[1])
    words = ("play", "some", "jazz", "by", "miles", "davis", "in", "the", "kitchen", "now")
    text = " ".join(words[i % len(words)] for i in range(100))
    result = lite.predict_one(text)
    assert len(result["tokens"]) == len(result["tags"]) == 100
    for slot in result["slots"]:
        assert text[slot["start"]:slot["end"]] == slot["value"]

    # Each token's probabilities come from the window where it is farthest from an edge.
    encoded = lite.preprocessor.encode_inputs(text.split())
    intent, tags = lite.run_encoded(encoded)
    spans = windows(100, 8)
    owner = assign_windows(100, spans)
    for w, (s, e) in enumerate(spans):
        _, window_tags = lite.run_length(8, {k: v[s:e] for k, v in encoded.items()})
        mine = np.nonzero(owner[s:e] == w)[0]
        assert np.allclose(tags[s + mine], window_tags[mine])
    assert abs(float(intent.sum()) - 1.0) < 1e-4


def test_windows_cover_every_token():
    assert windows(3, 8) == [(0, 3)]
    assert windows(100, 48) == [(0, 48), (24, 72), (48, 96), (52, 100)]
    for n, size in ((9, 8), (100, 8), (17, 4)):
        spans = windows(n, size)
        assert all(e - s == size for s, e in spans)
        owner = assign_windows(n, spans)
        assert all(spans[w][0] <= i < spans[w][1] for i, w in enumerate(owner))


def test_metadata_rules_match_the_model_dir(exported):
    from slukit.preprocess import SLUPreprocessor

    model_dir, path, _ = exported
    lite = LitePredictor(path)
    pre = SLUPreprocessor.load(model_dir)
    tokens = "Ｐｌａｙ ÉCOLE zzzunknown jazz".split()
    assert lite.preprocessor.encode_words(tokens).tolist() == pre.encode_words(tokens).tolist()
    assert lite.preprocessor.slot_decoding == pre.slot_decoding
    assert lite.preprocessor.tags.tokens == pre.tags.tokens
    meta = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
    assert meta["vocab"]["chars"] is None and list(meta["inputs"]) == ["word_ids"]


def test_runs_without_tensorflow_or_keras(exported):
    code = (
        "import sys, json\n"
        "from slukit.lite import LitePredictor\n"
        f"p = LitePredictor({str(exported[1])!r})\n"
        "out = p.predict(['wake me up at 7 am', 'x ' * 30])\n"
        "bad = [m for m in ('tensorflow', 'keras', 'tensorflow_text') if m in sys.modules]\n"
        "print(json.dumps({'bad': bad, 'tags': len(out[1]['tags'])}))\n"
    )
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert run.returncode == 0, run.stderr[-2000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result == {"bad": [], "tags": 30}


def test_clear_errors(exported, tmp_path):
    _, path, _ = exported
    with pytest.raises(LiteError, match="accelerator must be one of"):
        LitePredictor(path, accelerator="npu")
    with pytest.raises(LiteError, match="no such .tflite"):
        LitePredictor(tmp_path / "missing.tflite")
    lonely = tmp_path / "lonely.tflite"
    lonely.write_bytes(path.read_bytes())
    with pytest.raises(LiteError, match="metadata lonely.json is missing"):
        LitePredictor(lonely)
    # A bare string is one text, as for the Keras Predictor (not one text per character).
    assert LitePredictor(path).predict("play jazz") == LitePredictor(path).predict(["play jazz"])


def test_a_bare_string_is_one_text_for_both_predictors(exported):
    """`Predictor.predict("play jazz")` once gave 9 predictions, one per character."""
    from slukit.predict import Predictor

    model_dir, path, _ = exported
    keras_predictor = Predictor.from_dir(model_dir)
    one = keras_predictor.predict("play jazz")
    assert len(one) == 1 and one == keras_predictor.predict(["play jazz"])
    assert one[0]["tokens"] == ["play", "jazz"]
    assert_same_prediction(LitePredictor(path).predict("play jazz")[0], one[0])


def test_a_gpu_failure_names_the_cli_flag():
    from slukit.lite.predictor import _gpu_failure_message

    text = _gpu_failure_message(RuntimeError("no Vulkan device"))
    assert "--accelerator cpu" in text and "no Vulkan device" in text


def test_compiled_model_runner_matches_the_interpreter(exported, monkeypatch):
    """The GPU path's buffer handling (CompiledModel), run here on LiteRT's CPU
    accelerator: there is no GPU on the test machines."""
    from ai_edge_litert.compiled_model import CompiledModel
    from ai_edge_litert.hardware_accelerator import HardwareAccelerator

    from_file = CompiledModel.from_file.__func__

    def on_cpu(cls, path, options=None, **kwargs):
        assert options.hardware_accelerators == HardwareAccelerator.GPU
        return from_file(cls, path, hardware_accel=HardwareAccelerator.CPU)

    monkeypatch.setattr(CompiledModel, "from_file", classmethod(on_cpu))
    monkeypatch.setattr(CompiledModel, "is_fully_accelerated", lambda self: True)
    compiled = LitePredictor(exported[1], accelerator="gpu")
    interpreted = LitePredictor(exported[1])
    texts = TEXTS + ["x " * 30]
    for a, b in zip(compiled.predict(texts), interpreted.predict(texts)):
        assert a == b


def test_default_export_answers_long_input_like_slukit_predict(exported, tmp_path):
    """The default longest signature (64 tokens here) holds joined pairs of utterances, so
    the light runtime returns the same dicts as the Keras predictor on long input; longer
    input is windowed, and the export's parity report counts it apart."""
    from slukit.data.sources import builtin_path
    from slukit.data.readers import read_examples
    from slukit.export.tflite import export_tflite
    from slukit.predict import Predictor

    model_dir = exported[0]
    path = tmp_path / "default.tflite"
    report = export_tflite(model_dir, path, analyzer=False, latency_runs=1,
                           parity_limit=40)
    assert [s["length"] for s in report["signatures"]] == [8, 12, 16, 32, 48, 64]
    assert "longest train/valid/test utterance" in report["lengths_chosen"]
    long = report["parity"]["long"]
    assert long["utterances"] == 20 and long["windowed"] == 0 and long["intent_agreement"] == 1.0
    assert long["max_abs_diff_slots"] < 1e-3
    # The export's parity check always includes inputs past the longest signature (windowed).
    past = report["parity"]["past_longest"]
    assert past["utterances"] >= 2 and past["windowed"] == past["utterances"]
    assert past["windowed_agreement"]["utterances"] == past["utterances"]
    assert past["longest_signature"] == 64 and "longer than 64 tokens" in past["sample"]

    tests = [" ".join(ex.tokens) for ex in read_examples(builtin_path("demo-en", "test"))]
    joined = [f"{a} {b}" for a, b in zip(tests[0:40:2], tests[1:40:2])]
    joined.append(" ".join(tests[:6]))  # longer still, under 64 tokens
    assert max(len(t.split()) for t in joined) > 16
    lite = LitePredictor(path)
    for got, ref in zip(lite.predict(joined), Predictor.from_dir(model_dir).predict(joined)):
        assert_same_prediction(got, ref, tol=1e-4)

    # Over 64 tokens: windowed, and the parity check says how many were.
    from slukit.export.parity import check_parity
    from slukit.train.artifact import load_model_dir

    parity = check_parity(load_model_dir(model_dir), lite, [t.split() for t in joined[:3]]
                          + [" ".join(tests[:12]).split()])
    assert parity["utterances"] == 4 and parity["windowed"] == 1
    assert parity["windowed_agreement"]["utterances"] == 1


def tflite_damages():
    def shift(words):
        return words[:2] + words[3:] + words[2:3]

    return {  # name -> (change to the metadata, what the error says)
        "an intent too few": (lambda m: m["vocab"]["intents"].pop(), "vocab.intents has"),
        "words shifted by one": (lambda m: m["vocab"].update(words=shift(m["vocab"]["words"])),
                                 "vocab changed since the export"),
        "words appended": (lambda m: m["vocab"]["words"].extend(["zzz1", "zzz2"]),
                           "vocab.words has"),
        "a rule changed": (lambda m: m["rules"].update(lowercase=False),
                           "rules changed since the export"),
        "a signature relabelled": (lambda m: m["signatures"][0].update(length=5),
                                   "signatures changed since the export"),
    }


@pytest.mark.parametrize("case", list(tflite_damages()))
def test_edited_tflite_metadata_is_refused_with_one_clear_error(exported, tmp_path, capsys,
                                                                 case):
    """An edited .json beside a .tflite gave an IndexError, a GATHER crash in LiteRT, or
    silently wrong answers (shifted words); now the key is named, in Python and the CLI."""
    from slukit.cli import main
    from slukit.lite.metadata import DIGESTED

    _, path, _ = exported
    meta = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
    assert sorted(meta["sha256"]) == sorted(DIGESTED)
    assert meta["vocab_sizes"]["intents"] == len(meta["vocab"]["intents"])
    change, what = tflite_damages()[case]
    change(meta)
    copy = tmp_path / "m.tflite"
    copy.write_bytes(path.read_bytes())
    copy.with_suffix(".json").write_text(json.dumps(meta), encoding="utf-8")
    with pytest.raises(LiteError, match=what):
        LitePredictor(copy)
    assert main(["predict", str(copy), "play jazz"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and what in err and "Traceback" not in err


def test_metadata_of_another_model_is_refused_without_digests(exported, tmp_path):
    """An older export (no sha256, no vocab_sizes) whose label lists do not fit the .tflite's
    outputs is refused when it is loaded, not with an IndexError at the first prediction."""
    _, path, _ = exported
    meta = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
    for key in ("sha256", "vocab_sizes"):
        meta.pop(key)
    meta["vocab"]["intents"].pop()
    copy = tmp_path / "old.tflite"
    copy.write_bytes(path.read_bytes())
    copy.with_suffix(".json").write_text(json.dumps(meta), encoding="utf-8")
    with pytest.raises(LiteError, match="intent output has .* entries, but its metadata lists"):
        LitePredictor(copy)
