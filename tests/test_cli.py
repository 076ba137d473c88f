"""The `slukit` command as users run it."""

import json
import os
import subprocess
import sys

from slukit.cli import main


def test_import_and_help_do_not_import_tensorflow_or_keras():
    code = ("import sys, slukit, slukit.cli\n"
            "try:\n    slukit.cli.main(['--help'])\nexcept SystemExit:\n    pass\n"
            "heavy = [m for m in ('tensorflow', 'keras', 'jax', 'numpy') if m in sys.modules]\n"
            "assert not heavy, heavy\n")
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)


def test_help_lists_the_commands(capsys):
    try:
        main(["--help"])
    except SystemExit as stop:
        assert stop.code == 0
    out = capsys.readouterr().out
    for command in ("train", "evaluate", "predict"):
        assert command in out


def test_recipe_error_is_a_message_not_a_traceback(tmp_path, capsys):
    recipe = tmp_path / "bad.yaml"
    recipe.write_text("name: x\ndata:\n  builtin: demo-en\nmodel:\n  encodr: bilstm\n")
    assert main(["train", str(recipe)]) == 2
    err = capsys.readouterr().err
    assert "bad.yaml:5" in err and "model.encodr" in err and "did you mean 'model.encoder'" in err
    assert "Traceback" not in err


def test_unknown_set_key_is_an_error(tmp_path, capsys):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("name: x\ndata:\n  builtin: demo-en\n")
    assert main(["train", str(recipe), "--set", "train.batchsize=8"]) == 2
    assert "train.batch_size" in capsys.readouterr().err


def predict(capsys, model_dir, *texts):
    assert main(["predict", str(model_dir), *texts]) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def test_predict_accepts_any_string(trained_model_dir, capsys):
    long_text = " ".join(["play"] * 400)
    results = predict(capsys, trained_model_dir, "play High Hopes by Panic! at the Disco",
                      "", "   ", "🙂 🎶 play 🎸", long_text)
    assert len(results) == 5
    for r in results:
        assert set(r) == {"text", "tokens", "intent", "intent_confidence", "intent_ranking", "fallback",
                          "tags", "slots"}
        assert len(r["tags"]) == len(r["tokens"])
        assert 0.0 <= r["intent_confidence"] <= 1.0
        for slot in r["slots"]:
            assert r["text"][slot["start"]:slot["end"]] == slot["value"]
    assert results[1]["tokens"] == [] and results[1]["tags"] == [] and results[1]["slots"] == []
    assert results[2]["tokens"] == []
    assert results[3]["tokens"] == ["🙂", "🎶", "play", "🎸"]
    assert len(results[4]["tags"]) == 400


def test_predict_reads_stdin(trained_model_dir, capsys, monkeypatch):
    import io

    monkeypatch.setattr(sys, "stdin", io.StringIO("wake me up at 7 am\nwhat's the weather\n"))
    results = predict(capsys, trained_model_dir)
    assert [r["text"] for r in results] == ["wake me up at 7 am", "what's the weather"]


def test_predict_on_a_folder_that_is_no_model(tmp_path, capsys):
    assert main(["predict", str(tmp_path), "hello"]) == 2
    assert "not a finished slukit model directory" in capsys.readouterr().err


