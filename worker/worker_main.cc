// hwnas-worker: evaluate, describe and calibrate architectures of a search
// spec on this machine. Flags are parsed here only; the work is in
// worker/commands.h.
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <iostream>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/flags.h"
#include "common/log.h"
#include "spec/worker_spec.h"
#include "worker/commands.h"
#include "worker/dnas/dnas_search.h"
#include "worker/export.h"
#include "worker/mcu_calibrate.h"
#include "worker/serve.h"

namespace {

using hwnas::worker::kExitUsage;

constexpr char kUsage[] =
    R"(hwnas-worker: train, measure and describe architectures of a search spec.

usage: hwnas-worker <command> [flags]

commands:
  evaluate   train one architecture on the spec's data, evaluate it, measure its
             latency and hardware costs, and print the result
  describe   print an architecture's layers, shapes and static costs (no training)
  check      load a spec's data set and check that its evaluation folds fit it
  calibrate  build a per-op latency lookup table for a space on this machine
  serve      join a search server's worker fleet and run the trials it hands out
  export     train an architecture fully and save it as a TorchScript module
  dnas       run an FBNet-style differentiable search (supernet) for a spec

Run 'hwnas-worker <command> --help' for the flags of a command.
Data: Fashion-MNIST is read from /usr/share/datasets/fashion-mnist (Debian package
dataset-fashion-mnist); ECG5000 and EEGMMIDB from the shared data directory given
by --data-dir or $HWNAS_SHARED_DATA.
)";

constexpr char kEvaluateHelp[] =
    R"(usage: hwnas-worker evaluate --spec SPEC.yaml --arch ARCH [flags]

Trains ARCH with the spec's training section on its data section, evaluates it on
the held-out split, measures latency (hardware section) and prints the result.
Targets with `measure: CPU` (hardware.targets) are also measured on the trained
network's firmware (arm-none-eabi-gcc, qemu-system-arm): measured_*@TARGET and
int8_accuracy@TARGET. A progress line per epoch goes to stderr. With
`evaluator: {kind: proxy}` in the spec it scores ARCH untrained on one training
batch instead (the estimates proxy_score@<proxy> and proxy_seconds@<proxy>;
accuracy is the mapped score).

flags:
  --spec PATH        search spec (YAML) with space, data, training, hardware sections
  --arch ARCH        token list ("3,1,0,2,4,3") or the space's readable form
                     (NAS-Bench-201 arch string, MnasNet block strings, ...)
  --json             print the result as JSON instead of a table
  --data-dir DIR     shared data directory (default: $HWNAS_SHARED_DATA)
  --epochs N         override training.epochs
  --threads N        override training.threads
  --seed N           override training.seed
  --quiet            no progress output
  --log-level LEVEL  trace, debug, info, warn (default), error, off

exit codes: 0 success, 1 the trial failed (NaN loss, time limit, ...),
            2 bad flags, 3 bad spec, architecture or data
)";

constexpr char kCheckHelp[] =
    R"(usage: hwnas-worker check --spec SPEC.yaml [--data-dir DIR]

Does what a worker does before a search's first trial, without training: parses
the spec, loads its data set and checks that the evaluation section works on that
data (e.g. stratified folds need at least one sample of every class per fold; a
session split needs EEG runs). Prints the split sizes, or the error naming the
field. Exit codes: 3 the spec is invalid, 4 the data set is not on this machine,
5 the spec does not fit its data. `hwnas local` and `hwnas submit` run it before
submitting. A table search has no data: it passes.

flags:
  --spec PATH        search spec (YAML)
  --data-dir DIR     shared data directory (default: $HWNAS_SHARED_DATA)
)";

constexpr char kDescribeHelp[] =
    R"(usage: hwnas-worker describe --spec SPEC.yaml --arch ARCH [--json]

Prints the architecture's layers with output shapes, parameters, MACs, flash and
live activation memory, the totals, and each hardware target's estimate and
feasibility. Needs no data and no training.

flags:
  --spec PATH   search spec (YAML)
  --arch ARCH   token list or the space's readable form
  --json        JSON output
)";

constexpr char kCalibrateHelp[] =
    R"(usage: hwnas-worker calibrate --spec SPEC.yaml --out LUT.json [flags]

