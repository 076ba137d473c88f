"""Runs the ATIS hyper-parameter search and compares its best configuration with the hand-written recipe.

Usage (from the repository root):
    python benchmarks/tune_atis.py [--recipe recipes/atis/tune_broad.yaml] [--data ../shared/data]
        [--seeds 0 1 2] [--set key=value ...] [--runs runs/bench] [--out benchmarks/results/tune_atis.md]
        [--baseline atis-hlstm-wordchar] [--from-runs]

1. `slukit tune` on the recipe (20 random trials of recipes/atis/tune_broad.yaml), into
   RUNS/<name>-tune; a search stopped halfway resumes when this script is run again.
2. `slukit train` of its best_recipe.yaml for each seed, into RUNS/<name>-best-seed<seed>.
3. A markdown table (and a .json beside it): the best configuration's test scores against those
   of the hand-written recipe's runs, RUNS/<baseline>-seed*/metrics.json (made by
   `python benchmarks/run_recipes.py recipes/atis/hlstm_wordchar.yaml --seeds ...`).

Seeds default to those of the baseline's runs (0 when there are none). A quick check of the
script on other data: --data DIR (with atis/{train,valid,test} in it), --runs and --out under /tmp,
and --set tune.max_trials=1 --set tune.max_epochs=1 --set train.epochs=1.
"""

