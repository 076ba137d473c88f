"""The HTTP application of `slukit serve` (Starlette): routes, request checks, metrics.

Endpoints:
    POST /predict       `{"text": "..."}` -> one prediction object (the JSON of
                        `slukit predict`); `{"texts": ["...", ...]}` -> `{"predictions": [...]}`
    GET  /healthz       200 `{"status": "ready", ...}` once the model is loaded; 503 while
                        it is not (or while the server drains after SIGTERM)
    GET  /metrics       Prometheus text (prometheus-client)
    GET  /openapi.json  the OpenAPI 3.1 schema of these endpoints

Every bad request gets a 4xx answer with a JSON body `{"error": "..."}`:
400 for an empty body, non-UTF-8 bytes or malformed JSON; 413 for a body over
`max_body_bytes`; 422 for JSON of the wrong shape (not an object, unknown
keys, both or neither of `text`/`texts`, a text that is not a string, too many
texts, a text over `max_text_chars`); 404 and 405 for unknown paths and methods.

Example:
    >>> from starlette.testclient import TestClient
    >>> class Echo:
    ...     def predict(self, texts):
    ...         return [{"text": t} for t in texts]
    >>> with TestClient(create_app(Echo(), ServeSettings(model="echo"))) as client:
    ...     client.post("/predict", json={"text": "hi"}).json()
    {'text': 'hi'}
"""

import dataclasses
import json
import time

#: The prediction object of `slukit predict`, for the OpenAPI schema.
PREDICTION_SCHEMA = {
    "type": "object",
    "properties": {
        "text": {"type": "string"},
        "tokens": {"type": "array", "items": {"type": "string"}},
        "intent": {"type": "string", "description": "the best intent, or the fallback intent"},
        "intent_confidence": {"type": "number", "description": "calibrated probability of the "
                              "best intent (temperature scaling fitted on the validation set)"},
        "intent_ranking": {"type": "array", "items": {
            "type": "object", "properties": {"intent": {"type": "string"},
                                             "confidence": {"type": "number"}}}},
        "fallback": {"type": "boolean",
                     "description": "true when intent_confidence fell below the fallback "
                                    "threshold and intent is the fallback intent"},
        "tags": {"type": "array", "items": {"type": "string"}},
        "slots": {"type": "array", "items": {"type": "object", "properties": {
            "slot": {"type": "string"}, "value": {"type": "string"},
            "start": {"type": "integer"}, "end": {"type": "integer"},
            "confidence": {"type": "number"}}}},
    },
}


@dataclasses.dataclass
class ServeSettings:
    """How the service runs and what it accepts.

    Args:
        model: the model's path (shown by /healthz).
        max_body_bytes: the largest request body.
        max_texts: the most texts in one request.
        max_text_chars: the longest text (characters).
        max_batch: the most utterances in one model call (micro-batching).
        max_wait_ms: how long a busy server waits to fill a batch.
        fallback_threshold: overrides the model's fallback threshold.
        fallback_intent: overrides the model's fallback intent.
    """

    model: str = ""
    max_body_bytes: int = 1 << 20
    max_texts: int = 256
    max_text_chars: int = 5000
    max_batch: int = 64
    max_wait_ms: float = 2.0
    fallback_threshold: float | None = None
    fallback_intent: str | None = None


