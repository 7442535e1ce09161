#!/usr/bin/env python3
"""Side-by-side query latency and peak memory: promlite vs Prometheus over HTTP.

The same data — the series of Prometheus's promql/bench_test.go (a_X, b_X and the
11-bucket classic histogram h_X, X = one and hundred, every 10 s) — is written as one
OpenMetrics file and backfilled into each server by its own tool (`promlite tsdb
create-blocks-from openmetrics`, `promtool tsdb create-blocks-from openmetrics`). Both
servers then start on loopback and answer the same queries (the shapes of
benches/promql.rs), instant at the last sample and 1000-step range queries, requests
alternating between them in one run, each client on one persistent keep-alive
connection per server (as Grafana keeps; a plain-socket client by default, whose own
time per request is a few µs, see RawClient), after one untimed warm-up pass over all
requests; requests under 5 ms on both servers get more rounds (--cheap-rounds). It prints, per query, the median latency of each
and the ratio Prometheus/promlite (> 1: promlite is faster), and the peak RSS (VmHWM) of
each server after the run.

Usage (from the repository root):
    cargo build --release -p promlite-cli
    python3 benches/compare/query_latency.py [--hours 12] [--rounds 7]

Machines here are shared and noisy: compare ratios from one run, not absolute times.
"""

import argparse
import http.client
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

QUERIES = [
    "a_X",
    "rate(a_X[1m])",
    "sum(a_X)",
    "sum by (l) (rate(h_X[5m]))",
    "histogram_quantile(0.9, rate(h_X[5m]))",
    "topk(1, a_X)",
    "a_X + b_X",
    "a_X + on () group_left a_one",
    "max_over_time(rate(a_X[1m])[10m:1m])",
]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_data(path, hours, t0):
    """bench_test.go's series: value s + i/len(series) at step s, every 10 s."""
    series = [("a_one", ""), ("b_one", "")]
    series += [("h_one", f'le="{j}"') for j in range(10)] + [("h_one", 'le="+Inf"')]
    for i in range(100):
        series += [("a_hundred", f'l="{i}"'), ("b_hundred", f'l="{i}"')]
        series += [("h_hundred", f'l="{i}",le="{j}"') for j in range(10)]
        series += [("h_hundred", f'l="{i}",le="+Inf"')]
    steps = hours * 360
    n = len(series)
    families = {}
    for idx, (name, labels) in enumerate(series):
        families.setdefault(name, []).append((idx, labels))
    with open(path, "w") as f:
        for name, members in families.items():
            f.write(f"# TYPE {name} gauge\n")
            for s in range(steps):
                t = t0 + s * 10
                for idx, labels in members:
                    v = s + idx / n
                    lab = "{" + labels + "}" if labels else ""
                    f.write(f"{name}{lab} {v!r} {t}\n")
        f.write("# EOF\n")
    return t0 + (steps - 1) * 10, n * steps


def wait_ready(port, proc, what):
    deadline = time.time() + 300
    while time.time() < deadline:
        if proc.poll() is not None:
            sys.exit(f"{what} exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/-/ready", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    sys.exit(f"{what} did not become ready")


class Client:
    """One persistent HTTP/1.1 keep-alive connection to a server, as Grafana keeps."""

    def __init__(self, port):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)

    def get(self, path):
        start = time.perf_counter()
        self.conn.request("GET", path)
        r = self.conn.getresponse()
        body = r.read()
        elapsed = time.perf_counter() - start
        # Decoding is the client's work, not the server's: it stays out of the time
        # (json.loads of a 2.4 MB answer takes about 20 ms, the same on both sides).
        if r.status != 200:
            sys.exit(f"{path}: HTTP {r.status}: {body[:200]!r}")
        return elapsed, json.loads(body)


