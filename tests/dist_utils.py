"""Helpers for tests that start several processes."""
import socket


def free_port() -> int:
    """A TCP port on 127.0.0.1 that no process listens on right now.

    The operating system picks it (bind to port 0), so parallel test runs
    and other programs do not collide on a fixed or pid-derived port.

    Returns:
        int: The port number.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]
