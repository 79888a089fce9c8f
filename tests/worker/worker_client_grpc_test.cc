// The gRPC WorkerClient against an in-process fake WorkerService on a
// loopback port (real gRPC, canned answers): what each call sends, how each
// answer becomes domain structs, status codes, and a long-poll cancelled by
// the worker's stop flag.
#include "worker/worker_client_grpc.h"

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "gtest/gtest.h"
#include "hwnas/v1/worker_service.grpc.pb.h"
#include "proto/convert.h"

namespace hwnas::worker {
namespace {

namespace v1 = ::hwnas::v1;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::SizeIs;

constexpr char kToken[] = "hwn_worker_token";

class FakeWorkerService final : public v1::WorkerService::Service {
 public:
  grpc::Status RegisterWorker(grpc::ServerContext* ctx, const v1::RegisterWorkerRequest* req,
                              v1::RegisterWorkerResponse* resp) override {
    if (auto s = Auth(ctx); !s.ok()) return s;
    absl::MutexLock l(&mu_);
    register_ = *req;
    resp->set_worker_id("w-42");
    *resp->mutable_heartbeat_interval() = proto::ToProto(absl::Seconds(3));
    return grpc::Status::OK;
  }

  grpc::Status AcquireTrial(grpc::ServerContext* ctx, const v1::AcquireTrialRequest* req,
                            v1::AcquireTrialResponse* resp) override {
    if (auto s = Auth(ctx); !s.ok()) return s;
    {
      absl::MutexLock l(&mu_);
      acquire_ = *req;
      ++acquires_;
    }
    if (req->worker_id() == "hold") {
      // A long-poll with no work: only the client's cancel ends it early.
      while (!ctx->IsCancelled()) absl::SleepFor(absl::Milliseconds(5));
      absl::MutexLock l(&mu_);
      held_call_cancelled_ = true;
      return grpc::Status(grpc::StatusCode::CANCELLED, "client cancelled");
    }
    if (req->worker_id() == "idle") return grpc::Status::OK;  // No lease.
    if (req->worker_id() == "forgotten") {
      return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, "worker is not registered");
    }
    resp->set_lease_id("L1");
    *resp->mutable_lease_expires_at() = proto::ToProto(absl::FromUnixSeconds(1000));
    FillAssignment(1, resp->mutable_assignment());
    for (int i = 2; i <= req->max_trials(); ++i) {
      v1::TrialLease* more = resp->add_more();
      more->set_lease_id("L" + std::to_string(i));
      *more->mutable_lease_expires_at() = proto::ToProto(absl::FromUnixSeconds(1000 + i));
      FillAssignment(i, more->mutable_assignment());
    }
    return grpc::Status::OK;
  }

  grpc::Status ReportProgress(grpc::ServerContext* ctx, const v1::ReportProgressRequest* req,
                              v1::ReportProgressResponse* resp) override {
    if (auto s = Auth(ctx); !s.ok()) return s;
    absl::MutexLock l(&mu_);
    progress_ = *req;
    if (req->lease_id() == "lost") {
      return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, "lease lost expired");
    }
    if (req->lease_id() == "stop") {
      resp->set_action(v1::ReportProgressResponse::ACTION_STOP_EARLY);
    } else if (req->lease_id() == "cancel") {
      resp->set_action(v1::ReportProgressResponse::ACTION_CANCELLED);
    } else {
      resp->set_action(v1::ReportProgressResponse::ACTION_CONTINUE);
    }
    return grpc::Status::OK;
  }

  grpc::Status ReportResult(grpc::ServerContext* ctx, const v1::ReportResultRequest* req,
                            v1::ReportResultResponse* resp) override {
    if (auto s = Auth(ctx); !s.ok()) return s;
    absl::MutexLock l(&mu_);
    result_ = *req;
    resp->mutable_trial()->set_search_id(5);
    resp->mutable_trial()->set_number(17);
    resp->mutable_trial()->set_state(v1::TRIAL_STATE_EARLY_STOPPED);
    resp->set_duplicate(true);
    return grpc::Status::OK;
  }

  grpc::Status ReportResults(grpc::ServerContext* ctx, const v1::ReportResultsRequest* req,
                             v1::ReportResultsResponse* resp) override {
    if (auto s = Auth(ctx); !s.ok()) return s;
    absl::MutexLock l(&mu_);
    results_ = *req;
    for (const v1::LeaseResult& r : req->results()) {
      v1::ReportResultsEntry* e = resp->add_entries();
      if (r.lease_id() == "expired") {
        e->set_code(static_cast<int>(grpc::StatusCode::FAILED_PRECONDITION));
        e->set_message("lease expired expired");
      } else {
        e->set_duplicate(r.lease_id() == "again");
      }
    }
    return grpc::Status::OK;
  }

  grpc::Status ReportFailure(grpc::ServerContext* ctx, const v1::ReportFailureRequest* req,
                             v1::ReportFailureResponse* resp) override {
    if (auto s = Auth(ctx); !s.ok()) return s;
    absl::MutexLock l(&mu_);
    failure_ = *req;
    resp->mutable_trial()->set_number(9);
    resp->mutable_trial()->set_state(v1::TRIAL_STATE_PENDING);
    resp->set_requeued(req->retryable());
    return grpc::Status::OK;
  }

  template <typename T>
  T Get(const T& field) const {
    absl::MutexLock l(&mu_);
    return field;
  }

  mutable absl::Mutex mu_;
  v1::RegisterWorkerRequest register_ ABSL_GUARDED_BY(mu_);
  v1::AcquireTrialRequest acquire_ ABSL_GUARDED_BY(mu_);
  int acquires_ ABSL_GUARDED_BY(mu_) = 0;
  bool held_call_cancelled_ ABSL_GUARDED_BY(mu_) = false;
  v1::ReportProgressRequest progress_ ABSL_GUARDED_BY(mu_);
  v1::ReportResultRequest result_ ABSL_GUARDED_BY(mu_);
  v1::ReportResultsRequest results_ ABSL_GUARDED_BY(mu_);
  v1::ReportFailureRequest failure_ ABSL_GUARDED_BY(mu_);

 private:
  static grpc::Status Auth(grpc::ServerContext* ctx) {
    auto it = ctx->client_metadata().find("authorization");
    if (it == ctx->client_metadata().end() ||
        std::string(it->second.data(), it->second.size()) != std::string("Bearer ") + kToken) {
      return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "missing or unknown token");
    }
    return grpc::Status::OK;
  }
  static void FillAssignment(int number, v1::TrialAssignment* a) {
    a->set_search_id(5);
    a->set_trial_number(number);
    *a->mutable_architecture() =
        proto::ToProto(Architecture{"nb201", 1, {number % 5, 1, 2, 3, 4, 0}, "cell"});
    a->set_spec_yaml("evaluator: {kind: table}");
    a->set_attempt(2);
    a->set_seed(1234 + number);
    a->set_epoch_target(number);
    a->set_rung(1);
    a->set_resume_checkpoint(std::string("ck\0", 3) + std::to_string(number));
    a->set_checkpoint_wanted(number % 2 == 0);
  }
};

class GrpcWorkerClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    ASSERT_GT(port, 0);
    address_ = "127.0.0.1:" + std::to_string(port);
    client_ = Connect(kToken);
  }
  void TearDown() override {
    if (server_) server_->Shutdown();
  }

  std::unique_ptr<WorkerClient> Connect(const std::string& token) {
    GrpcWorkerClientOptions o;
    o.server = address_;
    o.token = token;
    o.rpc_timeout = absl::Seconds(10);
    absl::StatusOr<std::unique_ptr<WorkerClient>> c = NewGrpcWorkerClient(o);
    EXPECT_TRUE(c.ok()) << c.status();
    return c.ok() ? *std::move(c) : nullptr;
  }

  FakeWorkerService service_;
  std::unique_ptr<grpc::Server> server_;
  std::string address_;
  std::unique_ptr<WorkerClient> client_;
  std::atomic<bool> cancel_{false};
};

TEST_F(GrpcWorkerClientTest, RegisterSendsNameCapabilitiesAndTheToken) {
  WorkerRecord caps;
  caps.device_kind = "cpu";
  caps.threads = 2;
  caps.datasets = {"fashion_mnist", "idx"};
  caps.evaluators = {"train", "table"};
  absl::StatusOr<Registration> r = client_->Register("host/7", caps, &cancel_);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->worker_id, "w-42");
  EXPECT_EQ(r->heartbeat_interval, absl::Seconds(3));
  v1::RegisterWorkerRequest sent = service_.Get(service_.register_);
  EXPECT_EQ(sent.name(), "host/7");
  EXPECT_EQ(sent.capabilities().threads(), 2);
  EXPECT_THAT(sent.capabilities().datasets(), ElementsAre("fashion_mnist", "idx"));
  EXPECT_THAT(sent.capabilities().evaluators(), ElementsAre("train", "table"));
}

TEST_F(GrpcWorkerClientTest, AWrongTokenIsUnauthenticated) {
  std::unique_ptr<WorkerClient> stranger = Connect("hwn_not_a_token");
  absl::StatusOr<Registration> r = stranger->Register("host/7", WorkerRecord{}, &cancel_);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(r.status().message(), "missing or unknown token");
}

TEST_F(GrpcWorkerClientTest, AcquireTurnsEveryLeaseIntoDomainStructs) {
  absl::StatusOr<std::vector<TrialLease>> leases =
      client_->AcquireTrials("w-42", absl::Seconds(2), 3, &cancel_);
  ASSERT_TRUE(leases.ok()) << leases.status();
  ASSERT_THAT(*leases, SizeIs(3));
  v1::AcquireTrialRequest sent = service_.Get(service_.acquire_);
  EXPECT_EQ(sent.worker_id(), "w-42");
  EXPECT_EQ(proto::FromProto(sent.wait()), absl::Seconds(2));
  EXPECT_EQ(sent.max_trials(), 3);
  for (int i = 0; i < 3; ++i) {
    const TrialLease& l = (*leases)[i];
    EXPECT_EQ(l.lease_id, "L" + std::to_string(i + 1));
    EXPECT_EQ(l.expires_at, absl::FromUnixSeconds(1000 + (i == 0 ? 0 : i + 1)));
    EXPECT_EQ(l.assignment.search_id, 5);
    EXPECT_EQ(l.assignment.trial_number, i + 1);
    EXPECT_EQ(l.assignment.architecture.space, "nb201");
    EXPECT_EQ(l.assignment.architecture.tokens[0], (i + 1) % 5);
    EXPECT_EQ(l.assignment.spec_yaml, "evaluator: {kind: table}");
    EXPECT_EQ(l.assignment.attempt, 2);
    EXPECT_EQ(l.assignment.seed, 1234 + i + 1);
    // Multi-fidelity: the rung, its epochs and the state to resume from.
    EXPECT_EQ(l.assignment.epoch_target, i + 1);
    EXPECT_EQ(l.assignment.rung, 1);
    EXPECT_EQ(l.assignment.resume_checkpoint, std::string("ck\0", 3) + std::to_string(i + 1));
    EXPECT_EQ(l.assignment.checkpoint_wanted, (i + 1) % 2 == 0);
  }
}

