"""Exports a trained model to TFLite (fp32, float16, dynamic int8) and measures each file
on a labelled test set: size, parity with Keras, accuracy, and latency on one CPU thread.

Usage (from the repository root):
    python benchmarks/export_models.py runs/bench/atis-hlstm-wordchar-seed0 \\
        --data ../shared/data/atis/test --out benchmarks/results/export_atis_hlstm.md

Latency is the median over the test utterances of one `LitePredictor.predict` call
(host-side tokenisation and decoding included), and of the bare interpreter call per
signature, on 1 thread.
"""

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model_dir")
    parser.add_argument("--data", required=True, help="labelled test data (any slukit format)")
    parser.add_argument("--out", required=True, help="markdown file (a .json is written beside it)")
    parser.add_argument("--lengths", default=None,
                        help="comma-separated signature lengths (default: what `slukit export` "
                             "picks from the training data)")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from slukit.data.readers import read_examples
    from slukit.export import export_tflite
    from slukit.lite import LitePredictor
    from slukit.train.metrics import slu_metrics

    examples = read_examples(args.data)
    texts = [" ".join(ex.tokens) for ex in examples]
    if args.lengths:
        lengths = [int(x) for x in args.lengths.split(",")]
    else:
        lengths = None  # what `slukit export` picks from the model's data
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for quantize in ("none", "float16", "dynamic"):
            path = Path(tmp) / f"model-{quantize}.tflite"
            report = export_tflite(args.model_dir, path, lengths=lengths, quantize=quantize,
                                   gpu_lint="warn", parity_texts=texts, parity_limit=len(texts),
                                   analyzer=False)
            lite = LitePredictor(str(path), num_threads=1)
            timings, predictions = [], []
            for text in texts:
                started = time.perf_counter()
                predictions.append(lite.predict([text])[0])
                timings.append(1000 * (time.perf_counter() - started))
            metrics = slu_metrics([ex.intent for ex in examples], [ex.tags for ex in examples],
                                  [p["intent"] for p in predictions], [p["tags"] for p in predictions])
            parity = report["parity"]
            rows.append({
                "quantize": quantize,
                "size_mb": round(report["size_bytes"] / 2**20, 2),
                "size_bytes": report["size_bytes"],
                "gpu_findings": report["gpu"].get("errors", []) + report["gpu"].get("warnings", []),
                "parity": {k: v for k, v in parity.items() if k != "sample"},
                "intent_accuracy": metrics["intent_accuracy"],
                "slot_f1": metrics["slot_f1"],
                "sentence_accuracy": metrics["sentence_accuracy"],
                "median_ms_per_utterance": round(statistics.median(timings), 3),
                "interpreter_ms_by_signature": report["latency_ms_cpu_1_thread"],
            })
    keras_metrics = json.loads((Path(args.model_dir) / "metrics.json").read_text()).get("test", {})
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps({"model_dir": args.model_dir, "keras_test": keras_metrics,
                                                   "rows": rows}, indent=2) + "\n")
    lines = [
        f"Model: `{args.model_dir}`; data: `{args.data}` ({len(texts)} utterances); lengths {lengths}; "
        "1 CPU thread, LiteRT interpreter.",
        f"Command: `python benchmarks/export_models.py {' '.join(sys.argv[1:])}`",
        "",
        f"Keras model on this test set: intent {100 * keras_metrics.get('intent_accuracy', 0):.2f}, "
        f"slot F1 {100 * keras_metrics.get('slot_f1', 0):.2f}, sentence {100 * keras_metrics.get('sentence_accuracy', 0):.2f}.",
        "",
        "| weights | size MiB (bytes) | same intent as Keras | same tags as Keras | largest prob. diff | intent acc | slot F1 | sentence acc | median ms / utterance | interpreter ms (" + " / ".join(f"L{n}" for n in lengths) + ") |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        p = r["parity"]
        diff = max(p.get("max_abs_diff_intent", 0), p.get("max_abs_diff_slots", 0))
        lat = " / ".join(str(v) for v in r["interpreter_ms_by_signature"].values())
        lines.append(
            f"| {r['quantize']} | {r['size_mb']} ({r['size_bytes']:,}) | {100 * p.get('intent_agreement', 0):.2f}% "
            f"| {100 * p.get('tag_agreement', 0):.2f}% | {diff:.2g} | {100 * r['intent_accuracy']:.2f} "
            f"| {100 * r['slot_f1']:.2f} | {100 * r['sentence_accuracy']:.2f} "
            f"| {r['median_ms_per_utterance']} | {lat} |")
    out.write_text("\n".join(lines) + "\n")
    print(out.read_text())


if __name__ == "__main__":
    main()
