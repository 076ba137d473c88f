"""Does an exported .tflite answer like Keras on LiteRT's GPU accelerator, on real and long input?

Two steps, because the machine with the GPU has no TensorFlow:

    # 1. here, with Keras: the model directory's answers on its test split and on those
    #    utterances joined in pairs (long inputs), saved beside the .tflite as MODEL.ref.npz
    python benchmarks/gpu_parity.py reference MODEL_DIR MODEL.tflite [--limit N] [--pairs N]

    # 2. on a machine with a GPU and a Vulkan driver (needs only numpy and ai-edge-litert)
    python benchmarks/gpu_parity.py check MODEL.tflite [MORE.tflite ...] [--out report.json]

`check` runs every reference utterance through `slukit.lite.LitePredictor` in three ways: the
CPU interpreter, the GPU accelerator in its default fp16 arithmetic, and the GPU with fp32
enforced. Each way runs in its own process, because the GPU delegate aborts the process on
some graphs. For each way it reports:
- whether the GPU took the whole graph;
- the share of utterances whose intent and decoded tags (Viterbi, as shipped) equal Keras's,
  for those that fit a signature and, apart, for the windowed ones longer than the longest;
- the largest difference of an intent probability from Keras's, and (GPU) of any intent or
  tag probability from the CPU interpreter's;
- the median latency of each signature length.
"""

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
WAYS = {"cpu": ("cpu", False), "gpu_fp16": ("gpu", False), "gpu_fp32": ("gpu", True)}


def reference_path(tflite):
    return Path(str(tflite)[:-len(".tflite")] + ".ref.npz")


def reference(model_dir, tflite, limit, pairs, fours):
    """Keras's probabilities and decoded tags on the test split and on joined pairs."""
    from slukit.data.batching import EncodedData
    from slukit.data.example import Example
    from slukit.export.parity import joined_pairs, parity_sample
    from slukit.train.artifact import load_model_dir
    from slukit.train.inference import predict_probs

    bundle = load_model_dir(model_dir)
    pre = bundle.preprocessor
    tokens, source = parity_sample(bundle, limit=limit)
    long = joined_pairs(tokens, limit=pairs)
    long += [sum(tokens[i:i + 4], []) for i in range(0, len(tokens) - 3, 4)][:fours]
    token_lists = tokens + long
    data = EncodedData(pre, [Example(t, [], "") for t in token_lists], labels=False)
    intents, tags = predict_probs(bundle.model, data)
    lengths = np.array([len(t) for t in token_lists], dtype=np.int32)
    decoded = [pre.decode_tags(t) if len(t) else [] for t in tags]
    np.savez_compressed(
        reference_path(tflite),
        tokens=np.array(json.dumps(token_lists)), decoded=np.array(json.dumps(decoded)),
        source=np.array(f"{source} ({len(tokens)}) + {len(long)} joined (pairs, fours)"),
        lengths=lengths, intent_probs=np.asarray(intents, dtype=np.float32))
    print(f"{reference_path(tflite)}: {len(tokens)} {source} utterances + {len(long)} joined, "
          f"longest {int(lengths.max())} tokens")


