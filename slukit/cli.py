"""The `slukit` command: it parses the arguments and hands them to `slukit.commands`.

Example:
    $ slukit train recipes/quickstart.yaml --set train.epochs=5
    $ slukit evaluate runs/quickstart demo-en:test
    $ echo "wake me up at 7 am" | slukit predict runs/quickstart
"""

import argparse
import errno
import sys

from slukit import __version__, registry
from slukit.commands import (cmd_curve, cmd_distill, cmd_embeddings_align, cmd_embeddings_dictionary,
                             cmd_evaluate, cmd_export, cmd_predict, cmd_serve, cmd_train, cmd_tune)
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
