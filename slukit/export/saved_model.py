"""Exports a model directory as a SavedModel that takes raw text.

`export_saved_model("runs/quickstart", "export/quickstart_text")` writes a
SavedModel whose `serving_default` signature takes `text`, a `tf.string [None]`
batch of utterances (a scalar string is taken as a batch of one; any other shape
is refused with an `InvalidArgumentError` that says so), and returns (batch `B`,
`T` = most tokens in the batch):

    intent               string  [B]     the best intent (the fallback intent below the
                                         model's fallback threshold, if it has one)
    intent_confidence    float32 [B]     its calibrated probability (the model's intent
                                         temperature applied, see `slukit.calibration`)
    fallback             bool    [B]     whether the fallback replaced the intent
    tags                 string  [B, T]  one BIO tag per token, "" past num_tokens
    tokens               string  [B, T]  the whitespace tokens as written, "" past num_tokens
    num_tokens           int32   [B]

The text rules run in the graph, the same as `SLUPreprocessor`'s:
`tensorflow_text.WhitespaceTokenizer`, `tensorflow_text.normalize_utf8(.., "NFKC")`
per token, `tf.strings.lower(.., encoding="utf-8")` when the rules lower-case,
word ids from a `tf.lookup.StaticHashTable` (unknown -> 1, `<unk>`), character
ids from `tf.strings.unicode_split` (first `max_word_chars` characters), and tag
decoding by argmax or by the same Viterbi (`slot_decoding`, learned CRF
transitions when `model.slot_decoder` is crf).
The trained Keras model runs as it is (its RNNs keep their fast kernels).

Loading needs the TF.Text ops registered first:

    import tensorflow as tf
    import tensorflow_text  # noqa: F401  (registers WhitespaceTokenizeWithOffsetsV2, NormalizeUTF8)
    serve = tf.saved_model.load("export/quickstart_text").signatures["serving_default"]
    serve(text=tf.constant(["wake me up at 7 am"]))["intent"]

Known gaps against the Python rules (rare text): TF.Text splits on ICU
White_Space where Python's `str.split()` also splits on the ASCII separators
U+001C..U+001F; `tf.strings.lower` applies ICU's simple (one-to-one) lower-case
mapping where Python's `str.lower` applies the full one (`"İ"` -> `"i̇"`).

`assets.extra/slukit.json` in the SavedModel holds the text rules and labels.

Example:
    >>> export_saved_model("runs/quickstart", "/tmp/qs_text")     # doctest: +SKIP
"""

import json
import os
import shutil
from pathlib import Path

from slukit.errors import ExportError


def viterbi_tf(probs, lengths, start, step, end):
    """Batched Viterbi in TF, the same arithmetic as `slukit.preprocess.decoding.viterbi`.

    Args:
        probs: `[B, T, K]` tag probabilities without `<pad>` (float).
        lengths: `[B]` real tokens per utterance.
        start, step, end: the float scores of `SLUPreprocessor.decoder()`.

    Returns `[B, T]` int32 tag indices (into the K tags).
    """
    import tensorflow as tf

    log_probs = tf.math.log(tf.maximum(tf.cast(probs, tf.float64), 1e-12))
    num_tags = len(start)
    penalty = tf.constant(step, tf.float64)  # [K, K]
    batch = tf.shape(log_probs)[0]
    length = tf.shape(log_probs)[1]
    score = tf.constant(start, tf.float64)[None, :] + log_probs[:, 0]
    identity = tf.tile(tf.range(num_tags, dtype=tf.int32)[None, :], [batch, 1])
    backs = tf.TensorArray(tf.int32, size=length, element_shape=[None, num_tags])
    backs = backs.write(0, identity)

    def forward(t, score, backs):
        total = score[:, :, None] + penalty[None]  # [B, from K, to K]
        back = tf.argmax(total, axis=1, output_type=tf.int32)
        new = tf.reduce_max(total, axis=1) + log_probs[:, t]
        valid = (t < lengths)[:, None]
        return t + 1, tf.where(valid, new, score), backs.write(t, tf.where(valid, back, identity))

    _, score, backs = tf.while_loop(lambda t, s, b: t < length, forward,
                                    (tf.constant(1), score, backs))
    backs = backs.stack()  # [T, B, K]
    last = tf.argmax(score + tf.constant(end, tf.float64)[None, :], axis=-1,
                     output_type=tf.int32)  # [B]
    path = tf.TensorArray(tf.int32, size=length, element_shape=[None])
    path = path.write(length - 1, last)

    def backward(t, current, path):
        previous = tf.gather(backs[t], current[:, None], axis=1, batch_dims=1)[:, 0]
        return t - 1, previous, path.write(t - 1, previous)

    _, _, path = tf.while_loop(lambda t, c, p: t > 0, backward, (length - 1, last, path))
    return tf.transpose(path.stack())  # [B, T]


