"""`slukit serve`: the HTTP service, its request checks, metrics and start-up errors."""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")
pytest.importorskip("prometheus_client")
httpx = pytest.importorskip("httpx")

from starlette.testclient import TestClient  # noqa: E402

from slukit.serve.app import ServeSettings, create_app  # noqa: E402


class Echo:
    """A stand-in predictor: one dict per text."""

    def __init__(self):
        self.batches = []

    def predict(self, texts):
        self.batches.append(len(texts))
        return [{"text": t, "intent": "echo"} for t in texts]


@pytest.fixture
def client():
    settings = ServeSettings(model="echo", max_body_bytes=2000, max_texts=4, max_text_chars=50)
    with TestClient(create_app(Echo(), settings, {"runtime": "test"})) as c:
        yield c


def test_good_requests(client):
    assert client.post("/predict", json={"text": "hi"}).json() == {"text": "hi", "intent": "echo"}
    got = client.post("/predict", json={"texts": ["a", "", "ü 🙂"]}).json()
    assert [p["text"] for p in got["predictions"]] == ["a", "", "ü 🙂"]
    assert client.post("/predict", json={"texts": []}).json() == {"predictions": []}


@pytest.mark.parametrize("body, status, words", [
    (b"", 400, "empty body"),
    (b"   ", 400, "empty body"),
    (b"\xff\xfe{", 400, "not UTF-8"),
    (b'{"text": "a"', 400, "malformed JSON"),
    (b"[1, 2]", 422, "JSON object"),
    (b'"hi"', 422, "JSON object"),
    (b'{"text": 3}', 422, "must be a string"),
    (b'{"text": null}', 422, "must be a string"),
    (b'{"texts": "a"}', 422, "list of strings"),
    (b'{"texts": ["a", 1]}', 422, '"texts"[1]'),
    (b'{"texts": ["a", "b", "c", "d", "e"]}', 422, "too many texts"),
    (b'{"text": "a", "texts": ["b"]}', 422, "exactly one"),
    (b'{}', 422, "exactly one"),
    (b'{"txt": "a"}', 422, "unknown keys"),
    (('{"text": "%s"}' % ("x" * 51)).encode(), 422, "characters long"),
    (('{"text": "%s"}' % ("x " * 1500)).encode(), 413, "bytes"),
])
def test_bad_requests_get_a_4xx_json_error(client, body, status, words):
    response = client.post("/predict", content=body, headers={"content-type": "application/json"})
    assert response.status_code == status
    assert words in response.json()["error"]


def test_unknown_paths_and_methods_answer_json(client):
    assert client.get("/nowhere").status_code == 404
    assert "error" in client.get("/nowhere").json()
    assert client.get("/predict").status_code == 405
    assert "error" in client.get("/predict").json()


def test_healthz_openapi_and_metrics(client):
    health = client.get("/healthz")
    assert health.status_code == 200 and health.json()["status"] == "ready"
    schema = client.get("/openapi.json").json()
    assert schema["openapi"].startswith("3.") and "/predict" in schema["paths"]
    client.post("/predict", json={"texts": ["a", "b"]})
    client.post("/predict", content=b"{")
    text = client.get("/metrics").text
    assert 'slukit_requests_total{endpoint="/predict",status="200"}' in text
    assert 'slukit_errors_total{kind="client"}' in text
    assert "slukit_request_latency_seconds_bucket" in text
    assert "slukit_batch_size_bucket" in text


def test_concurrent_requests_are_batched():
    import asyncio

    from slukit.serve.batcher import MicroBatcher

    echo = Echo()

    async def run():
        batcher = MicroBatcher(lambda texts: (time.sleep(0.01), echo.predict(texts))[1],
                               max_batch=64, max_wait_ms=5)
        batcher.start()
        results = await asyncio.gather(*(batcher.submit([str(i)]) for i in range(20)))
        await batcher.close()
        return results

    results = asyncio.run(run())
    assert [r[0]["text"] for r in results] == [str(i) for i in range(20)]
    assert len(echo.batches) < 20 and sum(echo.batches) == 20


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_model_that_cannot_load_fails_at_start_up(tmp_path):
    done = subprocess.run([sys.executable, "-m", "slukit", "serve", str(tmp_path / "x.tflite")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "no such .tflite file" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_damaged_model_directory_is_refused_before_the_workers_start(trained_model_dir,
                                                                        tmp_path):
    import shutil

    from slukit.errors import ModelDirError
    from slukit.serve import check_model

    copy = tmp_path / "model"
    shutil.copytree(trained_model_dir, copy)
    check_model(copy)
    words = copy / "vocab" / "words.txt"
    lines = words.read_text(encoding="utf-8").splitlines()
    words.write_text("\n".join(lines[1:] + lines[:1]) + "\n", encoding="utf-8")
    with pytest.raises(ModelDirError, match="words.txt: its content changed"):
        check_model(copy)


def test_server_answers_on_a_free_port_and_drains_on_sigterm(trained_model_dir):
    port = free_port()
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    server = subprocess.Popen([sys.executable, "-m", "slukit", "serve", str(trained_model_dir),
                               "--port", str(port)], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 120
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert server.poll() is None, server.communicate()[1]
            assert time.time() < deadline, "the server did not become ready"
            time.sleep(0.3)
        good = httpx.post(f"{url}/predict", json={"text": "wake me up at 7 am"}, timeout=30)
        assert good.status_code == 200
        body = good.json()
        assert body["intent"] and body["intent_ranking"] and "fallback" in body
        bad = httpx.post(f"{url}/predict", content=b"{not json", timeout=30)
        assert bad.status_code == 400 and "malformed JSON" in bad.json()["error"]
        assert "slukit_requests_total" in httpx.get(f"{url}/metrics", timeout=10).text
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            code = server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
            raise
    # uvicorn shuts down gracefully, then re-raises the captured SIGTERM (exit by the signal)
    assert code in (0, -signal.SIGTERM)
    assert "Traceback" not in server.stderr.read()
