#include "worker/serve.h"

#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <system_error>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/data_paths.h"
#include "common/files.h"
#include "common/message_limits.h"
#include "common/status_macros.h"
#include "controller/nb201_table.h"
#include "mcu/firmware.h"
#include "nlohmann/json.hpp"
#include "space/registry.h"
#include "spdlog/spdlog.h"
#include "spec/evaluator.h"
#include "spec/worker_spec.h"
#include "worker/commands.h"
#include "worker/dnas/dnas_search.h"
#include "worker/serve_loop.h"
#include "worker/trial_runner.h"
#include "worker/worker_client_grpc.h"

namespace hwnas::worker {
namespace {

// Whether a search's spec uses the NAS-Bench-201 table instead of training.
bool IsTableSpec(const std::string& spec_yaml) {
  absl::StatusOr<YamlSection> root = YamlSection::Parse(spec_yaml);
  if (!root.ok()) return false;
  absl::StatusOr<YamlSection> ev = root->Child("evaluator");
  if (!ev.ok()) return false;
  absl::StatusOr<std::string> kind = ev->String("kind", "train");
  return kind.ok() && *kind == spec::EvaluatorKindName(spec::EvaluatorKind::kTable);
}

std::string Hostname() {
  char buf[256] = {0};
  gethostname(buf, sizeof(buf) - 1);
  return buf;
}

// What this worker can run: its search spaces and evaluators, and the data
// sets found on this machine (specs that name others go to other workers).
WorkerRecord Capabilities(const ServeOptions& options, const DataLocations& data,
                          const std::string& table_path) {
  WorkerRecord c;
  c.device_kind = "cpu";
  c.device_tag = options.device_tag;
  c.threads = options.threads;
  c.gpu = false;
  c.hostname = Hostname();
  c.version = "0.1.0";
  c.search_spaces = space::SearchSpaceNames();
  c.evaluators.push_back("train");
  // Proxy trials run through the same TrialRunner (worker/proxies.h).
  c.evaluators.push_back(std::string(spec::EvaluatorKindName(spec::EvaluatorKind::kProxy)));
  // Supernet jobs of dnas searches (worker/dnas/), and their trials.
  c.evaluators.push_back("dnas");
  c.datasets = data.Present();
  c.measure_mcus = options.measure_mcus;
  // Generic formats read from a path in the spec.
  c.datasets.push_back("idx");
  c.datasets.push_back("ucr");
  std::error_code ec;
  if (!table_path.empty() && std::filesystem::exists(table_path, ec)) {
    c.evaluators.push_back(std::string(spec::EvaluatorKindName(spec::EvaluatorKind::kTable)));
    c.datasets.push_back(spec::kTableDataset);
  }
  return c;
}

// Trials as this worker runs them: `evaluator: table` specs are answered
// from the NAS-Bench-201 table, the rest are trained by a TrialRunner. Both
// are kept across trials of the same spec (loading data takes seconds).
class RunnerExecutor final : public TrialExecutor {
 public:
  RunnerExecutor(const ServeOptions& options, std::string shared_dir, std::string table_path)
      : options_(options), shared_dir_(std::move(shared_dir)), table_path_(std::move(table_path)) {}

  TrialKind KindOf(const TrialAssignment& a) override {
    // Batches of one spec's trials would otherwise parse it once per trial.
    if (!kind_ || kind_spec_ != a.spec_yaml) {
      kind_ = IsTableSpec(a.spec_yaml) ? TrialKind::kLookup : TrialKind::kTraining;
      kind_spec_ = a.spec_yaml;
    }
    return *kind_;
  }

  absl::StatusOr<TrialResult> Lookup(const TrialAssignment& a) override {
    if (!evaluator_ || evaluator_spec_ != a.spec_yaml) {
      evaluator_.reset();
      HWNAS_ASSIGN_OR_RETURN(YamlSection root, YamlSection::Parse(a.spec_yaml));
      HWNAS_ASSIGN_OR_RETURN(YamlSection section, root.Child("evaluator"));
      HWNAS_ASSIGN_OR_RETURN(spec::EvaluatorOptions ev, spec::ParseEvaluatorOptions(section));
      const std::string path =
          !ev.path.empty() ? controller::ResolveNb201TablePath(ev.path) : table_path_;
      if (!table_ || table_loaded_path_ != path) {
        HWNAS_ASSIGN_OR_RETURN(table_, controller::Nb201Table::Load(path));
        table_loaded_path_ = path;
      }
      HWNAS_ASSIGN_OR_RETURN(controller::TableEvaluator evaluator,
                             controller::TableEvaluator::Create(table_, ev.dataset, ev.device));
      evaluator_ = std::move(evaluator);
      evaluator_spec_ = a.spec_yaml;
    }
    return evaluator_->Evaluate(a.architecture);
  }