class TextEncoder:
    """The preprocessor's text rules as TF ops: strings `[B]` -> model inputs."""

    def __init__(self, preprocessor):
        import tensorflow as tf
        import tensorflow_text as tf_text

        self.pre = preprocessor
        self.tokenizer = tf_text.WhitespaceTokenizer()
        self.tables = {}
        for key, vocab in (("words", preprocessor.words), ("chars", preprocessor.chars)):
            if vocab is not None:
                init = tf.lookup.KeyValueTensorInitializer(
                    tf.constant(vocab.tokens, tf.string),
                    tf.range(len(vocab.tokens), dtype=tf.int64))
                self.tables[key] = tf.lookup.StaticHashTable(init, default_value=vocab.unk_id or 1)

    def __call__(self, texts):
        import tensorflow as tf
        import tensorflow_text as tf_text

        tokens = self.tokenizer.tokenize(texts)  # ragged [B, (T)]
        norm = tokens.with_flat_values(tf_text.normalize_utf8(tokens.flat_values, "NFKC"))
        if self.pre.lowercase:
            norm = norm.with_flat_values(tf.strings.lower(norm.flat_values, encoding="utf-8"))
        num_tokens = tf.cast(tokens.row_lengths(), tf.int32)
        width = tf.maximum(tf.reduce_max(tf.concat([num_tokens, [0]], 0)), 1)
        batch = tf.shape(texts)[0]
        inputs = {}
        if "words" in self.tables:
            ids = tf.cast(norm.with_flat_values(self.tables["words"].lookup(norm.flat_values)),
                          tf.int32)
            inputs["word_ids"] = ids.to_tensor(0, shape=tf.stack([batch, width]))
        if "chars" in self.tables:
            chars = tf.strings.unicode_split(norm, "UTF-8")  # ragged [B, (T), (chars)]
            chars = chars[:, :, : self.pre.max_word_chars]
            ids = tf.cast(chars.with_flat_values(self.tables["chars"].lookup(chars.flat_values)),
                          tf.int32)
            inputs["char_ids"] = ids.to_tensor(
                0, shape=tf.stack([batch, width, self.pre.max_word_chars]))
        return tokens, num_tokens, width, inputs


