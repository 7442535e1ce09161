#!/usr/bin/env python3
"""A loopback exporter for the scrape scale test: one port, any number of targets.

Every path `/metrics/<n>` answers with the same realistic body (the first ~200 samples
of a real node_exporter 1.5 exposition, cut at a family boundary), in one of eight
variants whose sample values differ, so that successive scrapes of a target see changing
values as a real target's. Responses are pre-rendered and served over HTTP/1.1
keep-alive by asyncio, so the exporter costs little CPU next to the scrapers measured.

Usage: exporter.py PORT BODY_FILE [SAMPLES]
"""
import asyncio
import sys


def load_body(path, want):
    """The leading families of `path` holding at least `want` samples."""
    out, samples = [], 0
    with open(path) as f:
        lines = f.read().splitlines()
    for line in lines:
        if line.startswith("# HELP") and samples >= want:
            break
        out.append(line)
        if line and not line.startswith("#"):
            samples += 1
    return out, samples


def variant(lines, k):
    """The body with every sample value v written as v + k (NaN and Inf kept)."""
    out = []
    for line in lines:
        if line and not line.startswith("#"):
            head, _, value = line.rpartition(" ")
            try:
                v = float(value)
                if v == v and abs(v) != float("inf"):
                    value = repr(v + k)
            except ValueError:
                pass
            line = head + " " + value
        out.append(line)
    return ("\n".join(out) + "\n").encode()


def main():
    port = int(sys.argv[1])
    lines, samples = load_body(sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 200)
    responses = []
    for k in range(8):
        body = variant(lines, k)
        head = (
            "HTTP/1.1 200 OK\r\n"
            "Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        responses.append(head + body)
    not_found = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
    served = [0]

    async def handle(reader, writer):
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                path = head.split(b" ", 2)[1]
                if path.startswith(b"/metrics"):
                    served[0] += 1
                    writer.write(responses[served[0] % 8])
                else:
                    writer.write(not_found)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, IndexError):
            pass
        finally:
            writer.close()

    async def serve():
        server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=2048)
        print(f"serving {samples} samples per target on 127.0.0.1:{port}", flush=True)
        async with server:
            await server.serve_forever()

    asyncio.run(serve())


if __name__ == "__main__":
    main()
