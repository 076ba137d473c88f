"""Trains recipes on the real benchmark data and writes their test metrics.

Usage (from the repository root):
    python benchmarks/run_recipes.py recipes/atis/bilstm_wordchar.yaml [more.yaml ...]
        [--data ../shared/data] [--seeds 0 1 2] [--out benchmarks/results/NAME.md]
        [--set key=value ...]

For each recipe and seed it trains a model (under runs/bench/), then writes a
markdown table and a JSON file with test intent accuracy, slot F1, sentence
accuracy (mean and spread over seeds), parameters, model size and training time.
"""

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recipes", nargs="+")
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--out", default=None, help="markdown file (a .json is written beside it)")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--from-runs", action="store_true",
                        help="train nothing: rebuild the tables from finished runs under runs/bench/")
    args = parser.parse_args(argv)

    os.environ["SLUKIT_DATA"] = args.data
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.path.insert(0, str(ROOT))
    from slukit.recipe import load_recipe
    from slukit.train.progress import Reporter
    from slukit.workflows.train import train_recipe

    rows = []
    for recipe_path in args.recipes:
        runs = []
        for seed in args.seeds:
            recipe = load_recipe(recipe_path, [*args.overrides, f"train.seed={seed}"])
            out = ROOT / "runs" / "bench" / f"{recipe['name']}-seed{seed}"
            started = time.perf_counter()
            if not args.from_runs:
                train_recipe(recipe, output=out, reporter=Reporter(), force=True)  # its own folder
            metrics = json.loads((out / "metrics.json").read_text())
            meta = json.loads((out / "metadata.json").read_text())
            runs.append({
                "seed": seed,
                "test": metrics.get("test", {}),
                "valid": metrics.get("valid", {}),
                "parameters": meta["parameters"],
                "model_mb": round((out / "model.keras").stat().st_size / 2**20, 2),
                "train_seconds": meta["train_seconds"],
                "seconds_per_epoch": meta["seconds_per_epoch"],
                "epochs_run": meta["epochs_run"],
                "best_epoch": meta["best_epoch"],
                "wall_seconds": None if args.from_runs else round(time.perf_counter() - started, 1),
            })
        rows.append({"recipe": recipe_path, "name": recipe["name"], "runs": runs})

    out = Path(args.out or ROOT / "benchmarks" / "results" / f"{rows[0]['name']}.md")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(rows, indent=2) + "\n")
    out.write_text(markdown(rows, args))
    print(out.read_text())


def stat(values):
    values = [100 * v for v in values]
    if len(values) == 1:
        return f"{values[0]:.2f}"
    return f"{statistics.mean(values):.2f} ± {statistics.stdev(values):.2f}"


def markdown(rows, args):
    import platform

    lines = [
        f"Test set, {len(args.seeds)} seed(s) ({', '.join(map(str, args.seeds))}); "
        f"mean ± standard deviation. Machine: {os.cpu_count()} CPU cores, {platform.machine()}. "
        "model.keras also holds the optimizer state (Adam: two more copies of the weights).",
        f"Command: `python benchmarks/run_recipes.py {' '.join(a for a in sys.argv[1:] if a != '--from-runs')}`",
        "",
        "| recipe | intent acc | slot F1 | sentence acc | parameters | weights MB (fp32) | model.keras MB | s/epoch | epochs (best) | train time s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        runs = row["runs"]
        lines.append(
            f"| `{row['recipe']}` | {stat([r['test']['intent_accuracy'] for r in runs])} "
            f"| {stat([r['test']['slot_f1'] for r in runs])} "
            f"| {stat([r['test']['sentence_accuracy'] for r in runs])} "
            f"| {runs[0]['parameters']:,} | {runs[0]['parameters'] * 4 / 2**20:.2f} | {runs[0]['model_mb']} "
            f"| {statistics.mean(r['seconds_per_epoch'] for r in runs):.1f} "
            f"| {', '.join(str(r['epochs_run']) + ' (' + str(r['best_epoch']) + ')' for r in runs)} "
            f"| {statistics.mean(r['train_seconds'] for r in runs):.0f} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
