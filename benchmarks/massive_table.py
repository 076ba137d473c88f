"""The MASSIVE de-DE table: German-only, transfer and transfer with code-switching at
fractions of the German training data, scored on de-DE test, beside the published figures.

Usage (from the repository root, after training the runs):
    SLUKIT_DATA=../shared/data slukit curve recipes/massive/en_to_de_transfer.yaml \\
        --fractions 0.01,0.05,0.1,0.25,0.5,1.0
    SLUKIT_DATA=../shared/data slukit train recipes/massive/en_to_de_codeswitch.yaml \\
        --set data.train_fraction=0.1 --output runs/massive-cs/f0.1
    python benchmarks/massive_table.py runs/massive-en-to-de-curve/models/* runs/massive-cs/* \\
        --data ../shared/data --out benchmarks/results/massive_de.md

Each run directory is classified from its saved recipe (German-only, transfer, or
transfer with `source.data.code_switch`) and its `data.train_fraction`. Its model
is run on de-DE test once; the table gives intent accuracy, slot F1 and exact
match (intent and every slot right) twice: as slukit scores them (seqeval over
BIO spans) and as MASSIVE's scorer does (word-level slot types merged into spans,
`slukit.train.metrics.massive_metrics`). Training time is the run's own
`metadata.json` `train_seconds` (the fine-tuning stage only for transfer runs;
the source model's time is listed once below the table).
"""

import argparse
import json
import os
import statistics
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PUBLISHED = [  # MASSIVE paper (FitzGerald et al. 2022), de-DE test: intent accuracy, slot F1
    ("XLM-R base (270M parameters), full de-DE training data", 85.7, 76.2),
    ("mT5 encoder (258M parameters), full de-DE training data", 86.8, 78.6),
    ("XLM-R base, zero-shot from en-US", 77.6, 60.0),
]
MODES = ("german_only", "transfer", "transfer_cs")
MODE_NAMES = {"german_only": "German only", "transfer": "en-US → de-DE transfer",
              "transfer_cs": "transfer + code-switching"}


def classify(recipe):
    source = recipe.get("source")
    if not source:
        return "german_only"
    return "transfer_cs" if (source.get("data") or {}).get("code_switch") else "transfer"


def score(run, test_path):
    import yaml

    from slukit.data.readers import read_examples
    from slukit.train.artifact import load_model_dir
    from slukit.train.inference import predict_labels
    from slukit.train.metrics import massive_metrics, slu_metrics

    recipe = yaml.safe_load((run / "recipe.yaml").read_text(encoding="utf-8"))
    meta = json.loads((run / "metadata.json").read_text(encoding="utf-8"))
    examples = read_examples(test_path, format="massive", split="test")
    bundle = load_model_dir(run)
    intents, tags = predict_labels(bundle.model, bundle.preprocessor, examples)
    gold_i, gold_t = [e.intent for e in examples], [e.tags for e in examples]
    ours = slu_metrics(gold_i, gold_t, intents, tags)
    massive = massive_metrics(gold_i, gold_t, intents, tags)
    return {
        "run": str(run), "mode": classify(recipe),
        "fraction": recipe["data"].get("train_fraction", 1.0), "seed": recipe["train"]["seed"],
        "train_utterances": meta.get("train_utterances"), "parameters": meta["parameters"],
        "train_seconds": meta["train_seconds"], "seconds_per_epoch": meta["seconds_per_epoch"],
        "epochs_run": meta["epochs_run"], "source_model": meta.get("source_model"),
        "intent_accuracy": ours["intent_accuracy"], "slot_f1": ours["slot_f1"],
        "exact_match": ours["sentence_accuracy"],
        "massive_slot_f1": massive["slot_f1"], "massive_exact_match": massive["exact_match"],
        "test_utterances": len(examples),
    }


def cell(rows, key):
    values = [100 * r[key] for r in rows]
    if not values:
        return "—"
    if len(values) == 1:
        return f"{values[0]:.1f}"
    return f"{statistics.mean(values):.1f} ± {statistics.stdev(values):.1f}"


def table(groups, fractions, results, keys):
    """Markdown rows: one per fraction, one column per mode, `keys` joined by ' / '."""
    lines = ["| German training data | " + " | ".join(MODE_NAMES[m] for m in MODES) + " |",
             "|---|" + "---|" * len(MODES)]
    for f in fractions:
        n = next(r["train_utterances"] for r in results if r["fraction"] == f)
        row = [f"{f:g} ({n:,} utt.)" if n else f"{f:g}"]
        for m in MODES:
            rs = groups.get((f, m), [])
            row.append(" / ".join(cell(rs, k) for k in keys) if rs else "—")
        lines.append("| " + " | ".join(row) + " |")
    return lines


