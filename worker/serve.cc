#include "worker/serve.h"

#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <future>
#include <memory>
#include <sstream>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/status_macros.h"
#include "controller/nb201_table.h"
#include "hwnas/v1/worker_service.grpc.pb.h"
#include "proto/convert.h"
#include "space/registry.h"
#include "spdlog/spdlog.h"
#include "spec/evaluator.h"
#include "spec/worker_spec.h"
#include "worker/trial_runner.h"

namespace hwnas::worker {
namespace {

namespace fs = std::filesystem;
using hwnas::proto::FromProto;
using hwnas::proto::ToProto;

absl::Status FromGrpc(const grpc::Status& s) {
  if (s.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(s.error_code()), s.error_message());
}

bool Retryable(const absl::Status& s) {
  return s.code() == absl::StatusCode::kUnavailable ||
         s.code() == absl::StatusCode::kDeadlineExceeded ||
         s.code() == absl::StatusCode::kAborted ||
         s.code() == absl::StatusCode::kResourceExhausted ||
         s.code() == absl::StatusCode::kInternal;
}

// Exponential backoff between retries: 100 ms doubling to 1 s. Capped low
// so that a worker is back within about a second of a restarted server (or
// database) answering again: with `--batch` the results it holds are on
// leases that expire while it waits, and their trials would run twice.
class Backoff {
 public:
  absl::Duration Next() {
    absl::Duration d = delay_;
    delay_ = std::min(delay_ * 2, absl::Seconds(1));
    return d;
  }
  void Reset() { delay_ = absl::Milliseconds(100); }

 private:
  absl::Duration delay_ = absl::Milliseconds(100);
};

// Sleeps up to `d`, waking early when `stop` is set.
void SleepUnlessStopped(absl::Duration d, const std::atomic<bool>* stop) {
  const absl::Time until = absl::Now() + d;
  while (!stop->load() && absl::Now() < until) {
    absl::SleepFor(std::min(absl::Milliseconds(50), until - absl::Now()));
  }
}

// Whether a search's spec uses the NAS-Bench-201 table instead of training.
bool IsTableSpec(const std::string& spec_yaml) {
  absl::StatusOr<YamlSection> root = YamlSection::Parse(spec_yaml);
  if (!root.ok()) return false;
  absl::StatusOr<YamlSection> ev = root->Child("evaluator");
  if (!ev.ok()) return false;
  absl::StatusOr<std::string> kind = ev->String("kind", "");
  return kind.ok() && *kind == spec::EvaluatorKindName(spec::EvaluatorKind::kTable);
}

std::string Hostname() {
  char buf[256] = {0};
  gethostname(buf, sizeof(buf) - 1);
  return buf;
}

class Session {
 public:
  Session(const ServeOptions& options, const std::atomic<bool>* stop)
      : options_(options), stop_(stop) {}

  absl::Status Run();

 private:
  void Prepare(grpc::ClientContext* ctx, absl::Duration timeout) const {
    ctx->set_deadline(absl::ToChronoTime(absl::Now() + timeout));
    if (!options_.token.empty()) {
      ctx->AddMetadata("authorization", absl::StrCat("Bearer ", options_.token));
    }
  }
  absl::Status Connect();
  absl::Status Register();
  // Runs one unary call through the callback API and waits for it, calling
  // TryCancel() as soon as `*stop_` is set: a long-poll (AcquireTrial waits
  // up to `acquire_wait` for work) must not keep SIGTERM waiting.
  template <typename Start>
  absl::Status CallCancellable(grpc::ClientContext* ctx, Start start);
  hwnas::v1::WorkerCapabilities Capabilities() const;
  void RunTrial(const std::string& lease_id, const hwnas::v1::TrialAssignment& a);
  // Table trials of one AcquireTrial answer: evaluated in turn, reported in
  // one ReportResults (failures one by one).
  void RunTableBatch(
      const std::vector<std::pair<std::string, const hwnas::v1::TrialAssignment*>>& leases);
  absl::StatusOr<TrialResult> RunTable(const hwnas::v1::TrialAssignment& a);
  // Trains through the TrialRunner; sets `*disposition` to how it ended.
  enum class Ending { kReport, kFailed, kHandBack, kDrop };
  TrialOutcome RunTraining(const std::string& lease_id, const hwnas::v1::TrialAssignment& a,
                           Ending* ending, std::string* failure);
  // Heartbeat / progress; returns the server's action or an error.
  absl::StatusOr<hwnas::v1::ReportProgressResponse::Action> Progress(
      const std::string& lease_id, const std::optional<EpochMetrics>& metrics);
  void ReportResult(const std::string& lease_id, const TrialResult& result, bool early_stopped);
  void ReportFailure(const std::string& lease_id, const std::string& reason, bool retryable,
                     const std::optional<TrialResult>& partial);
  // Hands every lease of an AcquireTrial answer back (retryable failure).
  void HandBack(const hwnas::v1::AcquireTrialResponse& resp);
  // Retries `call` on transient errors until it succeeds, fails for good or
  // `patience` runs out.
  template <typename Call>
  absl::Status WithRetries(absl::string_view what, absl::Duration patience, Call call);