def test_evaluate_json_report(trained_model_dir, capsys):
    assert main(["evaluate", str(trained_model_dir), "demo-en:test", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    for key in ("intent_accuracy", "slot_f1", "sentence_accuracy"):
        assert 0.0 <= report["metrics"][key] <= 1.0
    assert report["slots"] and "confused_intents" in report


def test_evaluate_table(trained_model_dir, capsys):
    assert main(["evaluate", str(trained_model_dir), "demo-en:valid"]) == 0
    out = capsys.readouterr().out
    assert "intent accuracy" in out and "slot F1" in out


def test_evaluate_missing_data(trained_model_dir, capsys):
    assert main(["evaluate", str(trained_model_dir), "no/such/file.tsv"]) == 2
    assert "no such file" in capsys.readouterr().err


def test_evaluate_bad_line_hints_the_cli_flag(trained_model_dir, tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"tokens": ["a", "b"], "tags": ["O"], "intent": "x"}\n'
                   '{"tokens": ["a"], "tags": ["O"], "intent": "x"}\n')
    assert main(["evaluate", str(trained_model_dir), str(bad)]) == 2
    err = capsys.readouterr().err
    assert "bad.jsonl:1" in err and "--on-error skip" in err and "data.on_error" not in err


def test_export_tflite_then_predict_with_it(trained_model_dir, tmp_path, capsys):
    out = tmp_path / "m.tflite"
    assert main(["export", str(trained_model_dir), "--format", "tflite", "--output", str(out),
                 "--max-length", "24"]) == 0
    report = capsys.readouterr().out
    assert "builtin only" in report and "L16 (16 tokens), L24 (24 tokens)" in report
    assert "intents 100.0% same, tags 100.0% same" in report
    assert "inputs longer than the longest signature (utterances joined)" in report
    assert "windowed (longer than 24 tokens)" in report
    text = "play High Hopes by Panic! at the Disco"
    keras_result = predict(capsys, trained_model_dir, text)[0]
    lite_result = predict(capsys, out, text)[0]
    assert lite_result["intent"] == keras_result["intent"]
    assert lite_result["tags"] == keras_result["tags"]
    # An existing output is refused and left alone.
    before = out.read_bytes()
    assert main(["export", str(trained_model_dir), "--format", "tflite", "--output", str(out)]) == 2
    assert "already exists" in capsys.readouterr().err and out.read_bytes() == before


def test_export_rejects_a_folder_that_is_no_model(tmp_path, capsys):
    assert main(["export", str(tmp_path), "--format", "tflite", "--output", str(tmp_path / "x.tflite")]) == 2
    assert "not a finished slukit model directory" in capsys.readouterr().err
    assert not (tmp_path / "x.tflite").exists()


def test_predict_answers_each_stdin_line_as_it_arrives(trained_model_dir):
    """A line-by-line pipe: the first answer comes before standard input is closed."""
    import subprocess
    import sys

    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
    process = subprocess.Popen([sys.executable, "-m", "slukit.cli", "predict",
                                str(trained_model_dir)], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                               env=env)
    try:
        process.stdin.write("play some jazz\n")
        process.stdin.flush()
        first = json.loads(process.stdout.readline())  # stdin still open
        assert first["text"] == "play some jazz"
        process.stdin.write("wake me up at 7 am\n")
        process.stdin.flush()
        assert json.loads(process.stdout.readline())["text"] == "wake me up at 7 am"
        process.stdin.close()
        assert process.wait(timeout=60) == 0
    finally:
        process.kill()


def test_evaluate_warns_about_labels_the_model_does_not_know(trained_model_dir, tmp_path,
                                                             capsys):
    data = tmp_path / "other.jsonl"
    data.write_text(json.dumps({"tokens": ["hello", "bob"], "tags": ["O", "B-person"],
                                "intent": "Greet"}) + "\n", encoding="utf-8")
    assert main(["evaluate", str(trained_model_dir), str(data), "--json"]) == 0
    captured = capsys.readouterr()
    assert "1 of 1 utterances have an intent the model does not know" in captured.err
    report = json.loads(captured.out)
    assert report["unknown_labels"] == {"intents": {"Greet": 1}, "slot_types": {"person": 1}}


def test_tflite_flags_with_a_saved_model_are_refused(trained_model_dir, tmp_path, capsys):
    assert main(["export", str(trained_model_dir), "--format", "saved_model", "--quantize",
                 "float16", "--output", str(tmp_path / "sm")]) == 2
    assert "--quantize: only for --format tflite" in capsys.readouterr().err
    assert not (tmp_path / "sm").exists()


def test_split_with_data_that_is_not_massive_is_refused(trained_model_dir, capsys):
    """`--split` picks a partition of a MASSIVE file; with other data it was ignored."""
    assert main(["evaluate", str(trained_model_dir), "demo-en:test", "--split", "train"]) == 2
    err = capsys.readouterr().err
    assert "--split: only for a MASSIVE file" in err and "jsonl data" in err


def test_accelerator_with_a_model_directory_is_refused(trained_model_dir, capsys):
    assert main(["predict", "--accelerator", "gpu", str(trained_model_dir), "play jazz"]) == 2
    assert "--accelerator: only for a .tflite" in capsys.readouterr().err


def test_evaluate_scores_the_exported_tflite_like_the_model(trained_model_dir, tmp_path, capsys):
    out = tmp_path / "m.tflite"
    assert main(["export", str(trained_model_dir), "--format", "tflite", "--output", str(out),
                 "--lengths", "16", "--cpu-only"]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(trained_model_dir), "demo-en:test", "--json"]) == 0
    keras_report = json.loads(capsys.readouterr().out)
    assert main(["evaluate", str(out), "demo-en:test", "--json"]) == 0
    captured = capsys.readouterr()
    lite_report = json.loads(captured.out)
    assert lite_report["artifact"] == "tflite" and "warning" not in captured.err
    assert lite_report["metrics"] == keras_report["metrics"]


