"""The `slukit` command: thin wrappers that parse, validate and call the library.

Example:
    $ slukit train recipes/quickstart.yaml --set train.epochs=5
    $ slukit evaluate runs/quickstart demo-en:test
    $ echo "wake me up at 7 am" | slukit predict runs/quickstart
"""

import argparse
import errno
import json
import os
import sys
from pathlib import Path

from slukit import __version__, registry
from slukit.errors import SlukitError

EPILOG = """examples:
  slukit train recipes/quickstart.yaml
  slukit train recipes/quickstart.yaml --set train.epochs=5 --set model.units=64
  slukit tune recipes/atis/tune_broad.yaml --max-trials 20
  slukit distill recipes/atis/best.yaml --teachers 3
  slukit evaluate runs/quickstart demo-en:test
  slukit predict runs/quickstart "set an alarm for 7 am"
  slukit serve export/quickstart.tflite --port 8080
"""


def build_parser():
    parser = argparse.ArgumentParser(
        prog="slukit", description="Joint intent classification and slot tagging with Keras.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"slukit {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    train = commands.add_parser("train", help="train a model from a YAML recipe",
                                description="Train a joint intent + slot model from a YAML recipe "
                                "and write a model directory.")
    train.add_argument("recipe", metavar="RECIPE", help="path of the YAML recipe")
    train.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                       help="override a recipe key, e.g. --set train.batch_size=64 "
                       "(value parsed as YAML; repeatable)")
    train.add_argument("--output", metavar="DIR", help="model directory (default: the recipe's "
                       "`output`, else runs/NAME)")
    train.add_argument("--quiet", action="store_true", help="print only warnings and the result")
    train.add_argument("--resume", action="store_true",
                       help="continue an interrupted run from its last checkpoint "
                       "(OUTPUT.checkpoint, written after every epoch); without one, start at "
                       "epoch 1. The recipe must be the one the checkpoint was made from")
    train.add_argument("--force", action="store_true",
                       help="replace a finished model already in the output (only once the new "
                       "run succeeds), and start afresh over an interrupted run's checkpoint "
                       "(deleting it) instead of refusing")
    train.set_defaults(run=cmd_train)

    distill = commands.add_parser(
        "distill", help="train teachers, then one student on their averaged predictions",
        description="Distill several teachers into one model of the recipe's size: train N "
        "teachers from the recipe (seeds train.seed+1 ... train.seed+N, under "
        "OUTPUT.teachers/seed<k>; finished ones are reused, so the command can be run again "
        "after a stop), or use the recipe's distill.teacher_dirs; then train the student on "
        "the gold labels and the teachers' averaged intent and tag probabilities "
        "(distill.weight). The student's model directory is a normal one; its metadata.json "
        "records the teachers and the teacher ensemble's metrics. `slukit train` does the same "
        "on a recipe with a distill section.")
    distill.add_argument("recipe", metavar="RECIPE", help="path of the YAML recipe")
    distill.add_argument("--teachers", type=int, metavar="N",
                         help="train N teachers (sets distill.teachers; default: the recipe's "
                         "distill section)")
    distill.add_argument("--set", dest="overrides", action="append", default=[],
                         metavar="KEY=VALUE", help="override a recipe key, e.g. --set "
                         "distill.weight=0.7 (value parsed as YAML; repeatable)")
    distill.add_argument("--output", metavar="DIR", help="the student's model directory "
                         "(default: the recipe's `output`, else runs/NAME)")
    distill.add_argument("--quiet", action="store_true", help="print only warnings and the result")
    distill.add_argument("--resume", action="store_true",
                         help="continue the student's interrupted run from its checkpoint "
                         "(teachers are always resumed)")
    distill.add_argument("--force", action="store_true",
                         help="replace a finished model already in the student's output")
    distill.set_defaults(run=cmd_distill)

    tune = commands.add_parser(
        "tune", help="search hyper-parameters over a recipe's `tune` section",
        description="Search the hyper-parameters that a recipe's `tune` section declares with "
        "keras-tuner (random, bayesian or hyperband), ranking trials by a validation score. The "
        "search folder holds keras-tuner's project, trials.csv (every trial) and best_recipe.yaml "
        "(the best configuration, ready for `slukit train`). Rerun the same command to continue a "
        "stopped search, or with a larger --max-trials to extend a finished one. Distributed: "
        "set KERASTUNER_TUNER_ID (chief, or tuner0, tuner1, ... for the workers), "
        "KERASTUNER_ORACLE_IP and KERASTUNER_ORACLE_PORT and run the same command in each process.")
    tune.add_argument("recipe", metavar="RECIPE", help="path of a YAML recipe with a `tune` section")
    tune.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                      help="override a recipe key, e.g. --set tune.max_epochs=10 or "
                      "--set 'tune.space.model.units={int: [64, 256], step: 32}' (repeatable)")
    tune.add_argument("--max-trials", type=int, metavar="N",
                      help="trials in all, earlier runs' included (default: the recipe's tune.max_trials)")
    tune.add_argument("--output", metavar="DIR", help="the search folder (default: runs/NAME-tune); "
                      "a folder holding the same search is resumed")
    tune.add_argument("--best", type=int, default=5, metavar="N",
                      help="rows in the table of best trials (default: 5)")
    tune.add_argument("--quiet", action="store_true",
                      help="print one line per trial and the result, not every epoch")
    tune.set_defaults(run=cmd_tune)

    evaluate = commands.add_parser("evaluate", help="score a model on labelled data",
                                   description="Score a trained model: intent accuracy, slot F1, "
                                   "sentence accuracy, a per-slot report and the most confused intents.")
    evaluate.add_argument("model", metavar="MODEL", help="a model directory from `slukit train`, "
                          "or what `slukit export` wrote: a .tflite (run with LiteRT) or a "
                          "SavedModel folder")
    evaluate.add_argument("data", metavar="DATA", help="a data file or folder, or a built-in set "
                          "such as demo-en or demo-en:valid")
    evaluate.add_argument("--format", choices=registry.FORMATS,
                          help="data format (default: detected from the path)")
    evaluate.add_argument("--split", choices=registry.SPLITS,
                          help="the partition to read from a MASSIVE file that mixes them "
                          "(valid reads `dev`)")
    evaluate.add_argument("--on-error", choices=("fail", "skip"), default="fail",
                          help="what to do with malformed lines (default: fail)")
    evaluate.add_argument("--json", action="store_true", help="print the report as JSON")
    evaluate.set_defaults(run=cmd_evaluate)

    curve = commands.add_parser("curve", help="data-efficiency curve: transfer vs target-only",
                                description="Train a transfer recipe with and without its source "
                                "model at several fractions of the target data; write curve.csv and "
                                "curve.png and print the smallest fraction at which transfer matches "
                                "target-only training on all the data.")
    curve.add_argument("recipe", metavar="RECIPE", help="a transfer recipe (with a `source` section)")
    curve.add_argument("--fractions", default="0.05,0.1,0.25,0.5,1.0",
                       help="comma-separated fractions of the target training data "
                       "(default: 0.05,0.1,0.25,0.5,1.0; 1.0 is always added)")
    curve.add_argument("--seeds", type=int, default=1, metavar="N",
                       help="seeds per point, 0..N-1; each point is then their mean, with "
                       "± one standard deviation as error bars (default: 1)")
    curve.add_argument("--modes", metavar="MODES",
                       help="comma-separated transfer.mode values to compare, one curve each "
                       "(sequential, joint, joint_then_finetune; default: the recipe's own "
                       "mode, drawn as `transfer`)")
    curve.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                       help="override a recipe key (repeatable)")
    curve.add_argument("--output", metavar="DIR", help="where the models, curve.csv and curve.png "
                       "go (default: runs/NAME-curve)")
    curve.set_defaults(run=cmd_curve)

    export = commands.add_parser(
        "export", help="export a model for serving (SavedModel) or devices (TFLite)",
        description="Export a trained model. tflite: fixed input lengths (one signature each, batch "
        "1), builtin ops only, recurrent layers unrolled with the trained weights, checked for "
        "LiteRT's GPU accelerator and against the Keras model; the vocabularies, labels and text "
        "rules go in a JSON file beside it. saved_model: a serving_default signature that takes raw "
        "strings (tokenisation in the graph with tensorflow-text).")
    export.add_argument("model", metavar="MODEL_DIR", help="a model directory from `slukit train`")
    export.add_argument("--format", required=True, choices=("tflite", "saved_model"),
                        help="what to export")
    export.add_argument("--quantize", choices=("none", "float16", "dynamic"), default="none",
                        help="tflite weights: none (fp32, for GPUs), float16 (half the size; "
                        "LiteRT's GPU accelerator rejects its DEQUANTIZE ops), dynamic "
                        "(int8 weights, for CPUs) (default: none)")
    export.add_argument("--max-length", type=int, metavar="N",
                        help="tflite: the longest fixed length; shorter signatures (8, 12, 16, "
                        "32, 48, ...) are added below it (default: 64 or 1.25 x the longest "
                        "train/valid/test utterance, whichever is more, rounded up to a multiple "
                        "of 8). Longer utterances are tagged in half-overlapping windows.")
    export.add_argument("--lengths", metavar="L1,L2,...",
                        help="tflite: exact fixed lengths instead of --max-length's choice")
    export.add_argument("--cpu-only", action="store_true",
                        help="tflite: write the file even when the static GPU check finds ops that "
                        "LiteRT's GPU accelerator rejects (needed for --quantize dynamic)")
    export.add_argument("--output", required=True, metavar="PATH",
                        help="the .tflite file (its .json goes beside it) or the SavedModel folder; "
                        "must not exist")
    export.add_argument("--json", action="store_true", help="print the full report as JSON")
    export.set_defaults(run=cmd_export)

    embeddings = commands.add_parser("embeddings", help="word vector tools",
                                     description="Tools for pretrained and bilingual word vectors.")
    embedding_commands = embeddings.add_subparsers(dest="embeddings_command", metavar="COMMAND")
    embeddings.set_defaults(run=lambda args: embeddings.print_help() or 0)
    align = embedding_commands.add_parser(
        "align", help="align source vectors to a target space with a seed dictionary",
        description="Map SOURCE vectors into the space of TARGET vectors with the orthogonal "
        "Procrustes solution over a seed dictionary (MUSE's supervised mode), write the mapped "
        "source vectors, and report the dictionary's translation accuracy (nearest neighbour by "
        "cosine) before and after.")
    align.add_argument("source", metavar="SOURCE.vec", help="source-language vectors (.vec text format)")
    align.add_argument("target", metavar="TARGET.vec", help="target-language vectors")
    align.add_argument("--dictionary", metavar="FILE",
                       help="seed dictionary: 'source target' word pairs, one per line (e.g. "
                       "what `slukit embeddings dictionary --lexicon` writes)")
    align.add_argument("--lexicon", metavar="PATH", action="append", default=[],
                       help="an installed bilingual dictionary (FreeDict dictd, Ding or word "
                       "pairs) whose one-word translations join the seed (repeatable)")
    align.add_argument("--reverse-lexicon", metavar="PATH", action="append", default=[],
                       help="a lexicon written from the target language to the source, read the "
                       "other way round (repeatable)")
    align.add_argument("--max-translations", type=int, default=1, metavar="N",
                       help="translations per word taken from the lexicons (default: 1)")
    align.add_argument("--test-dictionary", metavar="FILE",
                       help="held-out word pairs to report accuracy on as well")
    align.add_argument("--output", required=True, metavar="FILE",
                       help="where the aligned source vectors are written (.vec)")
    align.set_defaults(run=cmd_embeddings_align)
    dictionary = embedding_commands.add_parser(
        "dictionary", help="build a bilingual word dictionary from parallel data and lexicons",
        description="Pair the utterances of two parallel data files by id and build a bilingual "
        "word dictionary from aligned slot spans and co-occurrence (Dice), merged with the "
        "one-word translations of installed bilingual dictionaries (--lexicon: FreeDict dictd "
        "files under /usr/share/dictd/, Ding's /usr/share/trans/de-en, word-pair files), one "
        "'source target' pair per line: the seed dictionary that `slukit embeddings align` takes "
        "and the dictionary of data.code_switch. The pairs mined from the data come first.")
    dictionary.add_argument("source", metavar="SOURCE", nargs="?",
                            help="source-language data (any format); optional with --lexicon")
    dictionary.add_argument("target", metavar="TARGET", nargs="?",
                            help="target-language data, parallel by id")
    dictionary.add_argument("--lexicon", metavar="PATH", action="append", default=[],
                            help="an installed bilingual dictionary whose headwords are source "
                            "words (repeatable)")
    dictionary.add_argument("--reverse-lexicon", metavar="PATH", action="append", default=[],
                            help="a dictionary from the target language to the source, read the "
                            "other way round (repeatable)")
    dictionary.add_argument("--max-translations", type=int, default=3, metavar="N",
                            help="translations per word taken from the lexicons (default: 3)")
    dictionary.add_argument("--source-format", choices=registry.FORMATS)
    dictionary.add_argument("--target-format", choices=registry.FORMATS)
    dictionary.add_argument("--split", choices=registry.SPLITS, default="train",
                            help="partition of MASSIVE files that mix them (default: train)")
    dictionary.add_argument("--min-count", type=int, default=2,
                            help="least number of utterance pairs a word pair must co-occur in")
    dictionary.add_argument("--skip-identical", action="store_true",
                            help="leave out pairs of identical words (names, numbers)")
    dictionary.add_argument("--output", required=True, metavar="FILE", help="the dictionary to write")
    dictionary.set_defaults(run=cmd_embeddings_dictionary)

    predict = commands.add_parser("predict", help="tag raw text",
                                  description="Predict intent and slots: one JSON object per "
                                  "utterance, one utterance per argument or per stdin line.")
    predict.add_argument("model", metavar="MODEL", help="a model directory from `slukit train`, or a "
                         ".tflite from `slukit export` (run with LiteRT, without TensorFlow)")
    predict.add_argument("--accelerator", choices=("cpu", "gpu"), default="cpu",
                         help="for a .tflite: run on the CPU interpreter or LiteRT's GPU "
                         "accelerator (default: cpu)")
    predict.add_argument("texts", metavar="TEXT", nargs="*",
                         help="utterances (default: read one per line from standard input)")
    add_fallback_arguments(predict)
    predict.set_defaults(run=cmd_predict)

    serve = commands.add_parser(
        "serve", help="serve a model over HTTP",
        description="Serve a model over HTTP (Starlette under uvicorn; pip install "
        "'slukit[serve]'): POST /predict takes {\"text\": ...} or {\"texts\": [...]} and answers "
        "with the JSON of `slukit predict`; GET /healthz, GET /metrics (Prometheus), GET "
        "/openapi.json. Concurrent requests are micro-batched. Bad requests get a 4xx JSON error. "
        "SIGTERM finishes the requests in flight, then exits.")
    serve.add_argument("model", metavar="MODEL", help="a .tflite from `slukit export` (run with "
                       "LiteRT, without TensorFlow in the process) or a model directory")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on "
                       "(default: 127.0.0.1; 0.0.0.0 listens on every interface)")
    serve.add_argument("--port", type=int, default=8080, help="port (default: 8080; 0: any free one)")
    serve.add_argument("--workers", type=int, default=1, metavar="N",
                       help="server processes sharing the socket, one model each (default: 1; "
                       "about one per CPU core)")
    serve.add_argument("--max-batch", type=int, default=64, metavar="N",
                       help="the most utterances in one model call (default: 64)")
    serve.add_argument("--max-wait-ms", type=float, default=2.0, metavar="MS",
                       help="how long a busy server waits to fill a batch (default: 2)")
    serve.add_argument("--max-texts", type=int, default=256, metavar="N",
                       help="the most texts in one request (default: 256)")
    serve.add_argument("--max-body-bytes", type=int, default=1 << 20, metavar="N",
                       help="the largest request body (default: 1048576)")
    serve.add_argument("--max-text-chars", type=int, default=5000, metavar="N",
                       help="the longest text, in characters (default: 5000)")
    add_fallback_arguments(serve)
    serve.set_defaults(run=cmd_serve)
    return parser


