"""`LitePredictor`: raw text -> intent and slots with an exported `.tflite`, on LiteRT only.

Needs `ai-edge-litert` and numpy; it never imports TensorFlow or Keras. The
text rules are the model's own (`slukit.preprocess.preprocessor`, numpy-only):
whitespace tokens with offsets, NFKC (+ lower-casing), word and character ids,
and the same tag decoding (BIO Viterbi when the rules say so). The prediction
dicts are the ones `slukit predict` prints (`SLUPreprocessor.prediction`).

Lengths: the .tflite holds one signature per fixed length (`L16`, `L32`, ...).
An utterance runs in the shortest signature that holds it, zero-padded. The
default export's longest signature holds 64 tokens or 1.25 times the longest
utterance of the model's data, whichever is more, so real input rarely needs
more. A longer one is cut into half-overlapping windows of the largest length
(stride `size - size // 2`); each token takes its tags from the window in which
it is farthest from an edge (where it has the most context on both sides), and
the intent is the token-weighted mean of the windows' intent probabilities. So
every token gets a tag.

Accelerators: `"cpu"` runs `ai_edge_litert.interpreter.Interpreter`;
`"gpu"` runs `ai_edge_litert.compiled_model.CompiledModel` with
`HardwareAccelerator.GPU` only (it fails unless the whole graph runs on the
GPU; LiteRT 2.3.0's accelerator is WebGPU, over Vulkan on Linux).

Example:
    >>> p = LitePredictor("export/quickstart.tflite")            # doctest: +SKIP
    >>> p.predict(["wake me up at 7 am"])[0]["intent"]           # doctest: +SKIP
    'SetAlarm'
"""

import time
from pathlib import Path

import numpy as np

from slukit.errors import LiteError
from slukit.lite.metadata import (check_metadata, preprocessor_from_metadata,
                                  read_metadata)

ACCELERATORS = ("cpu", "gpu")
#: How a GPU failure tells the user to run on the CPU: the CLI flag and the Python argument.
CPU_HINT = "--accelerator cpu, or accelerator='cpu' from Python"


def windows(n, size, overlap=None):
    """`(start, end)` windows of `size` tokens covering `n` tokens.

    Example:
        >>> windows(5, 8)
        [(0, 5)]
        >>> windows(100, 48)
        [(0, 48), (24, 72), (48, 96), (52, 100)]
    """
    if n <= size:
        return [(0, n)]
    overlap = size // 2 if overlap is None else overlap
    stride = max(1, size - overlap)
    starts = list(range(0, n - size, stride)) + [n - size]
    return [(s, s + size) for s in starts]


def assign_windows(n, spans):
    """For each token, the index of the window where it is farthest from an edge."""
    owner = np.zeros(n, dtype=np.int64)
    for i in range(n):
        best, best_margin = 0, -1
        for w, (s, e) in enumerate(spans):
            if s <= i < e:
                margin = min(i - s, e - 1 - i)
                if margin > best_margin:
                    best, best_margin = w, margin
        owner[i] = best
    return owner


def _gpu_failure_message(err):
    import ctypes.util

    hints = []
    if ctypes.util.find_library("vulkan") is None:
        hints.append("the Vulkan loader (libvulkan.so.1; Debian/Ubuntu package libvulkan1) "
                     "is not installed")
    hints.append("LiteRT's GPU accelerator needs a GPU with a Vulkan driver and a graph that "
                 "it takes whole (check the export's GPU lint; float16-quantized exports add "
                 "DEQUANTIZE ops, which it rejects)")
    return ("LiteRT could not run this model on the GPU accelerator"
            f" ({str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__}): "
            + "; ".join(hints) + ". Run it on the CPU instead: " + CPU_HINT + ".")


class _CpuRunner:
    """One `SignatureRunner` per signature of `ai_edge_litert.interpreter.Interpreter`."""

    def __init__(self, model_path=None, model_content=None, num_threads=1):
        from ai_edge_litert.interpreter import Interpreter

        if model_content is not None:
            self.interpreter = Interpreter(model_content=bytes(model_content),
                                           num_threads=num_threads)
        else:
            self.interpreter = Interpreter(model_path=str(model_path), num_threads=num_threads)
        self.runners = {}

    def signatures(self):
        return self.interpreter.get_signature_list()

    def output_shapes(self, key):
        details = self.interpreter.get_signature_runner(key).get_output_details()
        return {name: [int(d) for d in info["shape"]] for name, info in details.items()}

    def __call__(self, key, feeds):
        runner = self.runners.get(key)
        if runner is None:
            runner = self.runners[key] = self.interpreter.get_signature_runner(key)
        out = runner(**feeds)
        return {k: np.array(v) for k, v in out.items()}


