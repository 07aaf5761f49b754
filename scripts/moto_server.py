"""Runs a moto server on 127.0.0.1 for the integration tests and the demo.

Usage: moto_server.py PORT   (0 picks a free port)

Prints `ready PORT` (the port actually bound) once the server accepts
connections, then serves until its standard input reaches EOF, so the server
dies with the process that started it, even if that process crashes.

The app is moto's own (as `moto.server.ThreadedMotoServer` builds it) behind
`cbor_shim.CborShim`, which translates CloudWatch's Smithy RPC v2 CBOR
protocol to the AWS JSON 1.0 moto serves (see cbor_shim.py); every other
request reaches moto untouched.
"""

import logging
import sys
import threading

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import make_server

from cbor_shim import CborShim


def fix_moto() -> None:
    """Fixes serialization slips of moto 5.2.5 that aws-sdk-rust cannot parse
    (boto3 reads past them). Only the shape of answers is changed, never what
    moto stores or decides; docs/testing.md lists each fix.

    - GetBucketVersioning answers with a `GetBucketVersioningResponse` root
      element; S3 (and the Rust SDK, which checks it) use `VersioningConfiguration`.
    """
    from moto.s3.responses import S3Response

    original = S3Response.get_bucket_versioning

    def get_bucket_versioning(self):  # type: ignore[no-untyped-def]
        status, headers, body = original(self)
        wrong, right = "GetBucketVersioningResponse", "VersioningConfiguration"
        if isinstance(body, bytes):
            body = body.replace(wrong.encode(), right.encode())
        else:
            body = body.replace(wrong, right)
        return status, headers, body

    S3Response.get_bucket_versioning = get_bucket_versioning


def main() -> int:
    if len(sys.argv) != 2 or not sys.argv[1].isdigit():
        print("usage: moto_server.py PORT", file=sys.stderr)
        return 2
    # Per-request access logs would flood the log file; keep errors only.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    fix_moto()
    app = CborShim(DomainDispatcherApplication(create_backend_app))
    server = make_server("127.0.0.1", int(sys.argv[1]), app, threaded=True, request_handler=MotoRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    print(f"ready {server.server_address[1]}", flush=True)
    try:
        sys.stdin.read()
    except KeyboardInterrupt:
        pass
    server.shutdown()
    thread.join()
    return 0


if __name__ == "__main__":
    sys.exit(main())