TEST_F(GrpcWorkerClientTest, AcquireOfOneLeavesMaxTrialsUnsetAndNoWorkIsEmpty) {
  ASSERT_TRUE(client_->AcquireTrials("w-42", absl::Seconds(1), 1, &cancel_).ok());
  EXPECT_EQ(service_.Get(service_.acquire_).max_trials(), 0);
  absl::StatusOr<std::vector<TrialLease>> none =
      client_->AcquireTrials("idle", absl::Seconds(1), 1, &cancel_);
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_THAT(*none, IsEmpty());
  absl::StatusOr<std::vector<TrialLease>> forgotten =
      client_->AcquireTrials("forgotten", absl::Seconds(1), 1, &cancel_);
  EXPECT_EQ(forgotten.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(forgotten.status().message(), "worker is not registered");
}

TEST_F(GrpcWorkerClientTest, TheStopFlagCancelsAWaitingAcquire) {
  std::thread sigterm([this] {
    while (service_.Get(service_.acquires_) == 0) absl::SleepFor(absl::Milliseconds(5));
    absl::SleepFor(absl::Milliseconds(50));
    cancel_ = true;
  });
  // A wait far longer than the test: only the cancel ends the call.
  absl::StatusOr<std::vector<TrialLease>> r =
      client_->AcquireTrials("hold", absl::Seconds(60), 1, &cancel_);
  sigterm.join();
  EXPECT_EQ(r.status().code(), absl::StatusCode::kCancelled) << r.status();
  // The server saw the cancel too, so its long-poll ended.
  for (int i = 0; i < 200 && !service_.Get(service_.held_call_cancelled_); ++i) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_TRUE(service_.Get(service_.held_call_cancelled_));
}

TEST_F(GrpcWorkerClientTest, ProgressActionsAndALostLease) {
  EpochMetrics m;
  m.epoch = 2;
  m.values = {{"val_accuracy", 0.75}};
  absl::StatusOr<ProgressAction> a = client_->ReportProgress("w-42", "go", m);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(*a, ProgressAction::kContinue);
  v1::ReportProgressRequest sent = service_.Get(service_.progress_);
  EXPECT_EQ(sent.worker_id(), "w-42");
  ASSERT_TRUE(sent.has_metrics());
  EXPECT_EQ(proto::FromProto(sent.metrics()), m);

  EXPECT_EQ(*client_->ReportProgress("w-42", "stop", std::nullopt), ProgressAction::kStopEarly);
  EXPECT_FALSE(service_.Get(service_.progress_).has_metrics());  // A pure heartbeat.
  EXPECT_EQ(*client_->ReportProgress("w-42", "cancel", std::nullopt), ProgressAction::kCancelled);
  EXPECT_EQ(client_->ReportProgress("w-42", "lost", std::nullopt).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_F(GrpcWorkerClientTest, ResultReports) {
  TrialResult r;
  r.accuracy = 0.91;
  r.epochs = 3;
  // A rung's training state travels as bytes (zeros included).
  const std::string state("HWNASCK1\0state", 14);
  absl::StatusOr<ReportAnswer> one = client_->ReportResult("w-42", "L1", r, true, state);
  ASSERT_TRUE(one.ok()) << one.status();
  EXPECT_EQ(one->search_id, 5);
  EXPECT_EQ(one->trial_number, 17);
  EXPECT_EQ(one->state, TrialState::kEarlyStopped);
  EXPECT_TRUE(one->duplicate);
  v1::ReportResultRequest sent = service_.Get(service_.result_);
  EXPECT_EQ(sent.lease_id(), "L1");
  EXPECT_TRUE(sent.early_stopped());
  EXPECT_EQ(proto::FromProto(sent.result()), r);
  EXPECT_EQ(sent.checkpoint(), state);

  absl::StatusOr<std::vector<LeaseResultAnswer>> many = client_->ReportResults(
      "w-42", {LeaseResult{"fresh", r, false}, LeaseResult{"expired", r, false},
               LeaseResult{"again", r, false}});
  ASSERT_TRUE(many.ok()) << many.status();
  ASSERT_THAT(*many, SizeIs(3));
  EXPECT_TRUE((*many)[0].status.ok());
  EXPECT_FALSE((*many)[0].duplicate);
  EXPECT_EQ((*many)[1].status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ((*many)[1].status.message(), "lease expired expired");
  EXPECT_TRUE((*many)[2].duplicate);
  EXPECT_THAT(service_.Get(service_.results_).results(), SizeIs(3));
}

TEST_F(GrpcWorkerClientTest, FailureReports) {
  TrialResult partial;
  partial.error = "loss is NaN";
  absl::StatusOr<ReportAnswer> a =
      client_->ReportFailure("w-42", "L1", "loss is NaN", false, partial, false);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->trial_number, 9);
  EXPECT_FALSE(a->requeued);
  v1::ReportFailureRequest sent = service_.Get(service_.failure_);
  EXPECT_EQ(sent.reason(), "loss is NaN");
  EXPECT_FALSE(sent.retryable());
  EXPECT_TRUE(sent.has_partial());

  a = client_->ReportFailure("w-42", "L2", "worker shutting down", true, std::nullopt, false);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_TRUE(a->requeued);
  EXPECT_FALSE(service_.Get(service_.failure_).has_partial());
}

TEST_F(GrpcWorkerClientTest, AServerThatIsGoneIsUnavailable) {
  server_->Shutdown();
  server_.reset();
  absl::StatusOr<Registration> r = client_->Register("host/7", WorkerRecord{}, &cancel_);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable) << r.status();
}

TEST(GrpcWorkerClientOptionsTest, AnUnreadableCaFileIsNotFound) {
  GrpcWorkerClientOptions o;
  o.ca_file = "/nonexistent/ca.pem";
  absl::StatusOr<std::unique_ptr<WorkerClient>> c = NewGrpcWorkerClient(o);
  EXPECT_EQ(c.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(c.status().message(), "cannot read CA file /nonexistent/ca.pem");
}

}  // namespace
}  // namespace hwnas::worker
