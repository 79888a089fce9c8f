#!/usr/bin/python3
"""Time to quality against Optuna on real training (#20 item 4).

For each task (a spec under bench/fidelity/specs/) and seed, runs every side
one after the other, each under the same wall-clock deadline and on the same
number of worker processes (one LibTorch/PyTorch thread each):

  hwnas:STRATEGY            `hwnas local` with that strategy (evolution,
                            random, mnasnet-ppo, surrogate, ...); the spec's
                            early_stopping (median rule) applies; --fidelity
                            adds a `fidelity:` section to the spec (and
                            drops the median rule), --screen a `screen:`
                            section; the side is then labelled e.g.
                            hwnas:evolution+asha
  optuna:SAMPLER:PRUNER     Optuna (tpe | nsga2 | random) with a pruner
                            (hyperband | sha | none) driving PyTorch training
                            of the same networks (bench/worker/train_plan.py's
                            PlanNet) with the worker's recipe

Both sides sample the same decisions of the same space, build the same plans,
train on the same train/val split and judge the same device limits: Optuna
gets them from hwnas itself through fidelity_plan_tool (space, data, serve).
A trial counts when it finished before the deadline; its accuracy is the
validation accuracy of the last epoch it trained (a pruned or early-stopped
trial counts with the epochs it got). Infeasible architectures are never
trained on either side.

  fidelity_bench.py run --build build --tasks fashion,ecg --seeds 0,1 \\
      --deadline fashion=240,ecg=150 --out bench/fidelity/results/NAME
  fidelity_bench.py summarize bench/fidelity/results/NAME

Writes OUT/trials.csv (one row per finished trial), OUT/runs.csv (one row per
run: load average at its start and end, counts), then OUT/summary.md (the
time-to-quality table) and OUT/curves.svg (best feasible validation accuracy
against wall clock).
"""
import argparse
import csv
import json
import math
import os
import random
import shutil
import signal
import subprocess
import sys
import time
import warnings
from datetime import datetime, timezone

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))

TASKS = {
    "fashion": {"spec": os.path.join(HERE, "specs", "fashion_m7.yaml"),
                "label": "Fashion-MNIST, mnasnet space, Cortex-M7 limits"},
    "ecg": {"spec": os.path.join(HERE, "specs", "ecg_m4.yaml"),
            "label": "ECG5000, temporal space, Cortex-M4 limits"},
}

TRIAL_FIELDS = ["task", "side", "seed", "t_s", "state", "accuracy", "epochs", "feasible", "arch"]
RUN_FIELDS = ["task", "side", "seed", "deadline_s", "start_utc", "load1_start", "load1_end",
              "finished", "trained", "infeasible", "best_accuracy", "note"]


def load1():
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


def utc_seconds(stamp):
    """'2026-12-07T18:23:38.125Z' -> seconds since the epoch."""
    return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=timezone.utc).timestamp()


# ----------------------------------------------------------------------------
# hwnas side


def hwnas_spec_text(base_yaml, name, strategy, seed, fidelity, screen=""):
    """The task's spec with name, strategy, budget (and fidelity, screen) set."""
    import yaml  # python3-yaml; only the hwnas side needs it

    spec = yaml.safe_load(base_yaml)
    spec["name"] = name
    strat = {"name": strategy, "seed": seed}
    if strategy == "evolution":
        strat.update({"population": 8, "tournament": 3, "mutations": 1})
    spec["strategy"] = strat
    # The deadline ends the run; the trial budget must never do so first.
    spec["budget"] = {"trials": 100000}
    if fidelity:
        section = yaml.safe_load(fidelity)
        # One flag for both tasks: the top rung defaults to the task's own
        # training.epochs (3 for Fashion-MNIST, 9 for ECG5000).
        section.setdefault("max", spec["training"]["epochs"])
        spec["fidelity"] = section
        # The rungs decide which trials train on, as Optuna's pruners do on
        # its side; the median rule on top would cut inside a rung.
        spec.pop("early_stopping", None)
    if screen:
        spec["screen"] = yaml.safe_load(screen)
    return yaml.safe_dump(spec, sort_keys=False)


