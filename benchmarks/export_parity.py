"""Keras vs TFLite on a whole test set and on long inputs: where do they disagree?

Trains nothing. Exports MODEL_DIR to a temporary .tflite with the default lengths (or
--lengths), then compares the Keras model (the whole utterance in one pass) with the
light runtime on every utterance of DATA and on the utterances joined in pairs (long
inputs), and reports intent/tag agreement, how many were windowed, and the first
disagreements.

    python benchmarks/export_parity.py runs/bench/atis-hlstm-wordchar-seed0 \
        ../shared/data/atis/test [--lengths 8,16,48] [--json out.json]
"""

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model_dir")
    parser.add_argument("data", help="a data file or folder (any slukit format), or demo-en:test")
    parser.add_argument("--lengths", help="comma-separated signature lengths (default: the export's)")
    parser.add_argument("--show", type=int, default=5, help="disagreements to print per set")
    parser.add_argument("--json", help="write the report here as JSON")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from slukit.data.readers import read_examples
    from slukit.export import export_tflite
    from slukit.export.parity import joined_pairs
    from slukit.lite import LitePredictor
    from slukit.predict import Predictor

    from slukit.data.sources import resolve_data_arg

    examples = read_examples(*resolve_data_arg(args.data))
    single = [list(ex.tokens) for ex in examples]
    sets = {"test": single, "joined pairs": joined_pairs(single, limit=len(single))}
    lengths = [int(x) for x in args.lengths.split(",")] if args.lengths else None
    keras = Predictor.from_dir(args.model_dir)
    report = {"model_dir": args.model_dir, "data": args.data, "sets": {}}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.tflite"
        export = export_tflite(args.model_dir, path, lengths=lengths, analyzer=False,
                               parity_limit=50, latency_runs=5)
        report["signatures"] = [s["length"] for s in export["signatures"]]
        report["lengths_chosen"] = export["lengths_chosen"]
        lite = LitePredictor(path)
        for name, token_lists in sets.items():
            texts = [" ".join(t) for t in token_lists]
            ref = keras.predict(texts)
            got = lite.predict(texts)
            windowed = [len(t) > lite.max_length for t in token_lists]
            diffs = [i for i, (a, b) in enumerate(zip(got, ref))
                     if a["intent"] != b["intent"] or a["tags"] != b["tags"]]
            row = {"utterances": len(texts), "windowed": sum(windowed),
                   "longest_tokens": max((len(t) for t in token_lists), default=0),
                   "intent_agreement": sum(a["intent"] == b["intent"] for a, b in zip(got, ref))
                   / max(len(texts), 1),
                   "tag_agreement": sum(a["tags"] == b["tags"] for a, b in zip(got, ref))
                   / max(len(texts), 1),
                   "disagreements": len(diffs),
                   "disagreements_windowed": sum(windowed[i] for i in diffs),
                   "examples": [{"text": texts[i], "windowed": windowed[i],
                                 "keras": [ref[i]["intent"], ref[i]["tags"]],
                                 "tflite": [got[i]["intent"], got[i]["tags"]]}
                                for i in diffs[:args.show]]}
            report["sets"][name] = row
    print(f"{args.model_dir}: signatures {report['signatures']} ({report['lengths_chosen']})")
    for name, row in report["sets"].items():
        print(f"{name}: {row['utterances']} utterances (longest {row['longest_tokens']} tokens, "
              f"{row['windowed']} windowed): intents {100 * row['intent_agreement']:.2f}% same, "
              f"tags {100 * row['tag_agreement']:.2f}% same, {row['disagreements']} disagreements "
              f"({row['disagreements_windowed']} windowed)")
        for ex in row["examples"]:
            print(f"  - {ex['text']!r}: keras {ex['keras']} / tflite {ex['tflite']}")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    return 0 if all(r["disagreements"] == 0 for r in report["sets"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