def test_a_missing_data_file_is_reported_before_tensorflow_loads(tiny_data, tmp_path, capsys):
    from conftest import write_recipe

    (tiny_data / "train.jsonl").unlink()
    recipe = write_recipe(tmp_path / "r.yaml", tiny_data)
    code = ("import sys; from slukit.cli import main; rc = main(['train', sys.argv[1]]); "
            "print(rc, 'tensorflow' in sys.modules)")
    run = subprocess.run([sys.executable, "-c", code, str(recipe)], capture_output=True,
                         text=True, timeout=60)
    assert run.stdout.split() == ["2", "False"]
    assert "data.train: no such file or folder" in run.stderr and "train.jsonl" in run.stderr


def test_predictor_from_dir_keeps_tensorflow_c_logs_out_of_stderr(trained_model_dir):
    """From Python too (not only the CLI): no `I0000 ... port.cc` / `E0000 ... cuInit` lines,
    while the program's own stderr lines are kept."""
    from slukit.native_logs import ABSL_LINE

    code = ("import sys; from slukit.predict import Predictor; print('mine', file=sys.stderr); "
            "p = Predictor.from_dir(sys.argv[1]); print(p.predict('play jazz')[0]['intent']); "
            "print(len(p.predict(['x ' * 30, 'wake me up'])), file=sys.stderr)")
    env = {k: v for k, v in os.environ.items()
           if k not in ("TF_CPP_MIN_LOG_LEVEL", "SLUKIT_NATIVE_LOGS")}
    run = subprocess.run([sys.executable, "-c", code, str(trained_model_dir)],
                         capture_output=True, text=True, env=env, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() and run.stderr.split() == ["mine", "2"], run.stderr
    assert not [line for line in run.stderr.splitlines() if ABSL_LINE.match(line.encode())]


def test_a_ctrl_c_swallowed_during_export_exits_130_and_writes_nothing(trained_model_dir, tmp_path,
                                                                       capsys, monkeypatch):
    """`export --format saved_model` once printed a traceback and exited 0 when TensorFlow
    swallowed the KeyboardInterrupt of a Ctrl-C."""
    import keras

    from slukit import interrupt

    def swallowed(self, path, **kwargs):  # Ctrl-C raised and lost inside TensorFlow
        interrupt.requested.set()
        os.makedirs(path)

    archive_class = type(keras.export.ExportArchive())  # the backend's own subclass
    monkeypatch.setattr(archive_class, "write_out", swallowed)
    try:
        assert main(["export", str(trained_model_dir), "--format", "saved_model", "--output",
                     str(tmp_path / "sm")]) == 130
    finally:
        interrupt.requested.clear()
    err = capsys.readouterr().err
    assert "interrupted:" in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []
