"""The fastest local board there can be: asyncio, keep-alive, answers 204 without looking at the body.

    python -m bench.fastsink [--port 8902] [--delay-ms 0]

The throughput benchmark (``bench.push``) measures against it, so the figures
are the sender's, not a slow receiver's. It checks nothing: use ``bench.sink``
to see verified events.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib

ANSWER = b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n"


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            if length:
                await reader.readexactly(length)
            if delay:
                await asyncio.sleep(delay)
            writer.write(ANSWER)
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def serve(port: int, delay: float) -> None:
    server = await asyncio.start_server(lambda r, w: handle(r, w, delay), "127.0.0.1", port, backlog=512)
    print(f"fast sink listening on http://127.0.0.1:{port}/hooks/jobs", flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8902)
    parser.add_argument("--delay-ms", type=float, default=0)
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.port, args.delay_ms / 1000))


if __name__ == "__main__":
    main()
