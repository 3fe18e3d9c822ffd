#!/usr/bin/env python3
"""Wayline's funnel counts against ClickHouse's windowFunnel (through chdb), on the same events.

Generates events with many ties (several events of a customer in the same second, sent in a
random order), repeated events and gaps at the windows' edges; imports them into a new
Wayline with `wayline import` (the HTTP path an SDK uses); asks `/api/v1/funnel` for several
funnels in sequential order; runs windowFunnel on the same events in chdb; and compares every
step's count. Not part of the test command: run it with scripts/chdb-check.sh.

Differences on purpose, kept out of the funnels here: windowFunnel lets one event count as
every step it matches, so in a funnel that repeats a step (`search → view → search`) one
search can be steps 1 and 3 around a view in the same second, where Wayline needs two
searches; and its `strict_order` stops at the first other event after any first step, where
Wayline's strict order looks at every attempt. So the funnels here repeat no step, and only
sequential order is compared (strict and any order are checked on hand fixtures).
"""

import argparse
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from datetime import datetime, timedelta, timezone

NAMES = ["home", "search", "view", "cart", "checkout", "buy"]
WEIGHTS = [10, 10, 30, 15, 8, 5]
# (steps, window in seconds): edges at 60, 600, 1800 and 3600 s are generated on purpose.
FUNNELS = [
    (["view", "cart", "buy"], 3600),
    (["view", "cart", "checkout", "buy"], 600),
    (["home", "view", "cart", "checkout", "buy"], 86400),
    (["search", "cart"], 1800),
    (["cart", "buy"], 60),
]


def generate(events_wanted, seed, start):
    """(customer, unix seconds, name) in time order per customer."""
    rng = random.Random(seed)
    events = []
    customer = 0
    while len(events) < events_wanted:
        at = start + rng.randrange(0, 20 * 86400)
        for _ in range(rng.randint(2, 18)):
            roll = rng.random()
            if roll < 0.35:
                gap = 0  # a tie with the previous event
            elif roll < 0.45:
                gap = rng.choice([60, 600, 1800, 3600])  # at a window's edge
            elif roll < 0.5:
                gap = rng.choice([61, 601, 1801, 3601])  # just past it
            else:
                gap = rng.randint(1, 900)
            at += gap
            events.append((f"c{customer}", at, rng.choices(NAMES, WEIGHTS)[0]))
        customer += 1
    return events[:events_wanted], customer


def wayline(binary, *args):
    out = subprocess.run([binary, *args], check=True, capture_output=True, text=True,
                         env={**os.environ, "RUST_LOG": "warn"})
    return out.stdout.strip().splitlines()[-1].strip()


def get(url, token):
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=600) as response:
        return json.load(response)


def rfc3339(seconds):
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=18)
    parser.add_argument("--wayline", default=os.environ.get("WAYLINE_BIN", "wayline"))
    parser.add_argument("--out", default="target/bench/chdb_check.json")
    args = parser.parse_args()
    import chdb  # imported late so that --help works without it

    now = int(time.time())
    start = now - 40 * 86400
    started = time.time()
    events, customers = generate(args.events, args.seed, start)
    ties = sum(1 for a, b in zip(events, events[1:]) if a[0] == b[0] and a[1] == b[1])
    print(f"{len(events):,} events of {customers:,} customers; {ties:,} share their predecessor's second")

    with tempfile.TemporaryDirectory() as work:
        db = os.path.join(work, "check.duckdb")
        ndjson = os.path.join(work, "events.ndjson")
        table = os.path.join(work, "events.tsv")
        arrival = list(range(len(events)))
        random.Random(args.seed + 1).shuffle(arrival)  # ties reach Wayline in any order
        with open(ndjson, "w") as f:
            for i in arrival:
                customer, at, name = events[i]
                f.write(json.dumps({"type": "track", "userId": customer, "event": name,
                                    "messageId": f"check-{i}", "timestamp": rfc3339(at)}) + "\n")
        with open(table, "w") as f:
            for customer, at, name in events:
                f.write(f"{customer}\t{at}\t{name}\n")

        key = wayline(args.wayline, "source", "add", "chdb-check", "--db", db)
        token = wayline(args.wayline, "token", "add", "chdb-check", "--role", "analyst", "--db", db)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        base = f"http://127.0.0.1:{port}"
        server = subprocess.Popen([args.wayline, "serve", "--db", db, "--addr", f"127.0.0.1:{port}",
                                   "--site-root", work], env={**os.environ, "RUST_LOG": "warn"})
        try:
            for _ in range(600):
                try:
                    urllib.request.urlopen(f"{base}/healthz", timeout=1)
                    break
                except OSError:
                    time.sleep(0.1)
            t = time.time()
            subprocess.run([args.wayline, "import", ndjson, "--target", base, "--write-key", key],
                           check=True, env={**os.environ, "RUST_LOG": "warn"})
            print(f"imported in {time.time() - t:.1f} s")
            while True:
                status = get(f"{base}/api/v1/live/status", token)
                if status["indexed_seq"] >= status["committed_seq"] and status["indexed_events"] >= len(events):
                    break
                time.sleep(0.2)

            results = []
            for steps, window in FUNNELS:
                query = urllib.parse.urlencode({"steps": ",".join(steps), "window": window, "mode": "sequential",
                                                "from": rfc3339(start - 86400), "to": rfc3339(now + 60)})
                t = time.time()
                answer = get(f"{base}/api/v1/funnel?{query}", token)
                wayline_ms = (time.time() - t) * 1000
                ours = [step["customers"] for step in answer["steps"]]

                conditions = ", ".join(f"event = '{name}'" for name in steps)
                sql = (f"SELECT level, count() FROM (SELECT customer, windowFunnel({window})(toDateTime(at), "
                       f"{conditions}) AS level FROM file('{table}', TSV, 'customer String, at UInt32, "
                       f"event String') GROUP BY customer) GROUP BY level ORDER BY level")
                t = time.time()
                levels = {}
                for line in str(chdb.query(sql, "TSV")).strip().splitlines():
                    level, count = line.split("\t")
                    levels[int(level)] = int(count)
                chdb_ms = (time.time() - t) * 1000
                theirs = [sum(c for level, c in levels.items() if level >= k) for k in range(1, len(steps) + 1)]
                same = ours == theirs
                results.append({"steps": steps, "window_seconds": window, "wayline": ours, "clickhouse": theirs,
                                "equal": same, "wayline_ms": round(wayline_ms, 1), "chdb_ms": round(chdb_ms, 1)})
                print(f"{'same' if same else 'DIFFERENT':9} {' → '.join(steps)} within {window} s")
                print(f"          wayline    {ours}  ({wayline_ms:.0f} ms over HTTP)")
                print(f"          windowFunnel {theirs}  ({chdb_ms:.0f} ms in chdb, reading the file)")
        finally:
            server.terminate()
            server.wait()

    report = {"check": "funnel counts against ClickHouse windowFunnel (chdb)", "events": len(events),
              "customers": customers, "tied_events": ties, "seed": args.seed, "funnels": results,
              "all_equal": all(r["equal"] for r in results), "seconds": round(time.time() - started, 1)}
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(report, f, indent=2)
    print(f"wrote {args.out}")
    if not report["all_equal"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
