#include "bench/server/load_generator.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <optional>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/blocking_counter.h"
#include "common/stats.h"
#include "common/yaml_fields.h"
#include "hwnas/v1/worker_service.grpc.pb.h"
#include "proto/convert.h"
#include "spec/evaluator.h"

namespace hwnas::bench {
namespace {

using ::hwnas::proto::FromProto;
using ::hwnas::proto::ToProto;

std::string CodeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::CANCELLED:
      return "CANCELLED";
    case grpc::StatusCode::UNKNOWN:
      return "UNKNOWN";
    case grpc::StatusCode::INVALID_ARGUMENT:
      return "INVALID_ARGUMENT";
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return "DEADLINE_EXCEEDED";
    case grpc::StatusCode::NOT_FOUND:
      return "NOT_FOUND";
    case grpc::StatusCode::ALREADY_EXISTS:
      return "ALREADY_EXISTS";
    case grpc::StatusCode::PERMISSION_DENIED:
      return "PERMISSION_DENIED";
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return "RESOURCE_EXHAUSTED";
    case grpc::StatusCode::FAILED_PRECONDITION:
      return "FAILED_PRECONDITION";
    case grpc::StatusCode::ABORTED:
      return "ABORTED";
    case grpc::StatusCode::UNAVAILABLE:
      return "UNAVAILABLE";
    case grpc::StatusCode::INTERNAL:
      return "INTERNAL";
    case grpc::StatusCode::UNAUTHENTICATED:
      return "UNAUTHENTICATED";
    default:
      return absl::StrCat("CODE_", static_cast<int>(code));
  }
}

int64_t MicrosSince(absl::Time start) { return absl::ToInt64Microseconds(absl::Now() - start); }

}  // namespace

int64_t FleetStats::ErrorCount() const {
  int64_t n = 0;
  for (const auto& [k, v] : errors) n += v;
  return n;
}

double Percentile(const std::vector<int64_t>& values, double p) {
  return NearestRankQuantile(std::vector<double>(values.begin(), values.end()), p / 100.0);
}

struct LoadGenerator::Worker {
  int index = 0;
  std::unique_ptr<hwnas::v1::WorkerService::Stub> stub;
  std::string worker_id;
  absl::Status registered;
  absl::Mutex mu;
  FleetStats stats ABSL_GUARDED_BY(mu);
};

LoadGenerator::LoadGenerator(LoadGeneratorOptions options) : options_(std::move(options)) {}

LoadGenerator::~LoadGenerator() { Stop(); }

absl::Status LoadGenerator::Start(int workers) {
  Stop();
  stop_ = false;
  finished_ = 0;
  workers_.clear();
  absl::BlockingCounter registered(workers);
  for (int i = 0; i < workers; ++i) {
    auto w = std::make_unique<Worker>();
    w->index = i;
    grpc::ChannelArguments args;
    // One connection per worker, as with separate worker processes.
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 20000);
    w->stub = hwnas::v1::WorkerService::NewStub(
        grpc::CreateCustomChannel(options_.target, grpc::InsecureChannelCredentials(), args));
    workers_.push_back(std::move(w));
  }
  for (int i = 0; i < workers; ++i) {
    Worker* w = workers_[i].get();
    threads_.emplace_back([this, w, &registered] {
      hwnas::v1::RegisterWorkerRequest req;
      req.set_name(absl::StrCat(options_.name_prefix, "/", w->index));
      hwnas::v1::WorkerCapabilities* c = req.mutable_capabilities();
      c->set_device_kind("cpu");
      c->set_threads(1);
      c->set_version("bench");
      c->set_hostname("localhost");
      c->add_search_spaces("nb201");
      c->add_evaluators(std::string(spec::EvaluatorKindName(spec::EvaluatorKind::kTable)));
      c->add_datasets(spec::kTableDataset);
      hwnas::v1::RegisterWorkerResponse resp;
      grpc::Status s;
      // Like hwnas-worker, retry a connection that fails at first: hundreds
      // of channels connecting at once now and then see a transient
      // UNAVAILABLE (once, "No such file or directory" from a loopback
      // connect), which is not the server's fault.
      for (int attempt = 1;; ++attempt) {
        grpc::ClientContext ctx;
        ctx.set_deadline(absl::ToChronoTime(absl::Now() + options_.rpc_timeout));
        ctx.AddMetadata("authorization", absl::StrCat("Bearer ", options_.worker_token));
        s = w->stub->RegisterWorker(&ctx, req, &resp);
        if (s.error_code() != grpc::StatusCode::UNAVAILABLE || attempt >= 5 || stop_) break;
        absl::SleepFor(absl::Milliseconds(100 * attempt));
      }
      if (s.ok()) {
        w->worker_id = resp.worker_id();
      } else {
        w->registered = absl::UnavailableError(
            absl::StrCat("RegisterWorker ", CodeName(s.error_code()), ": ", s.error_message()));
      }
      registered.DecrementCount();
      if (s.ok()) Run(w);
    });
  }
  registered.Wait();
  for (const auto& w : workers_) {
    if (!w->registered.ok()) {
      absl::Status s = w->registered;
      Stop();
      return s;
    }
  }
  return absl::OkStatus();
}

