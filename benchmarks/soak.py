"""Soak test of `slukit serve` on 127.0.0.1: N requests, a share of them malformed.

Counts the answers by status (a 5xx or a dropped connection is a failure), checks the server
is still alive at the end, and reports its resident memory (RSS, summed over the server's
processes) at the start and the end.

Usage (from the repository root):
    python benchmarks/soak.py export/atis_hlstm.tflite --requests 100000 --malformed 0.1 \\
        --clients 16 --out benchmarks/results/soak_atis.json

Every run is bounded by --requests and --max-seconds.
"""

import argparse
import asyncio
import json
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from serve_load import free_port, read_texts, start_server, stop_server  # noqa: E402

#: Malformed bodies: each must get a 4xx JSON answer.
MALFORMED = [
    b"", b"   ", b"{", b'{"text": "a"', b"[1, 2]", b'"just a string"', b"null", b'{"text": 3}',
    b'{"text": null}', b'{"texts": "a"}', b'{"texts": ["a", 1]}', b'{"text": "a", "texts": []}',
    b"{}", b'{"txt": "a"}', b"\xff\xfe\x00{", b'{"text": "\xc3\x28"}', b"\x00" * 64,
    b'{"texts": [' + b",".join([b'"x"'] * 300) + b"]}", b'{"text": "' + b"x " * 600_000 + b'"}',
    b"NaN", b'{"text": {"nested": [1, 2]}}',
]


def rss_kb(pid):
    """RSS of `pid` and its children, in kB (Linux /proc)."""
    total = 0
    pids = [pid]
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        pids += [int(c) for c in children]
        for child in children:
            grand = Path(f"/proc/{child}/task/{child}/children")
            if grand.exists():
                pids += [int(g) for g in grand.read_text().split()]
    except OSError:
        pass
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total


async def soak(url, texts, requests, malformed, clients, max_seconds, seed=0):
    import httpx

    rng = random.Random(seed)
    statuses, failures, bad_bodies, sent = {}, [], 0, 0
    stop_at = time.perf_counter() + max_seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(limits=limits, timeout=60) as client:
        async def worker():
            nonlocal sent, bad_bodies
            while sent < requests and time.perf_counter() < stop_at:
                sent += 1
                if rng.random() < malformed:
                    body, expect_ok = rng.choice(MALFORMED), False
                    bad_bodies += 1
                else:
                    body, expect_ok = json.dumps({"text": rng.choice(texts)}).encode(), True
                try:
                    response = await client.post(url, content=body,
                                                 headers={"content-type": "application/json"})
                except httpx.TransportError as err:
                    failures.append(f"transport: {type(err).__name__}")
                    continue
                code = response.status_code
                statuses[code] = statuses.get(code, 0) + 1
                if code >= 500 or (expect_ok and code != 200) or (not expect_ok and
                                                                 not 400 <= code < 500):
                    failures.append(f"{code}: {body[:60]!r}")
                elif not expect_ok and "error" not in response.json():
                    failures.append(f"{code} without a JSON error: {body[:60]!r}")

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(clients)))
        elapsed = time.perf_counter() - started
    return {"requests": sum(statuses.values()) + sum(f.startswith("transport") for f in failures),
            "malformed_sent": bad_bodies, "statuses": {str(k): v for k, v in sorted(statuses.items())},
            "five_xx": sum(v for k, v in statuses.items() if k >= 500),
            "failures": len(failures), "failure_examples": failures[:10],
            "seconds": round(elapsed, 1), "requests_per_s": round(sent / elapsed, 1)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n".join(__doc__.splitlines()[1:]))
    parser.add_argument("model", metavar="MODEL", help="a .tflite or a model directory")
    parser.add_argument("--data", help="labelled data whose utterances are sent (default: demo-en test)")
    parser.add_argument("--requests", type=int, default=100_000, help="requests in all (default: 100000)")
    parser.add_argument("--malformed", type=float, default=0.1,
                        help="share of malformed requests (default: 0.1)")
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients (default: 16)")
    parser.add_argument("--workers", type=int, default=1, help="server processes (default: 1)")
    parser.add_argument("--max-seconds", type=float, default=1800, help="time cap (default: 1800)")
    parser.add_argument("--out", help="write the results as JSON here too")
    args = parser.parse_args(argv)

    texts = read_texts(args.data)
    port = free_port()
    server = start_server(args.model, port, args.workers)
    try:
        url = f"http://127.0.0.1:{port}/predict"
        asyncio.run(soak(url, texts, 200, 0.0, 4, 30))  # warm-up
        rss_start = rss_kb(server.pid)
        result = asyncio.run(soak(url, texts, args.requests, args.malformed, args.clients,
                                  args.max_seconds))
        result["rss_start_mb"] = round(rss_start / 1024, 1)
        result["rss_end_mb"] = round(rss_kb(server.pid) / 1024, 1)
        result["server_alive"] = server.poll() is None
    finally:
        stop_server(server)
    result.update(model=str(args.model), workers=args.workers, clients=args.clients)
    text = json.dumps(result, indent=1)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