Measures, on this machine, every op type x shape the spec's space can produce
(batch 1, eval mode) and writes a latency lookup table (hardware/latency_lut.h
format). Then predicts and measures random architectures as a check. A spec
names the table as `lut: NAME` once it is saved as NAME.json in a profile
directory (hwnas-server --profile-path, $HWNAS_PROFILE_PATH on workers).

flags:
  --spec PATH     search spec (YAML); its space and data sections define the shapes
  --out PATH      where to write the table (JSON)
  --threads N     threads for the measurements (default 1; stored in the table)
  --samples N     random architectures to collect op shapes from, for spaces too
                  large to enumerate (default 5000)
  --check N       random architectures for the predictor check (default 20, 0 = none)
  --check-out CSV write the check's predicted and measured latencies per architecture
  --profile-archs N  random whole networks run with every op timed; an entry is
                  its op's median time inside them (default 200; 0 = time each
                  op alone). The first 30 of them are also measured whole, as
                  the worker measures latency, to fit the table's "scale"
  --seed N        sampling seed (default 0)
  --quiet         no progress output

MCU mode (--mcu cortex-m4|cortex-m7): instead of a latency table, fits the MCU
profile of that name (hardware/profiles) to measurements: random architectures
of the space get random weights, are exported as int8 C (docs/mcu.md), built
with arm-none-eabi-gcc and run in qemu-system-arm; the per-inference
instruction count, flash and SRAM are fitted and --out gets the calibrated
profile (YAML). --check N other architectures (default 100 here) compare the
shipped and calibrated profiles with the measurements; --check-out writes
every measured architecture (fit and check) with the calibrated estimates.
The kernels' code sizes are compiled (make kernels), not fitted.
  --mcu CPU       cortex-m4 or cortex-m7
  --spec A,B,...  one spec per search space: --archs and --check architectures
                  of each, one profile fitted on all of them, checked per space
  --archs N[,N..] architectures to fit on, per space (default 100; one count
                  for every spec, or one per spec)
  --check N[,N..] other architectures to check on, per space (default 100)
  --measured LOGS reuse the measurements of earlier runs with the same specs
                  and --seed (their stderr logs or --check-out CSVs, comma-
                  separated): the architectures they measured are not built and
                  run again (to refit a changed cost model, or to extend a run)
)";

constexpr char kServeHelp[] =
    R"(usage: hwnas-worker serve --server HOST:PORT [flags]

Registers with the server (capabilities: search spaces, evaluators, the data sets
found on this machine), then loops: long-poll for a trial, train it (or answer it
from the NAS-Bench-201 table for `evaluator: table` searches) while sending
heartbeats with per-epoch metrics, and report the result. A dnas search's
supernet job runs here too: every epoch's checkpoint goes to the server before
the next epoch, and a job handed to another worker resumes from it. Reports
are retried until the server takes them (a retry never counts twice). When the
server is down the worker waits and reconnects. SIGTERM or SIGINT hands a
running trial back to the queue and exits.

Flags:
  --server ADDR     server address (default 127.0.0.1:7470)
  --token TOKEN     worker API token (default: $HWNAS_TOKEN); create one with
                    `hwnas-server admin create-user NAME --worker`
  --ca FILE         use TLS, trusting this CA certificate bundle
  --name NAME       stable worker name (default HOST/PID)
  --device-tag TAG  device tag for searches that must measure on this device
  --threads N       LibTorch threads per trial (default 1)
  --data-dir DIR    shared data directory (default: $HWNAS_SHARED_DATA)
  --table FILE      NAS-Bench-201 table (default DIR/nb201/nb201_acc_latency.csv)
  --max-trials N    exit after N trials (default: run until stopped)
  --batch N         take up to N table trials per request and report them in one
                    call (1 to 1024, default 1). Only table searches hand out
                    more than one; a training trial still comes alone. For big
                    table searches and load tests: the round trips and the
                    server's commits are shared by the batch
  --acquire-wait S  seconds the server may hold a request for work open when it
                    has none (long-poll; 1 to 60, default 10). SIGTERM cancels
                    a waiting request at once
  --measure-mcu CPUS
                    cortex-m7, cortex-m4 or both (comma-separated): this worker
                    also measures trained networks on these CPUs for searches
                    whose spec asks (hardware.targets[].measure): int8 C
                    built with arm-none-eabi-gcc and run in qemu-system-arm,
                    adding measured_flash_bytes@T, measured_sram_bytes@T,
                    measured_instructions@T and int8_accuracy@T to results.
                    Only workers with the flag get such searches' trials.
                    Refused at start-up when the toolchain or QEMU is missing
                    (Debian gcc-arm-none-eabi, libnewlib-arm-none-eabi,
                    qemu-system-arm)
  --log-level L     trace, debug, info (default), warn, error

