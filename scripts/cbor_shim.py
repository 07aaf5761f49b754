"""Smithy RPC v2 CBOR in front of moto's AWS JSON 1.0, for CloudWatch.

aws-sdk-rust's CloudWatch client speaks Smithy RPC v2 CBOR; moto 5.2.5 serves
CloudWatch in AWS JSON 1.0 (and the query protocol), not in CBOR. This WSGI
middleware wraps moto's app and translates between the two protocols, so the
real Rust client can be tested against moto's CloudWatch. It is a protocol
translation only: every answer, error and stored value is moto's.

What it translates, for requests carrying `smithy-protocol: rpc-v2-cbor` to a
service in `SERVICES` (every other request passes through untouched):

- Request: `POST /service/{SERVICE}/operation/{OP}` with a CBOR body becomes
  `POST /` with `X-Amz-Target: {SERVICE}.{OP}`, `Content-Type:
  application/x-amz-json-1.0` and the same document as JSON. Timestamps (CBOR
  tag 1, decoded as datetimes) become epoch seconds and byte strings become
  base64, as AWS JSON 1.0 writes them. Other headers (the SigV4 signature,
  from which moto picks the service) are kept.
- Response: status and headers are kept (`x-amzn-query-error` carries the
  query-compatible error code, as AWS sends it); `Content-Type` becomes
  `application/cbor` and `smithy-protocol: rpc-v2-cbor` is added. A JSON body
  becomes CBOR, typed by the operation's output shape in botocore's service
  model (the model moto itself serializes from): timestamps (epoch seconds in
  JSON) become tag 1, blobs (base64) byte strings, and `float`/`double`
  members CBOR floats (the Rust decoder refuses an integer there). An error
  body (`__type`, `Message`) is translated as a plain document; the client
  reads the code from `__type` or `x-amzn-query-error`.

What it does not do: no event streams, no document types, no
NaN/Infinity (JSON 1.0 sends them as strings; CBOR floats are not made from
those), no other Smithy protocol. A CBOR body it cannot translate is answered
400 with a `__type` naming this shim, so a test fails with a clear message.
"""

import base64
import datetime
import io
import json
import re

import cbor2
from botocore.loaders import Loader
from botocore.model import ServiceModel

# Smithy service name (the `{SERVICE}` in the route, the JSON target prefix)
# -> botocore service name of the model moto serves it from.
SERVICES = {"GraniteServiceVersion20100801": "cloudwatch"}

ROUTE = re.compile(r"^/service/([^/]+)/operation/([^/]+)$")

_models = {}


def _model(service):
    if service not in _models:
        name = SERVICES[service]
        _models[service] = ServiceModel(Loader().load_service_model(name, "service-2"), name)
    return _models[service]


def _to_json(value):
    """A decoded CBOR value as AWS JSON 1.0 writes it."""
    if isinstance(value, dict):
        return {k: _to_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_to_json(v) for v in value]
    if isinstance(value, datetime.datetime):
        return value.timestamp()
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode("ascii")
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    raise ValueError(f"cannot translate {type(value).__name__} {value!r} to JSON")


def _typed(value, shape):
    """A JSON value made ready for CBOR by its model `shape`."""
    if value is None or shape is None:
        return value
    kind = shape.type_name
    if kind == "structure" and isinstance(value, dict):
        return {k: _typed(v, shape.members.get(k)) for k, v in value.items()}
    if kind == "list" and isinstance(value, list):
        return [_typed(v, shape.member) for v in value]
    if kind == "map" and isinstance(value, dict):
        return {k: _typed(v, shape.value) for k, v in value.items()}
    if kind == "timestamp" and isinstance(value, (int, float)):
        return cbor2.CBORTag(1, value)
    if kind == "blob" and isinstance(value, str):
        return base64.b64decode(value)
    if kind in ("float", "double") and isinstance(value, (int, float)):
        return float(value)
    return value


def _error(start_response, message):
    body = cbor2.dumps({"__type": "pgstack.cbor_shim#UntranslatableRequest", "message": message})
    start_response(
        "400 Bad Request",
        [
            ("Content-Type", "application/cbor"),
            ("smithy-protocol", "rpc-v2-cbor"),
            ("Content-Length", str(len(body))),
        ],
    )
    return [body]


class CborShim:
    """WSGI middleware: RPC v2 CBOR requests to `app` as AWS JSON 1.0."""

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        route = ROUTE.match(environ.get("PATH_INFO", ""))
        if (
            environ.get("HTTP_SMITHY_PROTOCOL") != "rpc-v2-cbor"
            or route is None
            or route.group(1) not in SERVICES
        ):
            return self.app(environ, start_response)
        service, operation = route.groups()
        length = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(length) if length else b""
        try:
            document = _to_json(cbor2.loads(raw)) if raw else {}
            output = _model(service).operation_model(operation).output_shape
        except Exception as e:  # noqa: BLE001 - any failure is reported to the client
            return _error(start_response, f"{service}.{operation}: {e}")
        body = json.dumps(document).encode()
        inner = dict(environ)
        inner.update(
            {
                "PATH_INFO": "/",
                "CONTENT_TYPE": "application/x-amz-json-1.0",
                "CONTENT_LENGTH": str(len(body)),
                "HTTP_X_AMZ_TARGET": f"{service}.{operation}",
                "wsgi.input": io.BytesIO(body),
            }
        )
        for key in ("HTTP_SMITHY_PROTOCOL", "HTTP_ACCEPT", "HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH"):
            inner.pop(key, None)

        answer, written = {}, []

        def capture(status, headers, exc_info=None):
            answer["status"], answer["headers"] = status, headers
            return written.append

        chunks = self.app(inner, capture)
        try:
            text = b"".join(written) + b"".join(chunks)
        finally:
            if hasattr(chunks, "close"):
                chunks.close()
        try:
            decoded = json.loads(text) if text.strip() else None
        except ValueError:
            # Not a JSON answer (moto failed on its own): passed on as it is.
            start_response(answer["status"], answer["headers"])
            return [text]
        if decoded is not None:
            ok = answer["status"].startswith("2")
            text = cbor2.dumps(_typed(decoded, output) if ok else decoded)
        headers = [
            (k, v)
            for k, v in answer["headers"]
            if k.lower() not in ("content-type", "content-length", "smithy-protocol")
        ]
        headers += [
            ("Content-Type", "application/cbor"),
            ("smithy-protocol", "rpc-v2-cbor"),
            ("Content-Length", str(len(text))),
        ]
        start_response(answer["status"], headers)
        return [text]
