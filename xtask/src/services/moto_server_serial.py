# `moto_server`, with every request applied to the emulator one at a time.
#
# moto's server handles each connection on its own thread, and its in-memory
# tables take no lock: two conditional writes to one item can both see the
# condition hold and both succeed. DynamoDB applies each conditional write and
# each transaction atomically, and the stores' tests rely on that. Connections
# stay threaded; only the application call is serialized.
#
# xtask writes this file into the moto venv's bin/ with a shebang for the
# venv's Python; it takes the same arguments as `moto_server`.

import sys
import threading

import moto.server


class OneRequestAtATime:
    """WSGI middleware that runs the wrapped application under one lock."""

    def __init__(self, app):
        self._app = app
        self._lock = threading.Lock()

    def __call__(self, environ, start_response):
        with self._lock:
            result = self._app(environ, start_response)
            try:
                # Produce the whole body under the lock too: a lazily
                # iterated response would run emulator code after release.
                return [b"".join(result)]
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()


_run_simple = moto.server.run_simple


def _serialized_run_simple(hostname, port, application, *args, **kwargs):
    _run_simple(hostname, port, OneRequestAtATime(application), *args, **kwargs)


# moto.server.main looks run_simple up in its module when it is called.
moto.server.run_simple = _serialized_run_simple

if __name__ == "__main__":
    sys.exit(moto.server.main())