Example:
  HWNAS_TOKEN=hwn_... hwnas-worker serve --server 10.0.0.5:7470 --threads 2
  hwnas-worker serve --server 10.0.0.5:7470 --measure-mcu cortex-m7,cortex-m4
)";

constexpr char kExportHelp[] =
    R"(usage: hwnas-worker export --spec SPEC.yaml --arch ARCH --out MODEL.pt [flags]
       hwnas-worker export --spec SPEC.yaml --arch ARCH --format c --target cortex-m7 --out DIR

Trains ARCH with the spec's training section on the spec's data set (every
sample: the data section's subsets are dropped unless --spec-data), evaluates
it, and saves it as a TorchScript module. The file loads in LibTorch
(torch::jit::load) and in Python (torch.jit.load); it is loaded back here and
checked against the trained network on held-out samples. The archive also
holds architecture.json and plan.txt (torch.jit.load(..., _extra_files=...)).
Inputs: {N, ...input shape} float tensors, normalized like the training data;
outputs: {N, classes} logits. A JSON summary is printed on stdout.

--format c quantizes the trained network to int8 (TFLite Micro / CMSIS-NN
scheme, activation ranges calibrated on 256 training samples), measures its
accuracy next to the float network's on the held-out split, and writes a C99
project to DIR: model.c/model.h (int model_infer(const int8_t* in, int8_t* out)),
the int8 kernels, a host runner, a QEMU mps2 firmware harness and a Makefile
(docs/mcu.md). Its host build is checked bit-exact against the int8 reference.

flags:
  --spec PATH      search spec (YAML)
  --arch ARCH      token list ("3,1,0,2") or the space's readable form
  --out PATH       the TorchScript file to write (--format c: a directory)
  --format F       torchscript (default) or c
  --target CPU     --format c: cortex-m7 (default) or cortex-m4
  --measure        --format c: build the firmware, run it in qemu-system-arm,
                   check it bit-exact, report flash/SRAM/instructions
  --firmware-samples K
                   --format c: held-out samples in the firmware harness (8)
  --epochs N       override training.epochs
  --spec-data      keep the spec's train/val/test subsets (quick checks)
  --data-dir DIR   shared data directory (default: $HWNAS_SHARED_DATA)
  --summary PATH   also write the JSON summary to PATH
  --threads N      override training.threads
  --seed N         override training.seed
  --quiet          no progress output
)";

constexpr char kDnasHelp[] =
    R"(usage: hwnas-worker dnas --spec SPEC.yaml --out DIR [flags]

Runs FBNet-style differentiable architecture search for the spec (strategy:
{name: dnas, epochs, alpha, beta, tau, tau_decay, k, warmup_epochs, arch_lr,
arch_weight_decay, arch_fraction, memory_penalty, target}): a supernet of the
mnasnet or temporal space with every candidate per decision, Gumbel-softmax architecture
parameters, loss CE * alpha * log(LAT_us)^beta (LAT: the expected latency on the
spec's hardware target) plus SRAM/flash penalties under an MCU's limits. One
progress line per epoch on stdout; every epoch is checkpointed in DIR
(checkpoint.pt, progress.jsonl). Run it again with the same --out to resume
after the last finished epoch; a finished DIR (result.json) is printed, not
trained again. The result (JSON on stdout and DIR/result.json) lists the K most
likely distinct architectures within the target's hard limits, with their
probabilities, for stand-alone training (hwnas-worker evaluate --arch ...).

flags:
  --spec PATH      search spec (YAML) with strategy.name dnas
  --out DIR        job directory (created; resumed when it holds a checkpoint)
  --epochs N       override strategy.epochs
  --threads N      override training.threads
  --data-dir DIR   shared data directory (default: $HWNAS_SHARED_DATA)
  --quiet          no progress output on stderr
)";

