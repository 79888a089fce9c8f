#!/usr/bin/python3
"""Optuna side of hwnas-bench-server: finished trials per second.

N worker processes (forked after `import optuna`, each with its own RDB
storage and connection) run `study.optimize(objective, n_trials=..., timeout=...)`
on one study in PostgreSQL with the random sampler. The objective is the same
zero-work evaluation the hwnas load generator does: the NAS-Bench-201 cell as
six categorical choices of five ops, answered from the table (accuracy and
Raspberry Pi 4 latency) with the penalty reward of examples/nb201-table.yaml.

The rate is measured like the hwnas side: COMPLETE trials counted in the store
after a warm-up and again after the measurement window.

Usage (hwnas-bench-server runs it; the storage URL comes from the environment
so the password stays out of the process list):
  OPTUNA_BENCH_STORAGE=postgresql+psycopg2://USER:PW@127.0.0.1:PORT/optuna \\
    /usr/bin/python3 optuna_bench.py --workers 8 --warmup 3 --seconds 10 \\
      --table ../shared/data/nb201/nb201_acc_latency.csv --study bench-8
Prints one JSON line: {"workers", "trials_per_s", "completed", "window_s", ...}.
"""
import argparse
import csv
import json
import multiprocessing
import os
import sys
import time

import optuna
import psycopg2

LATENCY_TARGET_MS = 15.72  # examples/nb201-table.yaml: latency_ms target
PENALTY_LAMBDA = 100.0


def load_table(path):
    table = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            ops = tuple(int(c) for c in row["ops"])
            table[ops] = (float(row["acc_cifar10"]) / 100.0, float(row["lat_raspi4"]))
    return table


TABLE = {}


def objective(trial):
    ops = tuple(trial.suggest_categorical(f"edge{i}", [0, 1, 2, 3, 4]) for i in range(6))
    acc, lat = TABLE[ops]
    trial.set_user_attr("latency_ms", lat)
    return acc - PENALTY_LAMBDA * max(0.0, (lat - LATENCY_TARGET_MS) / LATENCY_TARGET_MS)


def worker(url, study_name, index, ready, timeout_s, n_trials):
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    storage = optuna.storages.RDBStorage(url)
    study = optuna.load_study(
        study_name=study_name, storage=storage, sampler=optuna.samplers.RandomSampler(seed=index)
    )
    ready.release()
    study.optimize(objective, n_trials=n_trials, timeout=timeout_s)


def count_complete(dsn, study_name):
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT count(*) FROM trials t JOIN studies s ON s.study_id = t.study_id "
            "WHERE s.study_name = %s AND t.state = 'COMPLETE'",
            (study_name,),
        )
        return cur.fetchone()[0]


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--workers", type=int, required=True)
    p.add_argument("--warmup", type=float, default=3.0)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--table", required=True)
    p.add_argument("--study", required=True)
    p.add_argument("--n-trials", type=int, default=1_000_000, help="cap per process")
    args = p.parse_args()
    url = os.environ.get("OPTUNA_BENCH_STORAGE")
    if not url:
        sys.exit("optuna_bench.py: set OPTUNA_BENCH_STORAGE to the SQLAlchemy storage URL")
    dsn = url.replace("postgresql+psycopg2://", "postgresql://", 1)

    TABLE.update(load_table(args.table))
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    optuna.create_study(
        study_name=args.study, storage=url, direction="maximize",
        sampler=optuna.samplers.RandomSampler(),
    )

    ctx = multiprocessing.get_context("fork")
    ready = ctx.Semaphore(0)
    # Every process stops on its own after the window (plus slack to start).
    timeout_s = args.warmup + args.seconds + 2.0
    procs = [
        ctx.Process(target=worker, args=(url, args.study, i, ready, timeout_s, args.n_trials))
        for i in range(args.workers)
    ]
    for proc in procs:
        proc.start()
    for _ in procs:
        if not ready.acquire(timeout=120):
            for proc in procs:
                proc.kill()
            sys.exit("optuna_bench.py: workers did not start within 120 s")

    time.sleep(args.warmup)
    c0, t0 = count_complete(dsn, args.study), time.monotonic()
    time.sleep(args.seconds)
    c1, t1 = count_complete(dsn, args.study), time.monotonic()

    deadline = time.monotonic() + timeout_s + 60
    for proc in procs:
        proc.join(timeout=max(0.1, deadline - time.monotonic()))
    failed = 0
    for proc in procs:
        if proc.is_alive():
            proc.kill()
            proc.join()
            failed += 1
        elif proc.exitcode != 0:
            failed += 1
    total = count_complete(dsn, args.study)
    print(json.dumps({
        "workers": args.workers,
        "trials_per_s": (c1 - c0) / (t1 - t0),
        "completed": c1 - c0,
        "window_s": t1 - t0,
        "total_completed": total,
        "failed_processes": failed,
        "optuna_version": optuna.__version__,
    }))


if __name__ == "__main__":
    main()