class RawClient:
    """One keep-alive connection spoken to over a plain socket: `http.client` spends about
    40 µs of Python per request, more than promlite's whole server time on the smallest
    queries, which pulls every small request's ratio toward 1. This client sends the
    request in one write and stops the clock at the answer's last byte: a
    `Content-Length` body is read into one buffer, and a chunked body (Go's server sends
    large answers in chunks of about 4 KiB) is only checked for its final empty chunk
    while it arrives; its framing is taken apart after the clock stopped, so neither
    server pays for the client's parsing."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=120)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.scratch = bytearray(1 << 18)
        self.view = memoryview(self.scratch)

    def _fill(self):
        # Into one reused buffer: `recv(n)` allocates n bytes per call.
        n = self.sock.recv_into(self.scratch)
        if n == 0:
            sys.exit("server closed the connection")
        self.buf += self.view[:n]

    def get(self, path):
        request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()
        start = time.perf_counter()
        self.sock.sendall(request)
        while (end := self.buf.find(b"\r\n\r\n")) < 0:
            self._fill()
        head = bytes(self.buf[:end]).decode("latin-1").split("\r\n")
        del self.buf[: end + 4]
        status = int(head[0].split()[1])
        headers = {}
        for line in head[1:]:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        if "content-length" in headers:
            n = int(headers["content-length"])
            while len(self.buf) < n:
                self._fill()
            elapsed = time.perf_counter() - start
            body = bytes(self.buf[:n])
            del self.buf[:n]
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            while True:
                while not self.buf.endswith(b"0\r\n\r\n"):
                    self._fill()
                elapsed = time.perf_counter() - start
                body, rest = self._dechunk()
                if body is not None:
                    break
                self._fill()  # the end marker was data inside a chunk
            self.buf = rest
        else:
            sys.exit(f"{path}: neither Content-Length nor chunked")
        if status != 200:
            sys.exit(f"{path}: HTTP {status}: {body[:200]!r}")
        return elapsed, json.loads(body)

    def _dechunk(self):
        """The chunked body at the start of `buf` and what follows it, or `None` when
        `buf` does not hold all of it yet."""
        buf, pos, parts = self.buf, 0, []
        while True:
            eol = buf.find(b"\r\n", pos)
            if eol < 0:
                return None, None
            size = int(bytes(buf[pos:eol]).split(b";")[0], 16)
            pos = eol + 2
            if size == 0:
                if len(buf) < pos + 2:
                    return None, None
                return b"".join(parts), bytearray(buf[pos + 2 :])
            if len(buf) < pos + size + 2:
                return None, None
            parts.append(bytes(buf[pos : pos + size]))
            pos += size + 2


def peak_rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--promlite", default="target/release/promlite")
    ap.add_argument("--prometheus", default=shutil.which("prometheus") or "/usr/bin/prometheus")
    ap.add_argument("--promtool", default=shutil.which("promtool") or "/usr/bin/promtool")
    ap.add_argument("--hours", type=int, default=12)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument(
        "--cheap-rounds",
        type=int,
        default=0,
        help="rounds for requests whose first round took < 5 ms on both servers "
        "(default: 10 × --rounds), to steady the medians of sub-millisecond queries",
    )
    ap.add_argument(
        "--client",
        choices=("raw", "httpclient"),
        default="raw",
        help="raw: a plain-socket keep-alive client whose own time per request is a few "
        "µs; httpclient: Python's http.client (about 40 µs per request of its own)",
    )
    args = ap.parse_args()
    client = RawClient if args.client == "raw" else Client

    work = tempfile.mkdtemp(prefix="promlite-compare-")
    procs = []
    try:
        t0 = 1_700_000_000
        om = os.path.join(work, "data.om")
        last, samples = write_data(om, args.hours, t0)
        print(f"data: {samples:,} samples, {args.hours}h at 10s")
        ours_dir, theirs_dir = os.path.join(work, "ours"), os.path.join(work, "theirs")
        for cmd in (
            [args.promlite, "tsdb", "create-blocks-from", "openmetrics", om, ours_dir],
            [args.promtool, "tsdb", "create-blocks-from", "openmetrics", om, theirs_dir],
        ):
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        config = os.path.join(work, "prometheus.yml")
        with open(config, "w") as f:
            f.write("global:\n  scrape_interval: 1h\n")
        servers = {}
        for name, binary, data in (
            ("promlite", args.promlite, ours_dir),
            ("prometheus", args.prometheus, theirs_dir),
        ):
            port = free_port()
            p = subprocess.Popen(
                [
                    binary,
                    f"--config.file={config}",
                    f"--storage.tsdb.path={data}",
                    f"--web.listen-address=127.0.0.1:{port}",
                    "--storage.tsdb.retention.time=36500d",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            procs.append(p)
            wait_ready(port, p, name)
            servers[name] = (client(port), p)

        requests = []
        for q in QUERIES:
            for x in ("one", "hundred"):
                query = q.replace("X", x)
                enc = urllib.parse.quote(query)
                requests.append((f"{query} (instant)", f"/api/v1/query?query={enc}&time={last}"))
                requests.append(
                    (
                        f"{query} (range, 1000 steps)",
                        f"/api/v1/query_range?query={enc}&start={last - 999 * 60}&end={last}&step=60",
                    )
                )
        cheap_rounds = args.cheap_rounds or 10 * args.rounds
        # One warm-up request each, so that both servers have the blocks' pages in the
        # page cache and the connections are open before anything is timed.
        for _, path in requests:
            for name in ("promlite", "prometheus"):
                servers[name][0].get(path)
        ratios = []
        print(f"{'query':<62} {'promlite':>10} {'prometheus':>11} {'ratio':>7}")
        for label, path in requests:
            times = {"promlite": [], "prometheus": []}
            results = {}
            rounds = args.rounds
            r = 0
            while r < rounds:
                for name in ("promlite", "prometheus"):
                    elapsed, body = servers[name][0].get(path)
                    times[name].append(elapsed)
                    results[name] = len(body.get("data", {}).get("result", []))
                if r == 0 and max(times["promlite"][0], times["prometheus"][0]) < 0.005:
                    rounds = max(rounds, cheap_rounds)
                r += 1
            if results["promlite"] != results["prometheus"]:
                print(f"  note: {results} series for {label}")
            a = statistics.median(times["promlite"])
            b = statistics.median(times["prometheus"])
            ratios.append(b / a)
            print(f"{label:<62} {a * 1000:>8.2f}ms {b * 1000:>9.2f}ms {b / a:>6.1f}x")
        print(f"{len(ratios)} requests, ratios {min(ratios):.1f}x-{max(ratios):.1f}x")
        print(f"geometric mean ratio (Prometheus time / promlite time): {statistics.geometric_mean(ratios):.2f}x")
        for name in ("promlite", "prometheus"):
            print(f"peak RSS {name}: {peak_rss_mib(servers[name][1].pid):.0f} MiB")
        print(f"client: {args.client}")
        print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    finally:
        for p in procs:
            p.kill()
            p.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