using Flags = hwnas::ParsedFlags;
using hwnas::FlagSpec;

// The flags each command takes (common/flags.h); the help texts above say
// what they do. Anything else is an error that names it.
const std::vector<FlagSpec> kGlobalFlags = {{"log-level", 0, "LEVEL", ""}};
const std::map<std::string, std::vector<FlagSpec>> kCommandFlags = {
    {"evaluate",
     {{"spec", 0, "PATH", ""},
      {"arch", 0, "ARCH", ""},
      {"json", 0, "", ""},
      {"data-dir", 0, "DIR", ""},
      {"epochs", 0, "N", ""},
      {"threads", 0, "N", ""},
      {"seed", 0, "N", ""},
      {"quiet", 0, "", ""}}},
    {"dnas",
     {{"spec", 0, "PATH", ""},
      {"out", 0, "DIR", ""},
      {"epochs", 0, "N", ""},
      {"threads", 0, "N", ""},
      {"data-dir", 0, "DIR", ""},
      {"quiet", 0, "", ""}}},
    {"describe", {{"spec", 0, "PATH", ""}, {"arch", 0, "ARCH", ""}, {"json", 0, "", ""}}},
    {"check", {{"spec", 0, "PATH", ""}, {"data-dir", 0, "DIR", ""}}},
    {"calibrate",
     {{"spec", 0, "PATH", ""},
      {"out", 0, "PATH", ""},
      {"threads", 0, "N", ""},
      {"samples", 0, "N", ""},
      {"check", 0, "N", ""},
      {"check-out", 0, "CSV", ""},
      {"profile-archs", 0, "N", ""},
      {"seed", 0, "N", ""},
      {"mcu", 0, "CPU", ""},
      {"archs", 0, "N", ""},
      {"measured", 0, "LOG", ""},
      {"quiet", 0, "", ""}}},
    {"export",
     {{"spec", 0, "PATH", ""},
      {"arch", 0, "ARCH", ""},
      {"out", 0, "PATH", ""},
      {"summary", 0, "PATH", ""},
      {"data-dir", 0, "DIR", ""},
      {"epochs", 0, "N", ""},
      {"threads", 0, "N", ""},
      {"seed", 0, "N", ""},
      {"spec-data", 0, "", ""},
      {"quiet", 0, "", ""},
      {"format", 0, "F", ""},
      {"target", 0, "CPU", ""},
      {"measure", 0, "", ""},
      {"firmware-samples", 0, "K", ""}}},
    {"serve",
     {{"server", 0, "ADDR", ""},
      {"token", 0, "TOKEN", ""},
      {"ca", 0, "FILE", ""},
      {"name", 0, "NAME", ""},
      {"device-tag", 0, "TAG", ""},
      {"threads", 0, "N", ""},
      {"data-dir", 0, "DIR", ""},
      {"table", 0, "FILE", ""},
      {"max-trials", 0, "N", ""},
      {"batch", 0, "N", ""},
      {"acquire-wait", 0, "SECS", ""},
      {"measure-mcu", 0, "CPUS", ""}}},
};

// A non-negative integer flag into `out` (left alone when absent).
bool Int(const Flags& flags, const std::string& name, std::optional<int64_t>* out,
         std::string* error) {
  absl::StatusOr<std::optional<int64_t>> v = flags.Int(name, 0);
  if (!v.ok()) {
    *error = std::string(v.status().message());
    return false;
  }
  if (v->has_value()) *out = *v;
  return true;
}

int Usage(const char* help, const std::string& error) {
  std::cerr << "error: " << error << "\n\n" << help;
  return kExitUsage;
}

