// Access and input checks of the real server (in process, gRPC on port 0,
// a private PostgreSQL): what one client can do to another's workers, what
// an admin token may do on WorkerService, and what malformed or oversized
// requests get back.
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <cstdio>
#include <fstream>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "db/postgres_store.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "hwnas/v1/search_service.grpc.pb.h"
#include "hwnas/v1/worker_service.grpc.pb.h"
#include "server/server.h"
#include "tests/testing/postgres_env.h"

namespace hwnas::server {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kTableSpec[] = R"(
name: t
space: {name: nb201}
evaluator: {kind: table, dataset: cifar10, device: raspi4}
budget: {trials: 20}
)";

class SecurityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    database_ = testing::PostgresEnvironment::Get()->NewDatabase();
    absl::StatusOr<std::unique_ptr<db::Store>> store =
        db::PostgresStore::Open({.connection_string = database_, .pool_size = 2});
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
    ASSERT_TRUE(store_->Migrate().ok());
    alice_ = Token("alice", false, false);
    admin_ = Token("root", true, false);
    fleet_a_ = Token("fleet-a", false, true);
    fleet_b_ = Token("fleet-b", false, true);

    ServerOptions options;
    options.listen_address = "127.0.0.1:0";
    options.database = database_;
    options.db_pool_size = 4;
    options.metrics_address = "";
    options.threads = 8;
    absl::StatusOr<std::unique_ptr<HwnasServer>> server = HwnasServer::Start(options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    channel_ = grpc::CreateChannel(absl::StrCat("127.0.0.1:", server_->port()),
                                   grpc::InsecureChannelCredentials());
    search_ = hwnas::v1::SearchService::NewStub(channel_);
    worker_ = hwnas::v1::WorkerService::NewStub(channel_);
  }

  void TearDown() override {
    if (server_) server_->Shutdown(absl::Seconds(2));
  }

  std::string Token(const std::string& name, bool admin, bool worker) {
    absl::StatusOr<User> user = store_->CreateUser(name, admin, worker);
    EXPECT_TRUE(user.ok()) << user.status();
    if (!user.ok()) return "";
    absl::StatusOr<std::string> token = store_->IssueToken(user->id);
    EXPECT_TRUE(token.ok()) << token.status();
    return token.ok() ? *token : "";
  }

  static void Auth(grpc::ClientContext* ctx, const std::string& token) {
    ctx->AddMetadata("authorization", absl::StrCat("Bearer ", token));
    ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  }

  grpc::Status Register(const std::string& token, const std::string& name, std::string* id,
                        bool capabilities = true) {
    grpc::ClientContext ctx;
    Auth(&ctx, token);
    hwnas::v1::RegisterWorkerRequest req;
    req.set_name(name);
    if (capabilities) {
      req.mutable_capabilities()->add_search_spaces("nb201");
      req.mutable_capabilities()->add_evaluators("table");
      req.mutable_capabilities()->add_datasets("nb201-table");
    }
    hwnas::v1::RegisterWorkerResponse resp;
    grpc::Status s = worker_->RegisterWorker(&ctx, req, &resp);
    *id = resp.worker_id();
    return s;
  }

  grpc::Status Submit(const std::string& token, const std::string& yaml,
                      hwnas::v1::SubmitSearchResponse* resp) {
    grpc::ClientContext ctx;
    Auth(&ctx, token);
    hwnas::v1::SubmitSearchRequest req;
    req.set_spec_yaml(yaml);
    return search_->SubmitSearch(&ctx, req, resp);
  }

  grpc::Status Acquire(const std::string& token, const std::string& id,
                       hwnas::v1::AcquireTrialResponse* resp) {
    grpc::ClientContext ctx;
    Auth(&ctx, token);
    hwnas::v1::AcquireTrialRequest req;
    req.set_worker_id(id);
    req.mutable_wait()->set_seconds(2);
    return worker_->AcquireTrial(&ctx, req, resp);
  }

  grpc::Status Report(const std::string& token, const std::string& id, const std::string& lease,
                      double accuracy) {
    grpc::ClientContext ctx;
    Auth(&ctx, token);
    hwnas::v1::ReportResultRequest req;
    req.set_worker_id(id);
    req.set_lease_id(lease);
    req.mutable_result()->set_accuracy(accuracy);
    req.mutable_result()->mutable_latency()->set_median_ms(10);
    hwnas::v1::ReportResultResponse resp;
    return worker_->ReportResult(&ctx, req, &resp);
  }

  std::string database_;
  std::unique_ptr<db::Store> store_;
  std::string alice_, admin_, fleet_a_, fleet_b_;
  std::unique_ptr<HwnasServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<hwnas::v1::SearchService::Stub> search_;
  std::unique_ptr<hwnas::v1::WorkerService::Stub> worker_;
};

