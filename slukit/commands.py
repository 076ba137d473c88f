"""What each `slukit` command does once its arguments are parsed (`slukit.cli` parses).

One `cmd_<name>(args)` per command, returning the exit status; each checks the
arguments the parser cannot, then calls the library. Heavy modules are imported
inside the functions, so `slukit --help` stays fast.
"""

import json
import os
import sys
from pathlib import Path

from slukit.errors import SlukitError


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
    has loaded (seconds later): the recipe's data and a transfer's source data sets."""
    from slukit.data.sources import split_paths
    from slukit.errors import DataError, RecipeError

    checks = [("data", recipe)]
    source = (recipe.get("source") or {}).get("data")
    sets = source if isinstance(source, list) else [source] if source else []
    for i, data in enumerate(sets):
        checks.append((f"source.data{'' if len(sets) == 1 else f'[{i}]'}", {**recipe, "data": data}))
    missing = []
    for where, part in checks:
        try:
            paths = split_paths(part)
        except RecipeError as err:  # worded for `data.`: name the section it came from
            missing += [where + p[len("data"):] if p.startswith("data.") else p
                        for p in err.problems]
            continue
        missing += [f"{where}.{split}: {path}: no such file or folder"
                    for split, (path, _) in paths.items()
                    if path is not None and not Path(path).exists()]
    if missing:
        raise DataError(missing)


def cmd_tune(args):
    from slukit.recipe.load import load_recipe

    recipe = load_recipe(args.recipe, args.overrides)  # validate before any heavy import
    from slukit.tune.search import check_tunable, default_output, distributed_role

    check_tunable(recipe)
    check_data_files(recipe)
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

    recipe = load_recipe(args.recipe, args.overrides)  # validate before any heavy import
    fractions = parse_fractions(args.fractions)
    if args.seeds < 1:
        from slukit.errors import SlukitError

        raise SlukitError(f"--seeds: expected at least 1, got {args.seeds}")
    if not recipe.get("source"):
        from slukit.errors import RecipeError

        raise RecipeError(f"{recipe['name']}: `slukit curve` needs a transfer recipe (one with "
                          "a `source` section)")
    check_data_files(recipe)
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
                        ("parity on {n} long inputs (pairs joined)", parity.get("long") or {}),
                        ("parity on {n} inputs longer than the longest signature (utterances "
                         "joined)", parity.get("past_longest") or {})):
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
    if args.split is not None:
        check_split_flag(args.data, args.format)
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


def check_split_flag(data, format):
    """`--split` picks a partition of a MASSIVE file that mixes them; for any other data it
    would be ignored, so it is refused."""
    from slukit.data.readers import detect_format
    from slukit.data.sources import resolve_data_arg

    path, fmt = resolve_data_arg(data, format)
    fmt = fmt or detect_format(path)
    if fmt != "massive":
        raise SlukitError(f"--split: only for a MASSIVE file that mixes partitions; {data} is "
                          f"{fmt} data, read whole (give the split's own file, or a built-in "
                          "set as NAME:SPLIT, e.g. demo-en:valid)")


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
