"""The data-efficiency curve: target-only training against transfer, at growing
fractions of the target training data.

For each fraction and seed, it trains the recipe without its `source` section
(target-only) and with it (transfer; a sequential source model is trained once
and reused), or with each of several `transfer.mode`s (`modes`, `--modes`),
writes `curve.csv` (one row per run), `curve_summary.csv` (mean and standard
deviation over the seeds per mode and fraction) and `curve.png` (intent
accuracy and slot F1 on the target test set against the number of target
training utterances; the error bars are ± one standard deviation over the
seeds), and reports the smallest fraction at which transfer matches
target-only training on all the target data. A point whose model directory
was already trained from the same settings is read, not trained again, so an
interrupted curve goes on where it stopped.

From the command line:

    $ slukit curve recipes/multiatis/en_to_de_transfer.yaml --fractions 0.1,0.5,1.0 --seeds 3
    $ slukit curve recipes/multiatis/en_to_de_transfer.yaml --modes sequential,joint --seeds 3

Example:
    >>> recipe = {"name": "x", "source": {"data": {}}, "data": {}, "train": {},
    ...           "transfer": {"mode": "sequential"}}
    >>> [(name, fraction, seed) for name, fraction, seed, _ in curve_runs(recipe, [0.5], [0])]
    [('target_only', 0.5, 0), ('transfer', 0.5, 0), ('target_only', 1.0, 0), ('transfer', 1.0, 0)]
"""

import copy
import csv
import statistics
from pathlib import Path

from slukit.errors import RecipeError
from slukit.registry import METRICS, TRANSFER_MODES





def curve_runs(recipe, fractions, seeds, modes=None):
    """`(mode, fraction, seed, recipe)` for every point of the curve.

    `modes` are `transfer.mode` values to compare, each a curve of its own
    named for the mode; None draws one curve, `transfer`, with the recipe's
    own mode. `target_only` (the recipe without its `source`) is always drawn.
    """
    if not recipe.get("source"):
        raise RecipeError(f"{recipe['name']}: `slukit curve` needs a transfer recipe "
                          "(one with a `source` section)")
    for mode in modes or ():
        if mode not in TRANSFER_MODES:
            raise RecipeError(f"--modes: unknown transfer mode {mode!r}; expected some of "
                              f"{', '.join(TRANSFER_MODES)}")
    if 1.0 not in fractions:
        fractions = sorted(set(fractions) | {1.0})
    curves = [("transfer", None)] if not modes else [(m, m) for m in modes]
    runs = []
    for fraction in fractions:
        for seed in seeds:
            for name, mode in [("target_only", None)] + curves:
                r = copy.deepcopy(recipe)
                r["data"]["train_fraction"] = fraction
                r["train"]["seed"] = seed
                if name == "target_only":
                    r["source"] = None
                elif mode is not None:
                    r["transfer"]["mode"] = mode
                runs.append((name, fraction, seed, r))
    return runs


def finished_run(path, recipe):
    """The metrics of a model directory trained from `recipe`'s settings, or None
    (not there, unfinished, or trained from other settings)."""
    import json

    import yaml

    from slukit.train.artifact import is_model_dir

    path = Path(path)
    if not is_model_dir(path) or not (path / "metrics.json").is_file():
        return None
    saved = yaml.safe_load((path / "recipe.yaml").read_text(encoding="utf-8"))
    if not same_settings(saved, recipe):
        return None
    return json.loads((path / "metrics.json").read_text(encoding="utf-8"))


def same_settings(a, b):
    """Whether two recipes train the same model (names, outputs and
    `train.distribute` aside; schema defaults filled in first)."""
    from slukit.recipe.validate import training_settings

    return training_settings(a) == training_settings(b)


def run_point(recipe, path, reporter):
    """Trains `recipe` into `path`, or reuses the finished run there.

    Returns `(metrics, reused)`."""
    from slukit.workflows.train import train_recipe

    metrics = finished_run(path, recipe)
    if metrics is not None:
        return metrics, True
    # The curve owns its folder (and holds its lock): a point trained from other settings
    # is replaced.
    return train_recipe(recipe, output=path, reporter=reporter, force=True).metrics, False


