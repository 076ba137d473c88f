"""Streams a generated 1,000,000-utterance JSON Lines file: throughput and peak memory.

Usage (from the repository root):
    python benchmarks/stream_1m.py [--utterances 1000000] [--workdir DIR] [--keep]
        [--out benchmarks/results/stream_1m.md]

It writes a training file of demo-style utterances
(`slukit.data.demo.sample_utterances`, seed 0; 2,000 more, seed 1, as the
validation file) into a temporary folder (or `--workdir`; nothing goes into
the repository), then measures two phases, each in a fresh Python process so
that its peak memory (`VmHWM`, the peak resident set size) is its own:

- vocab: the vocabulary pass of a streamed training file
  (`TrainStream.scan`, which checks every line, then `SLUPreprocessor.fit`
  from the counts): utterances per second and peak memory.
- train: `train_recipe` of recipes/quickstart.yaml's model and settings on the
  file with `data.stream: true` and `train.epochs: 1` (the validation file in
  memory and scored after the epoch, as in any run): utterances per second of
  the epoch (`train_seconds` of metadata.json, which also holds the validation
  scoring) and the peak memory of the whole process (vocabulary pass, model,
  epoch).

The target: peak memory while training on 1M utterances stays under 2 GB.
It writes a markdown table and a JSON file (`--out`, and the same name .json).
"""

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET_MB = 2000
VALID_UTTERANCES = 2000


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--utterances", type=int, default=1_000_000,
                        help="training utterances to generate (default 1,000,000)")
    parser.add_argument("--workdir", default=None,
                        help="where the data and the model go (default: a temporary folder)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "stream_1m.md"),
                        help="markdown file (a .json is written beside it)")
    parser.add_argument("--phase", choices=("vocab", "train"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.phase:
        return run_phase(args.phase, Path(args.workdir))

    sys.path.insert(0, str(ROOT))
    work = Path(args.workdir or tempfile.mkdtemp(prefix="slukit-stream-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        result = {"utterances": args.utterances, "command": command_line(argv),
                  "machine": machine()}
        result["generate"] = generate(work, args.utterances)
        print(f"generated {args.utterances:,} utterances "
              f"({result['generate']['megabytes']:,} MB) in {result['generate']['seconds']} s",
              flush=True)
        for phase in ("vocab", "train"):
            result[phase] = child(phase, work)
            print(f"{phase}: {json.dumps(result[phase])}", flush=True)
    finally:
        if not args.keep and not args.workdir:
            shutil.rmtree(work, ignore_errors=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    out.write_text(markdown(result))
    print(out.read_text())
    return 0


# ---------------------------------------------------------------- the parent


def command_line(argv):
    args = sys.argv[1:] if argv is None else list(argv)
    return " ".join(["python", "benchmarks/stream_1m.py", *args])


def machine():
    import tensorflow as tf  # only for its version; the phases run in their own processes

    return {"cpus": os.cpu_count(), "arch": platform.machine(), "python": platform.python_version(),
            "tensorflow": tf.__version__, "backend": os.environ.get("KERAS_BACKEND", "tensorflow")}


def generate(work, n):
    """Writes train.jsonl (n utterances) and valid.jsonl into `work`."""
    from slukit.data.demo import sample_utterances

    started = time.perf_counter()
    for name, count, seed in (("train.jsonl", n, 0), ("valid.jsonl", VALID_UTTERANCES, 1)):
        with open(work / name, "w", encoding="utf-8") as file:
            for row in sample_utterances(count, seed=seed):
                file.write(json.dumps(row, ensure_ascii=False) + "\n")
    return {"seconds": round(time.perf_counter() - started, 1),
            "megabytes": round((work / "train.jsonl").stat().st_size / 1e6, 1)}


def child(phase, work):
    """Runs one phase in a fresh process; returns the JSON it prints last."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, __file__, "--phase", phase, "--workdir", str(work)],
                          check=True, stdout=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    return json.loads(done.stdout.strip().splitlines()[-1])


def markdown(r):
    m, g = r["machine"], r["generate"]
    vocab, train = r["vocab"], r["train"]
    met = "met" if train["peak_mb"] < TARGET_MB else "NOT met"
    lines = [
        "# Streaming a large training file (`data.stream`)",
        "",
        f"{r['utterances']:,} training utterances ({g['megabytes']:,} MB of JSON Lines) drawn by "
        "`slukit.data.demo.sample_utterances` (demo templates and values, seed 0; a vocabulary "
        f"of {vocab['words']:,} words); {VALID_UTTERANCES:,} validation utterances in memory. "
        f"Machine: {m['cpus']} CPU cores, {m['arch']}, Python {m['python']}, TensorFlow "
        f"{m['tensorflow']}, {m['backend']} backend. Each phase runs in its own process; peak "
        "memory is that process's peak resident set size (VmHWM).",
        "",
        f"Command: `{r['command']}`",
        "",
        "| phase | what | seconds | utterances/s | peak memory MB |",
        "|---|---|---:|---:|---:|",
        f"| vocabulary pass | `TrainStream.scan` (every line checked, tokens/labels/lengths "
        f"counted) + `SLUPreprocessor.fit` | {vocab['seconds']} | "
        f"{vocab['utterances_per_second']:,} | {vocab['peak_mb']:,} |",
        f"| training, 1 epoch | quickstart model (`recipes/quickstart.yaml`, "
        f"{train['parameters']:,} parameters, batch {train['batch_size']}), `data.stream: true`: "
        f"{train['steps']:,} steps, then validation | {train['train_seconds']} | "
        f"{train['utterances_per_second']:,} | {train['peak_mb']:,} |",
        "",
        f"The training process's peak covers its vocabulary pass ({train['scan_seconds']} s), the "
        f"model and the epoch; whole run {train['wall_seconds']} s. Target: peak memory while "
        f"training under {TARGET_MB:,} MB: **{met}**.",
        "",
        "In memory while streaming: the shuffle buffer (`data.shuffle_buffer`, 20,000 examples), "
        "at most two batches per length bucket, the vocabulary counters and the validation set; "
        "never the training examples or their ids. The demo vocabulary is small, so the counters "
        "are too; on real data they grow with the distinct words, not with the utterances.",
        "",
    ]
    return "\n".join(lines)


# ---------------------------------------------------------------- the phases (child processes)


def peak_mb():
    """This process's peak resident set size in MB (VmHWM; ru_maxrss where /proc is missing)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    import resource

    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def run_phase(phase, work):
    result = vocab_phase(work) if phase == "vocab" else train_phase(work)
    result["peak_mb"] = peak_mb()
    print(json.dumps(result))
    return 0


def vocab_phase(work):
    from slukit.data.stream import TrainStream
    from slukit.preprocess.preprocessor import SLUPreprocessor

    started = time.perf_counter()
    stream = TrainStream(work / "train.jsonl", "jsonl").scan()
    preprocessor = SLUPreprocessor.fit(stream.counts)
    seconds = time.perf_counter() - started
    return {"seconds": round(seconds, 1), "utterances": len(stream),
            "utterances_per_second": round(len(stream) / seconds),
            "words": len(preprocessor.words) - 2, "chars": len(preprocessor.chars) - 2,
            "max_tokens": stream.counts.max_tokens}


def train_phase(work):
    from slukit.data.stream import steps_per_pass
    from slukit.recipe import load_recipe
    from slukit.train import trainer
    from slukit.train.progress import Reporter

    recipe = load_recipe(ROOT / "recipes" / "quickstart.yaml", [
        "data.builtin=null", f"data.root={work}", "data.format=jsonl",
        "data.train=train.jsonl", "data.valid=valid.jsonl", "data.stream=true",
        "train.epochs=1", f"output={work / 'model'}"])
    batch_size = recipe["train"]["batch_size"]
    scan = {}
    load_data = trainer.load_data

    def timed_load_data(*args, **kwargs):  # the vocabulary pass, and the steps it plans
        started = time.perf_counter()
        splits = load_data(*args, **kwargs)
        scan["seconds"] = round(time.perf_counter() - started, 1)
        scan["steps"] = steps_per_pass(splits["train"].counts.lengths, batch_size)
        return splits

    trainer.load_data = timed_load_data
    started = time.perf_counter()
    result = trainer.train_recipe(recipe, reporter=Reporter(quiet=True))
    wall = time.perf_counter() - started
    meta = json.loads((result.path / "metadata.json").read_text())
    return {"train_seconds": meta["train_seconds"], "utterances": meta["train_utterances"],
            "utterances_per_second": round(meta["train_utterances"] / meta["train_seconds"]),
            "steps": scan["steps"], "batch_size": batch_size, "parameters": meta["parameters"],
            "scan_seconds": scan["seconds"], "wall_seconds": round(wall, 1),
            "valid": result.metrics.get("valid")}


if __name__ == "__main__":
    raise SystemExit(main())
