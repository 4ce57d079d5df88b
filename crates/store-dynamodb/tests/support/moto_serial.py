"""Runs moto's server with requests applied one at a time.

`moto_server` serves every request on its own thread without a lock around
its in-memory tables, so two conditional writes to one item can both pass
their condition (seen with 16 concurrent UpdateItem calls on one item).
Real DynamoDB applies each conditional write and each transaction
atomically; the store's tests rely on that. This wrapper keeps moto's
threaded connection handling but runs the application under one lock.

Usage: <moto venv>/bin/python moto_serial.py -H 127.0.0.1 -p PORT
"""

import argparse
import signal
import sys
import threading

from werkzeug.serving import run_simple

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)


class Serialized:
    def __init__(self, app):
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        with self.lock:
            # Materialise the body inside the lock: the response may be lazy.
            return list(self.app(environ, start_response))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, required=True)
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(
        args.host,
        args.port,
        Serialized(app),
        threaded=True,
        request_handler=MotoRequestHandler,
    )


if __name__ == "__main__":
    main()
