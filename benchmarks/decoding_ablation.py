"""Slot decoding ablation: the same trained models scored with BIO-constrained
Viterbi decoding (`model.slot_decoding: bio`) and with per-token argmax.

Decoding happens after the network, so one trained model gives both rows.

Usage (from the repository root):
    python benchmarks/decoding_ablation.py runs/bench/atis-hlstm-wordchar-seed{0,1,2} \\
        --data ../shared/data/atis/test --out benchmarks/results/atis_decoding_ablation.md
"""

import argparse
import json
import os
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
KEYS = ("intent_accuracy", "slot_f1", "sentence_accuracy")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+")
    parser.add_argument("--data", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.path.insert(0, str(ROOT))
    from slukit.data.readers import read_examples
    from slukit.train.artifact import load_model_dir
    from slukit.train.inference import evaluate_examples

    examples = read_examples(args.data)
    scores = {"bio": [], "argmax": []}
    for run in args.runs:
        bundle = load_model_dir(run)
        for decoding in scores:
            bundle.preprocessor.slot_decoding = decoding
            scores[decoding].append(evaluate_examples(bundle.model, bundle.preprocessor, examples))

    def cell(rows, key):
        values = [100 * r[key] for r in rows]
        return (f"{statistics.mean(values):.2f} ± {statistics.stdev(values):.2f}"
                if len(values) > 1 else f"{values[0]:.2f}")

    lines = [f"Test data `{args.data}` ({len(examples)} utterances); models: "
             + ", ".join(f"`{r}`" for r in args.runs) + " (mean ± standard deviation).",
             f"Command: `python benchmarks/decoding_ablation.py {' '.join(sys.argv[1:])}`", "",
             "| slot decoding | intent acc | slot F1 | sentence acc |", "|---|---|---|---|"]
    for decoding, rows in scores.items():
        lines.append(f"| {decoding} | " + " | ".join(cell(rows, k) for k in KEYS) + " |")
    out = Path(args.out)
    out.with_suffix(".json").write_text(json.dumps(scores, indent=2) + "\n")
    out.write_text("\n".join(lines) + "\n")
    print(out.read_text())


if __name__ == "__main__":
    main()