// Runs the worker loop until SIGTERM/SIGINT (taken by a sigwait thread, so
// the shutdown path is ordinary code).
int Serve(const Flags& flags, std::optional<int64_t> threads, const char* help) {
  hwnas::worker::ServeOptions o;
  o.server = flags.GetOr("server", o.server);
  if (absl::Status s = hwnas::CheckHostPort(o.server, 1, "--server"); !s.ok()) {
    return Usage(help, std::string(s.message()));
  }
  o.token = flags.GetOr("token", "");
  if (o.token.empty()) {
    if (const char* env = std::getenv("HWNAS_TOKEN"); env != nullptr) o.token = env;
  }
  if (absl::Status s = hwnas::CheckToken(o.token, "--token / HWNAS_TOKEN"); !s.ok()) {
    return Usage(help, std::string(s.message()));
  }
  o.ca_file = flags.GetOr("ca", "");
  o.name = flags.GetOr("name", "");
  o.device_tag = flags.GetOr("device-tag", "");
  o.shared_data_dir = flags.GetOr("data-dir", "");
  o.table_path = flags.GetOr("table", "");
  if (threads) o.threads = static_cast<int>(*threads);
  std::optional<int64_t> max_trials;
  std::string error;
  if (!Int(flags, "max-trials", &max_trials, &error)) return Usage(help, error);
  if (max_trials) o.max_trials = static_cast<int>(*max_trials);
  std::optional<int64_t> batch;
  if (!Int(flags, "batch", &batch, &error)) return Usage(help, error);
  if (batch) {
    if (*batch < 1 || *batch > 1024) {
      return Usage(help, absl::StrCat("--batch must be 1 to 1024, got ", *batch));
    }
    o.batch = static_cast<int>(*batch);
  }
  std::optional<int64_t> acquire_wait;
  if (!Int(flags, "acquire-wait", &acquire_wait, &error)) return Usage(help, error);
  if (acquire_wait) {
    if (*acquire_wait < 1 || *acquire_wait > 60) {
      return Usage(help,
                   absl::StrCat("--acquire-wait must be 1 to 60 seconds, got ", *acquire_wait));
    }
    o.acquire_wait = absl::Seconds(*acquire_wait);
  }
  if (flags.Has("measure-mcu")) {
    for (absl::string_view cpu : absl::StrSplit(flags.GetOr("measure-mcu", ""), ',')) {
      cpu = absl::StripAsciiWhitespace(cpu);
      if (!hwnas::spec::IsMeasurableMcu(cpu)) {
        return Usage(help, absl::StrCat("--measure-mcu: unknown CPU '", cpu, "' (expected ",
                                        absl::StrJoin(hwnas::spec::kMeasurableMcus, " or "),
                                        ", comma-separated)"));
      }
      if (std::find(o.measure_mcus.begin(), o.measure_mcus.end(), cpu) == o.measure_mcus.end()) {
        o.measure_mcus.emplace_back(cpu);
      }
    }
  }

  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  static std::atomic<bool> stop{false};
  std::thread waiter([signals] {
    int sig = 0;
    sigwait(&signals, &sig);
    stop = true;
  });
  waiter.detach();
  absl::Status s = hwnas::worker::Serve(o, &stop);
  if (!s.ok()) {
    std::cerr << "hwnas-worker serve: " << s.message() << "\n";
    return s.code() == absl::StatusCode::kUnauthenticated ? kExitUsage : 1;
  }
  return 0;
}

