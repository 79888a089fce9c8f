// The only worker file that includes gRPC and the generated stubs.
#include "worker/worker_client_grpc.h"

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <future>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "common/message_limits.h"
#include "hwnas/v1/worker_service.grpc.pb.h"
#include "proto/convert.h"
#include "proto/grpc_status.h"

namespace hwnas::worker {
namespace {

using hwnas::proto::FromGrpc;
using hwnas::proto::FromProto;
using hwnas::proto::ToProto;

TrialAssignment AssignmentFromProto(const hwnas::v1::TrialAssignment& p) {
  TrialAssignment a;
  a.search_id = p.search_id();
  a.trial_number = p.trial_number();
  a.architecture = FromProto(p.architecture());
  a.spec_yaml = p.spec_yaml();
  a.attempt = p.attempt();
  a.seed = p.seed();
  a.epoch_target = p.epoch_target();
  a.rung = p.rung();
  a.resume_checkpoint = p.resume_checkpoint();
  a.checkpoint_wanted = p.checkpoint_wanted();
  a.job = p.job();
  a.screen = p.screen();
  return a;
}

TrialLease LeaseFromProto(const std::string& lease_id, const google::protobuf::Timestamp& expires,
                          const hwnas::v1::TrialAssignment& assignment) {
  TrialLease lease;
  lease.lease_id = lease_id;
  lease.expires_at = FromProto(expires);
  lease.assignment = AssignmentFromProto(assignment);
  return lease;
}

ReportAnswer AnswerFromProto(const hwnas::v1::Trial& trial, bool duplicate, bool requeued) {
  ReportAnswer a;
  a.search_id = trial.search_id();
  a.trial_number = trial.number();
  a.state = FromProto(trial.state());
  a.duplicate = duplicate;
  a.requeued = requeued;
  return a;
}

class GrpcWorkerClient final : public WorkerClient {
 public:
  GrpcWorkerClient(GrpcWorkerClientOptions options,
                   std::unique_ptr<hwnas::v1::WorkerService::Stub> stub)
      : options_(std::move(options)), stub_(std::move(stub)) {}

  absl::StatusOr<Registration> Register(const std::string& name, const WorkerRecord& capabilities,
                                        const std::atomic<bool>* cancel) override {
    hwnas::v1::RegisterWorkerRequest req;
    req.set_name(name);
    *req.mutable_capabilities() = proto::CapabilitiesToProto(capabilities);
    hwnas::v1::RegisterWorkerResponse resp;
    grpc::ClientContext ctx;
    Prepare(&ctx, options_.rpc_timeout);
    absl::Status s = CallCancellable(&ctx, cancel, [&](auto done) {
      stub_->async()->RegisterWorker(&ctx, &req, &resp, std::move(done));
    });
    if (!s.ok()) return s;
    Registration r;
    r.worker_id = resp.worker_id();
    if (resp.has_heartbeat_interval()) r.heartbeat_interval = FromProto(resp.heartbeat_interval());
    return r;
  }

  absl::StatusOr<std::vector<TrialLease>> AcquireTrials(const std::string& worker_id,
                                                        absl::Duration wait, int max_trials,
                                                        const std::atomic<bool>* cancel) override {
    hwnas::v1::AcquireTrialRequest req;
    req.set_worker_id(worker_id);
    *req.mutable_wait() = ToProto(wait);
    if (max_trials > 1) req.set_max_trials(max_trials);
    hwnas::v1::AcquireTrialResponse resp;
    grpc::ClientContext ctx;
    Prepare(&ctx, wait + absl::Seconds(5));
    absl::Status s = CallCancellable(&ctx, cancel, [&](auto done) {
      stub_->async()->AcquireTrial(&ctx, &req, &resp, std::move(done));
    });
    if (!s.ok()) return s;
    std::vector<TrialLease> leases;
    if (resp.lease_id().empty()) return leases;  // The long-poll ended without work.
    leases.reserve(1 + resp.more_size());
    leases.push_back(LeaseFromProto(resp.lease_id(), resp.lease_expires_at(), resp.assignment()));
    for (const hwnas::v1::TrialLease& more : resp.more()) {
      leases.push_back(LeaseFromProto(more.lease_id(), more.lease_expires_at(), more.assignment()));
    }
    return leases;
  }