def add_fallback_arguments(parser):
    parser.add_argument("--fallback-threshold", type=float, metavar="T",
                        help="an intent whose calibrated confidence is below T becomes the "
                        "fallback intent (the ranking is kept, and `fallback` is true); 0 turns "
                        "it off (default: the model's predict.fallback_threshold)")
    parser.add_argument("--fallback-intent", metavar="NAME",
                        help="the intent reported below the threshold (default: the model's "
                        "predict.fallback_intent, nlu_fallback)")


def check_fallback(args):
    threshold = getattr(args, "fallback_threshold", None)
    if threshold is not None and not 0.0 <= threshold <= 1.0:
        raise SlukitError(f"--fallback-threshold: expected a confidence in [0, 1], got {threshold}")
    if getattr(args, "fallback_intent", None) is not None and not args.fallback_intent.strip():
        raise SlukitError("--fallback-intent: expected an intent name, got an empty string")


def cmd_train(args):
    from slukit.recipe.load import load_recipe

    recipe = load_recipe(args.recipe, args.overrides)  # validate before any heavy import
    check_data_files(recipe)
    if recipe["train"].get("distribute") == "multi_worker":
        from slukit.train.distribute import read_tf_config

        read_tf_config()  # a missing or malformed TF_CONFIG fails before TensorFlow loads
    quiet_backend_logs()
    from slukit.train.progress import Reporter
    from slukit.workflows.train import train_recipe

    train_recipe(recipe, output=args.output, reporter=Reporter(quiet=args.quiet),
                 resume=args.resume, force=args.force)
    return 0


