"""200 HTTP endpoints on 127.0.0.1, each answering after a fixed delay with a small JSON body.

Usage: server.py COUNT DELAY_MS PORTS_FILE. Writes one port per line to PORTS_FILE once all
listeners are up, then serves until killed.
"""
import asyncio
import sys

BODY = b'{"status":"healthy"}'
RESPONSE = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
    + str(len(BODY)).encode()
    + b"\r\nConnection: close\r\n\r\n"
    + BODY
)


async def main(count, delay, ports_file):
    async def handle(reader, writer):
        try:
            await reader.readuntil(b"\r\n\r\n")
            await asyncio.sleep(delay)
            writer.write(RESPONSE)
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    servers = [await asyncio.start_server(handle, "127.0.0.1", 0, backlog=1024) for _ in range(count)]
    with open(ports_file + ".tmp", "w") as f:
        for s in servers:
            f.write(f"{s.sockets[0].getsockname()[1]}\n")
    import os

    os.rename(ports_file + ".tmp", ports_file)
    await asyncio.Event().wait()


asyncio.run(main(int(sys.argv[1]), int(sys.argv[2]) / 1000, sys.argv[3]))
