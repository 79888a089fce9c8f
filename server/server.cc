#include "server/server.h"

#include <google/protobuf/stubs/logging.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/support/server_interceptor.h>

#include <thread>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "common/log.h"
#include "common/message_limits.h"
#include "common/status_macros.h"
#include "db/dashboard_queries.h"
#include "db/notify_listener.h"
#include "db/postgres_store.h"
#include "server/auth.h"
#include "server/dashboard_api.h"
#include "server/http_server.h"
#include "server/services.h"
#include "spdlog/spdlog.h"

namespace hwnas::server {
namespace {

// What keeps the database from being used, in a word an operator can act
// on; the log line beside it has libpq's message (passwords redacted).
std::string DatabaseProblem(const absl::Status& s) {
  const absl::string_view m = s.message();
  if (s.code() == absl::StatusCode::kFailedPrecondition) return "schema";
  if (absl::StrContains(m, "password authentication failed") ||
      absl::StrContains(m, "no password supplied") ||
      absl::StrContains(m, "authentication failed")) {
    return "wrong_password";
  }
  if (absl::StrContains(m, "database") && absl::StrContains(m, "does not exist")) {
    return "missing_database";
  }
  if (absl::StrContains(m, "role") && absl::StrContains(m, "does not exist")) {
    return "missing_user";
  }
  if (absl::StrContains(m, "Connection refused") || absl::StrContains(m, "timeout expired") ||
      absl::StrContains(m, "could not translate host name") ||
      absl::StrContains(m, "No route to host") || absl::StrContains(m, "Network is unreachable") ||
      absl::StrContains(m, "the database system is starting up") ||
      absl::StrContains(m, "the database system is shutting down") ||
      absl::StrContains(m, "lost the database connection") ||
      absl::StrContains(m, "could not connect")) {
    return "unreachable";
  }
  return "error";
}

// gRPC 1.51's callback handlers answer a request that does not parse as the
// method's message with UNIMPLEMENTED and no message, as if the method did
// not exist. This interceptor sees the failed parse (POST_RECV_MESSAGE with
// no message) and turns that answer into INVALID_ARGUMENT saying so.
class UnparseableRequestInterceptor : public grpc::experimental::Interceptor {
 public:
  explicit UnparseableRequestInterceptor(grpc::experimental::ServerRpcInfo* info)
      : method_(info->method() != nullptr ? info->method() : "") {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    using grpc::experimental::InterceptionHookPoints;
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_MESSAGE) &&
        methods->GetRecvMessage() == nullptr) {
      unparseable_ = true;
    }
    if (unparseable_ &&
        methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS) &&
        methods->GetSendStatus().error_code() == grpc::StatusCode::UNIMPLEMENTED) {
      methods->ModifySendStatus(
          grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                       absl::StrCat("the request is not a valid ", method_,
                                    " message (it does not parse as the method's protobuf)")));
    }
    methods->Proceed();
  }

 private:
  const std::string method_;
  bool unparseable_ = false;
};

class UnparseableRequestInterceptorFactory
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    return new UnparseableRequestInterceptor(info);
  }
};

// libprotobuf logs some parse problems (a string field that is not UTF-8)
// straight to stderr as "[libprotobuf ERROR ...]": a client could fill the
// server's log with them. They become debug lines; the client gets its
// INVALID_ARGUMENT.
void ProtobufLogToSpdlog(google::protobuf::LogLevel level, const char* file, int line,
                         const std::string& message) {
  if (level >= google::protobuf::LOGLEVEL_FATAL) {
    spdlog::critical("event=protobuf_log file={} line={} message=\"{}\"", file, line, message);
    return;
  }
  spdlog::debug("event=protobuf_log file={} line={} message=\"{}\"", file, line,
                absl::CEscape(message.substr(0, 200)));
}

}  // namespace

struct HwnasServer::Impl {
  ServerOptions options;
  std::unique_ptr<db::Store> store;
  Metrics metrics;
  std::unique_ptr<Executor> executor;
  std::unique_ptr<Authenticator> auth;
  std::unique_ptr<Coordinator> coordinator;
  std::unique_ptr<SearchServiceImpl> search_service;
  std::unique_ptr<WorkerServiceImpl> worker_service;
  std::unique_ptr<grpc::Server> grpc_server;
  std::unique_ptr<db::DashboardQueries> dashboard_queries;
  std::unique_ptr<DashboardApi> dashboard;
  std::unique_ptr<HttpServer> http;
  std::unique_ptr<db::NotifyListener> revocations;
  std::thread bring_up;
  mutable absl::Mutex mu;
  bool shut_down ABSL_GUARDED_BY(mu) = false;
  bool ready ABSL_GUARDED_BY(mu) = false;
  int attempts ABSL_GUARDED_BY(mu) = 0;
  // The last attempt's problem (DatabaseProblem), for /readyz.
  std::string problem ABSL_GUARDED_BY(mu) = "connecting";
  absl::Status last_error ABSL_GUARDED_BY(mu);