void LoadGenerator::Stop() {
  stop_ = true;
  for (std::thread& t : threads_) t.join();
  threads_.clear();
}

FleetStats LoadGenerator::Snapshot() {
  FleetStats out;
  for (const auto& w : workers_) {
    absl::MutexLock lock(&w->mu);
    const FleetStats& s = w->stats;
    out.acquire_us.insert(out.acquire_us.end(), s.acquire_us.begin(), s.acquire_us.end());
    out.report_us.insert(out.report_us.end(), s.report_us.begin(), s.report_us.end());
    out.finished_at_us.insert(out.finished_at_us.end(), s.finished_at_us.begin(),
                              s.finished_at_us.end());
    out.empty_polls += s.empty_polls;
    out.leases += s.leases;
    out.duplicates += s.duplicates;
    for (const auto& [k, v] : s.errors) out.errors[k] += v;
    for (const auto& [k, v] : s.first_error) out.first_error.emplace(k, v);
  }
  return out;
}

void LoadGenerator::Run(Worker* w) {
  // Evaluators per search: the spec is parsed once per search, as a
  // long-lived worker would cache it.
  absl::flat_hash_map<int64_t, std::optional<controller::TableEvaluator>> evaluators;
  auto error = [w](absl::string_view rpc, const grpc::Status& s) {
    const std::string key = absl::StrCat(rpc, " ", CodeName(s.error_code()));
    absl::MutexLock lock(&w->mu);
    w->stats.errors[key]++;
    w->stats.first_error.emplace(key, s.error_message());
  };
  auto evaluate = [&](const hwnas::v1::TrialAssignment& a) -> absl::StatusOr<TrialResult> {
    auto it = evaluators.find(a.search_id());
    if (it == evaluators.end()) {
      std::optional<controller::TableEvaluator> ev;
      absl::StatusOr<YamlSection> root = YamlSection::Parse(a.spec_yaml());
      if (!root.ok()) return root.status();
      absl::StatusOr<YamlSection> section = root->Child("evaluator");
      if (!section.ok()) return section.status();
      absl::StatusOr<spec::EvaluatorOptions> options = spec::ParseEvaluatorOptions(*section);
      if (!options.ok()) return options.status();
      absl::StatusOr<controller::TableEvaluator> created =
          controller::TableEvaluator::Create(options_.table, options->dataset, options->device);
      if (!created.ok()) return created.status();
      it = evaluators.emplace(a.search_id(), *std::move(created)).first;
    }
    return it->second->Evaluate(FromProto(a.architecture()));
  };

  auto authorize = [this](grpc::ClientContext* ctx) {
    ctx->set_deadline(absl::ToChronoTime(absl::Now() + options_.rpc_timeout));
    ctx->AddMetadata("authorization", absl::StrCat("Bearer ", options_.worker_token));
  };
  // Sends a report, retried as hwnas-worker does (idempotent per lease) a
  // bounded number of times; every attempt is timed and every failed one is
  // counted as an error. `call` sends it and, when it succeeds, counts what
  // the answer says.
  auto report_with_retries = [&](absl::string_view rpc,
                                 const std::function<grpc::Status(grpc::ClientContext*)>& call) {
    for (int attempt = 0; attempt < 5; ++attempt) {
      grpc::ClientContext rctx;
      authorize(&rctx);
      const absl::Time rstart = absl::Now();
      grpc::Status rs = call(&rctx);
      const int64_t report_us = MicrosSince(rstart);
      {
        absl::MutexLock lock(&w->mu);
        w->stats.report_us.push_back(report_us);
      }
      if (rs.ok()) return;
      error(rpc, rs);
      const bool retryable = rs.error_code() == grpc::StatusCode::UNAVAILABLE ||
                             rs.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED ||
                             rs.error_code() == grpc::StatusCode::ABORTED;
      if (!retryable) return;
      absl::SleepFor(absl::Milliseconds(100));
    }
  };
  while (!stop_.load()) {
    hwnas::v1::AcquireTrialRequest req;
    req.set_worker_id(w->worker_id);
    *req.mutable_wait() = ToProto(options_.acquire_wait);
    if (options_.batch > 1) req.set_max_trials(options_.batch);
    hwnas::v1::AcquireTrialResponse lease;
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + options_.acquire_wait + absl::Seconds(10)));
    ctx.AddMetadata("authorization", absl::StrCat("Bearer ", options_.worker_token));
    const absl::Time start = absl::Now();
    grpc::Status s = w->stub->AcquireTrial(&ctx, req, &lease);
    const int64_t acquire_us = MicrosSince(start);
    if (!s.ok()) {
      error("AcquireTrial", s);
      absl::SleepFor(absl::Milliseconds(100));
      continue;
    }
    if (lease.lease_id().empty()) {
      absl::MutexLock lock(&w->mu);
      w->stats.empty_polls++;
      continue;
    }
    std::vector<std::pair<std::string, const hwnas::v1::TrialAssignment*>> leased;
    leased.emplace_back(lease.lease_id(), &lease.assignment());
    for (const hwnas::v1::TrialLease& more : lease.more()) {
      leased.emplace_back(more.lease_id(), &more.assignment());
    }
    {
      absl::MutexLock lock(&w->mu);
      w->stats.acquire_us.push_back(acquire_us);
      w->stats.leases += static_cast<int64_t>(leased.size());
    }
    std::vector<std::pair<std::string, TrialResult>> results;
    for (const auto& [lease_id, assignment] : leased) {
      absl::StatusOr<TrialResult> result = evaluate(*assignment);
      if (result.ok()) {
        results.emplace_back(lease_id, *std::move(result));
        continue;
      }
      // The server handed out something a table worker cannot answer: count
      // it as an error (a bug in the setup), and give the trial back.
      error("Evaluate", grpc::Status(grpc::StatusCode::INTERNAL, result.status().ToString()));
      hwnas::v1::ReportFailureRequest fail;
      fail.set_worker_id(w->worker_id);
      fail.set_lease_id(lease_id);
      fail.set_reason(std::string(result.status().message()));
      hwnas::v1::ReportFailureResponse fail_resp;
      grpc::ClientContext fctx;
      authorize(&fctx);
      if (grpc::Status fs = w->stub->ReportFailure(&fctx, fail, &fail_resp); !fs.ok()) {
        error("ReportFailure", fs);
      }
    }
    if (results.empty()) continue;
    if (options_.batch <= 1) {
      hwnas::v1::ReportResultRequest report;
      report.set_worker_id(w->worker_id);
      report.set_lease_id(results.front().first);
      *report.mutable_result() = ToProto(results.front().second);
      report_with_retries("ReportResult", [&](grpc::ClientContext* rctx) {
        hwnas::v1::ReportResultResponse resp;
        grpc::Status rs = w->stub->ReportResult(rctx, report, &resp);
        if (!rs.ok()) return rs;
        absl::MutexLock lock(&w->mu);
        if (resp.duplicate()) {
          w->stats.duplicates++;
        } else {
          w->stats.finished_at_us.push_back(absl::ToUnixMicros(absl::Now()));
          finished_++;
        }
        return rs;
      });
      continue;
    }
    hwnas::v1::ReportResultsRequest report;
    report.set_worker_id(w->worker_id);
    for (auto& [lease_id, result] : results) {
      hwnas::v1::LeaseResult* r = report.add_results();
      r->set_lease_id(lease_id);
      *r->mutable_result() = ToProto(result);
    }
    report_with_retries("ReportResults", [&](grpc::ClientContext* rctx) {
      hwnas::v1::ReportResultsResponse resp;
      grpc::Status rs = w->stub->ReportResults(rctx, report, &resp);
      if (!rs.ok()) return rs;
      const int64_t now_us = absl::ToUnixMicros(absl::Now());
      absl::MutexLock lock(&w->mu);
      for (const hwnas::v1::ReportResultsEntry& e : resp.entries()) {
        if (e.code() != 0) {
          const std::string key = absl::StrCat("ReportResults entry ",
                                               CodeName(static_cast<grpc::StatusCode>(e.code())));
          w->stats.errors[key]++;
          w->stats.first_error.emplace(key, e.message());
        } else if (e.duplicate()) {
          w->stats.duplicates++;
        } else {
          w->stats.finished_at_us.push_back(now_us);
          finished_++;
        }
      }
      return rs;
    });
  }
}

}  // namespace hwnas::bench
