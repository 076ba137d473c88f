"""Calibration of the intent confidence: ECE before and after temperature scaling on test sets,
a reliability diagram, and the fallback curve (wrong intents caught against right intents lost).

Usage (from the repository root):
    python benchmarks/calibration.py runs/bench/atis-hlstm-wordchar-seed0 \\
        runs/bench/snips-hlstm-wordchar-seed0 runs/bench/massive-de-hlstm-seed0 \\
        --refit --out benchmarks/results/calibration.json --img docs/img

Each MODEL_DIR is scored on its recipe's test split (or --data, for one model). Without the
stored temperatures (a model trained before calibration existed), --refit fits them on the
recipe's validation split first and writes them into the model directory (preprocessor.json
and metrics.json); without --refit such a model is reported with temperature 1.
The fallback curve is drawn for the model named by --fallback-model (default: the last).
Needs matplotlib for the figures (pip install 'slukit[plot]').
"""

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95)


def test_examples(model_dir, data=None):
    from slukit.data.sources import split_paths
    from slukit.data.readers import read_examples
    from slukit.train.artifact import load_model_dir

    bundle = load_model_dir(model_dir)
    if data:
        return bundle, read_examples(data, split="test", on_error="skip", warn=lambda m: None)
    path, fmt = split_paths(bundle.recipe)["test"]
    if path is None:
        raise SystemExit(f"{model_dir}: its recipe has no test split; give --data")
    return bundle, read_examples(path, format=fmt, split="test", on_error="skip",
                                 warn=lambda m: None)


def fallback_curve(confidences, correct, thresholds=THRESHOLDS):
    """Per threshold: the share of wrong intents caught and of right intents lost."""
    import numpy as np

    confidences, correct = np.asarray(confidences), np.asarray(correct, dtype=bool)
    rows = []
    for t in thresholds:
        below = confidences < t
        rows.append({"threshold": t,
                     "wrong_caught": round(float(below[~correct].mean()) if (~correct).any() else 0.0, 4),
                     "right_lost": round(float(below[correct].mean()) if correct.any() else 0.0, 4)})
    return rows


def measure(model_dir, data=None, refit=False):
    from slukit.calibration import (SplitOutputs, expected_calibration_error, refit_model_dir,
                                    reliability)

    rules = json.loads((Path(model_dir) / "preprocessor.json").read_text(encoding="utf-8"))
    if refit and "confidence" not in rules:
        refit_model_dir(model_dir)
    bundle, examples = test_examples(model_dir, data)
    out = SplitOutputs.predict(bundle.model, bundle.preprocessor, examples)
    conf = bundle.preprocessor.confidence
    raw_c, raw_ok = out.intent_points()
    cal_c, cal_ok = out.intent_points(conf.intent_temperature)
    return {
        "model": str(model_dir), "test_utterances": len(examples),
        "intent_temperature": conf.intent_temperature, "slot_temperature": conf.slot_temperature,
        "intent_accuracy": round(float(cal_ok.mean()), 4),
        "intent_ece_uncalibrated": round(expected_calibration_error(raw_c, raw_ok), 4),
        "intent_ece": round(expected_calibration_error(cal_c, cal_ok), 4),
        "slot_ece_uncalibrated": round(expected_calibration_error(*out.slot_points()), 4),
        "slot_ece": round(expected_calibration_error(*out.slot_points(conf.slot_temperature)), 4),
        "reliability_uncalibrated": reliability(raw_c, raw_ok),
        "reliability": reliability(cal_c, cal_ok),
        "fallback": fallback_curve(cal_c, cal_ok),
    }


def plot(results, img_dir, fallback_index=-1):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no figures (pip install 'slukit[plot]')", file=sys.stderr)
        return []
    img_dir = Path(img_dir)
    img_dir.mkdir(parents=True, exist_ok=True)
    fig, axes = plt.subplots(1, len(results), figsize=(4 * len(results), 4), squeeze=False)
    for ax, r in zip(axes[0], results):
        ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
        for key, label in (("reliability_uncalibrated", f"raw (ECE {r['intent_ece_uncalibrated']:.3f})"),
                           ("reliability", f"T={r['intent_temperature']:.2f} (ECE {r['intent_ece']:.3f})")):
            pts = r[key]
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=label)
        ax.set_title(Path(r["model"]).name, fontsize=9)
        ax.set_xlabel("intent confidence")
        ax.set_ylabel("accuracy")
        ax.legend(fontsize=8)
    fig.tight_layout()
    reliability_png = img_dir / "calibration_reliability.png"
    fig.savefig(reliability_png, dpi=110)
    plt.close(fig)

    r = results[fallback_index]
    fig, ax = plt.subplots(figsize=(4.5, 4))
    ax.plot([p["right_lost"] for p in r["fallback"]], [p["wrong_caught"] for p in r["fallback"]],
            marker="o")
    for p in r["fallback"]:
        ax.annotate(f"{p['threshold']:g}", (p["right_lost"], p["wrong_caught"]), fontsize=7,
                    textcoords="offset points", xytext=(4, -8))
    ax.set_xlabel("right intents lost to the fallback")
    ax.set_ylabel("wrong intents caught by the fallback")
    ax.set_title(f"fallback thresholds: {Path(r['model']).name}", fontsize=9)
    fig.tight_layout()
    fallback_png = img_dir / "calibration_fallback.png"
    fig.savefig(fallback_png, dpi=110)
    plt.close(fig)
    return [str(reliability_png), str(fallback_png)]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n".join(__doc__.splitlines()[1:]))
    parser.add_argument("models", metavar="MODEL_DIR", nargs="+")
    parser.add_argument("--data", help="labelled test data (only with one MODEL_DIR)")
    parser.add_argument("--refit", action="store_true",
                        help="fit the temperatures of models that lack them (in place)")
    parser.add_argument("--fallback-model", type=int, default=-1,
                        help="index of the model whose fallback curve is drawn (default: -1)")
    parser.add_argument("--img", help="folder for the PNG figures (e.g. docs/img); none if unset")
    parser.add_argument("--out", help="write the results as JSON here too")
    args = parser.parse_args(argv)
    if args.data and len(args.models) > 1:
        parser.error("--data takes one MODEL_DIR")
    sys.path.insert(0, str(ROOT))
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    results = [measure(m, args.data, args.refit) for m in args.models]
    for r in results:
        print(f"{r['model']}: intent ECE {r['intent_ece_uncalibrated']:.4f} -> {r['intent_ece']:.4f} "
              f"(T={r['intent_temperature']}), slot ECE {r['slot_ece_uncalibrated']:.4f} -> "
              f"{r['slot_ece']:.4f} (T={r['slot_temperature']}), accuracy {r['intent_accuracy']}")
    for p in results[args.fallback_model]["fallback"]:
        print(f"  threshold {p['threshold']:.2f}: wrong caught {100 * p['wrong_caught']:.1f}%, "
              f"right lost {100 * p['right_lost']:.1f}%")
    if args.img:
        for path in plot(results, args.img, args.fallback_model):
            print(f"figure: {path}")
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