  absl::StatusOr<ProgressAction> ReportProgress(
      const std::string& worker_id, const std::string& lease_id,
      const std::optional<EpochMetrics>& metrics) override {
    hwnas::v1::ReportProgressRequest req;
    req.set_worker_id(worker_id);
    req.set_lease_id(lease_id);
    if (metrics) *req.mutable_metrics() = ToProto(*metrics);
    hwnas::v1::ReportProgressResponse resp;
    grpc::ClientContext ctx;
    Prepare(&ctx, options_.rpc_timeout);
    absl::Status s = FromGrpc(stub_->ReportProgress(&ctx, req, &resp));
    if (!s.ok()) return s;
    switch (resp.action()) {
      case hwnas::v1::ReportProgressResponse::ACTION_STOP_EARLY:
        return ProgressAction::kStopEarly;
      case hwnas::v1::ReportProgressResponse::ACTION_CANCELLED:
        return ProgressAction::kCancelled;
      default:
        return ProgressAction::kContinue;
    }
  }

  absl::StatusOr<ReportAnswer> ReportResult(const std::string& worker_id,
                                            const std::string& lease_id, const TrialResult& result,
                                            bool early_stopped,
                                            const std::string& checkpoint) override {
    hwnas::v1::ReportResultRequest req;
    req.set_worker_id(worker_id);
    req.set_lease_id(lease_id);
    *req.mutable_result() = ToProto(result);
    req.set_early_stopped(early_stopped);
    req.set_checkpoint(checkpoint);
    hwnas::v1::ReportResultResponse resp;
    grpc::ClientContext ctx;
    Prepare(&ctx, options_.rpc_timeout);
    absl::Status s = FromGrpc(stub_->ReportResult(&ctx, req, &resp));
    if (!s.ok()) return s;
    return AnswerFromProto(resp.trial(), resp.duplicate(), false);
  }

  absl::StatusOr<ProgressAction> ReportDnasEpoch(const std::string& worker_id,
                                                 const std::string& lease_id,
                                                 const EpochMetrics& metrics,
                                                 const std::string& checkpoint) override {
    hwnas::v1::ReportProgressRequest req;
    req.set_worker_id(worker_id);
    req.set_lease_id(lease_id);
    *req.mutable_metrics() = ToProto(metrics);
    req.set_checkpoint(checkpoint);
    hwnas::v1::ReportProgressResponse resp;
    grpc::ClientContext ctx;
    Prepare(&ctx, options_.rpc_timeout);
    absl::Status s = FromGrpc(stub_->ReportProgress(&ctx, req, &resp));
    if (!s.ok()) return s;
    return resp.action() == hwnas::v1::ReportProgressResponse::ACTION_CANCELLED
               ? ProgressAction::kCancelled
               : ProgressAction::kContinue;
  }

  absl::StatusOr<ReportAnswer> ReportDnasResult(
      const std::string& worker_id, const std::string& lease_id, const TrialResult& result,
      const std::vector<std::string>& candidates) override {
    hwnas::v1::ReportResultRequest req;
    req.set_worker_id(worker_id);
    req.set_lease_id(lease_id);
    *req.mutable_result() = ToProto(result);
    for (const std::string& c : candidates) req.add_dnas_candidates(c);
    hwnas::v1::ReportResultResponse resp;
    grpc::ClientContext ctx;
    Prepare(&ctx, options_.rpc_timeout);
    absl::Status s = FromGrpc(stub_->ReportResult(&ctx, req, &resp));
    if (!s.ok()) return s;
    return AnswerFromProto(resp.trial(), resp.duplicate(), false);
  }