def cmd_distill(args):
    from slukit.recipe.load import load_recipe

    overrides = list(args.overrides)
    if args.teachers is not None:
        if args.teachers < 1:
            raise SlukitError(f"--teachers: expected at least 1, got {args.teachers}")
        overrides.append(f"distill.teachers={args.teachers}")
    recipe = load_recipe(args.recipe, overrides)  # validate before any heavy import
    if not recipe.get("distill"):
        raise SlukitError(f"{args.recipe}: the recipe has no distill section; pass --teachers N, "
                          "or give distill.teacher_dirs in the recipe")
    from slukit.distill import check_distillable

    check_distillable(recipe)
    check_data_files(recipe)
    quiet_backend_logs()
    from slukit.distill import distill_recipe
    from slukit.train.progress import Reporter

    distill_recipe(recipe, output=args.output, reporter=Reporter(quiet=args.quiet),
                   resume=args.resume, force=args.force)
    return 0


def check_data_files(recipe):
    """A missing data file is reported at once, as recipe errors are, not after TensorFlow
    has loaded (seconds later)."""
    from slukit.data.sources import split_paths
    from slukit.errors import DataError

    missing = [f"data.{split}: {path}: no such file or folder"
               for split, (path, _) in split_paths(recipe).items()
               if path is not None and not Path(path).exists()]
    if missing:
        raise DataError(missing)


