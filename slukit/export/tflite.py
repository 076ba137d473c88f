"""Exports a trained model directory to one `.tflite` (one signature per fixed length)
plus a metadata JSON, checked for builtin-only ops, LiteRT GPU pitfalls and parity.

What `export_tflite("runs/quickstart", "export/quickstart.tflite")` writes:

    export/quickstart.tflite   signatures L8 ... L48: word_ids int32 [L] and/or
                               char_ids int32 [L, max_word_chars] -> intent [I], slots [L, K]
    export/quickstart.json     text rules, vocabularies and labels inline, signatures,
                               input/output names, GPU findings, parity (slukit.lite.metadata)

How:
    1. `InferenceGraph` (slukit.export.graph) rebuilds the forward pass for one
       utterance of each fixed length from the trained layers and weights; the
       BiRNN encoders are unrolled, both directions batched in one step.
    2. A Keras `ExportArchive` (what `model.export(format="tf_saved_model")` uses)
       writes a SavedModel with one endpoint per length, which keeps the weights
       (FACTS: `tf.saved_model.save` of a tf.Module holding the model lost them).
    3. `TFLiteConverter.from_saved_model(signature_keys=...)` with TFLITE_BUILTINS only,
       optionally with float16 or dynamic-range int8 weights.
    4. Static GPU lint (`slukit.export.gpu_lint`) and `Analyzer(gpu_compatibility=True)`.
    5. Parity against the Keras model on a sample of utterances, run through the
       light runtime (`slukit.lite.LitePredictor`) exactly as a device would.
    6. Both files are written under temporary names and renamed into place; any
       failure leaves nothing behind.

Example:
    >>> report = export_tflite("runs/quickstart", "/tmp/qs.tflite")   # doctest: +SKIP
    >>> report["parity"]["intent_agreement"]                           # doctest: +SKIP
    1.0
"""

import datetime
import json
import math
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from slukit.export.gpu_check import gpu_check
from slukit.export.parity import (FP32_TOLERANCE, check_parity, joined_pairs, parity_sample,
                                  past_longest)
from slukit.errors import ExportError
from slukit.lite.metadata import FORMAT, FORMAT_VERSION, LONG_INPUTS, metadata_path

QUANTIZE = ("none", "float16", "dynamic")
#: Signature lengths below the longest: short utterances run on a short unrolled graph
#: (an unrolled BiRNN pays for every padded step; ATIS's median utterance has 10 tokens).
LENGTH_LADDER = (8, 12, 16, 32, 48, 64, 96, 128, 192, 256, 384, 512)
#: The longest signature is at least this long, and at least `LENGTH_MARGIN` times the
#: longest utterance of the model's train, valid and test data (rounded up to 8 tokens):
#: real input is often longer than the data, and a windowed utterance loses context.
MIN_MAX_LENGTH = 64
LENGTH_MARGIN = 1.25


def default_lengths(longest):
    """The export's fixed lengths for utterances of up to `longest` tokens.

    Example:
        >>> default_lengths(64)
        [8, 12, 16, 32, 48, 64]
        >>> default_lengths(24)
        [8, 12, 16, 24]
    """
    return sorted({n for n in LENGTH_LADDER if n < longest} | {longest})


