"""The transfer table of issue 15: German-only against transfer at 50% and 25% of the German data,
over seeds, on MultiATIS++ and MASSIVE, as a markdown table (mean ± sd).

Usage (from the repository root):
    python benchmarks/transfer_table.py --plan                        # what would run, what is done
    python benchmarks/transfer_table.py                               # the headline rows, 3 seeds
    python benchmarks/transfer_table.py --rows joint_50 sequential_50 --datasets multiatis
    python benchmarks/transfer_table.py --rows all --seeds 0 1 2 --out benchmarks/results/transfer_table.md

Rows (`--rows`; default: the headline rows):
    target_100          German only, all the German training data
    transfer_50         the recommended recipe (recipes/<dataset>/en_to_de_transfer.yaml, its
    transfer_25           transfer.mode as set there) at 50% / 25% of the German training data
    target_50, target_25                    German only at 50% / 25%
    sequential_50, joint_50, joint_then_finetune_50 (and _25)   one transfer.mode each
    multi_source_100, multi_source_50       MASSIVE: recipes/massive/multi_source_to_de.yaml
    zero_shot                               MASSIVE: recipes/massive/en_to_de_zero_shot.yaml

Resumable: each run is a model directory under runs/transfer_table/<dataset>/<row>-s<seed> (two rows
with the same settings, such as transfer_50 and joint_then_finetune_50, share one); one that was
trained from the same settings is read, not trained again, so rerunning the same command
after an interruption goes on where it stopped, and a table over more rows reuses the runs it has.
Sequential source models are trained once per dataset and seed (runs/transfer_table/<dataset>/
source-s<seed>) and shared by the rows. Training time per stage is read from each run's
metadata.json (seconds on this machine, for the fine-tuning or joint stage, the source model and
the joint stage of joint_then_finetune).
"""

import argparse
import json
import os
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

DATASETS = {
    "multiatis": {"recipe": "recipes/multiatis/en_to_de_transfer.yaml", "name": "MultiATIS++ de"},
    "massive": {"recipe": "recipes/massive/en_to_de_transfer.yaml", "name": "MASSIVE de-DE",
                "multi_source": "recipes/massive/multi_source_to_de.yaml",
                "zero_shot": "recipes/massive/en_to_de_zero_shot.yaml"},
}
MODES = ("sequential", "joint", "joint_then_finetune")
HEADLINE = ("target_100", "transfer_50", "transfer_25")
PUBLISHED = {"massive": [  # MASSIVE paper (FitzGerald et al. 2022), de-DE test
    ("XLM-R base, full de-DE training data (all 51 locales)", 85.7, 76.2),
    ("mT5 encoder, full de-DE training data (all 51 locales)", 86.8, 78.6),
    ("XLM-R base, zero-shot from en-US", 77.6, 60.0)]}


def row_specs():
    """`{row: (description, recipe key, fraction, transfer mode or None, German only?)}`."""
    rows = {"target_100": ("German only, 100%", "recipe", 1.0, None, True),
            "transfer_50": ("transfer (recommended recipe), 50%", "recipe", 0.5, None, False),
            "transfer_25": ("transfer (recommended recipe), 25%", "recipe", 0.25, None, False),
            "target_50": ("German only, 50%", "recipe", 0.5, None, True),
            "target_25": ("German only, 25%", "recipe", 0.25, None, True)}
    for fraction in (50, 25):
        for mode in MODES:
            rows[f"{mode}_{fraction}"] = (f"transfer, mode {mode}, {fraction}%", "recipe",
                                          fraction / 100, mode, False)
    rows["multi_source_100"] = ("several sources, 100%", "multi_source", 1.0, None, False)
    rows["multi_source_50"] = ("several sources, 50%", "multi_source", 0.5, None, False)
    rows["zero_shot"] = ("zero-shot (no German training data)", "zero_shot", 1.0, None, False)
    return rows


def plan(datasets, rows, seeds, overrides, runs_dir):
    """`[(dataset, row, seed, recipe, path)]` for every run asked for; rows that a dataset has
    no recipe for are left out (and said so)."""
    from slukit.workflows.curve import same_settings
    from slukit.recipe import load_recipe

    specs, out, skipped = row_specs(), [], []
    for dataset in datasets:
        for seed in seeds:
            for row in rows:
                _, key, fraction, mode, target_only = specs[row]
                if key not in DATASETS[dataset]:
                    skipped.append(f"{dataset}/{row}")
                    continue
                recipe = load_recipe(ROOT / DATASETS[dataset][key],
                                     [*overrides, f"train.seed={seed}"])
                if key != "zero_shot":
                    recipe["data"]["train_fraction"] = fraction
                if target_only:
                    recipe["source"] = None
                elif recipe.get("source"):
                    if mode:
                        recipe["transfer"]["mode"] = mode
                    if recipe["source"].get("data") and not recipe["source"].get("model_dir"):
                        recipe["source"]["output"] = str(runs_dir / dataset / f"source-{key}-s{seed}")
                path = runs_dir / dataset / f"{row}-s{seed}"
                for d, _, s, earlier, earlier_path in out:  # a row that is another row: one run
                    if (d, s) == (dataset, seed) and same_settings(earlier, recipe):
                        path = earlier_path
                        break
                out.append((dataset, row, seed, recipe, path))
    return out, sorted(set(skipped))


