#include "server/server.h"

#include <google/protobuf/stubs/logging.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/support/server_interceptor.h>

#include <fstream>
#include <sstream>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "db/store.h"
#include "server/auth.h"
#include "server/services.h"
#include "spdlog/spdlog.h"

namespace hwnas::server {
namespace {

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
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
  std::unique_ptr<MetricsHttpServer> http;
  absl::Mutex mu;
  bool shut_down ABSL_GUARDED_BY(mu) = false;
};

absl::StatusOr<std::unique_ptr<HwnasServer>> HwnasServer::Start(ServerOptions options) {
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  HWNAS_ASSIGN_OR_RETURN(impl->store,
                         db::Store::Open(db::StoreOptions{.connection_string = options.database,
                                                          .pool_size = options.db_pool_size}));
  if (options.migrate) {
    HWNAS_RETURN_IF_ERROR(impl->store->Migrate());
  }
  HWNAS_ASSIGN_OR_RETURN(int version, impl->store->SchemaVersion());
  if (version != db::Store::LatestSchemaVersion()) {
    return absl::FailedPreconditionError(
        absl::StrCat("database schema is at version ", version, ", this server needs ",
                     db::Store::LatestSchemaVersion(),
                     version < db::Store::LatestSchemaVersion() ? " (start once with --migrate)"
                                                                : " (upgrade hwnas-server)"));
  }
  impl->executor = std::make_unique<Executor>(options.threads);
  impl->auth = std::make_unique<Authenticator>(impl->store.get());
  impl->coordinator = std::make_unique<Coordinator>(impl->store.get(), impl->executor.get(),
                                                    &impl->metrics, options.coordinator);
  HWNAS_RETURN_IF_ERROR(impl->coordinator->Start());
  impl->search_service = std::make_unique<SearchServiceImpl>(
      impl->coordinator.get(), impl->auth.get(), impl->executor.get(), &impl->metrics);
  impl->worker_service = std::make_unique<WorkerServiceImpl>(
      impl->coordinator.get(), impl->auth.get(), impl->executor.get(), &impl->metrics);

  std::shared_ptr<grpc::ServerCredentials> credentials = grpc::InsecureServerCredentials();
  if (!options.tls_cert_file.empty() || !options.tls_key_file.empty()) {
    if (options.tls_cert_file.empty() || options.tls_key_file.empty()) {
      return absl::InvalidArgumentError("TLS needs both --tls-cert and --tls-key");
    }
    grpc::SslServerCredentialsOptions ssl;
    HWNAS_ASSIGN_OR_RETURN(std::string cert, ReadFile(options.tls_cert_file));
    HWNAS_ASSIGN_OR_RETURN(std::string key, ReadFile(options.tls_key_file));
    ssl.pem_key_cert_pairs.push_back({key, cert});
    credentials = grpc::SslServerCredentials(ssl);
  }
  grpc::EnableDefaultHealthCheckService(true);
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(options.listen_address, credentials, &port);
  builder.RegisterService(impl->search_service.get());
  builder.RegisterService(impl->worker_service.get());
  builder.SetMaxReceiveMessageSize(8 << 20);
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> interceptors;
  interceptors.push_back(std::make_unique<UnparseableRequestInterceptorFactory>());
  builder.experimental().SetInterceptorCreators(std::move(interceptors));
  google::protobuf::SetLogHandler(&ProtobufLogToSpdlog);
  impl->grpc_server = builder.BuildAndStart();
  if (!impl->grpc_server || port == 0) {
    impl->coordinator->Stop();
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", options.listen_address, " (address in use?)"));
  }
  if (!options.metrics_address.empty()) {
    Metrics* metrics = &impl->metrics;
    HWNAS_ASSIGN_OR_RETURN(impl->http, MetricsHttpServer::Start(options.metrics_address, [metrics] {
                             return metrics->Render();
                           }));
  }
  auto server = std::unique_ptr<HwnasServer>(new HwnasServer(std::move(impl)));
  server->port_ = port;
  spdlog::info("event=server_started address={} port={} metrics_port={} database=\"{}\"",
               options.listen_address, port, server->metrics_port(),
               RedactSecrets(options.database));
  return server;
}

HwnasServer::HwnasServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HwnasServer::~HwnasServer() { Shutdown(absl::Seconds(1)); }

int HwnasServer::metrics_port() const { return impl_->http ? impl_->http->port() : 0; }

void HwnasServer::Wait() { impl_->grpc_server->Wait(); }

void HwnasServer::Shutdown(absl::Duration grace) {
  {
    absl::MutexLock lock(&impl_->mu);
    if (impl_->shut_down) return;
    impl_->shut_down = true;
  }
  // Answer parked long-polls first so the gRPC shutdown does not wait on them.
  impl_->coordinator->Stop();
  impl_->grpc_server->Shutdown(std::chrono::system_clock::now() + absl::ToChronoSeconds(grace));
  impl_->http.reset();
  impl_->executor.reset();  // Drains queued handler work.
  spdlog::info("event=server_stopped");
}

Coordinator& HwnasServer::coordinator() { return *impl_->coordinator; }

std::string HwnasServer::RenderMetrics() const { return impl_->metrics.Render(); }

}  // namespace hwnas::server
