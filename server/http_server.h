// A small HTTP/1.1 listener for the server's plain-HTTP endpoints (/metrics,
// /healthz, /readyz; later the dashboard), on cpp-httplib. gRPC does not
// speak plain HTTP/1.1, so these live on their own port.
//
// Connections are served concurrently, one thread each, up to
// `max_connections` at once; further connections wait in the listen backlog
// until one ends. Every connection has an idle timeout and read/write
// timeouts, so stalled clients cost a thread for a few seconds at most and
// never hold up a probe. Thread-safe once started; handlers run on
// connection threads and must be thread-safe themselves.
#ifndef HWNAS_SERVER_HTTP_SERVER_H_
#define HWNAS_SERVER_HTTP_SERVER_H_

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace hwnas::server {

struct HttpRequest {
  std::string method;
  std::string path;
  std::multimap<std::string, std::string> params;   // Query parameters.
  std::multimap<std::string, std::string> headers;  // As sent (names as sent).
  std::string body;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  // Extra response headers (e.g. Cache-Control).
  std::vector<std::pair<std::string, std::string>> headers;
};

struct HttpServerOptions {
  // "host:port" with an IPv4 host ("localhost" and "" mean 127.0.0.1); port
  // 0 picks a free one.
  std::string address = "127.0.0.1:0";
  // Connections served at once (one thread each).
  int max_connections = 128;
  // A connection that sends no request for this long is closed.
  absl::Duration idle_timeout = absl::Seconds(2);
  // Per read and per write on a connection.
  absl::Duration io_timeout = absl::Seconds(5);
  // Requests per connection before it is closed (keep-alive).
  int max_requests_per_connection = 100;
  // Larger request bodies are refused (413).
  size_t max_body_bytes = 64 << 10;
};

class HttpServer {
 public:
  using Handler = std::function<HttpResponse(const HttpRequest&)>;

  explicit HttpServer(HttpServerOptions options);
  // Stops listening and waits for the connections in progress (each ends
  // within its timeouts).
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Routes, added before Start(): an exact path.
  void Get(const std::string& path, Handler handler);
  // Every path that starts with `prefix` (routes match in the order added,
  // so add exact paths first).
  void GetPrefix(const std::string& prefix, Handler handler);
  void PostPrefix(const std::string& prefix, Handler handler);

  // Binds (INVALID_ARGUMENT for a bad address, UNAVAILABLE when the port is
  // taken) and starts serving on a background thread.
  absl::Status Start();
  // The bound port, after Start().
  int port() const { return port_; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  int port_ = 0;
};

}  // namespace hwnas::server

#endif  // HWNAS_SERVER_HTTP_SERVER_H_
