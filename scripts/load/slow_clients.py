#!/usr/bin/env python3
"""Slow clients that make a manager hold as much memory as its limits allow.

Opens CONNECTIONS connections to ADDR and, on each, sends all but the last
byte of what the server must buffer before it can answer, then holds the
connection open until HOLD seconds have passed (or the server closes it):

  h1-head  an HTTP/1.1 request head of HEAD_BYTES - 1 bytes, never ended
  h1-body  a whole head announcing a BODY_BYTES body, and BODY_BYTES - 1 of it
  h2       HTTP/2 with prior knowledge: STREAMS requests, each with a header
           list of HEAD_BYTES and a body that fills its flow-control window
           but for one byte (what the connection window allows)

Prints one line when every connection has sent its bytes ("ready N"), so the
caller reads the server's memory then. Standard library only.
"""

import argparse
import asyncio
import struct
import sys


def hpack_int(value, prefix_bits, first=0):
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes([first | value])
    out = [first | limit]
    value -= limit
    while value >= 128:
        out.append((value % 128) + 128)
        value //= 128
    out.append(value)
    return bytes(out)


def hpack_literal(name, value):
    """A literal header field without indexing, new name, no Huffman."""
    name, value = name.encode(), value.encode()
    return b"\x00" + hpack_int(len(name), 7) + name + hpack_int(len(value), 7) + value


def frame(kind, flags, stream, payload):
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", stream) + payload


DATA, HEADERS, SETTINGS, PING, CONTINUATION = 0x0, 0x1, 0x4, 0x6, 0x9
END_HEADERS, ACK = 0x4, 0x1
MAX_FRAME = 16 * 1024


def h2_request(stream, head_bytes, body):
    fields = [
        (":method", "POST"),
        (":scheme", "http"),
        (":path", "/v1/grants"),
        (":authority", "127.0.0.1"),
        ("content-type", "application/json"),
        ("content-length", str(body)),
    ]
    # RFC 9113 counts each field as name + value + 32 octets.
    used = sum(len(n) + len(v) + 32 for n, v in fields)
    pad = max(0, head_bytes - used - len("x-pad") - 32 - 1)
    fields.append(("x-pad", "a" * pad))
    block = b"".join(hpack_literal(n, v) for n, v in fields)
    chunks = [block[i : i + MAX_FRAME] for i in range(0, len(block), MAX_FRAME)]
    out = b""
    for i, chunk in enumerate(chunks):
        last = END_HEADERS if i == len(chunks) - 1 else 0
        out += frame(HEADERS if i == 0 else CONTINUATION, last, stream, chunk)
    return out


async def drain_h2(reader, writer):
    """Answers the server's SETTINGS and PINGs, so only the held requests
    keep the connection open; reads whatever else comes."""
    try:
        while True:
            head = await reader.readexactly(9)
            length = int.from_bytes(head[:3], "big")
            kind, flags = head[3], head[4]
            payload = await reader.readexactly(length) if length else b""
            if kind == SETTINGS and not flags & ACK:
                writer.write(frame(SETTINGS, ACK, 0, b""))
            elif kind == PING and not flags & ACK:
                writer.write(frame(PING, ACK, 0, payload))
    except (asyncio.IncompleteReadError, ConnectionError, OSError):
        return


async def drain(reader):
    try:
        while await reader.read(65536):
            pass
    except (ConnectionError, OSError):
        return


async def one(args, ready, go):
    host, port = args.addr.rsplit(":", 1)
    try:
        reader, writer = await asyncio.open_connection(host, int(port))
    except OSError:
        ready.append(False)
        return
    try:
        if args.mode == "h1-head":
            line = b"POST /v1/grants HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: "
            writer.write(line + b"a" * (args.head_bytes - 1 - len(line)))
            reader_task = asyncio.ensure_future(drain(reader))
        elif args.mode == "h1-body":
            head = (
                "POST /v1/grants HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                "Content-Type: application/json\r\n"
                f"Content-Length: {args.body_bytes}\r\n\r\n"
            ).encode()
            writer.write(head + b" " * (args.body_bytes - 1))
            reader_task = asyncio.ensure_future(drain(reader))
        else:
            writer.write(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + frame(SETTINGS, 0, 0, b""))
            reader_task = asyncio.ensure_future(drain_h2(reader, writer))
            conn_window = args.conn_window
            for i in range(args.streams):
                stream = 1 + 2 * i
                writer.write(h2_request(stream, args.head_bytes, args.body_bytes))
                send = min(args.stream_window, conn_window, args.body_bytes) - 1
                if send > 0:
                    conn_window -= send
                    for at in range(0, send, MAX_FRAME):
                        n = min(MAX_FRAME, send - at)
                        writer.write(frame(DATA, 0, stream, b" " * n))
        await writer.drain()
        ready.append(True)
        await go.wait()
        reader_task.cancel()
    except (ConnectionError, OSError):
        ready.append(False)
    finally:
        writer.close()


async def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--addr", required=True)
    p.add_argument("--mode", choices=["h1-head", "h1-body", "h2"], required=True)
    p.add_argument("--connections", type=int, required=True)
    p.add_argument("--head-bytes", type=int, default=32 * 1024)
    p.add_argument("--body-bytes", type=int, default=16 * 1024)
    p.add_argument("--streams", type=int, default=8)
    p.add_argument("--stream-window", type=int, default=16 * 1024)
    p.add_argument("--conn-window", type=int, default=64 * 1024)
    p.add_argument("--hold", type=float, default=5.0)
    p.add_argument("--batch", type=int, default=500)
    args = p.parse_args()

    ready, go, tasks = [], asyncio.Event(), []
    for start in range(0, args.connections, args.batch):
        n = min(args.batch, args.connections - start)
        tasks += [asyncio.ensure_future(one(args, ready, go)) for _ in range(n)]
        while len(ready) < start + n:
            await asyncio.sleep(0.01)
    print(f"ready {sum(ready)} of {args.connections}", flush=True)
    await asyncio.sleep(args.hold)
    go.set()
    await asyncio.gather(*tasks, return_exceptions=True)


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(130)
