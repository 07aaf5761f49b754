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


def main() -> int:
    if len(sys.argv) != 2 or not sys.argv[1].isdigit():
        print("usage: moto_server.py PORT", file=sys.stderr)
        return 2
    # Per-request access logs would flood the log file; keep errors only.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
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