  // The job runs worker/dnas/ in a fresh directory: the resume checkpoint
  // (if any) goes in as its checkpoint.pt, each epoch's comes out through
  // on_epoch, result.json gives the architectures. The directory is removed
  // after: the server holds the durable copy.
  DnasOutcome RunDnasJob(const TrialAssignment& a, const DnasEpochCallback& epoch_done,
                         const std::atomic<bool>* interrupt) override {
    DnasOutcome out;
    std::string tmpl = (std::filesystem::temp_directory_path() / "hwnas-dnas-XXXXXX").string();
    if (mkdtemp(tmpl.data()) == nullptr) {
      out.result.error = absl::StrCat("dnas: cannot create a directory from ", tmpl);
      return out;
    }
    const std::filesystem::path dir(tmpl);
    struct Cleanup {
      std::filesystem::path dir;
      ~Cleanup() {
        std::error_code ec;
        std::filesystem::remove_all(dir, ec);
      }
    } cleanup{dir};
    const std::string spec_path = (dir / "job.yaml").string();
    const std::filesystem::path out_dir = dir / "out";
    std::error_code ec;
    std::filesystem::create_directories(out_dir, ec);
    {
      std::ofstream f(spec_path, std::ios::binary);
      f << a.spec_yaml;
      if (!a.resume_checkpoint.empty()) {
        std::ofstream c(out_dir / "checkpoint.pt", std::ios::binary);
        c << a.resume_checkpoint;
        if (!c.flush()) f.setstate(std::ios::failbit);
      }
      if (!f.flush() || ec) {
        out.result.error = absl::StrCat("dnas: cannot write the job's files under ", tmpl);
        return out;
      }
    }
    bool stopped = false;
    std::string read_error;
    dnas::DnasCommandOptions o;
    o.spec_path = spec_path;
    o.out_dir = out_dir.string();
    o.data_dir = shared_dir_;
    o.threads = std::max(1, options_.threads);
    o.interrupt = interrupt;
    o.on_epoch = [&](int epoch, const std::map<std::string, double>& values,
                     const std::string& checkpoint_path) {
      // Read whole (the callback says by how much one is over the limit).
      absl::StatusOr<std::string> bytes = ReadRegularFile(checkpoint_path, size_t{1} << 30);
      if (!bytes.ok()) {
        read_error = absl::StrCat("dnas: ", bytes.status().message());
        return false;
      }
      if (!epoch_done(EpochMetrics{epoch, values}, *bytes)) stopped = true;
      return !stopped;
    };
    std::ostringstream log, err;
    const auto started = std::chrono::steady_clock::now();
    const int code = dnas::RunDnas(o, log, err);
    if (stopped || (interrupt != nullptr && interrupt->load())) {
      out.state = TrialState::kCancelled;
      out.result.error = "stopped";
      return out;
    }
    if (!read_error.empty()) {
      out.result.error = read_error;
      return out;
    }
    if (code != kExitOk) {
      out.result.error = absl::StrCat("dnas: ", err.str());
      return out;
    }
    absl::StatusOr<std::string> text =
        ReadRegularFile((out_dir / "result.json").string(), 64 << 20);
    if (!text.ok()) {
      out.result.error = absl::StrCat("dnas: ", text.status().message());
      return out;
    }
    const nlohmann::json result = nlohmann::json::parse(*text, nullptr, false);
    if (result.is_discarded() || !result.contains("candidates")) {
      out.result.error = "dnas: result.json is not the job's result";
      return out;
    }
    for (const nlohmann::json& c : result["candidates"]) {
      out.candidates.push_back(c.value("readable", std::string()));
    }
    out.result.epochs = result.value("epochs", 0);
    out.result.train_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    out.state = TrialState::kSucceeded;
    spdlog::info("event=dnas_job_done search={} trial={} architectures={} skipped_infeasible={}",
                 a.search_id, a.trial_number, out.candidates.size(),
                 result.value("skipped_infeasible", 0));
    return out;
  }

