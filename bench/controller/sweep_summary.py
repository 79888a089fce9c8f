#!/usr/bin/env python3
"""Merges the `done:` lines of hwnas-bench-strategies --settings=sweep runs.

A sweep split over several processes (per data set, protocol and quantile)
prints one `done:` line per setting on stderr. This reads any number of such
logs, keeps one line per (data set, setting) (the last one read), and prints
what one process running the whole sweep would print at its end: a table of
median regret per data set and the shares against random and evolution, with
ties at the printed precision broken by the mean regret in extra columns.

  bench/controller/sweep_summary.py LOG... > summary.md
"""
import re
import sys
from collections import OrderedDict

LINE = re.compile(r"^done: (\S+) \| (.+?) \| (.*)$")
ENTRY = re.compile(r"^(\S+) (-?[0-9.]+|nan)(?: \(mean (-?[0-9.]+|nan)\))?$")


def parse(paths):
    results = OrderedDict()
    for path in paths:
        with open(path) as f:
            for raw in f:
                m = LINE.match(raw.strip())
                if not m:
                    continue
                dataset, setting, rest = m.groups()
                contenders = OrderedDict()
                for part in rest.split(" | "):
                    e = ENTRY.match(part.strip())
                    if not e:
                        raise SystemExit(f"{path}: cannot read '{part}' in: {raw.strip()}")
                    label, median, mean = e.groups()
                    contenders[label] = (float(median), float(mean) if mean else None)
                results[(dataset, setting)] = contenders
    return results


def ahead(mine, theirs, tie_break):
    a, b = round(mine[0], 2), round(theirs[0], 2)
    if a != b or not tie_break:
        return a < b
    if mine[1] is None or theirs[1] is None:
        return False
    return round(mine[1], 2) < round(theirs[1], 2)


def shares(results, title, keep):
    labels = []
    for contenders in results.values():
        for label in contenders:
            if label not in labels:
                labels.append(label)
    out = [f"| {title} | settings | ahead of random | within 0.1 of random | ahead of evolution "
           "| ahead of random, ties by mean | ahead of evolution, ties by mean "
           "| largest lag behind random |",
           "|---|---|---|---|---|---|---|---|"]

    def share(k, n):
        return "-" if n == 0 else f"{k}/{n} ({100.0 * k / n:.0f}%)"

    for label in labels:
        n = ar = wr = ae = art = aet = nr = ne = 0
        worst = None
        for (dataset, setting), c in results.items():
            if not keep(dataset, setting) or label not in c:
                continue
            n += 1
            mine = c[label]
            if "random" in c:
                nr += 1
                ar += ahead(mine, c["random"], False)
                art += ahead(mine, c["random"], True)
                wr += round(mine[0], 2) <= round(c["random"][0], 2) + 0.1 + 1e-9
                lag = round(mine[0], 2) - round(c["random"][0], 2)
                worst = lag if worst is None else max(worst, lag)
            if "evolution" in c:
                ne += 1
                ae += ahead(mine, c["evolution"], False)
                aet += ahead(mine, c["evolution"], True)
        if n:
            out.append(f"| {label} | {n} | {share(ar, nr)} | {share(wr, nr)} | {share(ae, ne)} | "
                       f"{share(art, nr)} | {share(aet, ne)} | "
                       f"{'-' if worst is None else f'{worst:+.2f}'} |")
    return "\n".join(out) + "\n" if len(out) > 2 else ""


def main(argv):
    if len(argv) < 2 or argv[1] in ("-h", "--help"):
        print(__doc__.strip())
        return 0 if len(argv) >= 2 else 2
    results = parse(argv[1:])
    if not results:
        print("no 'done:' lines in " + ", ".join(argv[1:]), file=sys.stderr)
        return 1
    datasets = []
    for dataset, _ in results:
        if dataset not in datasets:
            datasets.append(dataset)
    for d in datasets:
        rows = [(s, c) for (ds, s), c in results.items() if ds == d]
        labels = list(rows[0][1].keys())
        print(f"#### {d}: median regret @200 (points), seeds 0-39; (mean)\n")
        print("| setting | " + " | ".join(labels) + " |")
        print("|---|" + "---|" * len(labels))
        for s, c in sorted(rows, key=lambda r: r[0]):
            cells = []
            for label in labels:
                med, mean = c.get(label, (float("nan"), None))
                cells.append(f"{med:.2f}" + (f" ({mean:.2f})" if mean is not None else ""))
            print(f"| {s} | " + " | ".join(cells) + " |")
        print()
    print(f"#### Shares of the sweep @200 ({len(results)} settings)\n")
    tables = [shares(results, "all settings", lambda d, s: True),
              shares(results, "row latency", lambda d, s: "function median" not in s),
              shares(results, "function-median latency", lambda d, s: "function median" in s)]
    tables += [shares(results, d, lambda ds, s, d=d: ds == d) for d in datasets]
    print("\n".join(t for t in tables if t), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