def longest_data_utterance(model_dir):
    """The most tokens of an utterance in the model's train, valid and test data, from its
    `metadata.json` (`max_tokens`, else `max_train_tokens`); None when it does not say."""
    try:
        meta = json.loads((Path(model_dir) / "metadata.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    counts = [n for n in (meta.get("max_tokens") or {}).values() if isinstance(n, int)]
    if meta.get("max_train_tokens"):
        counts.append(int(meta["max_train_tokens"]))
    return max(counts) if counts else None


def default_max_length(model_dir):
    """The longest signature of a default export: `max(64, longest utterance x 1.25)`,
    rounded up to a multiple of 8 tokens (64 when the metadata does not say).

    Example:
        >>> import tempfile, json, pathlib
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> _ = (d / "metadata.json").write_text(json.dumps({"max_tokens": {"train": 46, "test": 48}}))
        >>> default_max_length(d)
        64
        >>> _ = (d / "metadata.json").write_text(json.dumps({"max_tokens": {"train": 70}}))
        >>> default_max_length(d)
        88
    """
    longest = longest_data_utterance(model_dir) or 0
    return max(MIN_MAX_LENGTH, -(-math.ceil(longest * LENGTH_MARGIN) // 8) * 8)


def training_length(model_dir):
    """The longest signature of a default export (kept for callers of earlier versions)."""
    return default_max_length(model_dir)


def normalize_lengths(lengths):
    """A sorted tuple of distinct positive lengths from an int or a sequence."""
    if isinstance(lengths, (int, np.integer)):
        lengths = (int(lengths),)
    try:
        values = sorted({int(x) for x in lengths})
    except (TypeError, ValueError):
        raise ExportError(f"lengths must be a positive int or a list of them, "
                          f"got {lengths!r}") from None
    if not values or values[0] < 1:
        raise ExportError(f"lengths must be positive, got {list(lengths)}")
    return tuple(values)


def check_quantize(quantize):
    if quantize not in QUANTIZE:
        raise ExportError(f"quantize must be one of {', '.join(QUANTIZE)}; got {quantize!r}")
    return quantize


def check_output_path(output_path):
    """The output `.tflite` path and its metadata path; errors if either exists."""
    output = Path(output_path)
    if output.suffix != ".tflite":
        raise ExportError(f"{output}: the output must be a .tflite file path "
                          "(its metadata is written beside it as .json)")
    meta = metadata_path(output)
    for path in (output, meta):
        if path.exists() or path.is_symlink():
            raise ExportError(f"{path}: already exists; choose another output or remove it")
    return output, meta


# --- SavedModel and conversion --------------------------------------------------------

def _endpoint_fn(graph):
    """A function with one named argument per model input (tf.function needs real names)."""
    if graph.inputs == ["word_ids", "char_ids"]:
        def fn(word_ids, char_ids):
            return graph(word_ids=word_ids, char_ids=char_ids)
    elif graph.inputs == ["word_ids"]:
        def fn(word_ids):
            return graph(word_ids=word_ids)
    else:
        def fn(char_ids):
            return graph(char_ids=char_ids)
    return fn


def signature_key(length):
    return f"L{length}"


def write_saved_model(model, preprocessor, lengths, directory):
    """A SavedModel with one endpoint (`L16`, ...) per fixed length."""
    import keras
    import tensorflow as tf

    from slukit.export.graph import InferenceGraph

    graph = InferenceGraph(model)
    archive = keras.export.ExportArchive()
    archive.track(model)
    for length in lengths:
        spec = {"word_ids": tf.TensorSpec([length], tf.int32, name="word_ids"),
                "char_ids": tf.TensorSpec([length, preprocessor.max_word_chars], tf.int32,
                                          name="char_ids")}
        archive.add_endpoint(signature_key(length), _endpoint_fn(graph),
                             input_signature=[spec[name] for name in graph.inputs])
    archive.write_out(str(directory), verbose=False)
    return graph


def convert(saved_model_dir, keys, quantize):
    """TFLite flatbuffer bytes, TFLITE_BUILTINS only."""
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_saved_model(str(saved_model_dir),
                                                         signature_keys=list(keys))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if quantize == "float16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif quantize == "dynamic":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    try:
        return converter.convert()
    except Exception as err:  # the converter raises ConverterError with a long log
        first = str(err).strip().splitlines()[:3]
        raise ExportError("TFLite conversion failed (builtin ops only): "
                          + " ".join(first)) from None


# --- metadata -----------------------------------------------------------------------

def build_metadata(bundle, graph, lengths, quantize, model_file, gpu=None, parity=None):
    pre = bundle.preprocessor
    rules = {k: v for k, v in pre.rules().items() if k != "files"}
    config = bundle.model.get_config()
    inputs = {}
    if "word_ids" in graph.inputs:
        inputs["word_ids"] = {"dtype": "int32", "shape": ["L"],
                              "description": "word ids, 0 = padding, 1 = <unk>"}
    if "char_ids" in graph.inputs:
        inputs["char_ids"] = {"dtype": "int32", "shape": ["L", pre.max_word_chars],
                              "description": "character ids of each word's first "
                                             "max_word_chars characters, 0 = padding"}
    import slukit

    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model_file": model_file,
        "quantize": quantize,
        "signatures": [{"key": signature_key(n), "length": n} for n in lengths],
        "inputs": inputs,
        "outputs": {
            "intent": {"dtype": "float32", "shape": [len(pre.intents)],
                       "description": "intent probabilities (vocab.intents order)"},
            "slots": {"dtype": "float32", "shape": ["L", len(pre.tags)],
                      "description": "tag probabilities per position (vocab.tags order; "
                                     "tag 0 <pad> is never chosen; padded positions are "
                                     "meaningless)"},
        },
        "rules": rules,
        "vocab": {
            "words": list(pre.words.tokens) if pre.words is not None else None,
            "chars": list(pre.chars.tokens) if pre.chars is not None else None,
            "intents": list(pre.intents.tokens),
            "tags": list(pre.tags.tokens),
        },
        "long_inputs": LONG_INPUTS,
        "gpu": {k: v for k, v in (gpu or {}).items() if k != "analyzer_text"},
        "parity": parity or {},
        "source": {
            "model_dir": str(bundle.path),
            "encoder": config.get("encoder"),
            "encoder_config": config.get("encoder_config"),
            "embeddings": config.get("embeddings"),
            "slukit_version": slukit.__version__,
            "exported": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        },
    }


# --- the export -----------------------------------------------------------------------

def export_tflite(model_dir, output_path, lengths=None, quantize="none",
                  gpu_lint="error", parity_texts=None, parity_limit=200, analyzer=True,
                  latency_runs=50):
    """Exports `model_dir` to `output_path` (.tflite) and its metadata (.json beside it).

    Args:
        model_dir: a finished slukit model directory.
        output_path: the `.tflite` to write; it and its `.json` must not exist.
        lengths: fixed utterance lengths, one signature each (an int for one). None:
            `default_lengths(default_max_length(model_dir))`, a ladder 8, 12, 16, 32, 48,
            ... up to `max(64, 1.25 x the longest train/valid/test utterance)`.
        quantize: `"none"` (fp32), `"float16"` (fp16 weights) or `"dynamic"`
            (dynamic-range int8 weights).
        gpu_lint: `"error"`: fail (nothing written) when the static GPU check finds
            an op LiteRT's GPU accelerator rejects (for float16, DEQUANTIZE is a
            warning: see `FLOAT16_NOTE`); `"warn"`: report the findings and write.
        parity_texts: texts to check parity on (default: the recipe's test split).
            They are also joined in pairs into long inputs, checked and reported apart
            (`parity["long"]`), windowed where longer than the longest signature; and
            joined into inputs longer than the longest signature, which are always
            windowed (`parity["past_longest"]`, agreement under `windowed_agreement`).
        parity_limit: at most this many utterances of the default sample.
        analyzer: also run `tf.lite.experimental.Analyzer` (its text is in the report).
        latency_runs: runs per signature for the latency medians.

    Returns a report dict: paths, size, signatures, ops, GPU findings, parity, latency.
    """
    started = time.perf_counter()
    check_quantize(quantize)
    if gpu_lint not in ("error", "warn"):
        raise ExportError(f"gpu_lint must be 'error' or 'warn'; got {gpu_lint!r}")
    output, meta_path = check_output_path(output_path)
    from slukit.integrity import verify_model_dir
    from slukit.train.artifact import load_model_dir

    from slukit.export.graph import require_tensorflow_backend

    verify_model_dir(model_dir)
    chosen = "given"
    if lengths is None:
        longest = longest_data_utterance(model_dir)
        lengths = default_lengths(default_max_length(model_dir))
        chosen = (f"default: max({MIN_MAX_LENGTH}, {LENGTH_MARGIN} x the longest train/valid/"
                  f"test utterance ({longest if longest is not None else 'unknown'} tokens)), "
                  "rounded up to 8")
    lengths = normalize_lengths(lengths)
    require_tensorflow_backend()
    bundle = load_model_dir(model_dir)

    with tempfile.TemporaryDirectory(prefix="slukit-export-") as tmp:
        graph = write_saved_model(bundle.model, bundle.preprocessor, lengths, Path(tmp) / "sm")
        content = convert(Path(tmp) / "sm", [signature_key(n) for n in lengths], quantize)

    from slukit.export.gpu_lint import op_counts

    ops = dict(op_counts(content).most_common())
    not_builtin = sorted(k for k in ops if k.startswith("CUSTOM") or k.startswith("BUILTIN_"))
    if not_builtin:
        raise ExportError(f"the converted model holds non-builtin ops {not_builtin}")
    gpu = gpu_check(content, quantize, analyzer=analyzer,
                    encoder=bundle.recipe.get("model", {}).get("encoder"))
    if gpu["errors"] and gpu_lint == "error":
        shown = "; ".join(gpu["errors"][:5])
        raise ExportError(f"the GPU check found {len(gpu['errors'])} thing(s) that "
                          f"LiteRT's GPU accelerator rejects or miscomputes: {shown}. Nothing was "
                          "written (to write it anyway, for the CPU: --cpu-only, or gpu_lint='warn' "
                          "from Python).")

    from slukit.lite.predictor import LitePredictor

    metadata = build_metadata(bundle, graph, lengths, quantize, output.name, gpu=gpu)
    lite = LitePredictor(model_content=content, metadata=metadata, num_threads=1)
    tokens, source = parity_sample(bundle, parity_texts, parity_limit)
    parity = check_parity(bundle, lite, tokens)
    parity["sample"] = source
    parity["long"] = check_parity(bundle, lite, joined_pairs(tokens))
    parity["long"]["sample"] = f"pairs of the {source} joined"
    # Longer than the longest signature: windowed, so reported apart (windowed_agreement).
    parity["past_longest"] = check_parity(bundle, lite, past_longest(tokens, lite.max_length))
    parity["past_longest"]["sample"] = (f"the {source} joined into inputs longer than "
                                        f"{lite.max_length} tokens")
    if quantize == "none":
        for part in (parity, parity["long"]):
            if not part.get("utterances"):
                continue
            worst = max(part["max_abs_diff_intent"], part["max_abs_diff_slots"])
            if not worst <= FP32_TOLERANCE:  # also catches NaN
                raise ExportError(f"parity check failed: the fp32 .tflite differs from the "
                                  f"Keras model by {worst:.3g} (> {FP32_TOLERANCE}); nothing "
                                  "was written")
    latency = {signature_key(n): round(lite.latency_ms(n, runs=latency_runs), 4) for n in lengths}
    metadata["parity"] = parity
    metadata["latency_ms_cpu_1_thread"] = latency
    import hashlib

    metadata["model_sha256"] = hashlib.sha256(content).hexdigest()
    from slukit.lite.metadata import seal_metadata

    seal_metadata(metadata)  # digests of what decides the predictions, and vocabulary sizes

    _write_atomically(output, meta_path, content, metadata)
    return {
        "path": str(output),
        "metadata_path": str(meta_path),
        "layout": "one .tflite with one signature per length, metadata JSON beside it",
        "size_bytes": len(content),
        "quantize": quantize,
        "signatures": metadata["signatures"],
        "lengths_chosen": chosen,
        "inputs": list(metadata["inputs"]),
        "outputs": list(metadata["outputs"]),
        "ops": ops,
        "op_count": int(sum(ops.values())),
        "builtin_only": True,
        "gpu": gpu,
        "parity": parity,
        "latency_ms_cpu_1_thread": latency,
        "seconds": round(time.perf_counter() - started, 2),
    }


def _write_atomically(output, meta_path, content, metadata):
    """Writes both files under temporary names, then renames them (the .tflite last)."""
    created = not output.parent.exists()
    output.parent.mkdir(parents=True, exist_ok=True)
    tag = f".tmp-{os.getpid()}"
    tmp_model = output.parent / f".{output.name}{tag}"
    tmp_meta = output.parent / f".{meta_path.name}{tag}"
    renamed_meta = False
    try:
        tmp_model.write_bytes(content)
        tmp_meta.write_text(json.dumps(metadata, indent=1, ensure_ascii=False) + "\n",
                            encoding="utf-8")
        check_output_path(output)  # nothing appeared meanwhile
        from slukit import interrupt

        interrupt.check()  # a Ctrl-C that TensorFlow swallowed: write nothing
        os.replace(tmp_meta, meta_path)
        renamed_meta = True
        os.replace(tmp_model, output)
    except BaseException:
        for path in (tmp_model, tmp_meta):
            path.unlink(missing_ok=True)
        if renamed_meta and not output.exists():
            meta_path.unlink(missing_ok=True)
        if created:
            try:
                output.parent.rmdir()
            except OSError:
                pass
        raise
