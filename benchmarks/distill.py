"""Distils existing teacher models into students of a recipe, over several student seeds.

Usage (from the repository root):
    python benchmarks/distill.py RECIPE --teachers DIR [DIR ...] [--seeds 0 1 2]
        [--data ../shared/data] [--out benchmarks/results/NAME.md] [--set key=value ...]
        [--tag NAME] [--from-runs]

For each student seed it trains the recipe's model with `distill.teacher_dirs`
set to the given teachers (under runs/bench/NAME-distill[-TAG]-seedS), then
writes a markdown table and a JSON file beside it: test intent accuracy, slot
F1 and sentence accuracy of each teacher, of the teachers (mean ± sd), of the
teacher ensemble (their averaged probabilities decoded as one model), and of
the students (mean ± sd over the student seeds). The distill settings come
from the recipe and --set (for example --set distill.weight=0.7).
"""

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
KEYS = ("intent_accuracy", "slot_f1", "sentence_accuracy")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recipe")
    parser.add_argument("--teachers", nargs="+", required=True, metavar="DIR",
                        help="existing model directories (the teachers)")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0], help="student seeds")
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--out", default=None, help="markdown file (a .json is written beside it)")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--tag", default="", help="a suffix of the students' run folders, to "
                        "keep the runs of other settings apart")
    parser.add_argument("--from-runs", action="store_true",
                        help="train nothing: rebuild the tables from finished student runs")
    args = parser.parse_args(argv)

    # Paths relative to the repository root from here on, so that the tables and the
    # students' metadata name no folder of this machine.
    args.recipe = os.path.relpath(Path(args.recipe).resolve(), ROOT)
    args.out = args.out and str(Path(args.out).resolve())
    teachers = [os.path.relpath(Path(t).resolve(), ROOT) for t in args.teachers]
    os.environ["SLUKIT_DATA"] = str(Path(args.data).resolve())
    os.chdir(ROOT)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.path.insert(0, str(ROOT))
    from slukit.recipe import load_recipe
    from slukit.train.progress import Reporter
    from slukit.workflows.train import train_recipe

    distill = [f"distill.teacher_dirs={json.dumps(teachers)}", "distill.teachers=null"]
    students = []
    for seed in args.seeds:
        recipe = load_recipe(args.recipe, [*args.overrides, *distill, f"train.seed={seed}"])
        tag = f"-{args.tag}" if args.tag else ""
        out = Path("runs") / "bench" / f"{recipe['name']}-distill{tag}-seed{seed}"
        started = time.perf_counter()
        if not args.from_runs:
            train_recipe(recipe, output=out, reporter=Reporter(), force=True)
        metrics = json.loads((out / "metrics.json").read_text())
        meta = json.loads((out / "metadata.json").read_text())
        students.append({
            "seed": seed,
            "dir": str(out),
            "test": metrics.get("test", {}),
            "valid": metrics.get("valid", {}),
            "distill": meta["distill"],
            "parameters": meta["parameters"],
            "train_seconds": meta["train_seconds"],
            "seconds_per_epoch": meta["seconds_per_epoch"],
            "epochs_run": meta["epochs_run"],
            "best_epoch": meta["best_epoch"],
            "wall_seconds": None if args.from_runs else round(time.perf_counter() - started, 1),
        })
    record = students[0]["distill"]
    result = {
        "recipe": args.recipe,
        "name": recipe["name"],
        "weight": record["weight"],
        "temperature": record["temperature"],
        "teachers": record["teachers"],
        "ensemble": record["ensemble"],
        "students": students,
    }
    out = Path(args.out or Path("benchmarks") / "results" / f"{recipe['name']}_distill.md")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    out.write_text(markdown(result, args))
    print(out.read_text())


def stat(values):
    values = [100 * v for v in values]
    if len(values) == 1:
        return f"{values[0]:.2f}"
    return f"{statistics.mean(values):.2f} ± {statistics.stdev(values):.2f}"


def row(name, runs):
    return f"| {name} | " + " | ".join(stat([r[key] for r in runs]) for key in KEYS) + " |"


def markdown(result, args):
    students, teachers = result["students"], result["teachers"]
    lines = [
        f"Test set. Students: `{result['recipe']}` distilled with weight {result['weight']}, "
        f"temperature {result['temperature']}, from {len(teachers)} teachers; "
        f"{len(students)} student seed(s) ({', '.join(str(s['seed']) for s in students)}), "
        "mean ± standard deviation. The ensemble averages the teachers' probabilities and "
        "decodes them as one model.",
        f"Command: `python benchmarks/distill.py {args.recipe} --teachers "
        f"{' '.join(t['dir'] for t in teachers)} --seeds {' '.join(str(s['seed']) for s in students)}"
        f"{''.join(f' --set {o}' for o in args.overrides)}{f' --tag {args.tag}' if args.tag else ''}` "
        "(teachers and recipe relative to the repository root; --data: the benchmark data folder)",
        "",
        "| model | intent acc | slot F1 | sentence acc |",
        "|---|---|---|---|",
    ]
    for i, teacher in enumerate(teachers):
        lines.append(row(f"teacher {i + 1}: `{Path(teacher['dir']).name}`", [teacher["test"]]))
    if len(teachers) > 1:
        lines.append(row(f"teachers, mean of {len(teachers)}", [t["test"] for t in teachers]))
    lines.append(row(f"teacher ensemble ({len(teachers)} models)", [result["ensemble"]["test"]]))
    lines.append(row(f"**student** ({len(students)} seed{'s' if len(students) > 1 else ''})",
                     [s["test"] for s in students]))
    lines += [
        "",
        f"Student: {students[0]['parameters']:,} parameters, "
        f"{statistics.mean(s['seconds_per_epoch'] for s in students):.1f} s/epoch, epochs (best): "
        f"{', '.join(str(s['epochs_run']) + ' (' + str(s['best_epoch']) + ')' for s in students)}, "
        f"training {statistics.mean(s['train_seconds'] for s in students):.0f} s "
        f"(the teachers' own trainings not counted). Machine: {os.cpu_count()} CPU cores.",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