def markdown(results, command):
    groups = defaultdict(list)
    for r in results:
        groups[(r["fraction"], r["mode"])].append(r)
    fractions = sorted({r["fraction"] for r in results})
    seeds = sorted({r["seed"] for r in results})
    lines = [
        f"de-DE test ({results[0]['test_utterances']} utterances); {len(seeds)} seed(s) per point "
        f"({', '.join(map(str, seeds))}); with more than one seed, mean ± standard deviation.",
        f"Command: `{command}`",
        "",
        "Intent accuracy / slot F1 / exact match (intent and every slot right), slukit's BIO span "
        "scoring:",
        "",
    ]
    lines += table(groups, fractions, results, ("intent_accuracy", "slot_f1", "exact_match"))
    lines += ["", "The same predictions scored as MASSIVE's published scorer does (slot types per "
              "word, equal neighbours merged into one span): slot F1 / exact match.", ""]
    lines += table(groups, fractions, results, ("massive_slot_f1", "massive_exact_match"))
    lines += ["", "Published (MASSIVE paper, de-DE test, intent accuracy / slot F1):", ""]
    lines += [f"- {name}: {i} / {s}" for name, i, s in PUBLISHED]
    low, high = min(r["parameters"] for r in results), max(r["parameters"] for r in results)
    lines += ["", f"slukit models: {low:,} to {high:,} parameters ({low * 4 / 2**20:.1f} to "
              f"{high * 4 / 2**20:.1f} MB of fp32 weights; the word vocabulary grows with the "
              "training data, and code-switched source models hold German words too), "
              "no pretrained weights.", "",
              "Training time (seconds, 2-core CPU machine; runs shared the CPU with other jobs, so "
              "these are upper bounds):", "",
              "| run | mode | fraction | seed | epochs | s/epoch | train s |", "|---|---|---|---|---|---|---|"]
    for r in sorted(results, key=lambda r: (r["fraction"], r["mode"], r["seed"])):
        lines.append(f"| `{r['run']}` | {r['mode']} | {r['fraction']:g} | {r['seed']} | "
                     f"{r['epochs_run']} | {r['seconds_per_epoch']} | {r['train_seconds']:.0f} |")
    sources = sorted({r["source_model"] for r in results if r["source_model"]})
    for src in sources:
        meta_file = Path(src) / "metadata.json"
        if meta_file.is_file():
            meta = json.loads(meta_file.read_text(encoding="utf-8"))
            lines.append(f"\nSource model `{src}`: {meta['train_seconds']:.0f} s "
                         f"({meta['epochs_run']} epochs, {meta['seconds_per_epoch']} s/epoch).")
    return "\n".join(lines) + "\n"


def write_curve(results, folder):
    """`massive_en_de_curve.csv` and, with matplotlib, `docs/img/massive_en_de_curve.png`
    (German only against transfer, as `slukit curve` draws them)."""
    from slukit.workflows.curve import plot, summarize, write_csv

    rows = [{"mode": "target_only" if r["mode"] == "german_only" else "transfer",
             "fraction": r["fraction"], "seed": r["seed"], "train_utterances": r["train_utterances"],
             "intent_accuracy": r["intent_accuracy"], "slot_f1": r["slot_f1"],
             "sentence_accuracy": r["exact_match"]}
            for r in results if r["mode"] in ("german_only", "transfer")]
    write_csv(rows, Path(folder) / "massive_en_de_curve.csv")
    seeds = sorted({r["seed"] for r in rows})
    plot(summarize(rows), ROOT / "docs" / "img" / "massive_en_de_curve.png",
         f"MASSIVE en-US → de-DE (de-DE test, seed{'s' if len(seeds) > 1 else ''} "
         f"{', '.join(map(str, seeds))})")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="model directories")
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "massive_de.md"))
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.path.insert(0, str(ROOT))
    test_path = Path(args.data) / "massive" / "de-DE.test.jsonl"
    results = []
    for run in args.runs:
        run = Path(run)
        if not (run / "metrics.json").is_file():
            print(f"skipping {run}: not a finished model directory", file=sys.stderr)
            continue
        results.append(score(run, test_path))
        print(f"{run}: {results[-1]['mode']} {results[-1]['fraction']:g}", file=sys.stderr)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    command = "python benchmarks/massive_table.py " + " ".join(sys.argv[1:] if argv is None else argv)
    out.write_text(markdown(results, command), encoding="utf-8")
    write_curve(results, out.parent)
    print(out.read_text(encoding="utf-8"))


if __name__ == "__main__":
    main()