// The audit's forgery: a second fleet token registered another worker's name,
// got that worker's id, and reported a result on its lease.
TEST_F(SecurityTest, AWorkerIdBelongsToTheTokenThatRegisteredIt) {
  hwnas::v1::SubmitSearchResponse submitted;
  ASSERT_TRUE(Submit(alice_, kTableSpec, &submitted).ok());
  std::string id_a;
  ASSERT_TRUE(Register(fleet_a_, "host-1", &id_a).ok());
  hwnas::v1::AcquireTrialResponse lease;
  ASSERT_TRUE(Acquire(fleet_a_, id_a, &lease).ok());
  ASSERT_FALSE(lease.lease_id().empty());

  // The same name under another token is another worker.
  std::string id_b;
  ASSERT_TRUE(Register(fleet_b_, "host-1", &id_b).ok());
  EXPECT_NE(id_b, id_a);
  // Re-registering under the same token keeps the id (restarts resume).
  std::string again;
  ASSERT_TRUE(Register(fleet_a_, "host-1", &again).ok());
  EXPECT_EQ(again, id_a);

  // Every worker call with a worker id of another token is refused.
  grpc::Status forged = Report(fleet_b_, id_a, lease.lease_id(), 0.99);
  EXPECT_EQ(forged.error_code(), grpc::StatusCode::PERMISSION_DENIED) << forged.error_message();
  // AcquireTrial says "not registered" (a worker registers again on that).
  hwnas::v1::AcquireTrialResponse stolen;
  grpc::Status acquired = Acquire(fleet_b_, id_a, &stolen);
  EXPECT_EQ(acquired.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(acquired.error_message(), HasSubstr("not registered"));
  EXPECT_TRUE(stolen.lease_id().empty());
  {
    grpc::ClientContext ctx;
    Auth(&ctx, fleet_b_);
    hwnas::v1::ReportProgressRequest req;
    req.set_worker_id(id_a);
    req.set_lease_id(lease.lease_id());
    hwnas::v1::ReportProgressResponse resp;
    EXPECT_EQ(worker_->ReportProgress(&ctx, req, &resp).error_code(),
              grpc::StatusCode::PERMISSION_DENIED);
  }
  {
    grpc::ClientContext ctx;
    Auth(&ctx, fleet_b_);
    hwnas::v1::ReportResultsRequest req;
    req.set_worker_id(id_a);
    req.add_results()->set_lease_id(lease.lease_id());
    hwnas::v1::ReportResultsResponse resp;
    EXPECT_EQ(worker_->ReportResults(&ctx, req, &resp).error_code(),
              grpc::StatusCode::PERMISSION_DENIED);
  }
  {
    grpc::ClientContext ctx;
    Auth(&ctx, fleet_b_);
    hwnas::v1::ReportFailureRequest req;
    req.set_worker_id(id_a);
    req.set_lease_id(lease.lease_id());
    req.set_reason("forged");
    hwnas::v1::ReportFailureResponse resp;
    EXPECT_EQ(worker_->ReportFailure(&ctx, req, &resp).error_code(),
              grpc::StatusCode::PERMISSION_DENIED);
  }
  // An id nobody registered is refused the same way (no oracle for ids).
  EXPECT_EQ(Report(fleet_b_, "w-000000000000", lease.lease_id(), 0.99).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);

  // Nothing was stored; the owner still reports its own result.
  {
    grpc::ClientContext ctx;
    Auth(&ctx, alice_);
    hwnas::v1::GetTrialRequest req;
    req.set_search_id(submitted.search().id());
    req.set_number(lease.assignment().trial_number());
    hwnas::v1::Trial trial;
    ASSERT_TRUE(search_->GetTrial(&ctx, req, &trial).ok());
    EXPECT_FALSE(trial.has_result() && trial.result().accuracy() > 0.9);
  }
  EXPECT_TRUE(Report(fleet_a_, id_a, lease.lease_id(), 0.5).ok());
}

// docs/operations.md: WorkerService takes worker tokens only. An admin token
// is a person's; it is not spread over the fleet's machines.
TEST_F(SecurityTest, WorkerServiceTakesWorkerTokensOnly) {
  std::string id;
  grpc::Status admin = Register(admin_, "host-1", &id);
  EXPECT_EQ(admin.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(admin.error_message(), HasSubstr("worker token"));
  EXPECT_EQ(Register(alice_, "host-1", &id).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_TRUE(Register(fleet_a_, "host-1", &id).ok());
}

// A worker with nothing to offer yet registers (it gets no trials); and no
// SQL text reaches a client.
TEST_F(SecurityTest, AWorkerWithEmptyCapabilitiesRegisters) {
  std::string id;
  grpc::Status s = Register(fleet_a_, "bare", &id, /*capabilities=*/false);
  EXPECT_TRUE(s.ok()) << s.error_message();
  EXPECT_FALSE(id.empty());
  EXPECT_THAT(s.error_message(), Not(HasSubstr("ERROR")));
  // A name the store refuses is explained without SQL.
  grpc::Status bad = Register(fleet_a_, std::string(300, 'n'), &id);
  EXPECT_EQ(bad.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(bad.error_message(), Not(HasSubstr("ERROR:")));
}

// A 9,000-character value used to be quoted whole: the answer's metadata went
// over gRPC's 8 KiB limit and the client saw a transport error instead.
TEST_F(SecurityTest, LongValuesAreQuotedShort) {
  const std::string big(9000, 'q');
  for (const std::string& yaml :
       {absl::StrCat("name: t\nspace: {name: ", big, "}\nbudget: {trials: 2}\n"),
        absl::StrCat(kTableSpec, "strategy: {name: ", big, "}\n"),
        absl::StrCat("name: t\nspace: {name: nb201}\nbudget: {trials: ", big, "}\n"),
        absl::StrCat(kTableSpec, "? ", big, "\n: 1\n")}) {
    hwnas::v1::SubmitSearchResponse resp;
    grpc::Status s = Submit(alice_, yaml, &resp);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
    EXPECT_LT(s.error_message().size(), 600u) << s.error_message().substr(0, 300);
    EXPECT_THAT(s.error_message(), HasSubstr("9000 bytes"));
  }
}

// A spec names MCU profiles from the operator's directories; a path in a
// spec is never opened on the server, so no file's existence or contents
// show in an error.
TEST_F(SecurityTest, ASpecCannotMakeTheServerReadAFile) {
  const std::string secret = absl::StrCat(::testing::TempDir(), "/secret2.yaml");
  std::ofstream(secret) << "name: secret2\nclock_mhz: hwn_TOPSECRET123\n";
  const std::string train = R"(
name: f
space: {name: mnasnet, blocks: 2, filters: [8, 16], layers: [1, 1], strides: [1, 2],
        stem_filters: 8, head_filters: 0}
data: {dataset: fashion_mnist, train_subset: 256, val_subset: 128}
budget: {trials: 3}
)";
  for (const std::string& path :
       {secret, std::string("/no/such/file.yaml"), std::string("/etc/passwd")}) {
    hwnas::v1::SubmitSearchResponse resp;
    grpc::Status s =
        Submit(alice_,
               absl::StrCat(train, "hardware: {targets: [{name: m, mcu_profile: '", path, "'}]}\n"),
               &resp);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
    EXPECT_THAT(s.error_message(), HasSubstr("hardware.targets[0].mcu_profile"));
    EXPECT_THAT(s.error_message(), Not(HasSubstr("TOPSECRET")));
    EXPECT_THAT(s.error_message(), Not(HasSubstr("No such file")));
    EXPECT_THAT(s.error_message(), Not(HasSubstr("cannot open")));
    for (const std::string& lut : {path}) {
      grpc::Status l = Submit(
          alice_, absl::StrCat(train, "hardware: {targets: [{name: m, lut: '", lut, "'}]}\n"),
          &resp);
      EXPECT_EQ(l.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << l.error_message();
      EXPECT_THAT(l.error_message(), HasSubstr("hardware.targets[0].lut"));
      EXPECT_THAT(l.error_message(), Not(HasSubstr("No such file")));
      EXPECT_THAT(l.error_message(), Not(HasSubstr("cannot open")));
    }
  }
  std::remove(secret.c_str());
}

// Bytes that are not the method's message: INVALID_ARGUMENT with a message,
// not a bare UNIMPLEMENTED.
TEST_F(SecurityTest, UnparseableRequestsAreInvalidArgument) {
  grpc::GenericStub generic(channel_);
  // Field 1 (a string) whose length runs past the end of the message.
  const std::string garbage = "\x0a\x7f\x01\x02";
  for (const char* method :
       {"/hwnas.v1.SearchService/SubmitSearch", "/hwnas.v1.WorkerService/RegisterWorker",
        "/hwnas.v1.SearchService/WatchSearch"}) {
    grpc::ClientContext ctx;
    Auth(&ctx, alice_);
    grpc::Slice slice(garbage);
    grpc::ByteBuffer request(&slice, 1);
    grpc::ByteBuffer response;
    absl::Notification done;
    grpc::Status status;
    generic.UnaryCall(&ctx, method, grpc::StubOptions(), &request, &response, [&](grpc::Status s) {
      status = std::move(s);
      done.Notify();
    });
    done.WaitForNotification();
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
        << method << ": " << status.error_message();
    EXPECT_THAT(status.error_message(), HasSubstr("request")) << method;
  }
  // A method that does not exist stays UNIMPLEMENTED.
  grpc::ClientContext ctx;
  Auth(&ctx, alice_);
  grpc::Slice slice(std::string(""));
  grpc::ByteBuffer request(&slice, 1);
  grpc::ByteBuffer response;
  absl::Notification done;
  grpc::Status status;
  generic.UnaryCall(&ctx, "/hwnas.v1.SearchService/NoSuchMethod", grpc::StubOptions(), &request,
                    &response, [&](grpc::Status s) {
                      status = std::move(s);
                      done.Notify();
                    });
  done.WaitForNotification();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNIMPLEMENTED);
}

}  // namespace
}  // namespace hwnas::server