class BadRequest(Exception):
    """A request that gets a 4xx JSON answer."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status = status
        self.message = message


class Metrics:
    """The service's Prometheus metrics.

    In one process they live in their own registry. With several workers
    (`PROMETHEUS_MULTIPROC_DIR` set by `slukit serve --workers`), every worker
    writes its values to that folder and /metrics sums them over the workers.
    """

    def __init__(self):
        import os

        from prometheus_client import CollectorRegistry, Counter, Histogram

        self.multiprocess = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
        self.registry = None if self.multiprocess else CollectorRegistry()
        registry = self.registry
        self.requests = Counter("slukit_requests", "HTTP requests answered, by endpoint and status",
                                ["endpoint", "status"], registry=registry)
        self.errors = Counter("slukit_errors", "Requests answered with an error, by kind",
                              ["kind"], registry=registry)
        self.latency = Histogram(
            "slukit_request_latency_seconds", "Time to answer a /predict request",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
            registry=registry)
        self.batch_size = Histogram(
            "slukit_batch_size", "Utterances per model call (micro-batching)",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256), registry=registry)
        self.utterances = Counter("slukit_utterances", "Utterances predicted", registry=registry)

    def exposition(self):
        from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

        if self.multiprocess:
            from prometheus_client import multiprocess

            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
        else:
            registry = self.registry
        return generate_latest(registry), CONTENT_TYPE_LATEST


def parse_request(body, settings):
    """The texts of a /predict body and whether it asked for one text; `BadRequest` otherwise.

    Example:
        >>> parse_request(b'{"texts": ["a", "b"]}', ServeSettings())
        (['a', 'b'], False)
        >>> parse_request(b'{"text": 3}', ServeSettings())
        Traceback (most recent call last):
        ...
        slukit.serve.app.BadRequest: "text" must be a string, got number
    """
    if not body.strip():
        raise BadRequest(400, 'empty body: send JSON {"text": "..."} or {"texts": ["...", ...]}')
    try:
        decoded = body.decode("utf-8")
    except UnicodeDecodeError as err:
        raise BadRequest(400, f"the body is not UTF-8 (byte {err.start})") from None
    try:
        data = json.loads(decoded)
    except ValueError as err:
        raise BadRequest(400, f"malformed JSON: {err}") from None
    if not isinstance(data, dict):
        raise BadRequest(422, f'expected a JSON object {{"text": ...}} or {{"texts": [...]}}, '
                              f"got {_json_type(data)}")
    unknown = sorted(set(data) - {"text", "texts"})
    if unknown:
        raise BadRequest(422, f"unknown keys {unknown}; expected \"text\" or \"texts\"")
    if ("text" in data) == ("texts" in data):
        raise BadRequest(422, 'give exactly one of "text" (a string) and "texts" (a list of strings)')
    if "text" in data:
        texts, single = [data["text"]], True
        if not isinstance(data["text"], str):
            raise BadRequest(422, f'"text" must be a string, got {_json_type(data["text"])}')
    else:
        texts, single = data["texts"], False
        if not isinstance(texts, list):
            raise BadRequest(422, f'"texts" must be a list of strings, got {_json_type(texts)}')
        if len(texts) > settings.max_texts:
            raise BadRequest(422, f'too many texts: {len(texts)}; at most {settings.max_texts} '
                                  "per request")
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                raise BadRequest(422, f'"texts"[{i}] must be a string, got {_json_type(text)}')
    for i, text in enumerate(texts):
        if len(text) > settings.max_text_chars:
            where = '"text"' if single else f'"texts"[{i}]'
            raise BadRequest(422, f"{where} is {len(text)} characters long; at most "
                                  f"{settings.max_text_chars}")
    return texts, single


def _json_type(value):
    if value is None:
        return "null"
    return {bool: "boolean", int: "number", float: "number", str: "string", list: "array",
            dict: "object"}.get(type(value), type(value).__name__)


def openapi_schema(settings):
    """The OpenAPI 3.1 description of the service."""
    error = {"description": "a bad request", "content": {"application/json": {"schema": {
        "type": "object", "properties": {"error": {"type": "string"}}}}}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "slukit serve", "version": _version(),
                 "description": "Intent classification and slot tagging over HTTP."},
        "paths": {
            "/predict": {"post": {
                "summary": "Predict intent and slots for one text or a list of texts",
                "requestBody": {"required": True, "content": {"application/json": {"schema": {
                    "oneOf": [
                        {"type": "object", "required": ["text"], "additionalProperties": False,
                         "properties": {"text": {"type": "string",
                                                 "maxLength": settings.max_text_chars}}},
                        {"type": "object", "required": ["texts"], "additionalProperties": False,
                         "properties": {"texts": {"type": "array", "maxItems": settings.max_texts,
                                                  "items": {"type": "string",
                                                            "maxLength": settings.max_text_chars}}}},
                    ]}}}},
                "responses": {
                    "200": {"description": "one prediction for `text`, or `{predictions: [...]}` "
                                           "for `texts`",
                            "content": {"application/json": {"schema": {"oneOf": [
                                {"$ref": "#/components/schemas/Prediction"},
                                {"type": "object", "properties": {"predictions": {
                                    "type": "array",
                                    "items": {"$ref": "#/components/schemas/Prediction"}}}}]}}}},
                    "400": error, "413": error, "422": error,
                    "503": {"description": "not ready (loading or draining)"},
                },
            }},
            "/healthz": {"get": {"summary": "Readiness: 200 once the model is loaded",
                                 "responses": {"200": {"description": "ready"},
                                               "503": {"description": "not ready"}}}},
            "/metrics": {"get": {"summary": "Prometheus metrics",
                                 "responses": {"200": {"description": "Prometheus text format",
                                                       "content": {"text/plain": {}}}}}},
            "/openapi.json": {"get": {"summary": "This schema",
                                      "responses": {"200": {"description": "OpenAPI 3.1"}}}},
        },
        "components": {"schemas": {"Prediction": PREDICTION_SCHEMA}},
    }


def _version():
    from slukit import __version__

    return __version__


def create_app(predictor, settings, info=None):
    """The Starlette app serving `predictor` (anything with `predict(texts) -> [dict]`).

    Args:
        predictor: a `slukit.lite.LitePredictor` or `slukit.predict.Predictor`, loaded.
        settings: a `ServeSettings`.
        info: extra keys for /healthz (the runtime, for example).
    """
    import contextlib

    from starlette.applications import Starlette
    from starlette.exceptions import HTTPException
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    from slukit.serve.batcher import MicroBatcher

    metrics = Metrics()
    batcher = MicroBatcher(predictor.predict, settings.max_batch, settings.max_wait_ms,
                           on_batch=metrics.batch_size.observe)
    state = {"ready": False, "status": "loading"}
    schema = openapi_schema(settings)
    health = {"model": settings.model, **(info or {})}

    def answer(endpoint, status, body):
        metrics.requests.labels(endpoint, str(status)).inc()
        if status >= 400:
            metrics.errors.labels("client" if status < 500 else "server").inc()
        return JSONResponse(body, status_code=status)

    async def read_body(request):
        length = request.headers.get("content-length")
        if length is not None:
            try:
                declared = int(length)
            except ValueError:
                raise BadRequest(400, "invalid Content-Length header") from None
            if declared > settings.max_body_bytes:
                raise BadRequest(413, f"the body is {declared} bytes; at most "
                                      f"{settings.max_body_bytes}")
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > settings.max_body_bytes:
                raise BadRequest(413, f"the body is over {settings.max_body_bytes} bytes")
            chunks.append(chunk)
        return b"".join(chunks)

    async def predict(request):
        started = time.perf_counter()
        try:
            if not state["ready"]:
                return answer("/predict", 503, {"error": f"not ready ({state['status']})"})
            try:
                texts, single = parse_request(await read_body(request), settings)
            except BadRequest as bad:
                return answer("/predict", bad.status, {"error": bad.message})
            try:
                results = await batcher.submit(texts)
            except Exception as err:  # never the user's fault: every string is valid input
                return answer("/predict", 500, {"error": f"prediction failed: {type(err).__name__}"})
            metrics.utterances.inc(len(texts))
            return answer("/predict", 200, results[0] if single else {"predictions": results})
        finally:
            metrics.latency.observe(time.perf_counter() - started)

    async def healthz(request):
        status = 200 if state["ready"] else 503
        return answer("/healthz", status, {"status": state["status"], **health})

    async def metrics_endpoint(request):
        body, content_type = metrics.exposition()
        return Response(body, media_type=content_type)

    async def openapi(request):
        return JSONResponse(schema)

    async def http_error(request, exc):
        return answer(request.url.path if exc.status_code != 404 else "other", exc.status_code,
                      {"error": exc.detail})

    async def server_error(request, exc):
        return answer(request.url.path, 500, {"error": f"internal error: {type(exc).__name__}"})

    @contextlib.asynccontextmanager
    async def lifespan(app):
        batcher.start()
        state.update(ready=True, status="ready")
        try:
            yield
        finally:
            state.update(ready=False, status="draining")
            await batcher.close()

    routes = [
        Route("/predict", predict, methods=["POST"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/metrics", metrics_endpoint, methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"]),
    ]
    app = Starlette(routes=routes, lifespan=lifespan,
                    exception_handlers={HTTPException: http_error, Exception: server_error})
    app.state.serve = state
    return app