class _GpuRunner:
    """`CompiledModel` on `HardwareAccelerator.GPU`, buffers kept per signature."""

    def __init__(self, model_path=None, model_content=None, enforce_f32=False):
        try:
            from ai_edge_litert.compiled_model import CompiledModel
            from ai_edge_litert.hardware_accelerator import HardwareAccelerator
            from ai_edge_litert.options import GpuOptions, Options
        except ImportError as err:  # pragma: no cover - depends on the wheel
            raise LiteError(f"this ai-edge-litert has no CompiledModel API ({err}); "
                            f"install ai-edge-litert>=2.0 or run on the CPU ({CPU_HINT})") from None
        options = Options(hardware_accelerators=HardwareAccelerator.GPU,
                          gpu_options=GpuOptions(enforce_f32=enforce_f32))
        try:
            if model_content is not None:
                self.model = CompiledModel.from_buffer(bytes(model_content), options=options)
            else:
                self.model = CompiledModel.from_file(str(model_path), options=options)
        except Exception as err:  # LiteRT raises RuntimeError with a terse location
            raise LiteError(_gpu_failure_message(err)) from None
        if not self.model.is_fully_accelerated():
            raise LiteError("LiteRT's GPU accelerator did not take the whole graph; "
                            f"run the export's GPU lint, or run on the CPU ({CPU_HINT})")
        self.buffers = {}

    def signatures(self):
        return self.model.get_signature_list()

    def output_shapes(self, key):
        details = self.model.get_output_tensor_details(key)
        return {name: [int(d) for d in info["shape"]] for name, info in details.items()}

    def __call__(self, key, feeds):
        model = self.model
        if key not in self.buffers:
            spec = model.get_signature_list()[key]
            ins = {n: model.create_input_buffer_by_name(key, n) for n in spec["inputs"]}
            outs = {n: model.create_output_buffer_by_name(key, n) for n in spec["outputs"]}
            self.buffers[key] = (ins, outs, model.get_output_tensor_details(key))
        ins, outs, details = self.buffers[key]
        for name, buffer in ins.items():
            buffer.write(np.ascontiguousarray(feeds[name]))
        try:
            model.run_by_name(key, ins, outs)
        except Exception as err:
            raise LiteError(_gpu_failure_message(err)) from None
        result = {}
        for name, buffer in outs.items():
            shape = [int(d) for d in details[name]["shape"]]
            dtype = np.dtype(details[name]["dtype"])
            result[name] = buffer.read(int(np.prod(shape)), dtype).reshape(shape)
        return result