  const ServeOptions& options_;
  const std::atomic<bool>* stop_;
  std::string shared_dir_;
  std::string table_path_;
  std::unique_ptr<hwnas::v1::WorkerService::Stub> stub_;
  std::string worker_id_;
  absl::Duration heartbeat_ = absl::Seconds(5);
  // Reused across trials of the same spec (loading data takes seconds).
  std::string runner_spec_;
  std::unique_ptr<TrialRunner> runner_;
  std::string table_loaded_path_;
  std::shared_ptr<const controller::Nb201Table> table_;
  // The evaluator of the last table spec: batches of its trials would
  // otherwise parse the same spec once per trial.
  std::string evaluator_spec_;
  std::optional<controller::TableEvaluator> evaluator_;
  int trials_done_ = 0;
};

absl::Status Session::Connect() {
  std::shared_ptr<grpc::ChannelCredentials> creds = grpc::InsecureChannelCredentials();
  if (!options_.ca_file.empty()) {
    std::ifstream in(options_.ca_file);
    if (!in) return absl::NotFoundError(absl::StrCat("cannot read CA file ", options_.ca_file));
    std::stringstream ss;
    ss << in.rdbuf();
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = ss.str();
    creds = grpc::SslCredentials(ssl);
  }
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 20000);
  // gRPC's defaults back off reconnection attempts up to 120 s (1 s first,
  // x1.6 each): a worker found a restarted server 4-9 s after it listened
  // again. Attempt every 250 ms to 1 s instead; a refused connection costs
  // the server nothing. GRPC_ARG_MIN_RECONNECT_BACKOFF_MS stays at its 20 s
  // default: it is the time one attempt may take to connect (a TLS handshake
  // over a slow link), not a delay between attempts.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 250);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  // A restarted server may come back at another address under the same name
  // (a container or pod gets a new IP): re-resolve at most once a second
  // instead of gRPC's 30 s, or the worker keeps dialing the old address for
  // up to half a minute (the podman test's restarted server did).
  args.SetInt(GRPC_ARG_DNS_MIN_TIME_BETWEEN_RESOLUTIONS_MS, 1000);
  stub_ =
      hwnas::v1::WorkerService::NewStub(grpc::CreateCustomChannel(options_.server, creds, args));
  return absl::OkStatus();
}

hwnas::v1::WorkerCapabilities Session::Capabilities() const {
  hwnas::v1::WorkerCapabilities c;
  c.set_device_kind("cpu");
  c.set_device_tag(options_.device_tag);
  c.set_threads(options_.threads);
  c.set_gpu(false);
  c.set_hostname(Hostname());
  c.set_version("0.1.0");
  for (const std::string& s : space::SearchSpaceNames()) c.add_search_spaces(s);
  c.add_evaluators("train");
  // Data sets this machine has; specs that name others go to other workers.
  if (fs::exists("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz")) {
    c.add_datasets("fashion_mnist");
  }
  if (fs::exists("/usr/share/datasets/mnist")) c.add_datasets("mnist");
  // Generic formats read from a path in the spec.
  c.add_datasets("idx");
  c.add_datasets("ucr");
  if (!shared_dir_.empty()) {
    if (fs::exists(fs::path(shared_dir_) / "ecg5000" / "ECG5000_TRAIN.txt")) {
      c.add_datasets("ecg5000");
    }
    if (fs::exists(fs::path(shared_dir_) / "eegmmidb_S001")) c.add_datasets("eegmmidb");
  }
  if (!table_path_.empty() && fs::exists(table_path_)) {
    c.add_evaluators(std::string(spec::EvaluatorKindName(spec::EvaluatorKind::kTable)));
    c.add_datasets(spec::kTableDataset);
  }
  return c;
}

template <typename Call>
absl::Status Session::WithRetries(absl::string_view what, absl::Duration patience, Call call) {
  absl::Time give_up = absl::Now() + patience;
  // Once asked to stop (SIGTERM, or `hwnas local` going away), a few more
  // seconds only: an unreachable server will requeue the trial when its
  // lease expires, and a worker that ignores SIGTERM for minutes is worse.
  constexpr absl::Duration kPatienceWhenStopping = absl::Seconds(10);
  bool stopping = false;
  Backoff backoff;
  while (true) {
    absl::Status s = call();
    if (s.ok() || !Retryable(s)) return s;
    if (!stopping && stop_->load()) {
      stopping = true;
      give_up = std::min(give_up, absl::Now() + kPatienceWhenStopping);
    }
    if (absl::Now() >= give_up) {
      return absl::DeadlineExceededError(absl::StrCat(
          what, ": still failing", stopping ? " while stopping" : "", " after ",
          absl::FormatDuration(stopping ? kPatienceWhenStopping : patience), ": ", s.message()));
    }
    spdlog::warn("event=rpc_retry call={} error=\"{}\"", std::string(what), s.ToString());
    absl::SleepFor(backoff.Next());
  }
}

template <typename Start>
absl::Status Session::CallCancellable(grpc::ClientContext* ctx, Start start) {
  // The promise's shared state outlives whichever side finishes last.
  auto done = std::make_shared<std::promise<grpc::Status>>();
  std::future<grpc::Status> result = done->get_future();
  start([done](grpc::Status s) { done->set_value(std::move(s)); });
  bool cancelled = false;
  while (result.wait_for(std::chrono::milliseconds(50)) != std::future_status::ready) {
    if (!cancelled && stop_->load()) {
      ctx->TryCancel();  // The callback still runs (CANCELLED); wait for it.
      cancelled = true;
    }
  }
  return FromGrpc(result.get());
}

absl::Status Session::Register() {
  hwnas::v1::RegisterWorkerRequest req;
  req.set_name(options_.name.empty() ? absl::StrCat(Hostname(), "/", getpid()) : options_.name);
  *req.mutable_capabilities() = Capabilities();
  Backoff backoff;
  while (!stop_->load()) {
    grpc::ClientContext ctx;
    Prepare(&ctx, options_.rpc_timeout);
    hwnas::v1::RegisterWorkerResponse resp;
    absl::Status s = CallCancellable(&ctx, [&](auto done) {
      stub_->async()->RegisterWorker(&ctx, &req, &resp, std::move(done));
    });
    if (stop_->load()) break;
    if (s.ok()) {
      worker_id_ = resp.worker_id();
      if (resp.has_heartbeat_interval()) {
        heartbeat_ = std::max(absl::Milliseconds(200), FromProto(resp.heartbeat_interval()));
      }
      spdlog::info("event=worker_registered worker={} server={} evaluators={} datasets={}",
                   worker_id_, options_.server, req.capabilities().evaluators_size(),
                   req.capabilities().datasets_size());
      return absl::OkStatus();
    }
    if (!Retryable(s)) return s;  // A bad token will not get better.
    spdlog::warn("event=register_retry server={} error=\"{}\"", options_.server, s.ToString());
    SleepUnlessStopped(backoff.Next(), stop_);
  }
  return absl::CancelledError("stopped before registering");
}

absl::Status Session::Run() {
  absl::StatusOr<std::string> shared = ResolveSharedDataDir(options_.shared_data_dir);
  shared_dir_ = shared.ok() ? *shared : "";
  table_path_ = options_.table_path;
  if (table_path_.empty() && !shared_dir_.empty()) {
    table_path_ = (fs::path(shared_dir_) / "nb201" / "nb201_acc_latency.csv").string();
  }
  HWNAS_RETURN_IF_ERROR(Connect());
  absl::Status registered = Register();
  if (!registered.ok()) return stop_->load() ? absl::OkStatus() : registered;
  Backoff backoff;
  while (!stop_->load()) {
    if (options_.max_trials > 0 && trials_done_ >= options_.max_trials) break;
    grpc::ClientContext ctx;
    Prepare(&ctx, options_.acquire_wait + absl::Seconds(5));
    hwnas::v1::AcquireTrialRequest req;
    req.set_worker_id(worker_id_);
    *req.mutable_wait() = ToProto(options_.acquire_wait);
    int want = options_.batch;
    if (options_.max_trials > 0) want = std::min(want, options_.max_trials - trials_done_);
    if (want > 1) req.set_max_trials(want);
    hwnas::v1::AcquireTrialResponse resp;
    absl::Status s = CallCancellable(
        &ctx, [&](auto done) { stub_->async()->AcquireTrial(&ctx, &req, &resp, std::move(done)); });
    const bool got_work = s.ok() && !resp.lease_id().empty();
    if (stop_->load() && !(got_work && IsTableSpec(resp.assignment().spec_yaml()))) {
      // Training trials that arrived as we stop are handed back at once
      // (table trials take microseconds: they are run and reported). A
      // lease granted as the call was cancelled never reaches us: it goes
      // back to the queue when it expires.
      if (got_work) HandBack(resp);
      break;
    }
    if (!s.ok()) {
      if (s.code() == absl::StatusCode::kFailedPrecondition &&
          absl::StrContains(s.message(), "not registered")) {
        // The server restarted and forgot us: register again.
        HWNAS_RETURN_IF_ERROR(Register());
        continue;
      }
      if (!Retryable(s)) return s;
      spdlog::warn("event=acquire_retry error=\"{}\"", s.ToString());
      SleepUnlessStopped(backoff.Next(), stop_);
      continue;
    }
    backoff.Reset();
    if (resp.lease_id().empty()) continue;  // Long-poll ended without work.
    if (resp.more().empty()) {
      RunTrial(resp.lease_id(), resp.assignment());
      ++trials_done_;
      continue;
    }
    std::vector<std::pair<std::string, const hwnas::v1::TrialAssignment*>> leases;
    leases.emplace_back(resp.lease_id(), &resp.assignment());
    for (const hwnas::v1::TrialLease& more : resp.more()) {
      leases.emplace_back(more.lease_id(), &more.assignment());
    }
    RunTableBatch(leases);
    trials_done_ += static_cast<int>(leases.size());
  }
  return absl::OkStatus();
}

absl::StatusOr<hwnas::v1::ReportProgressResponse::Action> Session::Progress(
    const std::string& lease_id, const std::optional<EpochMetrics>& metrics) {
  hwnas::v1::ReportProgressRequest req;
  req.set_worker_id(worker_id_);
  req.set_lease_id(lease_id);
  if (metrics) *req.mutable_metrics() = ToProto(*metrics);
  hwnas::v1::ReportProgressResponse resp;
  absl::Status s = WithRetries("ReportProgress", absl::Seconds(20), [&] {
    grpc::ClientContext ctx;
    Prepare(&ctx, options_.rpc_timeout);
    return FromGrpc(stub_->ReportProgress(&ctx, req, &resp));
  });
  if (!s.ok()) return s;
  return resp.action();
}

void Session::ReportResult(const std::string& lease_id, const TrialResult& result,
                           bool early_stopped) {
  hwnas::v1::ReportResultRequest req;
  req.set_worker_id(worker_id_);
  req.set_lease_id(lease_id);
  *req.mutable_result() = ToProto(result);
  req.set_early_stopped(early_stopped);
  hwnas::v1::ReportResultResponse resp;
  absl::Status s = WithRetries("ReportResult", options_.report_patience, [&] {
    grpc::ClientContext ctx;
    Prepare(&ctx, options_.rpc_timeout);
    return FromGrpc(stub_->ReportResult(&ctx, req, &resp));
  });
  if (s.ok()) {
    spdlog::info("event=trial_reported search={} trial={} state={} accuracy={:.4f} duplicate={}",
                 resp.trial().search_id(), resp.trial().number(),
                 hwnas::v1::TrialState_Name(resp.trial().state()), result.accuracy,
                 resp.duplicate());
  } else {
    spdlog::error("event=report_failed lease={} error=\"{}\"", lease_id, s.ToString());
  }
}

void Session::ReportFailure(const std::string& lease_id, const std::string& reason, bool retryable,
                            const std::optional<TrialResult>& partial) {
  hwnas::v1::ReportFailureRequest req;
  req.set_worker_id(worker_id_);
  req.set_lease_id(lease_id);
  req.set_reason(reason.substr(0, 4000));
  req.set_retryable(retryable);
  if (partial) *req.mutable_partial() = ToProto(*partial);
  hwnas::v1::ReportFailureResponse resp;
  absl::Status s = WithRetries("ReportFailure", options_.report_patience, [&] {
    grpc::ClientContext ctx;
    Prepare(&ctx, options_.rpc_timeout);
    return FromGrpc(stub_->ReportFailure(&ctx, req, &resp));
  });
  if (!s.ok()) {
    spdlog::error("event=report_failed lease={} error=\"{}\"", lease_id, s.ToString());
  } else {
    spdlog::info("event=trial_failure_reported trial={} requeued={} reason=\"{}\"",
                 resp.trial().number(), resp.requeued(), reason);
  }
}

void Session::HandBack(const hwnas::v1::AcquireTrialResponse& resp) {
  ReportFailure(resp.lease_id(), "worker shutting down", /*retryable=*/true, std::nullopt);
  for (const hwnas::v1::TrialLease& more : resp.more()) {
    ReportFailure(more.lease_id(), "worker shutting down", /*retryable=*/true, std::nullopt);
  }
}

absl::StatusOr<TrialResult> Session::RunTable(const hwnas::v1::TrialAssignment& a) {
  if (!evaluator_ || evaluator_spec_ != a.spec_yaml()) {
    evaluator_.reset();
    HWNAS_ASSIGN_OR_RETURN(YamlSection root, YamlSection::Parse(a.spec_yaml()));
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
    evaluator_spec_ = a.spec_yaml();
  }
  return evaluator_->Evaluate(FromProto(a.architecture()));
}

TrialOutcome Session::RunTraining(const std::string& lease_id, const hwnas::v1::TrialAssignment& a,
                                  Ending* ending, std::string* failure) {
  TrialOutcome outcome;
  *ending = Ending::kFailed;
  if (runner_spec_ != a.spec_yaml() || !runner_) {
    runner_.reset();
    absl::StatusOr<WorkerSpec> spec = ParseWorkerSpec(a.spec_yaml());
    if (!spec.ok()) {
      *failure = absl::StrCat("spec: ", spec.status().message());
      return outcome;
    }
    spec->training.threads = std::max(1, options_.threads);
    absl::StatusOr<std::unique_ptr<TrialRunner>> runner = TrialRunner::Create(
        *std::move(spec), RunnerOptions{shared_dir_, options_.profile_search_path});
    if (!runner.ok()) {
      *failure = std::string(runner.status().message());
      return outcome;
    }
    runner_ = *std::move(runner);
    runner_spec_ = a.spec_yaml();
  }

  // Heartbeats run beside training; epoch reports go through the callback.
  // A cancelled search, a lost lease or SIGTERM interrupts training between
  // two batches (the heartbeat thread watches for them), so the worker
  // neither trains on for the rest of a long epoch nor keeps a shutdown
  // waiting; early stopping still ends at an epoch boundary with metrics.
  std::atomic<bool> stop_early{false}, cancelled{false}, lease_lost{false}, done{false};
  InterruptFlag interrupt{false};
  auto react = [&](const absl::StatusOr<hwnas::v1::ReportProgressResponse::Action>& action) {
    if (!action.ok()) {
      if (action.status().code() == absl::StatusCode::kFailedPrecondition ||
          action.status().code() == absl::StatusCode::kPermissionDenied) {
        lease_lost = true;
      }
      return;
    }
    if (*action == hwnas::v1::ReportProgressResponse::ACTION_STOP_EARLY) stop_early = true;
    if (*action == hwnas::v1::ReportProgressResponse::ACTION_CANCELLED) cancelled = true;
    if (cancelled || lease_lost) interrupt = true;
  };
  std::thread heartbeat([&] {
    while (!done.load()) {
      const absl::Time next = absl::Now() + heartbeat_;
      while (!done.load() && absl::Now() < next) {
        if (stop_->load()) interrupt = true;
        absl::SleepFor(absl::Milliseconds(20));
      }
      if (done.load()) break;
      react(Progress(lease_id, std::nullopt));
    }
  });
  ProgressCallback progress = [&](const EpochMetrics& m) {
    react(Progress(lease_id, m));
    const bool stop = stop_early || cancelled || lease_lost || stop_->load();
    return stop ? ProgressDecision::kStop : ProgressDecision::kContinue;
  };
  outcome = runner_->Run(FromProto(a.architecture()), progress, &interrupt);
  done = true;
  heartbeat.join();

  if (lease_lost || cancelled) {
    *ending = Ending::kDrop;
  } else if (stop_->load() && !(outcome.state == TrialState::kSucceeded)) {
    *ending = Ending::kHandBack;
  } else if (outcome.state == TrialState::kFailed || outcome.state == TrialState::kCancelled) {
    *failure = outcome.result.error;
    *ending = Ending::kFailed;
  } else {
    *ending = Ending::kReport;
  }
  return outcome;
}

void Session::RunTableBatch(
    const std::vector<std::pair<std::string, const hwnas::v1::TrialAssignment*>>& leases) {
  hwnas::v1::ReportResultsRequest req;
  req.set_worker_id(worker_id_);
  int failed = 0;
  for (const auto& [lease_id, a] : leases) {
    if (a->spec_yaml() != evaluator_spec_ && !IsTableSpec(a->spec_yaml())) {
      // Not from this server (it batches table trials only), but harmless.
      RunTrial(lease_id, *a);
      continue;
    }
    absl::StatusOr<TrialResult> result = RunTable(*a);
    if (!result.ok()) {
      ++failed;
      ReportFailure(lease_id, std::string(result.status().message()), false, std::nullopt);
      continue;
    }
    hwnas::v1::LeaseResult* r = req.add_results();
    r->set_lease_id(lease_id);
    *r->mutable_result() = ToProto(*result);
  }
  if (req.results().empty()) return;
  hwnas::v1::ReportResultsResponse resp;
  absl::Status s = WithRetries("ReportResults", options_.report_patience, [&] {
    grpc::ClientContext ctx;
    Prepare(&ctx, options_.rpc_timeout);
    return FromGrpc(stub_->ReportResults(&ctx, req, &resp));
  });
  if (!s.ok()) {
    spdlog::error("event=report_failed leases={} first_lease={} error=\"{}\"", req.results_size(),
                  req.results(0).lease_id(), s.ToString());
    return;
  }
  int stored = 0, duplicates = 0, refused = 0;
  std::string first_refusal;
  for (const hwnas::v1::ReportResultsEntry& e : resp.entries()) {
    if (e.code() != 0) {
      // A lease lost meanwhile (expired, or its search cancelled): the
      // server has requeued or dropped that trial.
      if (refused++ == 0) first_refusal = e.message();
    } else if (e.duplicate()) {
      ++duplicates;
    } else {
      ++stored;
    }
  }
  // One line per batch: a line per table trial would be thousands a second.
  spdlog::info(
      "event=trials_reported search={} trials={} stored={} duplicates={} refused={} "
      "failed={}{}",
      leases.front().second->search_id(), leases.size(), stored, duplicates, refused, failed,
      first_refusal.empty() ? "" : absl::StrCat(" first_refusal=\"", first_refusal, "\""));
}

void Session::RunTrial(const std::string& lease_id, const hwnas::v1::TrialAssignment& a) {
  spdlog::info("event=trial_started search={} trial={} attempt={} arch=\"{}\"", a.search_id(),
               a.trial_number(), a.attempt(), a.architecture().readable());
  if (IsTableSpec(a.spec_yaml())) {
    absl::StatusOr<TrialResult> result = RunTable(a);
    if (result.ok()) {
      ReportResult(lease_id, *result, false);
    } else {
      ReportFailure(lease_id, std::string(result.status().message()), false, std::nullopt);
    }
    return;
  }
  Ending ending;
  std::string failure;
  TrialOutcome outcome = RunTraining(lease_id, a, &ending, &failure);
  switch (ending) {
    case Ending::kReport:
      ReportResult(lease_id, outcome.result, outcome.state == TrialState::kEarlyStopped);
      break;
    case Ending::kFailed:
      ReportFailure(lease_id, failure, false, outcome.result);
      break;
    case Ending::kHandBack:
      ReportFailure(lease_id, "worker shutting down", /*retryable=*/true, std::nullopt);
      break;
    case Ending::kDrop:
      spdlog::info("event=trial_dropped trial={} reason=cancelled_or_lease_lost", a.trial_number());
      break;
  }
}

}  // namespace

absl::Status Serve(const ServeOptions& options, const std::atomic<bool>* stop) {
  Session session(options, stop);
  return session.Run();
}

}  // namespace hwnas::worker
