"""Load test of `slukit serve` on 127.0.0.1: utterances/s and p50/p99 latency at 1, 8 and 64
concurrent clients, beside the CPU-bound ceiling of `LitePredictor` alone in the same run.

Usage (from the repository root):
    python benchmarks/serve_load.py export/atis_hlstm.tflite --data ../shared/data/atis/test \\
        --workers 2 --clients 1,8,64 --requests 3000 --out benchmarks/results/serve_load_atis.json

MODEL is a .tflite (LiteRT) or a model directory. Each client sends one utterance per request
and waits for the answer before the next (closed loop), cycling through the test utterances.
The load generator runs on the same machine, so it takes CPU from the server: the figures are a
floor for a separate client machine. Every level is bounded by --requests and --max-seconds.
The ceiling is `LitePredictor.predict_one` in one thread over the same utterances (for a
.tflite), so `served / ceiling` shows the HTTP overhead.
"""

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def read_texts(data, limit=2000):
    sys.path.insert(0, str(ROOT))
    if data:
        from slukit.data.readers import read_examples

        examples = read_examples(data, on_error="skip", warn=lambda m: None)
    else:
        from slukit.data.sources import builtin_path
        from slukit.data.readers import read_examples

        examples = read_examples(builtin_path("demo-en", "test"), format="jsonl")
    return [" ".join(ex.tokens) for ex in examples][:limit]


def percentile(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q / 100 * (len(values) - 1))))]


def start_server(model, port, workers, extra=()):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    server = subprocess.Popen([sys.executable, "-m", "slukit", "serve", str(model), "--port",
                               str(port), "--workers", str(workers), *extra],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    import urllib.request

    deadline = time.time() + 180
    while time.time() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the server stopped: {server.stderr.read()[-2000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as answer:
                if answer.status == 200:
                    return server
        except OSError:
            pass
        time.sleep(0.3)
    server.kill()
    raise SystemExit("the server did not become ready in 180 s")


def stop_server(server):
    server.send_signal(signal.SIGTERM)
    try:
        server.wait(timeout=60)
    except subprocess.TimeoutExpired:
        server.kill()


class Connection:
    """A minimal keep-alive HTTP/1.1 client over asyncio streams: far less CPU per request
    than a full client library, so that the load generator takes less of the server's CPU."""

    def __init__(self, host, port):
        self.host, self.port = host, port
        self.reader = self.writer = None

    async def post(self, path, body):
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        self.writer.write(f"POST {path} HTTP/1.1\r\nHost: {self.host}\r\n"
                          f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
                          .encode() + body)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        body = await self.reader.readexactly(length)
        return status, body

    def close(self):
        if self.writer is not None:
            self.writer.close()


async def load(url, texts, clients, requests, max_seconds):
    host, port = "127.0.0.1", int(url.rsplit(":", 1)[1].split("/")[0])
    bodies = [json.dumps({"text": t}).encode() for t in texts]
    latencies, statuses, sent = [], {}, 0
    stop_at = time.perf_counter() + max_seconds

    async def worker(k):
        nonlocal sent
        i, connection = k, Connection(host, port)
        try:
            while sent < requests and time.perf_counter() < stop_at:
                sent += 1
                start = time.perf_counter()
                status, _ = await connection.post("/predict", bodies[i % len(bodies)])
                latencies.append(time.perf_counter() - start)
                statuses[status] = statuses.get(status, 0) + 1
                i += clients
        finally:
            connection.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker(k) for k in range(clients)))
    elapsed = time.perf_counter() - started
    return {"clients": clients, "requests": len(latencies),
            "utterances_per_s": round(len(latencies) / elapsed, 1),
            "p50_ms": round(1e3 * percentile(latencies, 50), 2),
            "p99_ms": round(1e3 * percentile(latencies, 99), 2),
            "statuses": {str(k): v for k, v in sorted(statuses.items())},
            "seconds": round(elapsed, 2)}


def lite_ceiling(model, texts, requests, max_seconds):
    sys.path.insert(0, str(ROOT))
    from slukit.lite import LitePredictor

    predictor = LitePredictor(model)
    for text in texts[:20]:
        predictor.predict_one(text)
    n, started = 0, time.perf_counter()
    while n < requests and time.perf_counter() - started < max_seconds:
        predictor.predict_one(texts[n % len(texts)])
        n += 1
    elapsed = time.perf_counter() - started
    return {"utterances_per_s": round(n / elapsed, 1), "utterances": n, "threads": 1}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n".join(__doc__.splitlines()[1:]))
    parser.add_argument("model", metavar="MODEL", help="a .tflite or a model directory")
    parser.add_argument("--data", help="labelled data whose utterances are sent (default: demo-en test)")
    parser.add_argument("--workers", type=int, default=1, help="server processes (default: 1)")
    parser.add_argument("--clients", default="1,8,64", help="concurrency levels (default: 1,8,64)")
    parser.add_argument("--requests", type=int, default=2000, help="requests per level (default: 2000)")
    parser.add_argument("--max-seconds", type=float, default=60, help="time cap per level (default: 60)")
    parser.add_argument("--out", help="write the results as JSON here too")
    args = parser.parse_args(argv)

    texts = read_texts(args.data)
    result = {"model": str(args.model), "workers": args.workers, "cpu_count": os.cpu_count(),
              "utterances": len(texts)}
    if str(args.model).endswith(".tflite"):
        result["lite_ceiling"] = lite_ceiling(args.model, texts, args.requests, args.max_seconds)
    port = free_port()
    server = start_server(args.model, port, args.workers)
    try:
        url = f"http://127.0.0.1:{port}/predict"
        asyncio.run(load(url, texts, 1, 50, 10))  # warm-up
        result["levels"] = []
        for clients in [int(c) for c in args.clients.split(",") if c.strip()]:
            level = asyncio.run(load(url, texts, clients, args.requests, args.max_seconds))
            if "lite_ceiling" in result:
                level["ratio_to_ceiling"] = round(level["utterances_per_s"]
                                                  / result["lite_ceiling"]["utterances_per_s"], 3)
            result["levels"].append(level)
            print(json.dumps(level), flush=True)
    finally:
        stop_server(server)
    text = json.dumps(result, indent=1)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