class LitePredictor:
    """Runs an exported `.tflite` (and its metadata JSON) on raw text.

    Args:
        tflite_path: the exported `.tflite`; its metadata is the `.json` beside it.
        accelerator: `"cpu"` (the LiteRT interpreter) or `"gpu"` (LiteRT's
            `CompiledModel` on the GPU accelerator; needs a GPU with a Vulkan driver).
        num_threads: CPU threads of the interpreter.
        gpu_enforce_f32: on the GPU, compute in fp32 instead of the default fp16.
        model_content, metadata: the .tflite's bytes and the metadata dict,
            instead of files (used by the export to check a model before writing it).
        fallback_threshold: overrides the fallback threshold stored in the metadata
            (`rules.confidence`); None keeps it, 0 turns it off.
        fallback_intent: overrides the stored fallback intent; None keeps it.

    Confidences are calibrated with the temperatures in the metadata
    (`rules.confidence`, see `slukit.calibration`).
    """

    def __init__(self, tflite_path=None, accelerator="cpu", num_threads=1,
                 gpu_enforce_f32=False, model_content=None, metadata=None,
                 fallback_threshold=None, fallback_intent=None):
        if accelerator not in ACCELERATORS:
            raise LiteError(f"accelerator must be one of {ACCELERATORS}, got {accelerator!r}")
        if model_content is None:
            if tflite_path is None:
                raise LiteError("give a .tflite path (or model_content and metadata)")
            tflite_path = Path(tflite_path)
            if tflite_path.is_dir():
                found = sorted(tflite_path.glob("*.tflite"))
                if len(found) != 1:
                    raise LiteError(f"{tflite_path}: expected one .tflite file, found {len(found)}")
                tflite_path = found[0]
            metadata = metadata or read_metadata(tflite_path)
        elif metadata is None:
            raise LiteError("model_content needs its metadata dict")
        check_metadata(metadata)
        self.path = tflite_path
        self.metadata = metadata
        self.accelerator = accelerator
        self.preprocessor = preprocessor_from_metadata(metadata)
        self.preprocessor.confidence = self.preprocessor.confidence.with_fallback(
            fallback_threshold, fallback_intent)
        self.lengths = sorted(int(s["length"]) for s in metadata["signatures"])
        self.keys = {int(s["length"]): s["key"] for s in metadata["signatures"]}
        self.inputs = list(metadata["inputs"])
        if not self.lengths:
            raise LiteError("the metadata lists no signatures")
        refused = (metadata.get("gpu") or {}).get("errors")
        if accelerator == "gpu" and refused:
            raise LiteError("this export was written for the CPU (--cpu-only): its GPU check "
                            f"found {'; '.join(refused[:3])}. Run it with --accelerator cpu "
                            "(accelerator='cpu' from Python).")
        if accelerator == "cpu":
            self._run = _CpuRunner(tflite_path, model_content, num_threads)
        else:
            self._run = _GpuRunner(tflite_path, model_content, gpu_enforce_f32)
        missing = [k for k in self.keys.values() if k not in self._run.signatures()]
        if missing:
            raise LiteError(f"the .tflite lacks the signatures {missing} that its metadata lists")
        self._check_output_sizes()

    def _check_output_sizes(self):
        """The .tflite's intent and tag outputs have one entry per label of the metadata
        (a metadata with a label too few or too many belongs to another model)."""
        where = self.path if self.path is not None else "the model"
        shapes = self._run.output_shapes(self.keys[self.max_length])
        for output, table in (("intent", "intents"), ("slots", "tags")):
            shape = shapes.get(output)
            size = len(self.metadata["vocab"][table])
            if shape and shape[-1] != size:
                raise LiteError(f"{where}: the model's {output} output has {shape[-1]} entries, "
                                f"but its metadata lists {size} {table} (vocab.{table}); the "
                                ".tflite and its .json do not belong together (export again)")

    @property
    def max_length(self):
        return self.lengths[-1]

    def length_for(self, n):
        """The shortest signature length that holds `n` tokens (None if none does)."""
        for length in self.lengths:
            if n <= length:
                return length
        return None

    def run_length(self, length, encoded):
        """Runs the `length` signature on unpadded inputs of at most `length` tokens.

        Returns `(intent_probs [num_intents], tag_probs [n, num_tags])`.
        """
        n = len(next(iter(encoded.values()))) if encoded else 0
        feeds = {}
        for name in self.inputs:
            values = encoded[name]
            padded = np.zeros((length,) + tuple(values.shape[1:]), dtype=np.int32)
            padded[:n] = values
            feeds[name] = padded
        out = self._run(self.keys[length], feeds)
        return np.asarray(out["intent"]).reshape(-1), np.asarray(out["slots"])[:n]

    def run_encoded(self, encoded):
        """Intent and tag probabilities for one encoded utterance of any length."""
        n = len(next(iter(encoded.values())))
        length = self.length_for(n)
        if length is not None:
            return self.run_length(length, encoded)
        spans = windows(n, self.max_length)
        owner = assign_windows(n, spans)
        tag_probs, intent = None, 0.0
        for w, (s, e) in enumerate(spans):
            ip, tp = self.run_length(self.max_length, {k: v[s:e] for k, v in encoded.items()})
            if tag_probs is None:
                tag_probs = np.zeros((n, tp.shape[-1]), dtype=tp.dtype)
            mine = np.nonzero(owner[s:e] == w)[0]
            tag_probs[s + mine] = tp[mine]
            intent = intent + ip * (len(mine) / n)
        return np.asarray(intent, dtype=np.float32), tag_probs

    def probabilities(self, tokens):
        """`(intent_probs, tag_probs [len(tokens), num_tags])` for a token list."""
        return self.run_encoded(self.preprocessor.encode_inputs(list(tokens)))

    def predict_one(self, text):
        spans = self.preprocessor.tokenize(text)
        intent_probs, tag_probs = self.probabilities([s[0] for s in spans])
        return self.preprocessor.prediction(text, intent_probs, tag_probs)

    def predict(self, texts):
        """One prediction dict per text (see `SLUPreprocessor.prediction`); a bare string
        is one text (a list of one prediction), as for `slukit.predict.Predictor`."""
        if isinstance(texts, str):
            texts = [texts]
        return [self.predict_one(t) for t in texts]

    def latency_ms(self, length=None, runs=50):
        """Median milliseconds of one run of a signature (the shortest by default)."""
        length = length or self.lengths[0]
        feeds = {}
        ones = {name: np.ones([length] + [d for d in self.metadata["inputs"][name]["shape"][1:]],
                              dtype=np.int32) for name in self.inputs}
        feeds.update(ones)
        key = self.keys[length]
        self._run(key, feeds)
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            self._run(key, feeds)
            times.append(time.perf_counter() - start)
        return 1e3 * float(np.median(times))