def build_serving_fn(model, preprocessor, encoder):
    import tensorflow as tf

    intents = tf.constant(preprocessor.intents.tokens)
    tag_names = tf.constant([""] + preprocessor.tags.tokens[1:])
    scores = preprocessor.decoder()

    confidence = preprocessor.confidence
    temperature = float(confidence.intent_temperature)
    threshold = float(confidence.fallback_threshold or 0.0)

    def serve(text):
        # The signature takes any shape, so that a scalar (one text) does not reach the
        # tokenizer unchecked (it crashed the process) and a 2-D batch is refused
        # rather than read by its first column.
        check = tf.debugging.Assert(
            tf.rank(text) <= 1,
            ["serving_default takes a 1-D batch of strings (or one string); got shape",
             tf.shape(text)])
        with tf.control_dependencies([check]):
            text = tf.reshape(text, [-1])
        tokens, num_tokens, width, inputs = encoder(text)
        out = model(inputs, training=False)
        intent_probs, slot_probs = out["intent"], out["slots"]
        if temperature != 1.0:  # calibrated: softmax(log(p) / T), as SLUPreprocessor does
            intent_probs = tf.nn.softmax(
                tf.math.log(tf.maximum(tf.cast(intent_probs, tf.float64), 1e-30)) / temperature)
        intent_probs = tf.cast(intent_probs, tf.float32)
        best = tf.argmax(intent_probs, axis=-1, output_type=tf.int32)
        top = tf.reduce_max(intent_probs, axis=-1)
        fallback = top < threshold
        intent = tf.where(fallback, tf.constant(confidence.fallback_intent),
                          tf.gather(intents, best))
        probs = slot_probs[:, :, 1:]
        if scores is not None:
            tag_ids = viterbi_tf(probs, num_tokens, *scores) + 1
        else:
            tag_ids = tf.argmax(probs, axis=-1, output_type=tf.int32) + 1
        real = tf.sequence_mask(num_tokens, width)
        tag_ids = tf.where(real, tag_ids, 0)  # "" past the utterance
        return {
            "intent": intent,
            "intent_confidence": top,
            "fallback": fallback,
            "tags": tf.gather(tag_names, tag_ids),
            "tokens": tokens.to_tensor("", shape=tf.stack([tf.shape(text)[0], width])),
            "num_tokens": num_tokens,
        }

    return serve


def export_saved_model(model_dir, output_dir):
    """Writes a text-in SavedModel of `model_dir` to `output_dir` (which must not exist).

    Returns `{"path", "signature", "inputs", "outputs", "load_requires"}`.
    """
    import tensorflow as tf

    from slukit.integrity import verify_model_dir
    from slukit.train.artifact import load_model_dir

    output = Path(output_dir)
    if output.exists() or output.is_symlink():
        raise ExportError(f"{output}: already exists; choose another output or remove it")
    from slukit.export.graph import require_tensorflow_backend

    verify_model_dir(model_dir)
    require_tensorflow_backend()
    bundle = load_model_dir(model_dir)
    import keras

    pre = bundle.preprocessor
    encoder = TextEncoder(pre)
    archive = keras.export.ExportArchive()
    archive.track(bundle.model)
    for table in encoder.tables.values():
        archive.track(table)
    archive.add_endpoint("serving_default", build_serving_fn(bundle.model, pre, encoder),
                         input_signature=[tf.TensorSpec(None, tf.string, name="text")])

    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.parent / f".{output.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        archive.write_out(str(tmp), verbose=False)
        extra = tmp / "assets.extra"
        extra.mkdir(exist_ok=True)
        info = {
            "format": "slukit-text-saved-model",
            "signature": "serving_default",
            "inputs": {"text": "string [B]"},
            "outputs": {"intent": "string [B]", "intent_confidence": "float32 [B]",
                        "fallback": "bool [B]", "tags": "string [B, T]", "tokens": "string [B, T]",
                        "num_tokens": "int32 [B]"},
            "load_requires": ["tensorflow", "tensorflow_text (import it before loading)"],
            "rules": {k: v for k, v in pre.rules().items() if k != "files"},
            "intents": list(pre.intents.tokens),
            "tags": list(pre.tags.tokens),
            "source": str(bundle.path),
        }
        (extra / "slukit.json").write_text(json.dumps(info, indent=1, ensure_ascii=False) + "\n",
                                           encoding="utf-8")
        if output.exists():
            raise ExportError(f"{output}: appeared while exporting; not replaced")
        from slukit import interrupt

        interrupt.check()  # a Ctrl-C that TensorFlow swallowed: write nothing
        tmp.rename(output)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return {"path": str(output), "signature": "serving_default", "inputs": info["inputs"],
            "outputs": info["outputs"], "load_requires": info["load_requires"]}
