"""Layers and JointSLU: shapes, padding never changes real outputs, config and save round trips."""

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from slukit.models.embeddings import CharCNNEmbedding, TokenEmbedding  # noqa: E402
from slukit.models.encoders import ENCODERS  # noqa: E402
from slukit.models.joint_slu import BroadcastConcat, JointSLU, MaskedPooling, TokenMask  # noqa: E402

from layer_test_case import run_layer_test  # noqa: E402


def test_token_embedding_shape_mask_and_config():
    ids = np.array([[2, 3, 0, 0]])
    layer = run_layer_test(TokenEmbedding, {"vocab_size": 10, "dim": 4}, {"ids": ids}, (1, 4, 4),
                           padded_inputs={"ids": np.pad(ids, ((0, 0), (0, 3)))}, real_steps=4)
    assert np.asarray(layer.compute_mask(ids)).tolist() == [[True, True, False, False]]


def test_char_cnn_padding_and_config():
    chars = np.array([[[3, 4, 5, 0], [6, 0, 0, 0], [0, 0, 0, 0]]])
    # Extra padding characters must not change a word's vector.
    wider = np.concatenate([chars, np.zeros((1, 3, 3), "int64")], axis=-1)
    layer = run_layer_test(CharCNNEmbedding, {"vocab_size": 20, "dim": 4, "filters": 5,
                                              "kernel_size": 3},
                           {"char_ids": chars}, (1, 3, 5), padded_inputs={"char_ids": wider},
                           atol=1e-6)
    out = np.asarray(layer(chars))
    assert np.allclose(out[0, 2], 0.0), "a padded token must embed to zeros"


@pytest.mark.parametrize("name", sorted(ENCODERS))
def test_encoder_padding_never_changes_real_outputs(name):
    x = np.random.default_rng(0).normal(size=(1, 4, 5)).astype("float32")
    mask = np.array([[True, True, True, True]])
    padded_x = np.concatenate([x, np.full((1, 3, 5), 7.0, "float32")], axis=1)
    padded_mask = np.array([[True] * 4 + [False] * 3])
    encoder = run_layer_test(ENCODERS[name], {"units": 8, "layers": 2}, {"x": x, "mask": mask},
                             (1, 4, None), padded_inputs={"x": padded_x, "mask": padded_mask},
                             real_steps=4)
    assert np.asarray(encoder(padded_x, mask=padded_mask)).shape[:2] == (1, 7)


def test_masked_pooling_ignores_padding():
    x = np.array([[[1.0, 2.0], [3.0, -4.0], [100.0, 100.0]]], "float32")
    mask = np.array([[True, True, False]])
    padded_x = np.concatenate([x, np.full((1, 2, 2), -50.0, "float32")], axis=1)
    layer = run_layer_test(MaskedPooling, {}, {"x": x, "token_mask": mask}, (1, 4),
                           padded_inputs={"x": padded_x,
                                          "token_mask": np.pad(mask, ((0, 0), (0, 2)))})
    out = np.asarray(layer(x, mask))
    assert np.allclose(out, [[2.0, -1.0, 3.0, 2.0]])


def test_token_mask_marks_real_tokens_of_word_and_char_ids():
    ids = np.array([[4, 2, 0]])
    layer = run_layer_test(TokenMask, {}, {"ids": ids}, (1, 3),
                           padded_inputs={"ids": np.pad(ids, ((0, 0), (0, 2)))}, real_steps=3)
    assert np.asarray(layer(ids)).tolist() == [[True, True, False]]
    chars = np.array([[[3, 1], [0, 0]]])
    assert np.asarray(layer(chars)).tolist() == [[True, False]]


def test_broadcast_concat_appends_the_utterance_vector_to_each_token():
    tokens = np.arange(6, dtype="float32").reshape(1, 3, 2)
    utterance = np.array([[9.0]], "float32")
    layer = run_layer_test(BroadcastConcat, {}, {"tokens": tokens, "utterance": utterance},
                           (1, 3, 3))
    assert np.asarray(layer(tokens, utterance))[0, :, 2].tolist() == [9.0, 9.0, 9.0]


def small_model(**kwargs):
    args = dict(num_intents=3, num_tags=5, word_vocab_size=20, char_vocab_size=12,
                word_dim=6, char_dim=4, char_filters=5, max_word_chars=6,
                encoder_config={"units": 4, "layers": 1}, dropout=0.1)
    args.update(kwargs)
    return JointSLU(**args)