def parse_worker_logs(log_dir, t0):
    """Reported trials from hwnas-worker logs: (t_s, state, accuracy, epochs, arch, search).

    The worker logs `trial_started ... arch="..."`, `trial_done state=...
    accuracy=... epochs=...` and, once the server has the result,
    `trial_reported search=... trial=... state=... accuracy=...`, each with a
    UTC timestamp; a trial counts at its report (a result the server never
    got, e.g. at shutdown, does not count)."""
    out = []
    for name in sorted(os.listdir(log_dir)):
        if not name.startswith("worker-"):
            continue
        arch, epochs = "", 0
        with open(os.path.join(log_dir, name), errors="replace") as f:
            for line in f:
                parts = line.rstrip("\n").split(" ", 2)
                if len(parts) < 3:
                    continue
                body = parts[2]
                if body.startswith("event=trial_started"):
                    arch = body.split('arch="', 1)[1].rsplit('"', 1)[0] if 'arch="' in body else ""
                    epochs = 0
                elif body.startswith("event=trial_done"):
                    kv = dict(tok.split("=", 1) for tok in body.split() if "=" in tok)
                    epochs = int(kv.get("epochs", "0"))
                elif body.startswith("event=trial_reported"):
                    kv = dict(tok.split("=", 1) for tok in body.split() if "=" in tok)
                    out.append((utc_seconds(parts[0]) - t0, kv.get("state", ""),
                                float(kv.get("accuracy", "nan")), epochs, arch,
                                kv.get("search", "")))
    return sorted(out)


def run_hwnas(args, task, strategy, seed, deadline, workdir):
    name = f"fid-{task}-{strategy}-s{seed}"
    spec_path = os.path.join(workdir, name + ".yaml")
    with open(TASKS[task]["spec"]) as f:
        base = f.read()
    with open(spec_path, "w") as f:
        f.write(hwnas_spec_text(base, name, strategy, seed, args.fidelity, args.screen))
    # Each run gets its own copy of a state directory whose PostgreSQL
    # cluster was created once, untimed (init_hwnas_state): hwnas local
    # resumes every unfinished search of its database, so runs sharing one
    # would share their workers with the searches interrupted before them.
    state = os.path.join(workdir, name + "-state")
    shutil.rmtree(state, ignore_errors=True)
    subprocess.run(["cp", "-a", os.path.join(workdir, "hwnas-template"), state], check=True)
    log = open(os.path.join(workdir, name + ".out"), "w")
    cmd = [os.path.join(args.build, "cli", "hwnas"), "local", spec_path, "--workers",
           str(args.workers), "--threads", "1", "--state-dir", state, "--data-dir", args.data_dir]
    t0 = time.time()
    proc = subprocess.Popen(["nice", "-n", str(args.nice)] + cmd, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    note = ""
    try:
        proc.wait(timeout=deadline)
        note = f"hwnas local exited {proc.returncode} before the deadline"
    except subprocess.TimeoutExpired:
        # Ctrl-C: workers hand their trials back, everything stops cleanly.
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    log.close()
    search = ""
    with open(os.path.join(workdir, name + ".out"), errors="replace") as f:
        for line in f:
            if line.startswith("submitted search "):
                search = line.split()[2]
    trials = []
    for t, st, acc, epochs, arch, sid in parse_worker_logs(os.path.join(state, "logs"), t0):
        if sid != search or t < 0 or t > deadline or st not in ("SUCCEEDED", "EARLY_STOPPED"):
            continue
        trials.append({"t_s": t, "state": st, "accuracy": acc, "epochs": epochs, "feasible": 1,
                       "arch": arch})
    # Infeasible architectures never reach a worker, so the logs do not count them.
    if not args.keep_state:
        shutil.rmtree(state, ignore_errors=True)
    return trials, note


def init_hwnas_state(args, workdir):
    """Creates hwnas local's state directory (PostgreSQL cluster, users,
    tokens) once, untimed, as a user's machine has it after its first search:
    one ECG trial. Every run starts from a copy of it."""
    state = os.path.join(workdir, "hwnas-template")
    if os.path.isdir(os.path.join(state, "postgres")):
        return
    spec_path = os.path.join(workdir, "fid-init.yaml")
    with open(TASKS["ecg"]["spec"]) as f:
        text = hwnas_spec_text(f.read(), "fid-init", "random", 0, "")
    with open(spec_path, "w") as f:
        f.write(text.replace("trials: 100000", "trials: 1"))
    with open(os.path.join(workdir, "fid-init.out"), "w") as log:
        subprocess.run(["nice", "-n", str(args.nice), os.path.join(args.build, "cli", "hwnas"),
                        "local", spec_path, "--workers", "1", "--state-dir", state, "--data-dir",
                        args.data_dir], stdout=log, stderr=subprocess.STDOUT, check=True)


# ----------------------------------------------------------------------------
# Optuna side


def make_sampler(kind, seed, optuna):
    if kind == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    if kind == "nsga2":
        # Population 8 like hwnas's evolution here: the default 50 would leave
        # a few-minute run in its random first generation.
        return optuna.samplers.NSGAIISampler(population_size=8, seed=seed)
    if kind == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    raise SystemExit(f"unknown Optuna sampler '{kind}' (expected tpe, nsga2 or random)")


def make_pruner(kind, epochs, optuna):
    if kind == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=epochs,
                                              reduction_factor=3)
    if kind == "sha":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3)
    if kind == "none":
        return optuna.pruners.NopPruner()
    raise SystemExit(f"unknown Optuna pruner '{kind}' (expected hyperband, sha or none)")