// `hwnas-worker export`: its own checks (--epochs 0 is let through, as
// before this moved out of worker/export.cc), then RunExport.
int Export(const Flags& flags, const char* help) {
  hwnas::worker::ExportOptions o;
  o.spec_path = flags.GetOr("spec", "");
  o.arch = flags.GetOr("arch", "");
  o.out_path = flags.GetOr("out", "");
  o.summary_path = flags.GetOr("summary", "");
  o.data_dir = flags.GetOr("data-dir", "");
  o.full_data = !flags.Has("spec-data");
  o.progress = !flags.Has("quiet");
  o.format = flags.GetOr("format", "torchscript");
  o.target = flags.GetOr("target", "cortex-m7");
  o.measure = flags.Has("measure");
  if (o.format != "torchscript" && o.format != "c") {
    return Usage(help, absl::StrCat("--format: '", o.format, "' (expected torchscript or c)"));
  }
  if (o.target != "cortex-m7" && o.target != "cortex-m4") {
    return Usage(help,
                 absl::StrCat("--target: '", o.target, "' (expected cortex-m7 or cortex-m4)"));
  }
  absl::StatusOr<std::optional<int64_t>> fw_samples = flags.Int("firmware-samples", 1);
  if (!fw_samples.ok()) return Usage(help, std::string(fw_samples.status().message()));
  if (*fw_samples) o.firmware_samples = static_cast<int>(**fw_samples);
  absl::StatusOr<std::optional<int64_t>> epochs = flags.Int("epochs", 0);
  absl::StatusOr<std::optional<int64_t>> threads = flags.Int("threads", 0);
  absl::StatusOr<std::optional<int64_t>> seed = flags.Int("seed", 0);
  for (const absl::Status& s :
       {epochs.status(), threads.status(), seed.status(), flags.Require({"spec", "arch", "out"})}) {
    if (!s.ok()) return Usage(help, std::string(s.message()));
  }
  if (*epochs) o.epochs = static_cast<int>(**epochs);
  if (*threads) o.threads = static_cast<int>(**threads);
  if (*seed) o.seed = static_cast<uint64_t>(**seed);
  if (absl::Status s = hwnas::InitLogging(flags.GetOr("log-level", "warn")); !s.ok()) {
    return Usage(help, std::string(s.message()));
  }
  return hwnas::worker::RunExport(o, std::cout, std::cerr);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << kUsage;
    return kExitUsage;
  }
  const std::string command = argv[1];
  if (command == "--help" || command == "-h" || command == "help") {
    std::cout << kUsage;
    return 0;
  }
  const char* help = command == "evaluate"    ? kEvaluateHelp
                     : command == "describe"  ? kDescribeHelp
                     : command == "check"     ? kCheckHelp
                     : command == "calibrate" ? kCalibrateHelp
                     : command == "serve"     ? kServeHelp
                     : command == "export"    ? kExportHelp
                     : command == "dnas"      ? kDnasHelp
                                              : nullptr;
  if (help == nullptr) {
    std::cerr << "error: unknown command '" << command << "'\n\n" << kUsage;
    return kExitUsage;
  }
  absl::StatusOr<Flags> parsed = hwnas::ParseFlags(kCommandFlags.at(command), kGlobalFlags,
                                                   std::vector<std::string>(argv + 2, argv + argc),
                                                   absl::StrCat("hwnas-worker ", command));
  if (!parsed.ok()) return Usage(help, std::string(parsed.status().message()));
  const Flags& flags = *parsed;
  if (flags.help) {
    std::cout << help;
    return 0;
  }
  if (!flags.positionals.empty()) {
    return Usage(help, absl::StrCat("unexpected argument '", flags.positionals[0], "'"));
  }
  if (command == "export") return Export(flags, help);
  std::string error;
  const std::string level = flags.GetOr("log-level", command == "serve" ? "info" : "warn");
  if (absl::Status s = hwnas::InitLogging(level); !s.ok()) {
    return Usage(help, std::string(s.message()));
  }
  std::optional<int64_t> epochs, threads, seed, samples, check, profile_archs;
  if (!Int(flags, "epochs", &epochs, &error) || !Int(flags, "threads", &threads, &error) ||
      !Int(flags, "seed", &seed, &error) || !Int(flags, "samples", &samples, &error) ||
      // calibrate --mcu reads --check as a list (one count per spec).
      (!flags.Has("mcu") && !Int(flags, "check", &check, &error)) ||
      !Int(flags, "profile-archs", &profile_archs, &error)) {
    return Usage(help, error);
  }
  if ((epochs && *epochs < 1) || (threads && *threads < 1)) {
    return Usage(help, "--epochs and --threads must be at least 1");
  }

  if (command == "serve") return Serve(flags, threads, help);
  if (command == "evaluate") {
    if (absl::Status s = flags.Require({"spec", "arch"}); !s.ok()) {
      return Usage(help, std::string(s.message()));
    }
    hwnas::worker::EvaluateOptions o;
    o.spec_path = flags.GetOr("spec", "");
    o.arch = flags.GetOr("arch", "");
    o.data_dir = flags.GetOr("data-dir", "");
    o.json = flags.Has("json");
    o.progress = !flags.Has("quiet");
    if (epochs) o.epochs = static_cast<int>(*epochs);
    if (threads) o.threads = static_cast<int>(*threads);
    if (seed) o.seed = static_cast<uint64_t>(*seed);
    return hwnas::worker::RunEvaluate(o, std::cout, std::cerr);
  }
  if (command == "check") {
    if (absl::Status s = flags.Require({"spec"}); !s.ok()) {
      return Usage(help, std::string(s.message()));
    }
    return hwnas::worker::RunCheck(
        {.spec_path = flags.GetOr("spec", ""), .data_dir = flags.GetOr("data-dir", "")}, std::cout,
        std::cerr);
  }
  if (command == "dnas") {
    if (absl::Status s = flags.Require({"spec", "out"}); !s.ok()) {
      return Usage(help, std::string(s.message()));
    }
    hwnas::worker::dnas::DnasCommandOptions o;
    o.spec_path = flags.GetOr("spec", "");
    o.out_dir = flags.GetOr("out", "");
    o.data_dir = flags.GetOr("data-dir", "");
    o.progress = !flags.Has("quiet");
    if (epochs) o.epochs = static_cast<int>(*epochs);
    if (threads) o.threads = static_cast<int>(*threads);
    return hwnas::worker::dnas::RunDnas(o, std::cout, std::cerr);
  }
  if (command == "describe") {
    if (absl::Status s = flags.Require({"spec", "arch"}); !s.ok()) {
      return Usage(help, std::string(s.message()));
    }
    hwnas::worker::DescribeOptions o;
    o.spec_path = flags.GetOr("spec", "");
    o.arch = flags.GetOr("arch", "");
    o.json = flags.Has("json");
    return hwnas::worker::RunDescribe(o, std::cout, std::cerr);
  }
  if (absl::Status s = flags.Require({"spec", "out"}); !s.ok()) {
    return Usage(help, std::string(s.message()));
  }
  if (flags.Has("mcu")) {
    hwnas::worker::McuCalibrateCommandOptions o;
    // --archs N[,N...] and --check N[,N...]: one count for every spec, or
    // one per spec.
    for (const char* name : {"archs", "check"}) {
      std::vector<int>& counts = std::string(name) == "archs" ? o.archs : o.check;
      if (!flags.Has(name)) continue;
      counts.clear();
      for (absl::string_view v : absl::StrSplit(flags.GetOr(name, ""), ',')) {
        int n = 0;
        if (!absl::SimpleAtoi(v, &n) || n < (std::string(name) == "archs" ? 1 : 0)) {
          return Usage(help, absl::StrCat("--", name, ": '", v,
                                          "' is not a count (--archs at least 1, --check at "
                                          "least 0; one per spec, comma-separated)"));
        }
        counts.push_back(n);
      }
    }
    for (absl::string_view path : absl::StrSplit(flags.GetOr("spec", ""), ',', absl::SkipEmpty())) {
      o.spec_paths.emplace_back(path);
    }
    o.out_path = flags.GetOr("out", "");
    o.cpu = flags.GetOr("mcu", "");
    o.check_out = flags.GetOr("check-out", "");
    for (absl::string_view path :
         absl::StrSplit(flags.GetOr("measured", ""), ',', absl::SkipEmpty())) {
      o.measured_logs.emplace_back(path);
    }
    if (seed) o.seed = static_cast<uint64_t>(*seed);
    o.progress = !flags.Has("quiet");
    return hwnas::worker::RunMcuCalibrate(o, std::cout, std::cerr);
  }
  hwnas::worker::CalibrateCommandOptions o;
  o.spec_path = flags.GetOr("spec", "");
  o.out_path = flags.GetOr("out", "");
  if (threads) o.threads = static_cast<int>(*threads);
  if (samples) o.samples = static_cast<int>(*samples);
  if (check) o.check = static_cast<int>(*check);
  if (seed) o.seed = static_cast<uint64_t>(*seed);
  o.check_out = flags.GetOr("check-out", "");
  if (profile_archs) o.profile_archs = static_cast<int>(*profile_archs);
  o.progress = !flags.Has("quiet");
  return hwnas::worker::RunCalibrate(o, std::cout, std::cerr);
}
