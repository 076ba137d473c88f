"""`slukit serve`: a trained model behind HTTP (Starlette under uvicorn).

MODEL is an exported `.tflite` (run by `slukit.lite` on LiteRT: no TensorFlow or
Keras is imported in the serving process) or a model directory (Keras).

Why Starlette + uvicorn: a real ASGI stack (HTTP/1.1 parsing, keep-alive,
graceful shutdown on SIGTERM, a multi-process supervisor) in two small
dependencies, without FastAPI's pydantic layer: the request checks here are a
few lines (`slukit.serve.app.parse_request`) and the OpenAPI schema is written
out in full. Both are an optional extra: `pip install 'slukit[serve]'`.

Processes: with `workers=1` the model is loaded in this process, before the
server listens, so a model that cannot load fails at start-up with the
loader's message. With more, this process checks the model, binds the socket
and starts `workers` processes (uvicorn's supervisor, spawned) that share the
socket; each loads its own model, and /metrics sums over them
(prometheus-client's multiprocess mode).

Example:
    >>> serve("export/atis.tflite", port=8080, workers=2)   # doctest: +SKIP
"""

import json
import os

from slukit.errors import ServeError

#: The environment variable that hands the settings to spawned workers.
SETTINGS_ENV = "SLUKIT_SERVE_SETTINGS"


def require_serving_stack():
    """Imports the optional dependencies, with an install hint when they are missing."""
    missing = []
    for module in ("starlette", "uvicorn", "prometheus_client"):
        try:
            __import__(module)
        except ImportError:
            missing.append(module.replace("_", "-"))
    if missing:
        raise ServeError(f"slukit serve needs {', '.join(missing)}: pip install 'slukit[serve]'")


def load_predictor(model, fallback_threshold=None, fallback_intent=None):
    """`(predictor, info)` for a `.tflite` or a model directory; a clear error otherwise."""
    fallback = {"fallback_threshold": fallback_threshold, "fallback_intent": fallback_intent}
    path = str(model)
    if path.endswith(".tflite"):
        from slukit.lite import LitePredictor
        from slukit.native_logs import filter_native_logs

        filter_native_logs()
        predictor = LitePredictor(path, **fallback)
        return predictor, {"runtime": "litert", "intents": len(predictor.preprocessor.intents)}
    from slukit.train.artifact import require_model_dir

    require_model_dir(path)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from slukit.predict import Predictor

    predictor = Predictor.from_dir(path, **fallback)
    return predictor, {"runtime": "keras", "intents": len(predictor.preprocessor.intents)}


def check_model(model):
    """Checks MODEL without loading Keras (the parent of several workers)."""
    path = str(model)
    if path.endswith(".tflite"):
        load_predictor(path)  # LiteRT loads in milliseconds and reports what is wrong
        return
    from slukit.integrity import verify_model_dir
    from slukit.preprocess import SLUPreprocessor

    verify_model_dir(path)  # a damaged directory: one error here, not one in each worker
    SLUPreprocessor.load(path)


def app_from_environment():
    """The app of one spawned worker: settings from `SLUKIT_SERVE_SETTINGS`."""
    from slukit.serve.app import ServeSettings, create_app

    settings = ServeSettings(**json.loads(os.environ[SETTINGS_ENV]))
    predictor, info = load_predictor(settings.model, settings.fallback_threshold,
                                     settings.fallback_intent)
    return create_app(predictor, settings, {**info, "pid": os.getpid()})


def serve(model, host="127.0.0.1", port=8080, workers=1, log_level="warning",
          graceful_seconds=30, **settings):
    """Serves MODEL until SIGTERM or Ctrl-C, then finishes the requests in flight.

    Args:
        model: a `.tflite` or a model directory.
        host: the address to listen on.
        port: the port (0: any free port).
        workers: server processes sharing the socket.
        log_level: uvicorn's log level.
        graceful_seconds: how long shutdown waits for requests in flight.
        settings: the other fields of `slukit.serve.app.ServeSettings`.
    """
    require_serving_stack()
    import uvicorn

    from slukit.serve.app import ServeSettings, create_app

    if workers < 1:
        raise ServeError(f"--workers: expected at least 1, got {workers}")
    settings = ServeSettings(model=str(model), **settings)
    common = dict(host=host, port=port, log_level=log_level, access_log=False,
                  timeout_graceful_shutdown=graceful_seconds, lifespan="on")
    if workers == 1:
        predictor, info = load_predictor(model, settings.fallback_threshold,
                                         settings.fallback_intent)
        app = create_app(predictor, settings, {**info, "pid": os.getpid()})
        config = uvicorn.Config(app, **common)
        sock = _bind(config)
        _announce(model, info["runtime"], 1, sock)
        uvicorn.Server(config).run(sockets=[sock])
        return 0
    check_model(model)
    import tempfile

    from uvicorn.supervisors import Multiprocess

    with tempfile.TemporaryDirectory(prefix="slukit-metrics-") as metrics_dir:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
        os.environ[SETTINGS_ENV] = json.dumps(settings.__dict__)
        config = uvicorn.Config("slukit.serve:app_from_environment", factory=True,
                                workers=workers, **common)
        sock = _bind(config)
        _announce(model, "litert" if str(model).endswith(".tflite") else "keras", workers, sock)
        Multiprocess(config, sockets=[sock]).run()
    return 0


def _bind(config):
    try:
        return config.bind_socket()
    except SystemExit:  # uvicorn logs the OS error and exits
        raise ServeError(f"cannot listen on {config.host}:{config.port} (see the message "
                         "above); choose another --host or --port") from None


def _announce(model, runtime, workers, sock):
    import sys

    host, port = sock.getsockname()[:2]
    where = f"http://{host}:{port}"
    print(f"slukit serve: {model} ({runtime}) on {where} with {workers} worker"
          f"{'s' if workers > 1 else ''}: POST /predict, GET /healthz, /metrics, /openapi.json",
          file=sys.stderr, flush=True)