def learning_rate(tr, epoch, step, total_steps):
    """The worker's schedule (worker/trainer.cc LearningRate)."""
    if tr["schedule"] == "constant":
        return tr["lr"]
    if tr["schedule"] == "step":
        return tr["lr"] * tr["gamma"] ** (epoch // tr["step_epochs"])
    return 0.5 * tr["lr"] * (1 + math.cos(math.pi * step / max(total_steps, 1)))


def optuna_worker(args):
    """One Optuna process: trials until the deadline, one JSON line per trial."""
    import optuna
    import torch
    import torch.nn.functional as F

    sys.path.insert(0, os.path.join(REPO, "bench", "worker"))
    from train_plan import PlanNet

    meta = json.load(open(args.meta))
    tr = meta["training"]
    torch.set_num_threads(tr["threads"])
    shape = meta["data"]["train"]["sample_shape"]

    def load(split):
        with open(f"{args.data}.{split}.x.f32", "rb") as f:
            x = torch.frombuffer(bytearray(f.read()), dtype=torch.float32).view(-1, *shape)
        with open(f"{args.data}.{split}.y.i64", "rb") as f:
            y = torch.frombuffer(bytearray(f.read()), dtype=torch.int64)
        return x, y

    x_train, y_train = load("train")
    x_val, y_val = load("val")
    tool = subprocess.Popen([args.plan_tool, "serve", "--spec", args.spec], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    decisions = meta["decisions"]
    out = open(args.trials_out, "a")
    rng = random.Random(args.worker_seed)

    def log(**row):
        row["t_s"] = time.time() - args.t0
        out.write(json.dumps(row) + "\n")
        out.flush()

    def evaluate(net):
        net.eval()
        correct = 0
        with torch.no_grad():
            for lo in range(0, y_val.numel(), tr["eval_batch_size"]):
                logits = net(x_val[lo:lo + tr["eval_batch_size"]])
                correct += logits.argmax(1).eq(y_val[lo:lo + tr["eval_batch_size"]]).sum().item()
        return correct / max(y_val.numel(), 1)

    def objective(trial):
        tokens = [trial.suggest_categorical(d["name"], list(range(len(d["choices"]))))
                  for d in decisions]
        tool.stdin.write(",".join(map(str, tokens)) + "\n")
        tool.stdin.flush()
        desc = json.loads(tool.stdout.readline())
        if "error" in desc or not desc["feasible"]:
            # Never trained, as on the hwnas side; the sampler learns 0.
            log(state="INFEASIBLE", accuracy=0.0, epochs=0, feasible=0,
                arch=desc.get("readable", ",".join(map(str, tokens))))
            return 0.0
        torch.manual_seed(rng.randrange(1 << 31))
        net = PlanNet(desc["plan"])
        params = list(net.parameters())
        if tr["optimizer"] == "adam":
            opt = torch.optim.Adam(params, lr=tr["lr"], weight_decay=tr["weight_decay"])
        else:
            opt = torch.optim.SGD(params, lr=tr["lr"], momentum=tr["momentum"],
                                  nesterov=tr["nesterov"] and tr["momentum"] > 0,
                                  weight_decay=tr["weight_decay"])
        n, bs = y_train.numel(), tr["batch_size"]
        batches = max(n // bs + (1 if n % bs > 1 else 0), 1)
        total = batches * tr["epochs"]
        step = 0
        start = time.time()
        acc = 0.0
        for epoch in range(tr["epochs"]):
            net.train()
            perm = torch.randperm(n)
            for b in range(batches):
                if time.time() > args.deadline_at:
                    raise optuna.TrialPruned("deadline")  # not logged: past the deadline
                idx = perm[b * bs:min((b + 1) * bs, n)]
                x, y = x_train.index_select(0, idx), y_train.index_select(0, idx)
                lr = learning_rate(tr, epoch, step, total)
                for g in opt.param_groups:
                    g["lr"] = lr
                opt.zero_grad()
                loss = F.cross_entropy(net(x), y)
                if not math.isfinite(loss.item()):
                    log(state="FAILED", accuracy=0.0, epochs=epoch, feasible=1,
                        arch=desc["readable"])
                    raise optuna.TrialPruned("loss is not finite")
                loss.backward()
                if tr["grad_clip"] > 0:
                    torch.nn.utils.clip_grad_norm_(params, tr["grad_clip"])
                opt.step()
                step += 1
                if tr["time_limit_s"] > 0 and time.time() - start > tr["time_limit_s"]:
                    log(state="FAILED", accuracy=0.0, epochs=epoch, feasible=1,
                        arch=desc["readable"])
                    raise optuna.TrialPruned("training.time_limit_s")
            acc = evaluate(net)
            trial.report(acc, epoch + 1)
            if epoch + 1 < tr["epochs"] and trial.should_prune():
                log(state="PRUNED", accuracy=acc, epochs=epoch + 1, feasible=1,
                    arch=desc["readable"])
                raise optuna.TrialPruned()
        log(state="COMPLETE", accuracy=acc, epochs=tr["epochs"], feasible=1,
            arch=desc["readable"])
        return acc

    optuna.logging.set_verbosity(optuna.logging.WARNING)  # failed trials, on stderr
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    storage = optuna.storages.JournalStorage(optuna.storages.JournalFileStorage(args.storage))
    # Imports and data loading are part of Optuna's clock, as PostgreSQL,
    # server and worker start are part of hwnas's; said on stderr.
    print(f"ready at {time.time() - args.t0:.1f} s", file=sys.stderr, flush=True)
    study = optuna.load_study(study_name="fidelity", storage=storage,
                              sampler=make_sampler(args.sampler, args.worker_seed, optuna),
                              pruner=make_pruner(args.pruner, tr["epochs"], optuna))
    study.optimize(objective, timeout=max(args.deadline_at - time.time(), 0.1),
                   catch=(RuntimeError,))
    tool.stdin.close()
    tool.wait()


def run_optuna(args, task, sampler, pruner, seed, deadline, workdir, prepared):
    name = f"fid-{task}-optuna-{sampler}-{pruner}-s{seed}"
    storage = os.path.join(workdir, name + ".journal")
    trials_out = os.path.join(workdir, name + ".jsonl")
    for p in (storage, trials_out):
        if os.path.exists(p):
            os.remove(p)
    t0 = time.time()
    # The study is created here; both processes load it (a shared journal file,
    # as Optuna documents for several processes on one machine).
    create = [sys.executable, "-c",
              "import optuna,sys,warnings; warnings.simplefilter('ignore'); optuna.logging.set_verbosity(optuna.logging.ERROR);"
              "optuna.create_study(study_name='fidelity', direction='maximize', storage="
              "optuna.storages.JournalStorage(optuna.storages.JournalFileStorage(sys.argv[1])))",
              storage]
    subprocess.run(["nice", "-n", str(args.nice)] + create, check=True)
    procs = []
    for w in range(args.workers):
        cmd = [sys.executable, os.path.abspath(__file__), "optuna-worker", "--meta",
               prepared["meta"], "--data", prepared["data"], "--spec", TASKS[task]["spec"],
               "--plan-tool", prepared["tool"], "--storage", storage, "--trials-out", trials_out,
               "--sampler", sampler, "--pruner", pruner, "--worker-seed", str(seed * 100 + w),
               "--t0", repr(t0), "--deadline-at", repr(t0 + deadline)]
        procs.append(subprocess.Popen(["nice", "-n", str(args.nice)] + cmd,
                                      stdout=subprocess.DEVNULL,
                                      stderr=open(os.path.join(workdir, f"{name}-{w}.err"), "w")))
    note = ""
    for p in procs:
        try:
            p.wait(timeout=max(t0 + deadline + 30 - time.time(), 1))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        if p.returncode not in (0, -signal.SIGKILL):
            note = f"an Optuna process exited {p.returncode}"
    trials = []
    if os.path.exists(trials_out):
        for line in open(trials_out):
            r = json.loads(line)
            if r["t_s"] <= deadline:
                trials.append(r)
    return trials, note


def prepare(args, task, workdir):
    """The space, recipe and split from hwnas (fidelity_plan_tool), once per task."""
    tool = os.path.join(args.build, "bench", "fidelity", "fidelity_plan_tool")
    spec = TASKS[task]["spec"]
    space = json.loads(subprocess.run([tool, "space", "--spec", spec], check=True,
                                      capture_output=True, text=True).stdout)
    data = os.path.join(workdir, f"{task}-split")
    split = json.loads(subprocess.run([tool, "data", "--spec", spec, "--out", data, "--data-dir",
                                       args.data_dir], check=True, capture_output=True,
                                      text=True).stdout)
    meta = os.path.join(workdir, f"{task}-meta.json")
    with open(meta, "w") as f:
        json.dump({"decisions": space["decisions"], "training": space["training"],
                   "data": split}, f)
    return {"tool": tool, "meta": meta, "data": data, "training": space["training"]}


def cmd_run(args):
    os.makedirs(args.out, exist_ok=True)
    # Scratch outside the repository by default: it holds the data split
    # (derived from the shared data, which is never committed).
    workdir = os.path.abspath(args.work or os.path.join(
        os.environ.get("TMPDIR", "/var/tmp"), "hwnas-fidelity-" + os.path.basename(
            os.path.abspath(args.out))))
    os.makedirs(workdir, exist_ok=True)
    args.build = os.path.abspath(args.build)
    deadlines = {}
    for item in args.deadline.split(","):
        if "=" in item:
            k, v = item.split("=", 1)
            deadlines[k] = float(v)
        else:
            deadlines = {t: float(item) for t in TASKS}
    tasks = args.tasks.split(",")
    sides = args.sides.split(",")
    seeds = [int(s) for s in args.seeds.split(",")]
    for t in tasks:
        if t not in TASKS:
            raise SystemExit(f"--tasks: unknown task '{t}' (expected {', '.join(TASKS)})")
        if t not in deadlines:
            raise SystemExit(f"--deadline: no deadline for task '{t}'")
    trials_path = os.path.join(args.out, "trials.csv")
    runs_path = os.path.join(args.out, "runs.csv")
    new = not os.path.exists(trials_path)
    tf = open(trials_path, "a", newline="")
    rf = open(runs_path, "a", newline="")
    tw = csv.DictWriter(tf, TRIAL_FIELDS)
    rw = csv.DictWriter(rf, RUN_FIELDS)
    if new:
        tw.writeheader()
        rw.writeheader()
    prepared = {t: prepare(args, t, workdir) for t in tasks}
    if any(s.startswith("hwnas:") for s in sides):
        init_hwnas_state(args, workdir)
    # Seeds outermost and sides alternating inside: the machine's load drifts,
    # and every side sees the same drift.
    for seed in seeds:
        for task in tasks:
            order = sides if seed % 2 == 0 else list(reversed(sides))
            for side in order:
                deadline = deadlines[task]
                start = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
                l0 = load1()
                print(f"{start} {task} {side} seed {seed}: {deadline:.0f} s (load {l0:.1f})",
                      flush=True)
                parts = side.split(":")
                if parts[0] == "hwnas" and len(parts) == 2:
                    trials, note = run_hwnas(args, task, parts[1], seed, deadline, workdir)
                elif parts[0] == "optuna" and len(parts) == 3:
                    trials, note = run_optuna(args, task, parts[1], parts[2], seed, deadline,
                                              workdir, prepared[task])
                else:
                    raise SystemExit(f"--sides: '{side}' is not hwnas:STRATEGY or "
                                     "optuna:SAMPLER:PRUNER")
                l1 = load1()
                label = side
                if parts[0] == "hwnas" and args.fidelity:
                    import yaml
                    label += "+" + str(yaml.safe_load(args.fidelity).get("kind", "fidelity"))
                if parts[0] == "hwnas" and args.screen:
                    import yaml
                    label += "+screen:" + str(yaml.safe_load(args.screen).get("proxy", ""))
                trained = [t for t in trials if t["feasible"] and t["state"] != "FAILED"]
                best = max([t["accuracy"] for t in trained], default=float("nan"))
                for t in trials:
                    tw.writerow({"task": task, "side": label, "seed": seed,
                                 "t_s": f"{t['t_s']:.2f}", "state": t["state"],
                                 "accuracy": f"{t['accuracy']:.4f}", "epochs": t["epochs"],
                                 "feasible": t["feasible"], "arch": t["arch"]})
                infeasible = ("" if parts[0] == "hwnas"
                              else sum(1 for t in trials if not t["feasible"]))
                rw.writerow({"task": task, "side": label, "seed": seed, "deadline_s": deadline,
                             "start_utc": start, "load1_start": l0, "load1_end": l1,
                             "finished": len(trials), "trained": len(trained),
                             "infeasible": infeasible, "best_accuracy": f"{best:.4f}",
                             "note": note})
                tf.flush()
                rf.flush()
                print(f"  {len(trained)} trained, best {best:.4f} (load {l1:.1f}) {note}",
                      flush=True)
    tf.close()
    rf.close()
    summarize(args.out)


# ----------------------------------------------------------------------------
# Summary: table and plot


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def best_curves(trials):
    """{(task, side, seed): [(t, best)]}: best feasible accuracy, stepping up."""
    curves = {}
    for r in sorted(trials, key=lambda r: float(r["t_s"])):
        if r["feasible"] != "1" or r["state"] in ("FAILED", "INFEASIBLE"):
            continue
        key = (r["task"], r["side"], int(r["seed"]))
        acc = float(r["accuracy"])
        c = curves.setdefault(key, [])
        if not c or acc > c[-1][1]:
            c.append((float(r["t_s"]), acc))
    return curves


def time_to(curve, target):
    """First time the curve reaches target; None if never."""
    for t, acc in curve:
        if acc >= target - 1e-9:
            return t
    return None


def median(xs):
    xs = sorted(xs)
    if not xs:
        return float("nan")
    m = len(xs) // 2
    return xs[m] if len(xs) % 2 else 0.5 * (xs[m - 1] + xs[m])


def fmt_s(x):
    if x is None or (isinstance(x, float) and math.isinf(x)):
        return "not reached"
    return f"{x:.0f} s"


def time_to_quality(runs, trials):
    """Rows of the table: per task, hwnas side and Optuna side, paired by seed.

    Optuna's best at the deadline A and the time it first had A; the time the
    hwnas run of the same seed first had a feasible model at least as accurate;
    their ratio (an hwnas run that never reaches A counts as infinite)."""
    curves = best_curves(trials)
    deadline = {(r["task"], r["side"], int(r["seed"])): float(r["deadline_s"]) for r in runs}
    tasks = list(dict.fromkeys(r["task"] for r in runs))
    rows = []
    for task in tasks:
        sides = list(dict.fromkeys(r["side"] for r in runs if r["task"] == task))
        for h in [s for s in sides if s.startswith("hwnas:")]:
            for o in [s for s in sides if s.startswith("optuna:")]:
                seeds = sorted({k[2] for k in deadline if k[0] == task and k[1] == o} &
                               {k[2] for k in deadline if k[0] == task and k[1] == h})
                per_seed = []
                for seed in seeds:
                    oc = curves.get((task, o, seed), [])
                    hc = curves.get((task, h, seed), [])
                    if not oc:
                        continue
                    target = oc[-1][1]
                    t_o = time_to(oc, target)
                    t_h = time_to(hc, target)
                    ratio = (t_h / t_o) if t_h is not None and t_o > 0 else math.inf
                    per_seed.append({"seed": seed, "optuna_best": target, "optuna_t": t_o,
                                     "hwnas_t": t_h, "ratio": ratio,
                                     "hwnas_best": hc[-1][1] if hc else float("nan")})
                if per_seed:
                    rows.append({"task": task, "hwnas": h, "optuna": o, "seeds": per_seed})
    return rows


def summary_markdown(runs, trials):
    out = []
    out.append("| task | hwnas | Optuna | seed | Optuna best at deadline | Optuna time to it | "
               "hwnas time to it | ratio hwnas/Optuna | hwnas best at deadline |")
    out.append("|---|---|---|---:|---:|---:|---:|---:|---:|")
    for row in time_to_quality(runs, trials):
        for s in row["seeds"]:
            ratio = "-" if math.isinf(s["ratio"]) else f"{s['ratio']:.2f}"
            out.append(f"| {row['task']} | {row['hwnas']} | {row['optuna']} | {s['seed']} | "
                       f"{s['optuna_best']:.4f} | {fmt_s(s['optuna_t'])} | "
                       f"{fmt_s(s['hwnas_t'])} | {ratio} | {s['hwnas_best']:.4f} |")
        ratios = [s["ratio"] for s in row["seeds"]]
        med = median(ratios)
        met = sum(1 for r in ratios if r <= 0.25)
        out.append(f"| {row['task']} | {row['hwnas']} | {row['optuna']} | median | "
                   f"{median([s['optuna_best'] for s in row['seeds']]):.4f} | "
                   f"{fmt_s(median([s['optuna_t'] for s in row['seeds']]))} | | "
                   f"{'-' if math.isinf(med) else f'{med:.2f}'} | "
                   f"goal (<= 0.25) met in {met} of {len(ratios)} seeds |")
    out.append("")
    out.append("| task | side | seed | deadline | trained | infeasible | best | load start/end |")
    out.append("|---|---|---:|---:|---:|---:|---:|---|")
    for r in runs:
        out.append(f"| {r['task']} | {r['side']} | {r['seed']} | {float(r['deadline_s']):.0f} s | "
                   f"{r['trained']} | {r['infeasible'] or '-'} | {r['best_accuracy']} | "
                   f"{float(r['load1_start']):.1f} / {float(r['load1_end']):.1f} |")
    return "\n".join(out) + "\n"


COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2",
          "#7f7f7f"]


def svg_plot(runs, trials):
    """One panel per task: best feasible validation accuracy against seconds,
    one step line per run, one colour per side."""
    curves = best_curves(trials)
    tasks = list(dict.fromkeys(r["task"] for r in runs))
    sides = list(dict.fromkeys(r["side"] for r in runs))
    color = {s: COLORS[i % len(COLORS)] for i, s in enumerate(sides)}
    pw, ph, ml, mt, mb = 460, 300, 60, 40, 50
    width = ml + len(tasks) * (pw + 30) + 10
    height = mt + ph + mb + 20 * len(sides) + 10
    e = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
         'font-family="sans-serif" font-size="12">',
         f'<rect width="{width}" height="{height}" fill="white"/>']
    for ti, task in enumerate(tasks):
        x0 = ml + ti * (pw + 30)
        task_runs = [r for r in runs if r["task"] == task]
        tmax = max(float(r["deadline_s"]) for r in task_runs)
        accs = [a for k, c in curves.items() if k[0] == task for _, a in c]
        lo = math.floor(min(accs, default=0.0) * 20) / 20
        hi = min(1.0, math.ceil(max(accs, default=1.0) * 20) / 20 + 0.02)
        if hi <= lo:
            hi = lo + 0.05

        def px(t):
            return x0 + pw * t / tmax

        def py(a):
            return mt + ph * (1 - (a - lo) / (hi - lo))

        label = TASKS.get(task, {}).get("label", task)
        e.append(f'<text x="{x0 + pw / 2}" y="{mt - 15}" text-anchor="middle" '
                 f'font-weight="bold">{label}</text>')
        e.append(f'<rect x="{x0}" y="{mt}" width="{pw}" height="{ph}" fill="none" '
                 'stroke="black"/>')
        for i in range(6):
            a = lo + (hi - lo) * i / 5
            e.append(f'<line x1="{x0}" y1="{py(a):.1f}" x2="{x0 + pw}" y2="{py(a):.1f}" '
                     'stroke="#ddd"/>')
            e.append(f'<text x="{x0 - 5}" y="{py(a) + 4:.1f}" text-anchor="end">{a:.3f}</text>')
            t = tmax * i / 5
            e.append(f'<text x="{px(t):.1f}" y="{mt + ph + 16}" text-anchor="middle">'
                     f'{t:.0f}</text>')
        e.append(f'<text x="{x0 + pw / 2}" y="{mt + ph + 34}" text-anchor="middle">'
                 'wall-clock seconds since the run started</text>')
        if ti == 0:
            e.append(f'<text x="14" y="{mt + ph / 2}" text-anchor="middle" '
                     f'transform="rotate(-90 14 {mt + ph / 2})">best feasible val accuracy</text>')
        for r in task_runs:
            c = curves.get((task, r["side"], int(r["seed"])), [])
            if not c:
                continue
            pts = []
            for i, (t, a) in enumerate(c):
                if i:
                    pts.append(f"{px(t):.1f},{py(c[i - 1][1]):.1f}")
                pts.append(f"{px(t):.1f},{py(a):.1f}")
            pts.append(f"{px(float(r['deadline_s'])):.1f},{py(c[-1][1]):.1f}")
            e.append(f'<polyline points="{" ".join(pts)}" fill="none" '
                     f'stroke="{color[r["side"]]}" stroke-width="1.5" opacity="0.8"/>')
    for i, s in enumerate(sides):
        y = mt + ph + mb + 20 * i + 5
        e.append(f'<line x1="{ml}" y1="{y}" x2="{ml + 30}" y2="{y}" stroke="{color[s]}" '
                 'stroke-width="3"/>')
        e.append(f'<text x="{ml + 38}" y="{y + 4}">{s}</text>')
    e.append("</svg>")
    return "\n".join(e) + "\n"


def summarize(out_dir):
    runs = read_csv(os.path.join(out_dir, "runs.csv"))
    trials = read_csv(os.path.join(out_dir, "trials.csv"))
    with open(os.path.join(out_dir, "summary.md"), "w") as f:
        f.write(summary_markdown(runs, trials))
    with open(os.path.join(out_dir, "curves.svg"), "w") as f:
        f.write(svg_plot(runs, trials))
    print(open(os.path.join(out_dir, "summary.md")).read(), end="")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="run the benchmark, then summarize")
    r.add_argument("--build", default=os.path.join(REPO, "build"), help="the CMake build folder")
    r.add_argument("--data-dir", default=os.environ.get("HWNAS_SHARED_DATA",
                                                        os.path.join(REPO, "..", "shared", "data")))
    r.add_argument("--tasks", default="fashion,ecg")
    r.add_argument("--sides", default="hwnas:evolution,optuna:tpe:hyperband,optuna:nsga2:sha",
                   help="comma-separated hwnas:STRATEGY and optuna:SAMPLER:PRUNER")
    r.add_argument("--seeds", default="0,1")
    r.add_argument("--deadline", default="fashion=240,ecg=150",
                   help="seconds per run: one number, or TASK=S,TASK=S")
    r.add_argument("--workers", type=int, default=2, help="processes per side (one thread each)")
    r.add_argument("--fidelity", default="",
                   help="YAML of a fidelity section for the hwnas spec, e.g. "
                        "'{kind: asha, min: 1, eta: 3}' (max: the task's training.epochs "
                        "when left out); the median stopping rule is then dropped")
    r.add_argument("--screen", default="",
                   help="YAML of a screen section for the hwnas spec, e.g. "
                        "'{proxy: synflow, keep: 0.5, min_screened: 8}'")
    r.add_argument("--nice", type=int, default=10)
    r.add_argument("--out", required=True)
    r.add_argument("--work", help="scratch folder (default $TMPDIR or /var/tmp/hwnas-fidelity-NAME)")
    r.add_argument("--keep-state", action="store_true", help="keep each hwnas run's state directory (database, logs)")
    s = sub.add_parser("summarize", help="table and plot from OUT/trials.csv and OUT/runs.csv")
    s.add_argument("out")
    w = sub.add_parser("optuna-worker", help=argparse.SUPPRESS)
    for flag in ("meta", "data", "spec", "plan-tool", "storage", "trials-out", "sampler",
                 "pruner"):
        w.add_argument("--" + flag, required=True)
    w.add_argument("--worker-seed", type=int, required=True)
    w.add_argument("--t0", type=float, required=True)
    w.add_argument("--deadline-at", type=float, required=True)
    args = p.parse_args()
    if args.command == "run":
        cmd_run(args)
    elif args.command == "summarize":
        summarize(args.out)
    else:
        optuna_worker(args)


if __name__ == "__main__":
    main()