def run_way(tflite, way):
    """One way (cpu, gpu_fp16, gpu_fp32) over the reference utterances; a report dict."""
    sys.path.insert(0, str(ROOT))
    from slukit.lite import LitePredictor

    accelerator, f32 = WAYS[way]
    ref = np.load(reference_path(tflite))
    token_lists = json.loads(str(ref["tokens"]))
    decoded = json.loads(str(ref["decoded"]))
    cpu_path = Path(str(tflite) + ".cpu.npz")  # the CPU interpreter's probabilities
    cpu = dict(np.load(cpu_path)) if way != "cpu" and cpu_path.exists() else None
    start = time.perf_counter()
    lite = LitePredictor(tflite, accelerator=accelerator, gpu_enforce_f32=f32)
    load_s = time.perf_counter() - start
    pre = lite.preprocessor
    counts = {"fit": [0, 0, 0], "windowed": [0, 0, 0]}  # utterances, intents equal, tags equal
    keras_diff, cpu_diff = 0.0, 0.0
    intents, tags = [], []
    for i, tokens in enumerate(token_lists):
        li, lt = lite.probabilities(tokens)
        intents.append(li)
        tags.append(lt)
        kind = "windowed" if len(tokens) > lite.max_length else "fit"
        c = counts[kind]
        c[0] += 1
        c[1] += int(np.argmax(li) == np.argmax(ref["intent_probs"][i]))
        c[2] += int((pre.decode_tags(lt) if len(tokens) else []) == decoded[i])
        if kind == "fit":
            keras_diff = _max(keras_diff, np.abs(li - ref["intent_probs"][i]))
        if cpu is not None:
            cpu_diff = _max(cpu_diff, np.abs(li - cpu["intent"][i]))
            cpu_diff = _max(cpu_diff, np.abs(lt - cpu["tags"][cpu["offsets"][i]:
                                                              cpu["offsets"][i + 1]]))
    if way == "cpu":
        np.savez(cpu_path, intent=np.array(intents), tags=np.concatenate(tags),
                 offsets=np.concatenate([[0], np.cumsum([len(t) for t in tags])]))
    report = {"way": way, "load_s": round(load_s, 2), "lengths": lite.lengths,
              "max_abs_intent_prob_diff_vs_keras": keras_diff,
              "median_ms": {str(n): round(lite.latency_ms(n, runs=50), 4) for n in lite.lengths}}
    if cpu is not None:
        report["max_abs_prob_diff_vs_cpu"] = cpu_diff
    for kind, (n, intents, tags) in counts.items():
        if n:
            report[kind] = {"utterances": n, "intent_agreement": intents / n,
                            "tag_agreement": tags / n}
    return report


def _max(current, diffs):
    """The larger of `current` and the largest of `diffs`; a NaN anywhere sticks."""
    if current != current or np.isnan(diffs).any():
        return float("nan")
    return max(current, float(np.max(diffs))) if np.size(diffs) else current


def check(tflites, out, ways=tuple(WAYS)):
    results = {}
    for tflite in tflites:
        results[tflite] = {"size_bytes": Path(tflite).stat().st_size}
        for way in ways:
            proc = subprocess.run([sys.executable, __file__, "_way", tflite, way],
                                  capture_output=True, text=True)
            line = proc.stdout.strip().splitlines()[-1:] if proc.returncode == 0 else []
            if line:
                results[tflite][way] = json.loads(line[0])
            else:
                tail = [line for line in (proc.stderr or proc.stdout).strip().splitlines()
                        if not line.startswith(("INFO", "WARNING"))][-3:]
                results[tflite][way] = {"way": way, "error": f"exit {proc.returncode}: "
                                        + " | ".join(tail)}
            print(f"{Path(tflite).name} {way}: {json.dumps(results[tflite][way])}", flush=True)
    if out:
        Path(out).write_text(json.dumps(results, indent=1))
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="step", required=True)
    ref = sub.add_parser("reference", help="Keras's answers, saved beside the .tflite")
    ref.add_argument("model_dir")
    ref.add_argument("tflite")
    ref.add_argument("--limit", type=int, default=100000, help="test utterances (default all)")
    ref.add_argument("--pairs", type=int, default=200, help="joined pairs (long inputs)")
    ref.add_argument("--fours", type=int, default=50,
                     help="utterances joined four at a time (inputs beyond the longest signature)")
    chk = sub.add_parser("check", help="the .tflite on the CPU and the GPU against Keras")
    chk.add_argument("tflites", nargs="+")
    chk.add_argument("--out", help="the report as JSON")
    chk.add_argument("--ways", nargs="+", choices=list(WAYS), default=list(WAYS),
                     help="which ways to run (cpu first: the GPU ways compare with its output)")
    way = sub.add_parser("_way")
    way.add_argument("tflite")
    way.add_argument("way", choices=list(WAYS))
    args = parser.parse_args(argv)
    if args.step == "reference":
        sys.path.insert(0, str(ROOT))
        reference(args.model_dir, args.tflite, args.limit, args.pairs, args.fours)
    elif args.step == "check":
        check(args.tflites, args.out, args.ways)
    else:
        print(json.dumps(run_way(args.tflite, args.way)))


if __name__ == "__main__":
    main()