  // One attempt: the store answers, its schema is current (migrating it if
  // allowed), and the running searches are resumed.
  absl::Status TryBringUp() {
    if (options.migrate) HWNAS_RETURN_IF_ERROR(store->Migrate());
    HWNAS_ASSIGN_OR_RETURN(int version, store->SchemaVersion());
    if (version != db::Store::LatestSchemaVersion()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "database schema is at version ", version, ", this server needs ",
          db::Store::LatestSchemaVersion(),
          version < db::Store::LatestSchemaVersion() ? " (start once without --no-migrate)"
                                                     : " (upgrade hwnas-server)"));
    }
    return coordinator->Start();
  }

  // Tries until ready or shut down, with capped exponential backoff.
  void BringUpLoop() {
    absl::Duration delay = options.database_retry_initial;
    while (true) {
      absl::Status s = TryBringUp();
      absl::MutexLock lock(&mu);
      ++attempts;
      if (shut_down) return;
      if (s.ok()) {
        ready = true;
        auth->SetReady();
        grpc_server->GetHealthCheckService()->SetServingStatus(true);
        spdlog::info("event=server_ready attempts={}", attempts);
        return;
      }
      problem = DatabaseProblem(s);
      last_error = s;
      spdlog::warn("event=database_not_ready problem={} attempt={} retry_in={} error=\"{}\"",
                   problem, attempts, absl::FormatDuration(delay), RedactSecrets(s.message()));
      mu.AwaitWithTimeout(absl::Condition(&shut_down), delay);
      if (shut_down) return;
      delay = std::min(delay * 2, options.database_retry_max);
    }
  }

  std::string ReadinessText() const {
    absl::MutexLock lock(&mu);
    if (ready) return "ready\n";
    if (shut_down) return "not ready: shutting down\n";
    return absl::StrCat("not ready: waiting for the database (", problem,
                        "; the server log says more)\n");
  }
};