def inputs(batch=2, tokens=4, chars=6):
    rng = np.random.default_rng(1)
    word_ids = rng.integers(2, 20, size=(batch, tokens)).astype("int32")
    word_ids[0, -1] = 0
    char_ids = rng.integers(2, 12, size=(batch, tokens, chars)).astype("int32")
    char_ids[0, -1] = 0
    return {"word_ids": word_ids, "char_ids": char_ids}


@pytest.mark.parametrize("embeddings", [["word"], ["char"], ["word", "char"]])
def test_joint_slu_outputs_for_each_embedding_choice(embeddings):
    model = small_model(embeddings=embeddings)
    feed = {k: v for k, v in inputs().items() if k.split("_")[0] in embeddings}
    out = model.predict(feed, verbose=0)
    assert out["intent"].shape == (2, 3)
    assert out["slots"].shape == (2, 4, 5)
    assert np.allclose(out["intent"].sum(-1), 1.0, atol=1e-5)


def test_joint_slu_padding_does_not_change_predictions():
    model = small_model()
    feed = inputs(batch=1, tokens=3)
    feed["word_ids"][0, -1] = 5
    feed["char_ids"][0, -1] = 4
    base = model.predict(feed, verbose=0)
    padded = {"word_ids": np.pad(feed["word_ids"], ((0, 0), (0, 5))),
              "char_ids": np.pad(feed["char_ids"], ((0, 0), (0, 5), (0, 0)))}
    out = model.predict(padded, verbose=0)
    assert np.allclose(out["intent"], base["intent"], atol=1e-5)
    assert np.allclose(out["slots"][:, :3], base["slots"], atol=1e-5)


@pytest.mark.parametrize("intent_to_slot", [False, True])
def test_joint_slu_config_and_saving_roundtrip(tmp_path, intent_to_slot):
    model = small_model(intent_to_slot=intent_to_slot)
    clone = JointSLU.from_config(model.get_config())
    assert clone.get_config() == model.get_config()
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, compile=False)
    assert isinstance(loaded, JointSLU)
    feed = inputs()
    a, b = model.predict(feed, verbose=0), loaded.predict(feed, verbose=0)
    assert np.allclose(a["intent"], b["intent"], atol=1e-6)
    assert np.allclose(a["slots"], b["slots"], atol=1e-6)


def test_every_schema_encoder_is_registered_and_builds():
    from slukit.models.builder import ENCODER_KEYS
    from slukit.recipe.schema import ENCODERS as SCHEMA_ENCODERS

    assert set(SCHEMA_ENCODERS) == set(ENCODERS) == set(ENCODER_KEYS)


@pytest.mark.parametrize("name", sorted(ENCODERS))
def test_joint_slu_saves_and_loads_with_each_encoder(name, tmp_path):
    config = {"units": 8, "layers": 1} if name not in ("mha", "biattention") else {"units": 8, "layers": 1, "heads": 2}
    model = small_model(encoder=name, encoder_config=config)
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, compile=False)
    feed = inputs()
    assert np.allclose(model.predict(feed, verbose=0)["slots"], loaded.predict(feed, verbose=0)["slots"],
                       atol=1e-6)


def test_highway_gate_starts_near_the_carry():
    from slukit.models.encoders import BiRNNEncoder

    layer = BiRNNEncoder(units=4, layers=2, highway=True)
    layer(np.zeros((1, 3, 6), "float32"))
    assert len(layer.gates) == 2 and layer.carries[0] is not None and layer.carries[1] is None
    assert np.allclose(np.asarray(layer.gates[0].bias), -1.0)


def test_attention_never_looks_where_it_is_not_allowed():
    from slukit.models.encoders import PerHeadAttention

    x = np.random.default_rng(0).normal(size=(1, 5, 8)).astype("float32")
    forward = np.tril(np.ones((5, 5), bool))[None]  # i sees j <= i, as biattention's forward half
    layer = run_layer_test(PerHeadAttention, {"dim": 8, "heads": 2}, {"x": x, "allowed": forward},
                           (1, 5, 8))
    base = np.asarray(layer(x, forward))
    changed = x.copy()
    changed[0, 4] += 5.0
    out = np.asarray(layer(changed, forward))
    assert np.allclose(out[0, :4], base[0, :4], atol=1e-5)
    assert not np.allclose(out[0, 4], base[0, 4])