def cmd_tune(args):
    from slukit.recipe.load import load_recipe

    recipe = load_recipe(args.recipe, args.overrides)  # validate before any heavy import
    from slukit.tune.search import check_tunable, default_output, distributed_role

    check_tunable(recipe)
    if args.max_trials is not None:
        recipe = load_recipe(args.recipe, [*args.overrides, f"tune.max_trials={args.max_trials}"])
    role = distributed_role()
    if args.best < 1:
        raise SlukitError(f"--best: expected at least 1, got {args.best}")
    quiet_backend_logs()
    from slukit.train.progress import Reporter
    from slukit.tune.search import tune_recipe

    output = args.output or default_output(recipe)
    try:
        result = tune_recipe(recipe, output=output, reporter=Reporter(), quiet=args.quiet,
                             best=args.best, source=args.recipe)
    except KeyboardInterrupt:
        if role == "worker":
            raise
        print(f"\ninterrupted: finished trials are kept in {output}; rerun the same command to "
              "continue the search", file=sys.stderr)
        return 130
    if result is not None:
        print(f"best recipe: {result.best_recipe_path} (train it: slukit train "
              f"{result.best_recipe_path})")
    return 0


def parse_fractions(text):
    from slukit.errors import SlukitError

    try:
        fractions = sorted({float(f) for f in text.split(",") if f.strip()})
    except ValueError:
        raise SlukitError(f"--fractions: expected numbers separated by commas, got {text!r}") from None
    if not fractions or any(not 0 < f <= 1 for f in fractions):
        raise SlukitError(f"--fractions: each fraction must be in (0, 1], got {text!r}")
    return fractions


