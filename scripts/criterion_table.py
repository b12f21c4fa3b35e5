#!/usr/bin/env python3
"""Turns criterion's text output (a file, or stdin) into a Markdown table: benchmark id, median
time and median throughput. benches/kernels.rs counts FLOPs as criterion's elements, so its
`elem/s` reads FLOP/s (shown as GFLOP/s)."""

import re
import sys

UNIT = {"ps": 1e-6, "ns": 1e-3, "µs": 1.0, "us": 1.0, "ms": 1e3, "s": 1e6}
SCALE = {"": 1e-9, "K": 1e-6, "M": 1e-3, "G": 1.0, "T": 1e3}


def main():
    text = open(sys.argv[1]).read() if len(sys.argv) > 1 else sys.stdin.read()
    rows, pending = [], None
    for line in text.splitlines():
        s = line.rstrip()
        m = re.match(r"^(\S+)?\s+time:\s+\[(.*)\]", s)
        if m:
            name = m.group(1) or pending
            tok = m.group(2).split()
            if name and len(tok) == 6:
                rows.append([name, float(tok[2]) * UNIT.get(tok[3], float("nan")), None])
            continue
        m = re.match(r"^\s+thrpt:\s+\[(.*)\]", s)
        if m and rows and rows[-1][2] is None:
            tok = m.group(1).split()
            if len(tok) == 6:
                rows[-1][2] = float(tok[2]) * SCALE.get(tok[3].replace("elem/s", ""), float("nan"))
            continue
        if s and not s[0].isspace() and " " not in s:
            pending = s
    print("| benchmark | median time | GFLOP/s |")
    print("|---|---:|---:|")
    for n, us, g in rows:
        t = f"{us / 1e3:.3f} ms" if us >= 1000 else f"{us:.1f} µs"
        print(f"| {n} | {t} | {'' if g is None else f'{g:.4g}'} |")


if __name__ == "__main__":
    main()
