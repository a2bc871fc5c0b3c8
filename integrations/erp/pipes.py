"""A pipe between the importing process and one it forked (an applier, the reading helper): whole messages."""

import contextlib
import fcntl
import os
from multiprocessing.connection import Connection

PIPE_BYTES = 2**20  # what a pipe holds (some six chunks of orders) before its writer waits


def pipe():
    """(read end, write end), as multiprocessing's connections; holding PIPE_BYTES where the system
    lets a pipe hold more than its default (Linux: 64 kB)."""
    read, write = os.pipe()
    with contextlib.suppress(OSError):
        fcntl.fcntl(write, fcntl.F_SETPIPE_SZ, PIPE_BYTES)
    return Connection(read, writable=False), Connection(write, readable=False)