def run_curve(recipe, fractions, seeds, output, reporter, modes=None):
    """Trains every point (reusing finished ones), writes `curve.csv` and
    `curve_summary.csv`, and returns the rows. Holds `OUTPUT.lock` (one curve per
    folder at a time)."""
    from slukit.train.lock import output_lock

    output = Path(output)
    with output_lock(output, "curve"):
        return _run_curve(recipe, fractions, seeds, output, reporter, modes)


def _run_curve(recipe, fractions, seeds, output, reporter, modes):
    output.mkdir(parents=True, exist_ok=True)
    rows = []
    for mode, fraction, seed, r in curve_runs(recipe, fractions, seeds, modes):
        path = output / "models" / f"{mode}-f{fraction:g}-s{seed}"
        reporter.stage(f"curve: {mode}, {fraction:g} of the target data, seed {seed}")
        metrics, reused = run_point(r, path, reporter)
        if reused:
            reporter.info(f"reusing {path} (trained from the same settings)")
        test = metrics.get("test") or metrics.get("valid")
        rows.append({"mode": mode, "fraction": fraction, "seed": seed,
                     "train_utterances": _train_size(path),
                     **{m: round(test[m], 6) for m in METRICS}})
    write_csv(rows, output / "curve.csv")
    write_csv(summarize(rows), output / "curve_summary.csv")
    return rows


def _train_size(model_dir):
    import json

    meta = json.loads((Path(model_dir) / "metadata.json").read_text())
    return meta.get("train_utterances", "")


def write_csv(rows, path):
    from slukit.atomic import atomic_open

    with atomic_open(path, "w", newline="", encoding="utf-8") as f:  # whole or not at all
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def summarize(rows):
    """Mean and standard deviation per (mode, fraction)."""
    groups = {}
    for row in rows:
        groups.setdefault((row["mode"], row["fraction"]), []).append(row)
    out = []
    for (mode, fraction), group in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1])):
        entry = {"mode": mode, "fraction": fraction, "train_utterances": group[0]["train_utterances"],
                 "seeds": len(group)}
        for m in METRICS:
            values = [g[m] for g in group]
            entry[m] = statistics.mean(values)
            entry[f"{m}_std"] = statistics.stdev(values) if len(values) > 1 else 0.0
        out.append(entry)
    return out


def smallest_matching_fraction(summary, mode="transfer"):
    """The smallest fraction at which `mode`'s mean intent accuracy and slot F1
    are both at least target-only's on all the data; None if there is none."""
    full = next((s for s in summary if s["mode"] == "target_only" and s["fraction"] == 1.0), None)
    if full is None:
        return None
    for s in sorted((s for s in summary if s["mode"] == mode), key=lambda s: s["fraction"]):
        if s["intent_accuracy"] >= full["intent_accuracy"] and s["slot_f1"] >= full["slot_f1"]:
            return s["fraction"]
    return None


def plot(summary, path, title):
    """Writes the curve as a PNG (needs matplotlib: `pip install slukit[plot]`)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, metric, label in ((axes[0], "intent_accuracy", "intent accuracy"),
                              (axes[1], "slot_f1", "slot F1")):
        modes = list(dict.fromkeys(s["mode"] for s in summary))
        modes.sort(key=lambda m: m != "target_only")
        for mode, style in zip(modes, ("o--", "s-", "^-", "D-", "v-")):
            pts = sorted((s for s in summary if s["mode"] == mode),
                         key=lambda p: p["fraction"])
            ax.errorbar([p["train_utterances"] for p in pts], [100 * p[metric] for p in pts],
                        yerr=[100 * p[f"{metric}_std"] for p in pts], fmt=style, capsize=3,
                        label=mode.replace("_", " "))
        ax.set_xscale("log")
        ax.set_xlabel("target training utterances")
        ax.set_ylabel(f"test {label} (%)")
        ax.grid(True, alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    from slukit.atomic import atomic_path

    with atomic_path(path) as tmp:  # whole or not at all
        fig.savefig(tmp, dpi=120, format=Path(path).suffix.lstrip(".") or "png")
    plt.close(fig)
    return True