absl::StatusOr<std::unique_ptr<HwnasServer>> HwnasServer::Start(ServerOptions options) {
  std::shared_ptr<grpc::ServerCredentials> credentials = grpc::InsecureServerCredentials();
  if (!options.tls_cert_file.empty() || !options.tls_key_file.empty()) {
    if (options.tls_cert_file.empty() || options.tls_key_file.empty()) {
      return absl::InvalidArgumentError("TLS needs both --tls-cert and --tls-key");
    }
    grpc::SslServerCredentialsOptions ssl;
    HWNAS_ASSIGN_OR_RETURN(std::string cert, ReadWholeFile(options.tls_cert_file));
    HWNAS_ASSIGN_OR_RETURN(std::string key, ReadWholeFile(options.tls_key_file));
    ssl.pem_key_cert_pairs.push_back({key, cert});
    credentials = grpc::SslServerCredentials(ssl);
  }

  auto impl = std::make_unique<Impl>();
  impl->options = options;
  // Connections are made on first use: the database may come up later.
  HWNAS_ASSIGN_OR_RETURN(
      impl->store, db::PostgresStore::Open(db::StoreOptions{.connection_string = options.database,
                                                            .pool_size = options.db_pool_size,
                                                            .connect_at_open = false}));
  impl->executor = std::make_unique<Executor>(options.threads);
  impl->auth = std::make_unique<Authenticator>(impl->store.get());
  impl->auth->SetNotReady("waiting for the database");
  impl->coordinator = std::make_unique<Coordinator>(impl->store.get(), impl->executor.get(),
                                                    &impl->metrics, options.coordinator);
  impl->search_service = std::make_unique<SearchServiceImpl>(
      impl->coordinator.get(), impl->auth.get(), impl->executor.get(), &impl->metrics);
  impl->worker_service = std::make_unique<WorkerServiceImpl>(
      impl->coordinator.get(), impl->auth.get(), impl->executor.get(), &impl->metrics);

  grpc::EnableDefaultHealthCheckService(true);
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(options.listen_address, credentials, &port);
  builder.RegisterService(impl->search_service.get());
  builder.RegisterService(impl->worker_service.get());
  builder.SetMaxReceiveMessageSize(kMaxMessageBytes);
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> interceptors;
  interceptors.push_back(std::make_unique<UnparseableRequestInterceptorFactory>());
  builder.experimental().SetInterceptorCreators(std::move(interceptors));
  google::protobuf::SetLogHandler(&ProtobufLogToSpdlog);
  impl->grpc_server = builder.BuildAndStart();
  if (!impl->grpc_server || port == 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", options.listen_address, " (address in use?)"));
  }
  impl->grpc_server->GetHealthCheckService()->SetServingStatus(false);
  auto server = std::unique_ptr<HwnasServer>(new HwnasServer(std::move(impl)));
  server->port_ = port;
  Impl* raw = server->impl_.get();

  if (!options.metrics_address.empty()) {
    raw->http = std::make_unique<HttpServer>(HttpServerOptions{.address = options.metrics_address});
    // Liveness: the process serves HTTP (it does not need the database).
    raw->http->Get("/healthz", [](const HttpRequest&) { return HttpResponse{.body = "ok\n"}; });
    // Readiness: the store is open and migrated, the searches resumed.
    raw->http->Get("/readyz", [raw](const HttpRequest&) {
      std::string text = raw->ReadinessText();
      return HttpResponse{.status = absl::StartsWith(text, "ready") ? 200 : 503,
                          .body = std::move(text)};
    });
    raw->http->Get("/metrics", [raw](const HttpRequest&) {
      return HttpResponse{.content_type = "text/plain; version=0.0.4",
                          .body = raw->metrics.Render()};
    });
    // The dashboard's routes come last: its "/" prefix must not shadow these.
    Coordinator* coordinator = raw->coordinator.get();
    // Its own few connections: chart queries read every finished trial of a
    // search and must not hold the scheduler's.
    raw->dashboard_queries = std::make_unique<db::DashboardQueries>(options.database, 4);
    raw->dashboard = std::make_unique<DashboardApi>(
        DashboardDeps{
            .store = raw->store.get(),
            .queries = raw->dashboard_queries.get(),
            .auth = raw->auth.get(),
            .cancel = [coordinator](const User& user,
                                    int64_t id) { return coordinator->Cancel(user, id); },
            .enqueue =
                [coordinator](const User& user, int64_t id, const std::vector<GuidedTrial>& items) {
                  return coordinator->AddGuided(user, id, items, TrialOrigin::kEnqueued);
                }},
        DashboardOptions{.assets_dir = options.dashboard_dir});
    HWNAS_RETURN_IF_ERROR(raw->dashboard->LoadAssets());
    raw->dashboard->Register(*raw->http);
    if (absl::Status s = raw->http->Start(); !s.ok()) {
      return absl::Status(s.code(), absl::StrCat("--metrics: ", s.message()));
    }
  }

  // Revocations made through any hwnas-server (admin revoke-tokens) are
  // heard here at once; the cache's TTL bounds the others.
  Authenticator* auth = raw->auth.get();
  raw->revocations = std::make_unique<db::NotifyListener>(
      options.database, db::kTokensRevokedChannel, [auth] { auth->InvalidateAll(); });

  raw->bring_up = std::thread([raw] { raw->BringUpLoop(); });
  absl::Status fatal;
  {
    absl::MutexLock lock(&raw->mu);
    // Until the first attempt ends (or `ready_wait`): a database that is
    // there makes the server ready before Start() returns, as it used to.
    const auto first_attempt_done = [raw]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
      return raw->ready || raw->attempts > 0;
    };
    raw->mu.AwaitWithTimeout(absl::Condition(&first_attempt_done), options.ready_wait);
    // A schema newer than this binary will not get better by waiting.
    if (!raw->ready && raw->last_error.code() == absl::StatusCode::kFailedPrecondition &&
        absl::StrContains(raw->last_error.message(), "upgrade hwnas-server")) {
      fatal = raw->last_error;
    }
  }
  if (!fatal.ok()) {
    server->Shutdown(absl::Seconds(1));
    return fatal;
  }
  spdlog::info("event=server_started address={} port={} metrics_port={} ready={} database=\"{}\"",
               options.listen_address, port, server->metrics_port(), server->ready(),
               RedactSecrets(options.database));
  return server;
}

HwnasServer::HwnasServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HwnasServer::~HwnasServer() { Shutdown(absl::Seconds(1)); }

int HwnasServer::metrics_port() const { return impl_->http ? impl_->http->port() : 0; }

bool HwnasServer::ready() const {
  absl::MutexLock lock(&impl_->mu);
  return impl_->ready;
}

void HwnasServer::Wait() { impl_->grpc_server->Wait(); }

void HwnasServer::Shutdown(absl::Duration grace) {
  {
    absl::MutexLock lock(&impl_->mu);
    if (impl_->shut_down) return;
    impl_->shut_down = true;
    impl_->ready = false;
  }
  // The bring-up may be in Coordinator::Start: let it finish first.
  if (impl_->bring_up.joinable()) impl_->bring_up.join();
  // Answer parked long-polls first so the gRPC shutdown does not wait on them.
  impl_->coordinator->Stop();
  impl_->grpc_server->Shutdown(std::chrono::system_clock::now() + absl::ToChronoSeconds(grace));
  impl_->http.reset();
  impl_->revocations.reset();
  impl_->executor.reset();  // Drains queued handler work.
  spdlog::info("event=server_stopped");
}

Coordinator& HwnasServer::coordinator() { return *impl_->coordinator; }

std::string HwnasServer::RenderMetrics() const { return impl_->metrics.Render(); }

}  // namespace hwnas::server
