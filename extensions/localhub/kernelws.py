"""The kernel websocket with Nagle's algorithm off.

A cell's execution sends several small websocket frames in a row (status busy,
execute_input, the result, status idle, execute_reply). Tornado leaves Nagle's algorithm
on for websockets, so each frame after the first waits until the receiving side
acknowledges the one before, and TCP delays acknowledgements by up to 40 ms on Linux:
every execution took about 45 ms on loopback where the kernel answers in 4 (measured,
see benchmarks/README.md).
"""

from jupyter_server.services.kernels.connection.channels import ZMQChannelsWebsocketConnection


class NoDelayKernelConnection(ZMQChannelsWebsocketConnection):
    """jupyter-server's kernel websocket connection, sending each frame as it is written."""

    def connect(self):
        self.websocket_handler.set_nodelay(True)
        return super().connect()


def use_nodelay_connections(settings):
    """Make kernel websockets use NoDelayKernelConnection, unless an admin chose a class.

    ``settings`` are the web application's settings. Only jupyter-server's own default is
    replaced: a configured class (a gateway's, say) is left as it is.
    """
    if settings.get("kernel_websocket_connection_class") is not ZMQChannelsWebsocketConnection:
        return False
    settings["kernel_websocket_connection_class"] = NoDelayKernelConnection
    return True