def cmd_curve(args):
    from slukit.recipe.load import load_recipe

    recipe = load_recipe(args.recipe, args.overrides)
    fractions = parse_fractions(args.fractions)
    if args.seeds < 1:
        from slukit.errors import SlukitError

        raise SlukitError(f"--seeds: expected at least 1, got {args.seeds}")
    quiet_backend_logs()
    from slukit.workflows.curve import curve_runs, plot, run_curve, smallest_matching_fraction, summarize
    from slukit.train.progress import Reporter

    modes = [m.strip() for m in args.modes.split(",") if m.strip()] if args.modes else None
    curve_runs(recipe, fractions, [0], modes)  # fails fast on a recipe without `source`
    reporter = Reporter()
    output = args.output or f"runs/{recipe['name']}-curve"
    rows = run_curve(recipe, fractions, list(range(args.seeds)), output, reporter, modes)
    summary = summarize(rows)
    for s in summary:
        reporter.info(f"{s['mode']:>19}  {s['fraction']:>5g}  ({s['train_utterances']} utt.)  "
                      f"intent {100 * s['intent_accuracy']:.2f} ± {100 * s['intent_accuracy_std']:.2f}  "
                      f"slot F1 {100 * s['slot_f1']:.2f} ± {100 * s['slot_f1_std']:.2f}")
    if plot(summary, f"{output}/curve.png", recipe["name"]):
        reporter.info(f"plot: {output}/curve.png")
    else:
        reporter.warn("matplotlib is not installed, so no curve.png was drawn: "
                      "pip install 'slukit[plot]' (curve.csv holds the numbers)")
    reporter.info(f"tables: {output}/curve.csv, {output}/curve_summary.csv")
    for mode in modes or ["transfer"]:
        best = smallest_matching_fraction(summary, mode)
        name = "transfer" if mode == "transfer" else f"transfer ({mode})"
        print(f"smallest fraction at which {name} matches target-only on all the data: "
              f"{best if best is not None else 'none of those tried'}")
    return 0


