"""Messages between the server and its model workers: pickle protocol 5 with the NumPy buffers out of band.

A message is three or more frames on a :class:`multiprocessing.connection.Connection`: the pickle stream
(small: everything but the arrays' data), a header with the size of every out-of-band buffer, then each
buffer as it is in memory. The receiver reads each buffer straight into a ``bytearray`` of the right size, so
an array crosses the pipe with one copy on each side (the kernel's) and arrives writable, without being
serialized into the pickle stream. ``bench/pool_transport.py`` measures what it costs per batch.
"""

from __future__ import annotations

import pickle
import struct
from multiprocessing.connection import Connection
from typing import Any

_SIZE = struct.Struct("<q")


def send_message(conn: Connection, message: Any) -> None:
    """Send ``message`` (picklable; NumPy arrays in it go out of band). Raises ``OSError`` if the peer is gone."""
    buffers: list[pickle.PickleBuffer] = []
    stream = pickle.dumps(message, protocol=5, buffer_callback=buffers.append)
    views = [buffer.raw() for buffer in buffers]
    conn.send_bytes(stream)
    conn.send_bytes(b"".join(_SIZE.pack(view.nbytes) for view in views))
    for view in views:
        conn.send_bytes(view)


def recv_message(conn: Connection) -> Any:
    """The next message. Raises ``EOFError`` (or ``OSError``) when the peer closed its end or died."""
    stream = conn.recv_bytes()
    header = conn.recv_bytes()
    sizes = [size for (size,) in _SIZE.iter_unpack(header)]
    buffers: list[bytearray] = []
    for size in sizes:
        buffer = bytearray(size)
        if size:
            conn.recv_bytes_into(buffer)
        else:
            conn.recv_bytes()
        buffers.append(buffer)
    return pickle.loads(stream, buffers=buffers)
