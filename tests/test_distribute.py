"""`train.distribute`: two workers on this machine, MirroredStrategy on the CPU, and the errors."""

import json
import os
import re
import socket
import subprocess
import sys
from types import SimpleNamespace

import pytest

from conftest import write_recipe
from slukit.cli import main
from slukit.errors import RecipeError, SlukitError
from slukit.train.artifact import is_model_dir
from slukit.train.distribute import Distribution, check_distribute, read_tf_config


def free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def tf_config(ports, index):
    return json.dumps({"cluster": {"worker": [f"127.0.0.1:{p}" for p in ports]},
                       "task": {"type": "worker", "index": index}})


def epoch_lines(text):
    """The per-epoch lines without their timings: the same on every worker."""
    return [re.sub(r"\s+[\d.]+s(\s|$)", r"\1", line).strip()
            for line in text.splitlines() if line.lstrip().startswith("epoch ")]


@pytest.mark.slow
def test_two_workers_train_one_model_written_by_the_chief(tiny_data, tmp_path, capsys):
    recipe = write_recipe(tmp_path / "r.yaml", tiny_data)
    ports = free_ports(2)
    workers = []
    for index in range(2):
        env = {**os.environ, "TF_CONFIG": tf_config(ports, index), "TF_CPP_MIN_LOG_LEVEL": "3",
               "CUDA_VISIBLE_DEVICES": ""}
        command = [sys.executable, "-m", "slukit.cli", "train", str(recipe), "--output",
                   str(tmp_path / f"out-{index}"), "--set", "train.distribute=multi_worker",
                   "--set", "train.epochs=2"]
        workers.append(subprocess.Popen(command, env=env, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True))
    try:
        outputs = [w.communicate(timeout=240)[0] for w in workers]
    finally:
        for w in workers:
            w.kill()
    for w, out in zip(workers, outputs):
        assert w.returncode == 0, out
    chief, other = outputs
    assert "2 replicas on 2 workers (this is worker 0)" in chief
    assert "worker 1: training done" in other
    # The chief's validation scores and decisions reached the other worker.
    assert epoch_lines(chief) == epoch_lines(other) and len(epoch_lines(chief)) == 2
    # Only the chief wrote, and only its model directory.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "out-0", "r.yaml"]
    model_dir = tmp_path / "out-0"
    assert is_model_dir(model_dir)
    meta = json.loads((model_dir / "metadata.json").read_text())
    assert meta["epochs_run"] == 2 and meta["replicas"] == 2 and meta["workers"] == 2
    capsys.readouterr()
    assert main(["evaluate", str(model_dir), str(tiny_data / "test.jsonl"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["metrics"]["utterances"] == 12
    assert main(["predict", str(model_dir), "play some jazz"]) == 0
    assert json.loads(capsys.readouterr().out)["tokens"] == ["play", "some", "jazz"]


def test_mirrored_on_the_cpu_gives_a_normal_model_directory(tiny_data, tmp_path):
    import numpy as np

    from slukit.recipe import load_recipe
    from slukit.train.artifact import load_model_dir
    from slukit.train.progress import Reporter
    from slukit.workflows.train import train_recipe

    recipe = load_recipe(write_recipe(tmp_path / "r.yaml", tiny_data),
                         ["train.distribute=mirrored", "train.epochs=2"])
    result = train_recipe(recipe, output=tmp_path / "out", reporter=Reporter(quiet=True))
    assert is_model_dir(result.path)
    bundle = load_model_dir(result.path)
    assert bundle.recipe["train"]["distribute"] == "mirrored"
    feed = bundle.preprocessor.pad_inputs([bundle.preprocessor.encode_inputs(["play", "some"])])
    out = bundle.model.predict(feed, verbose=0)
    assert np.allclose(out["intent"].sum(axis=-1), 1.0, atol=1e-5)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "out", "r.yaml"]


@pytest.mark.parametrize("value, expected", [
    (None, "TF_CONFIG environment variable, which is not set"),
    ("{not json", "TF_CONFIG is not valid JSON"),
    ('{"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": 3}}',
     "task.index: 3 is not an index into cluster.worker"),
    ('{"cluster": {"worker": ["a"], "ps": ["b:2"]}, "task": {"type": "worker", "index": 0}}',
     "cluster.ps: slukit trains with chief and worker tasks only"),
])
def test_a_bad_tf_config_is_a_message_not_a_traceback(tmp_path, monkeypatch, capsys, value,
                                                       expected):
    if value is None:
        monkeypatch.delenv("TF_CONFIG", raising=False)
    else:
        monkeypatch.setenv("TF_CONFIG", value)
    recipe = tmp_path / "r.yaml"
    recipe.write_text("name: x\ndata: {builtin: demo-en}\ntrain: {distribute: multi_worker}\n")
    assert main(["train", str(recipe)]) == 2
    err = capsys.readouterr().err
    assert expected in err and "Traceback" not in err
    assert not (tmp_path / "runs").exists()


def test_tf_config_names_the_chief():
    def cluster(cfg):
        return read_tf_config({"TF_CONFIG": json.dumps(cfg)})

    workers = {"worker": ["a:1", "b:2"]}
    assert cluster({"cluster": workers, "task": {"type": "worker", "index": 0}}).is_chief
    assert not cluster({"cluster": workers, "task": {"type": "worker", "index": 1}}).is_chief
    with_chief = {"chief": ["c:3"], **workers}
    assert cluster({"cluster": with_chief, "task": {"type": "chief", "index": 0}}).is_chief
    worker0 = cluster({"cluster": with_chief, "task": {"type": "worker", "index": 0}})
    assert not worker0.is_chief and worker0.workers == 3
    with pytest.raises(SlukitError, match="cluster.worker: expected a non-empty list"):
        cluster({"cluster": {"worker": ["no-port"]}, "task": {"type": "worker", "index": 0}})


def test_distribute_needs_the_tensorflow_backend():
    check_distribute({"distribute": "default"}, "jax")
    with pytest.raises(RecipeError, match="train.distribute: mirrored needs the TensorFlow backend"):
        check_distribute({"distribute": "mirrored"}, "jax")


def test_the_global_batch_must_split_evenly_over_the_replicas():
    four = Distribution("mirrored", SimpleNamespace(num_replicas_in_sync=4))
    four.check_batch_size(32)
    with pytest.raises(RecipeError, match="train.batch_size: 30 .* multiple of 4"):
        four.check_batch_size(30)


def test_reading_tf_config_imports_no_tensorflow():
    code = ("import sys, slukit.train.distribute as d\n"
            "heavy = [m for m in ('tensorflow', 'keras', 'numpy') if m in sys.modules]\n"
            "assert not heavy, heavy\n")
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)


def test_multi_worker_transfer_needs_a_trained_source(tiny_data, tmp_path, monkeypatch):
    from slukit.recipe import load_recipe
    from slukit.train.progress import Reporter
    from slukit.workflows.transfer import train_transfer

    two_workers = Distribution("multi_worker", None, True, 2, "worker 0")
    monkeypatch.setattr("slukit.train.distribute.get_distribution", lambda cfg: two_workers)
    recipe = load_recipe(write_recipe(tmp_path / "r.yaml", tiny_data,
                                      f"source:\n  data:\n    root: {tiny_data}\n"
                                      "    train: train.jsonl\n"))
    with pytest.raises(RecipeError, match="source.data: with train.distribute: multi_worker"):
        train_transfer(recipe, output=tmp_path / "out", reporter=Reporter(quiet=True))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "r.yaml"]