def export_lengths(args, model_dir):
    """The fixed lengths of a TFLite export from --lengths, --max-length or the training data."""
    from slukit.errors import SlukitError

    if args.lengths:
        try:
            return sorted({int(x) for x in args.lengths.split(",") if x.strip()})
        except ValueError:
            raise SlukitError(f"--lengths: expected integers separated by commas, got {args.lengths!r}") from None
    if args.max_length is None:
        return None  # export_tflite picks them from the model's data
    from slukit.export.tflite import default_lengths

    if args.max_length < 1:
        raise SlukitError(f"--max-length: expected a positive number of tokens, "
                          f"got {args.max_length}")
    return default_lengths(args.max_length)


def cmd_export(args):
    if args.format == "saved_model":
        given = [flag for flag, on in (("--quantize", args.quantize != "none"),
                                       ("--max-length", args.max_length is not None),
                                       ("--lengths", bool(args.lengths)),
                                       ("--cpu-only", args.cpu_only)) if on]
        if given:
            raise SlukitError(f"{', '.join(given)}: only for --format tflite; a SavedModel "
                              "keeps fp32 weights and takes any length")
    from slukit.integrity import verify_model_dir

    verify_model_dir(args.model)
    if Path(args.output).exists():
        raise SlukitError(f"{args.output}: already exists; choose another --output or remove it")
    quiet_backend_logs()
    if args.format == "saved_model":
        from slukit.export import export_saved_model

        report = export_saved_model(args.model, args.output)
        print(json.dumps(report, indent=2) if args.json else
              f"SavedModel written to {report['path']} (signature {report['signature']}; "
              f"load it after `import tensorflow_text`)")
        return 0
    from slukit.export import export_tflite

    report = export_tflite(args.model, args.output, lengths=export_lengths(args, args.model),
                           quantize=args.quantize, gpu_lint="warn" if args.cpu_only else "error")
    if args.json:
        report = {**report, "gpu": {k: v for k, v in report["gpu"].items() if k != "analyzer_text"}}
        print(json.dumps(report, indent=2, default=str))
    else:
        print_export_report(report)
    return 0


def print_export_report(report):
    parity, gpu = report["parity"], report["gpu"]
    weights = {"none": "fp32", "float16": "float16", "dynamic": "int8 (dynamic range)"}[report["quantize"]]
    print(f"{report['path']}: {report['size_bytes'] / 2**20:.2f} MB, {weights} weights, "
          f"{report['op_count']} ops, builtin only")
    print("signatures: " + ", ".join(f"{sig['key']} ({sig['length']} tokens)"
                                     for sig in report["signatures"])
          + (f" ({report['lengths_chosen']})" if report.get("lengths_chosen", "given") != "given"
             else ""))
    problems = gpu.get("errors") or []
    warnings = gpu.get("warnings") or []
    if problems:
        print("GPU (static check): ops LiteRT's GPU accelerator rejects: " + "; ".join(problems))
    elif warnings:
        print("GPU (static check): not fully GPU-ready, the GPU would leave these ops to the CPU:")
    else:
        print("GPU (static check): no op that LiteRT's GPU accelerator is known to reject "
              "(a run on a GPU settles it)")
    for w in warnings:
        print(f"  - {w}")
    for label, part in (("parity with Keras on {n} utterances", parity),
                        ("parity on {n} long inputs (pairs joined)", parity.get("long") or {})):
        if not part.get("utterances"):
            continue
        text = label.format(n=part["utterances"])
        if part.get("intent_agreement") is not None:
            text += (f": intents {100 * part['intent_agreement']:.1f}% same, tags "
                     f"{100 * part['tag_agreement']:.1f}% same, largest probability difference "
                     f"{max(part['max_abs_diff_intent'], part['max_abs_diff_slots']):.2g}")
        print(text + windowed_note(part))
    print("latency, 1 CPU thread (median ms): " + ", ".join(
        f"{k} {v}" for k, v in report["latency_ms_cpu_1_thread"].items()))
    print(f"metadata: {report['metadata_path']}")


def windowed_note(parity):
    """`; N windowed (longer than L tokens): ...` for a parity report, or ''."""
    if not parity.get("windowed"):
        return ""
    w = parity["windowed_agreement"]
    return (f"; {parity['windowed']} windowed (longer than {parity['longest_signature']} tokens): "
            f"intents {100 * w['intent']:.1f}% same, tags {100 * w['tags']:.1f}% same")


def cmd_embeddings_dictionary(args):
    from slukit.data.parallel import dictionary_from_files, write_dictionary
    from slukit.errors import SlukitError

    if Path(args.output).exists():
        raise SlukitError(f"{args.output}: exists; choose another --output or remove it")
    if (args.source is None) != (args.target is None):
        raise SlukitError("give both SOURCE and TARGET data (parallel by id), or neither "
                          "(then --lexicon or --reverse-lexicon)")
    if args.source is None and not (args.lexicon or args.reverse_lexicon):
        raise SlukitError("nothing to build from: give SOURCE and TARGET data, or --lexicon / "
                          "--reverse-lexicon")
    entries = []
    if args.source is not None:
        entries = dictionary_from_files(args.source, args.target, source_format=args.source_format,
                                        target_format=args.target_format, split=args.split,
                                        report=lambda m: print(f"note: {m}", file=sys.stderr),
                                        min_count=args.min_count,
                                        skip_identical=args.skip_identical)
        print(f"{len(entries)} word pairs mined from {args.source} and {args.target}")
    if args.lexicon or args.reverse_lexicon:
        from slukit.data.lexicon import lexicon_entries

        extra = lexicon_entries(args.lexicon, args.reverse_lexicon, args.max_translations,
                                known={s for s, *_ in entries})
        print(f"{len(extra)} word pairs from the lexicons")
        entries = entries + extra
    written = write_dictionary(entries, args.output)
    print(f"{written} word pairs written to {args.output}")
    for src, tgt, score in entries[:10]:
        print(f"  {src} -> {tgt} ({score:.2f})")
    return 0


def cmd_embeddings_align(args):
    from pathlib import Path

    from slukit.errors import SlukitError
    from slukit.preprocess.vectors import align_files

    if Path(args.output).exists():
        raise SlukitError(f"{args.output}: exists; choose another --output or remove it")
    if not (args.dictionary or args.lexicon or args.reverse_lexicon):
        raise SlukitError("give a seed: --dictionary, --lexicon or --reverse-lexicon")
    seed = None
    if args.lexicon or args.reverse_lexicon:
        from slukit.data.lexicon import lexicon_entries
        from slukit.data.parallel import read_dictionary

        seed = [tuple(p) for p in read_dictionary(args.dictionary)] if args.dictionary else []
        seed += [(s, t) for s, t, _ in lexicon_entries(args.lexicon, args.reverse_lexicon,
                                                       args.max_translations,
                                                       known={s for s, _ in seed})]
    report = align_files(args.source, args.target, args.dictionary, args.output,
                         args.test_dictionary, pairs=seed)
    print(f"dictionary: {report['pairs_with_vectors']} of {report['pairs']} pairs have vectors on both sides")
    print(f"translation accuracy (dictionary): {100 * report['accuracy_before']:.1f}% before, "
          f"{100 * report['accuracy_after']:.1f}% after alignment")
    if "test_accuracy_after" in report:
        print(f"translation accuracy (test, {report['test_pairs']} pairs): "
              f"{100 * report['test_accuracy_before']:.1f}% before, "
              f"{100 * report['test_accuracy_after']:.1f}% after")
    print(f"aligned vectors written to {args.output}")
    return 0


def cmd_evaluate(args):
    from slukit.evaluate import artifact_kind

    kind = artifact_kind(args.model)
    if kind == "model_dir":
        from slukit.integrity import verify_model_dir

        verify_model_dir(args.model)
    elif kind == "tflite":
        from slukit.lite.metadata import read_metadata

        read_metadata(args.model)  # a clear error before anything loads
    quiet_backend_logs()
    from slukit.evaluate import evaluate_artifact

    report = evaluate_artifact(args.model, args.data, format=args.format, on_error=args.on_error,
                               split=args.split,
                               warn=lambda m: print(f"warning: {m}", file=sys.stderr))
    if args.json:
        print(json.dumps(report, indent=2, ensure_ascii=False))
    else:
        print_evaluation(report)
    return 0


def cmd_predict(args):
    check_fallback(args)
    fallback = {"fallback_threshold": args.fallback_threshold,
                "fallback_intent": args.fallback_intent}
    if str(args.model).endswith(".tflite"):
        from slukit.lite import LitePredictor
        from slukit.native_logs import filter_native_logs

        filter_native_logs()
        predictor = LitePredictor(args.model, accelerator=args.accelerator, **fallback)
    else:
        if args.accelerator != "cpu":
            raise SlukitError("--accelerator: only for a .tflite model; a model directory runs "
                              "on Keras's own devices (set CUDA_VISIBLE_DEVICES to choose)")
        from slukit.integrity import verify_model_dir

        verify_model_dir(args.model)  # before loading TensorFlow or waiting on standard input
        quiet_backend_logs()
        from slukit.predict import Predictor

        predictor = Predictor.from_dir(args.model, **fallback)
    if args.texts:
        for result in predictor.predict(args.texts):
            print(json.dumps(result, ensure_ascii=False))
        return 0
    # Standard input: one answer per line as it arrives, flushed, with the model loaded
    # once (readline, not iteration, which could wait for more than one line).
    for line in iter(sys.stdin.readline, ""):
        result = predictor.predict([line.rstrip("\r\n")])[0]
        print(json.dumps(result, ensure_ascii=False), flush=True)
    return 0


def cmd_serve(args):
    check_fallback(args)
    for name in ("port", "workers", "max_batch", "max_texts", "max_body_bytes", "max_text_chars"):
        value, least = getattr(args, name), 0 if name == "port" else 1
        if value < least or (name == "port" and value > 65535):
            raise SlukitError(f"--{name.replace('_', '-')}: got {value}, expected "
                              f"{'a port in 0..65535' if name == 'port' else 'at least 1'}")
    if args.max_wait_ms < 0:
        raise SlukitError(f"--max-wait-ms: expected 0 or more, got {args.max_wait_ms}")
    from slukit.serve import serve

    return serve(args.model, host=args.host, port=args.port, workers=args.workers,
                 max_batch=args.max_batch, max_wait_ms=args.max_wait_ms, max_texts=args.max_texts,
                 max_body_bytes=args.max_body_bytes, max_text_chars=args.max_text_chars,
                 fallback_threshold=args.fallback_threshold, fallback_intent=args.fallback_intent)


def print_evaluation(report):
    from rich.console import Console
    from rich.table import Table

    console = Console()
    m = report["metrics"]
    console.print(f"[bold]{report['data']}[/bold]: {m['utterances']} utterances")
    unknown = report.get("unknown_labels") or {}
    if unknown.get("intents") or unknown.get("slot_types"):
        from slukit.evaluate import describe_unknown

        console.print(f"[yellow]warning:[/yellow] {describe_unknown(unknown, m['utterances'])}")
    console.print(f"intent accuracy {100 * m['intent_accuracy']:.2f}   slot F1 "
                  f"{100 * m['slot_f1']:.2f}   sentence accuracy {100 * m['sentence_accuracy']:.2f}")
    slots = Table(title="slots (seqeval, span level)")
    for col in ("slot", "precision", "recall", "F1", "support"):
        slots.add_column(col, justify="left" if col == "slot" else "right")
    for name, r in report["slots"].items():
        slots.add_row(name, f"{100 * r['precision']:.1f}", f"{100 * r['recall']:.1f}",
                      f"{100 * r['f1']:.1f}", str(r["support"]))
    console.print(slots)
    if report["confused_intents"]:
        conf = Table(title="most confused intents")
        for col in ("gold", "predicted", "count"):
            conf.add_column(col)
        for c in report["confused_intents"]:
            conf.add_row(c["gold"], c["predicted"], str(c["count"]))
        console.print(conf)


def quiet_backend_logs():
    """Hides TensorFlow's C++ start-up chatter (see `slukit.native_logs`)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from slukit.native_logs import filter_native_logs

    filter_native_logs()


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "run", None):
        parser.print_help()
        return 0
    from slukit import interrupt

    interrupt.install()
    try:
        rc = args.run(args)
    except SlukitError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as err:
        what = str(err) if isinstance(err, interrupt.Interrupted) and str(err) else \
            "stopped cleanly, nothing was written"
        print(f"\ninterrupted: {what}", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except OSError as err:
        if err.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        where = f" ({err.filename})" if err.filename else ""
        print(f"error: the disk is full{where}; nothing half-written was left behind. Free "
              "some space and run the command again", file=sys.stderr)
        return 2
    if rc != 130 and interrupt.requested.is_set():  # a Ctrl-C a library swallowed: never 0
        print("\ninterrupted: Ctrl-C was pressed while the command ran; do not trust its "
              "result, run it again", file=sys.stderr)
        return 130
    return rc


if __name__ == "__main__":
    sys.exit(main())
