"""Every connection to a project server sends what is written at once (TCP_NODELAY).

Kernels, terminals and collaborative documents all talk over websockets in bursts of
small frames: a cell's execution sends status, input, result, status and reply; a
command in a terminal sends its echo, then its output, then the prompt. With Nagle's
algorithm on, every frame after the first of a burst waits until the other side
acknowledges the one before, and Linux delays acknowledgements by up to 40 ms. Measured
on loopback: a kernel execute took ~45 ms where the kernel answers in 4, and a terminal
command ~44 ms where the shell answers in under 1 (benchmarks/README.md).

Tornado turns Nagle's algorithm on again after every HTTP response, the websocket
upgrade's included, and neither it nor jupyter-server has a setting or a hook after the
upgrade that covers every websocket handler (jupyter-server's, the terminals', the
collaboration extension's). What every connection does pass through is the web
application's ``start_request``: there the connection is switched to no-delay for good.
"""


def _stay_without_delay(value):
    """Stands in for the stream's set_nodelay: the connection keeps TCP_NODELAY on."""


def send_without_delay(web_app):
    """Turn Nagle's algorithm off on every connection ``web_app`` serves."""
    start_request = web_app.start_request

    def start_request_without_delay(server_conn, request_conn):
        stream = getattr(server_conn, "stream", None)
        if stream is not None and stream.set_nodelay is not _stay_without_delay:
            stream.set_nodelay(True)  # a no-op on unix sockets
            stream.set_nodelay = _stay_without_delay
        return start_request(server_conn, request_conn)

    web_app.start_request = start_request_without_delay
