"""The simulator's arrival stamp: where the server's own time for a request starts."""

from __future__ import annotations

import asyncio

from modeldeploy.simulator.httpserver import ArrivalStampedReader


async def test_the_stamp_is_the_first_bytes_of_a_request_not_the_later_ones_nor_the_read():
    reader = ArrivalStampedReader()
    reader.feed_data(b"POST / HTTP/1.1\r\n")
    first = reader.arrived
    assert first > 0
    await asyncio.sleep(0.01)
    reader.feed_data(b"Content-Length: 0\r\n\r\n")  # more of the same request: still waiting to be read
    assert reader.arrived == first
    await reader.readuntil(b"\r\n\r\n")  # read, long after the bytes came: the stamp keeps their arrival
    assert reader.arrived == first
    reader.feed_data(b"GET / HTTP/1.1\r\n\r\n")  # nothing unread: a new request starts
    assert reader.arrived > first