def stage_seconds(path):
    """`{stage: seconds}` of a finished run: the run itself and its source or joint stage."""
    meta = json.loads((path / "metadata.json").read_text(encoding="utf-8"))
    stages = {meta.get("mode", "target only"): meta.get("train_seconds")}
    if meta.get("source_model"):
        src = Path(meta["source_model"]) / "metadata.json"
        if src.is_file():
            name = "joint stage" if str(meta["source_model"]).endswith(".joint") else "source model"
            stages[name] = json.loads(src.read_text(encoding="utf-8")).get("train_seconds")
    return stages, meta


def cell(values):
    values = [100 * v for v in values]
    if len(values) == 1:
        return f"{values[0]:.2f}"
    return f"{statistics.mean(values):.2f} ± {statistics.stdev(values):.2f}"


def markdown(results, command):
    specs = row_specs()
    lines = [f"Command: `{command}`", "",
             "Test intent accuracy / slot F1 (seqeval), mean ± standard deviation over the seeds; "
             "training seconds per stage (mean over seeds, 2-core CPU machine shared with other "
             "jobs: upper bounds).", "",
             "| dataset | row | seeds | intent accuracy | slot F1 | mode | seconds per stage |",
             "|---|---|---|---|---|---|---|"]
    for (dataset, row), runs in results.items():
        intents = [r["test"]["intent_accuracy"] for r in runs]
        slots = [r["test"]["slot_f1"] for r in runs]
        stages = {}
        for r in runs:
            for stage, s in r["stages"].items():
                stages.setdefault(stage, []).append(s or 0)
        secs = ", ".join(f"{k} {statistics.mean(v):.0f}" for k, v in stages.items())
        lines.append(f"| {DATASETS[dataset]['name']} | {specs[row][0]} | {len(runs)} | "
                     f"{cell(intents)} | {cell(slots)} | {runs[0]['mode']} | {secs} |")
    for dataset in dict.fromkeys(d for d, _ in results):
        for name, i, s in PUBLISHED.get(dataset, []):
            lines.append(f"\nPublished, {DATASETS[dataset]['name']}: {name}: {i} / {s}")
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", choices=sorted(DATASETS),
                        default=["multiatis", "massive"])
    parser.add_argument("--rows", nargs="+", default=list(HEADLINE),
                        help="rows to run ('all' for every row); default: the headline rows")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data"),
                        help="the benchmark data folder (SLUKIT_DATA)")
    parser.add_argument("--runs", default="runs/transfer_table",
                        help="where the model directories go")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "transfer_table.md"),
                        help="the markdown table (a .json with every run is written beside it)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a recipe key in every run (repeatable)")
    parser.add_argument("--plan", action="store_true", help="print the runs and which are done; train nothing")
    args = parser.parse_args(argv)

    specs = row_specs()
    rows = list(specs) if args.rows == ["all"] else args.rows
    unknown = [r for r in rows if r not in specs]
    if unknown:
        parser.error(f"--rows: unknown {', '.join(unknown)}; expected some of {', '.join(specs)} or all")
    os.environ["SLUKIT_DATA"] = args.data
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.path.insert(0, str(ROOT))
    from slukit.workflows.curve import finished_run, run_point

    runs, skipped = plan(args.datasets, rows, args.seeds, args.overrides, Path(args.runs))
    for name in skipped:
        print(f"skipped {name}: no recipe for this row")
    if args.plan:
        for dataset, row, seed, recipe, path in runs:
            done = finished_run(path, recipe) is not None
            mode = (recipe["transfer"]["mode"] if recipe.get("source") else "target only")
            print(f"{'done' if done else 'todo'}  {dataset:9} {row:24} seed {seed}  "
                  f"{mode:20} fraction {recipe['data']['train_fraction']:g}  {path}")
        unique = {str(p): r for *_, r, p in runs}
        todo = sum(finished_run(p, r) is None for p, r in unique.items())
        print(f"{todo} of {len(unique)} runs to train ({len(runs)} rows × seeds)")
        return 0

    from slukit.train.progress import Reporter

    reporter = Reporter()
    results = {}
    for dataset, row, seed, recipe, path in runs:
        reporter.stage(f"{dataset} {row} seed {seed}")
        metrics, reused = run_point(recipe, path, reporter)
        if reused:
            reporter.info(f"reusing {path}")
        stages, meta = stage_seconds(path)
        results.setdefault((dataset, row), []).append(
            {"seed": seed, "path": str(path), "test": metrics["test"], "stages": stages,
             "mode": meta.get("mode", "target only"), "parameters": meta.get("parameters")})
    command = "python benchmarks/transfer_table.py " + " ".join(argv if argv is not None else sys.argv[1:])
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(markdown(results, command.strip()), encoding="utf-8")
    out.with_suffix(".json").write_text(json.dumps(
        [{"dataset": d, "row": r, **run} for (d, r), rs in results.items() for run in rs],
        indent=1), encoding="utf-8")
    print(out.read_text(encoding="utf-8"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