  absl::StatusOr<std::vector<LeaseResultAnswer>> ReportResults(
      const std::string& worker_id, const std::vector<LeaseResult>& results) override {
    hwnas::v1::ReportResultsRequest req;
    req.set_worker_id(worker_id);
    for (const LeaseResult& r : results) {
      hwnas::v1::LeaseResult* p = req.add_results();
      p->set_lease_id(r.lease_id);
      *p->mutable_result() = ToProto(r.result);
      p->set_early_stopped(r.early_stopped);
    }
    hwnas::v1::ReportResultsResponse resp;
    grpc::ClientContext ctx;
    Prepare(&ctx, options_.rpc_timeout);
    absl::Status s = FromGrpc(stub_->ReportResults(&ctx, req, &resp));
    if (!s.ok()) return s;
    std::vector<LeaseResultAnswer> answers;
    answers.reserve(resp.entries_size());
    for (const hwnas::v1::ReportResultsEntry& e : resp.entries()) {
      LeaseResultAnswer a;
      // The entry's code is a google.rpc.Code, as grpc::StatusCode is.
      a.status = FromGrpc(grpc::Status(static_cast<grpc::StatusCode>(e.code()), e.message()));
      a.duplicate = e.duplicate();
      answers.push_back(std::move(a));
    }
    return answers;
  }

  absl::StatusOr<ReportAnswer> ReportFailure(const std::string& worker_id,
                                             const std::string& lease_id, const std::string& reason,
                                             bool retryable,
                                             const std::optional<TrialResult>& partial,
                                             bool infeasible) override {
    hwnas::v1::ReportFailureRequest req;
    req.set_worker_id(worker_id);
    req.set_lease_id(lease_id);
    req.set_reason(reason);
    req.set_retryable(retryable);
    req.set_infeasible(infeasible);
    if (partial) *req.mutable_partial() = ToProto(*partial);
    hwnas::v1::ReportFailureResponse resp;
    grpc::ClientContext ctx;
    Prepare(&ctx, options_.rpc_timeout);
    absl::Status s = FromGrpc(stub_->ReportFailure(&ctx, req, &resp));
    if (!s.ok()) return s;
    return AnswerFromProto(resp.trial(), resp.duplicate(), resp.requeued());
  }

 private:
  void Prepare(grpc::ClientContext* ctx, absl::Duration timeout) const {
    ctx->set_deadline(absl::ToChronoTime(absl::Now() + timeout));
    if (!options_.token.empty()) {
      ctx->AddMetadata("authorization", absl::StrCat("Bearer ", options_.token));
    }
  }

  // Runs one unary call through the callback API and waits for it, calling
  // TryCancel() as soon as `*cancel` is set: a long-poll (AcquireTrial waits
  // up to its `wait` for work) must not keep SIGTERM waiting.
  template <typename Start>
  static absl::Status CallCancellable(grpc::ClientContext* ctx, const std::atomic<bool>* cancel,
                                      Start start) {
    // The promise's shared state outlives whichever side finishes last.
    auto done = std::make_shared<std::promise<grpc::Status>>();
    std::future<grpc::Status> result = done->get_future();
    start([done](grpc::Status s) { done->set_value(std::move(s)); });
    bool cancelled = false;
    while (result.wait_for(std::chrono::milliseconds(50)) != std::future_status::ready) {
      if (!cancelled && cancel != nullptr && cancel->load()) {
        ctx->TryCancel();  // The callback still runs (CANCELLED); wait for it.
        cancelled = true;
      }
    }
    return FromGrpc(result.get());
  }

  const GrpcWorkerClientOptions options_;
  std::unique_ptr<hwnas::v1::WorkerService::Stub> stub_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<WorkerClient>> NewGrpcWorkerClient(
    const GrpcWorkerClientOptions& options) {
  std::shared_ptr<grpc::ChannelCredentials> creds = grpc::InsecureChannelCredentials();
  if (!options.ca_file.empty()) {
    absl::StatusOr<std::string> pem = ReadWholeFile(options.ca_file);
    if (!pem.ok()) {
      return absl::NotFoundError(absl::StrCat("cannot read CA file ", options.ca_file));
    }
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = *std::move(pem);
    creds = grpc::SslCredentials(ssl);
  }
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 20000);
  // Assignments carry checkpoints (a rung's, a dnas job's) far above gRPC's
  // 4 MiB default (common/message_limits.h).
  args.SetMaxReceiveMessageSize(kMaxMessageBytes);
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
  auto stub =
      hwnas::v1::WorkerService::NewStub(grpc::CreateCustomChannel(options.server, creds, args));
  return std::make_unique<GrpcWorkerClient>(options, std::move(stub));
}

}  // namespace hwnas::worker