  TrainingOutcome Train(const TrialAssignment& a, const EpochCallback& epoch_done,
                        const std::atomic<bool>* interrupt) override {
    TrainingOutcome out;
    out.state = TrialState::kFailed;
    if (runner_spec_ != a.spec_yaml || !runner_) {
      runner_.reset();
      absl::StatusOr<WorkerSpec> spec = ParseWorkerSpec(a.spec_yaml);
      if (!spec.ok()) {
        out.result.error = absl::StrCat("spec: ", spec.status().message());
        return out;
      }
      spec->training.threads = std::max(1, options_.threads);
      // The server sends measuring searches to measuring workers only; an
      // older server does not know, so this worker checks too.
      for (const spec::McuMeasureTarget& m : spec->hardware.measure_mcu) {
        if (std::find(options_.measure_mcus.begin(), options_.measure_mcus.end(), m.cpu) ==
            options_.measure_mcus.end()) {
          out.result.error = absl::StrCat(
              "hardware.targets: target ", m.target, " is measured on ", m.cpu,
              ", which this worker does not measure (serve --measure-mcu ", m.cpu, ")");
          return out;
        }
      }
      absl::StatusOr<std::unique_ptr<TrialRunner>> runner = TrialRunner::Create(
          *std::move(spec), RunnerOptions{shared_dir_, options_.profile_search_path});
      if (!runner.ok()) {
        out.result.error = std::string(runner.status().message());
        return out;
      }
      runner_ = *std::move(runner);
      runner_spec_ = a.spec_yaml;
    }
    ProgressCallback progress = [&](const EpochMetrics& m) {
      return epoch_done(m) ? ProgressDecision::kContinue : ProgressDecision::kStop;
    };
    RungRun rung;
    rung.screen = a.screen;
    rung.epoch_target = a.epoch_target;
    rung.resume_from = a.resume_checkpoint;
    if (a.checkpoint_wanted && !a.screen) rung.checkpoint_out = &out.checkpoint;
    if (a.rung > 0 && a.resume_checkpoint.empty() && !a.screen) {
      rung.note =
          "no checkpoint from the last rung (none stored, or evicted): trained from scratch";
    }
    TrialOutcome outcome = runner_->Run(a.architecture, progress, interrupt, &rung);
    if (a.epoch_target > 0 && !a.screen) {
      spdlog::info(
          "event=rung_trained search={} trial={} rung={} epochs={} checkpoint_bytes={} note=\"{}\"",
          a.search_id, a.trial_number, a.rung, outcome.result.epochs, out.checkpoint.size(),
          rung.note);
    }
    // A report carries at most what the server accepts; a larger state is
    // not sent and the next rung starts over (and says so).
    if (out.checkpoint.size() > kMaxCheckpointBytes) {
      spdlog::warn("event=checkpoint_too_large trial={} bytes={} limit={}", a.trial_number,
                   out.checkpoint.size(), kMaxCheckpointBytes);
      out.checkpoint.clear();
    }
    out.state = outcome.state;
    out.result = std::move(outcome.result);
    return out;
  }

 private:
  const ServeOptions& options_;
  const std::string shared_dir_;
  const std::string table_path_;
  std::optional<TrialKind> kind_;
  std::string kind_spec_;
  std::string runner_spec_;
  std::unique_ptr<TrialRunner> runner_;
  std::string table_loaded_path_;
  std::shared_ptr<const controller::Nb201Table> table_;
  std::string evaluator_spec_;
  std::optional<controller::TableEvaluator> evaluator_;
};

}  // namespace

absl::Status Serve(const ServeOptions& options, const std::atomic<bool>* stop) {
  for (const std::string& cpu : options.measure_mcus) {
    if (!spec::IsMeasurableMcu(cpu)) {
      return absl::InvalidArgumentError(
          absl::StrCat("--measure-mcu: unknown CPU '", cpu,
                       "' (expected one of: ", absl::StrJoin(spec::kMeasurableMcus, ", "), ")"));
    }
  }
  if (!options.measure_mcus.empty()) {
    // At start-up rather than as every trial's failure.
    if (absl::Status s = mcu::CheckFirmwareTools(); !s.ok()) {
      return absl::FailedPreconditionError(absl::StrCat("--measure-mcu: ", s.message()));
    }
  }
  const DataLocations data = DataLocations::FromFlagOrEnv(options.shared_data_dir);
  const std::string table_path =
      !options.table_path.empty() ? options.table_path : data.Nb201Table();
  HWNAS_ASSIGN_OR_RETURN(std::unique_ptr<WorkerClient> client,
                         NewGrpcWorkerClient(GrpcWorkerClientOptions{
                             options.server, options.token, options.ca_file, options.rpc_timeout}));
  RunnerExecutor executor(options, data.shared_dir(), table_path);
  ServeLoopOptions loop;
  loop.name = options.name.empty() ? absl::StrCat(Hostname(), "/", getpid()) : options.name;
  loop.capabilities = Capabilities(options, data, table_path);
  loop.server = options.server;
  loop.acquire_wait = options.acquire_wait;
  loop.report_patience = options.report_patience;
  loop.max_trials = options.max_trials;
  loop.batch = options.batch;
  return RunServeLoop(*client, executor, loop, stop);
}

}  // namespace hwnas::worker