import argparse
import csv
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
METRICS = ("intent_accuracy", "slot_f1", "sentence_accuracy")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", default="recipes/atis/tune_broad.yaml")
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--seeds", nargs="+", type=int, default=None,
                        help="seeds of the best recipe's trainings (default: the baseline's)")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        help="override a key of the tune recipe (and so of its best recipe)")
    parser.add_argument("--runs", default=str(ROOT / "runs" / "bench"),
                        help="where the search and the trainings go, and the baseline's runs are")
    parser.add_argument("--baseline", default="atis-hlstm-wordchar",
                        help="the name of the hand-written recipe's runs: RUNS/NAME-seed*")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "tune_atis.md"),
                        help="markdown file (a .json is written beside it)")
    parser.add_argument("--from-runs", action="store_true",
                        help="search and train nothing: rebuild the tables from finished runs")
    args = parser.parse_args(argv)

    os.environ["SLUKIT_DATA"] = args.data
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.path.insert(0, str(ROOT))
    from slukit.recipe import load_recipe
    from slukit.train.progress import Reporter

    runs = Path(args.runs)
    recipe = load_recipe(args.recipe, args.overrides)
    search_dir = runs / f"{recipe['name']}-tune"
    baseline = baseline_runs(runs, args.baseline)
    seeds = args.seeds or [run["seed"] for run in baseline] or [0]

    started = time.perf_counter()
    if not args.from_runs:
        from slukit.tune import tune_recipe

        tune_recipe(recipe, output=search_dir, reporter=Reporter(), quiet=True, source=args.recipe)
    search_seconds = time.perf_counter() - started
    best_path = search_dir / "best_recipe.yaml"
    best_name = load_recipe(best_path)["name"]
    tuned = []
    for seed in seeds:
        out = runs / f"{best_name}-seed{seed}"
        if not args.from_runs:
            from slukit.workflows.train import train_recipe

            train_recipe(load_recipe(best_path, [f"train.seed={seed}"]), output=out, reporter=Reporter(),
                         force=True)  # the benchmark owns its run folders
        tuned.append(run_summary(out, seed))

    trials = read_trials(search_dir / "trials.csv")
    report = {
        "recipe": args.recipe,
        "overrides": args.overrides,
        "search": {"folder": shown(search_dir), "trials": trials,
                   "wall_seconds": None if args.from_runs else round(search_seconds, 1)},
        "tune": recipe["tune"],
        "best_recipe": shown(best_path),
        "best_header": [line for line in best_path.read_text().splitlines() if line.startswith("#")][:2],
        "tuned": tuned,
        "baseline": {"name": args.baseline, "runs": baseline},
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    out.write_text(markdown(report, recipe))
    print(out.read_text())


def baseline_runs(runs: Path, name: str) -> list:
    """The hand-written recipe's finished runs, `RUNS/<name>-seed<N>/`, by seed."""
    found = []
    for folder in runs.glob(f"{name}-seed*"):
        seed = folder.name.rpartition("-seed")[2]
        if seed.isdigit() and (folder / "metrics.json").exists():
            found.append(run_summary(folder, int(seed)))
    return sorted(found, key=lambda run: run["seed"])


def run_summary(folder: Path, seed: int) -> dict:
    metrics = json.loads((folder / "metrics.json").read_text())
    meta = json.loads((folder / "metadata.json").read_text()) if (folder / "metadata.json").exists() else {}
    return {"seed": seed, "folder": shown(folder), "valid": metrics.get("valid", {}),
            "test": metrics.get("test", {}), "parameters": meta.get("parameters"),
            "epochs_run": meta.get("epochs_run"), "best_epoch": meta.get("best_epoch"),
            "train_seconds": meta.get("train_seconds")}


def shown(path: Path) -> str:
    """`path` as the report shows it: relative to the repository when inside it (no machine paths)."""
    path = Path(path).resolve()
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def read_trials(path: Path) -> list:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def cell(text: str) -> str:
    """A trials.csv value for a table: long floats shortened (`0.00123`)."""
    try:
        number = float(text)
    except ValueError:
        return text
    return text if number.is_integer() and "." not in text else f"{number:.3g}"


def joint(scores: dict) -> float:
    return (scores["intent_accuracy"] + scores["slot_f1"]) / 2


def stat(values) -> str:
    values = [100 * v for v in values]
    if not values:
        return "—"
    if len(values) == 1:
        return f"{values[0]:.2f}"
    return f"{statistics.mean(values):.2f} ± {statistics.stdev(values):.2f}"


def score_row(label, runs) -> str:
    cells = [stat([joint(r["valid"]) for r in runs if r["valid"]])]
    cells += [stat([r["test"][m] for r in runs if r["test"]]) for m in METRICS]
    cells.append(stat([joint(r["test"]) for r in runs if r["test"]]))
    params = runs[0]["parameters"] if runs and runs[0]["parameters"] else None
    return (f"| {label} | {', '.join(str(r['seed']) for r in runs) or '—'} | " + " | ".join(cells)
            + f" | {f'{params:,}' if params else '—'} |")


def markdown(report, recipe) -> str:
    tune, trials = report["tune"], report["search"]["trials"]
    objective = tune["objective"]
    done = [t for t in trials if t["status"] == "COMPLETED"]
    best = sorted(done, key=lambda t: (-float(t[f"valid_{objective}"]), int(t["trial"])))
    space = list(tune["space"])
    trial_seconds = sum(float(t["train_seconds"] or 0) for t in done)
    wall = report["search"]["wall_seconds"]
    tuned, base = report["tuned"], report["baseline"]["runs"]
    lines = [
        "# Hyper-parameter search on ATIS",
        "",
        f"Search: `slukit tune {report['recipe']}`"
        + (f" with {' '.join('--set ' + o for o in report['overrides'])}" if report["overrides"] else "")
        + f": {tune['tuner']} search, {len(done)} of {len(trials)} trials completed, objective "
        f"`{objective}`" + (" (the mean of validation intent accuracy and slot F1)" if objective == "joint" else "")
        + f", at most {tune['max_epochs'] or recipe['train']['epochs']} epochs a trial. Trials trained for "
        f"{trial_seconds / 60:.0f} min in all" + (f" ({wall / 60:.0f} min wall time for this run)" if wall else "")
        + f" on {os.cpu_count()} CPU cores, {platform.machine()}.",
        "",
        *[line.lstrip("# ") for line in report["best_header"][:2]],
        "",
        f"The best configuration (`{report['best_recipe']}`) trained again with the recipe's own training "
        f"settings ({recipe['train']['epochs']} epochs, early stopping patience "
        f"{recipe['train']['early_stopping']['patience']}), against the hand-written "
        f"`{report['baseline']['name']}` runs. Scores in %, mean ± standard deviation over seeds; "
        "joint is the mean of intent accuracy and slot F1.",
        "",
        "| recipe | seeds | valid joint | test intent acc | test slot F1 | test sentence acc | test joint | parameters |",
        "|---|---|---|---|---|---|---|---|",
        score_row(f"`{report['baseline']['name']}` (hand-written)", base),
        score_row("best of the search", tuned),
        "",
    ]
    if base and tuned and all(r["test"] for r in base + tuned):
        ours = statistics.mean(joint(r["test"]) for r in tuned)
        theirs = statistics.mean(joint(r["test"]) for r in base)
        verdict = "at least as good as" if ours >= theirs else "worse than"
        lines += [f"Test joint {100 * ours:.2f} against {100 * theirs:.2f}: the search's best configuration "
                  f"is {verdict} the hand-written recipe ({100 * (ours - theirs):+.2f} points).", ""]
    else:
        lines += ["No hand-written runs to compare with: run `python benchmarks/run_recipes.py "
                  "recipes/atis/hlstm_wordchar.yaml` first.", ""]
    lines += [
        f"The best {min(len(best), 5)} trials (validation scores in %; epochs: best/run):",
        "",
        "| trial | " + " | ".join(f"`{key}`" for key in space) + " | joint | intent | slot F1 | epochs |",
        "|---|" + "---|" * (len(space) + 4),
    ]
    for t in best[:5]:
        lines.append(f"| {t['trial']} | " + " | ".join(cell(t[key]) for key in space)
                     + f" | {100 * joint({m: float(t[f'valid_{m}']) for m in METRICS}):.2f}"
                     f" | {100 * float(t['valid_intent_accuracy']):.2f} | {100 * float(t['valid_slot_f1']):.2f}"
                     f" | {t['best_epoch']}/{t['epochs_run']} |")
    lines += ["", f"Command: `python benchmarks/tune_atis.py {' '.join(a for a in sys.argv[1:] if a != '--from-runs')}`"]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
