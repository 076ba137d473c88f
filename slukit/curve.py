"""The data-efficiency curve: target-only training against transfer, at growing
fractions of the target training data.

For each fraction and seed, it trains the recipe without its `source` section
(target-only) and with it (transfer; the source model is trained once and
reused), writes `curve.csv` and `curve.png` (intent accuracy and slot F1 on the
target test set against the number of target training utterances; error bars
are the spread over seeds), and reports the smallest fraction at which
transfer matches target-only training on all the target data.

Example:
    >>> # slukit curve recipes/multiatis/en_to_de_transfer.yaml --fractions 0.1,0.5,1.0 --seeds 1
"""

import copy
import csv
import statistics
from pathlib import Path

from slukit.errors import RecipeError

METRICS = ("intent_accuracy", "slot_f1", "sentence_accuracy")


def curve_runs(recipe, fractions, seeds):
    """`(mode, fraction, seed, recipe)` for every point of the curve."""
    if not recipe.get("source"):
        raise RecipeError(f"{recipe['name']}: `slukit curve` needs a transfer recipe "
                          "(one with a `source` section)")
    if 1.0 not in fractions:
        fractions = sorted(set(fractions) | {1.0})
    runs = []
    for fraction in fractions:
        for seed in seeds:
            for mode in ("target_only", "transfer"):
                r = copy.deepcopy(recipe)
                r["data"]["train_fraction"] = fraction
                r["train"]["seed"] = seed
                if mode == "target_only":
                    r["source"] = None
                runs.append((mode, fraction, seed, r))
    return runs


def run_curve(recipe, fractions, seeds, output, reporter):
    """Trains every point, writes `curve.csv` (and `curve.png`), returns the rows."""
    from slukit.train.trainer import train_recipe

    from slukit.train.lock import output_lock

    output = Path(output)
    with output_lock(output, "curve"):  # one curve per folder at a time
        return _run_curve(recipe, fractions, seeds, output, reporter, train_recipe)


def _run_curve(recipe, fractions, seeds, output, reporter, train_recipe):
    output.mkdir(parents=True, exist_ok=True)
    rows = []
    for mode, fraction, seed, r in curve_runs(recipe, fractions, seeds):
        reporter.stage(f"curve: {mode}, {fraction:g} of the target data, seed {seed}")
        # The curve owns its folder (and holds its lock): a rerun replaces its models.
        result = train_recipe(r, output=output / "models" / f"{mode}-f{fraction:g}-s{seed}",
                              reporter=reporter, force=True)
        test = result.metrics.get("test") or result.metrics.get("valid")
        rows.append({"mode": mode, "fraction": fraction, "seed": seed,
                     "train_utterances": _train_size(result.path),
                     **{m: round(test[m], 6) for m in METRICS}})
    write_csv(rows, output / "curve.csv")
    return rows


def _train_size(model_dir):
    import json

    meta = json.loads((Path(model_dir) / "metadata.json").read_text())
    return meta.get("train_utterances", "")


def write_csv(rows, path):
    with open(path, "w", newline="", encoding="utf-8") as f:
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


def smallest_matching_fraction(summary):
    """The smallest fraction at which transfer's mean intent accuracy and slot F1
    are both at least target-only's on all the data; None if there is none."""
    full = next((s for s in summary if s["mode"] == "target_only" and s["fraction"] == 1.0), None)
    if full is None:
        return None
    for s in sorted((s for s in summary if s["mode"] == "transfer"), key=lambda s: s["fraction"]):
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
        for mode, style in (("target_only", "o--"), ("transfer", "s-")):
            pts = [s for s in summary if s["mode"] == mode]
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
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True
