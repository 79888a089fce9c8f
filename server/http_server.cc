#include "server/http_server.h"

#include <httplib.h>
#include <sys/socket.h>
#include <zlib.h>

#include <condition_variable>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"

namespace hwnas::server {
namespace {

// Smaller answers gain nothing from compression (one packet either way).
constexpr size_t kGzipMinBytes = 1400;

// One thread per connection, at most `limit` at once. httplib's own pool
// has a fixed number of threads and an unbounded queue: a few stalled
// clients there delay every later request by their timeouts. Here a stalled
// client holds only its own thread; when `limit` are busy, the accept loop
// waits for one to end, so further connections wait in the listen backlog.
class ConnectionThreads : public httplib::TaskQueue {
 public:
  explicit ConnectionThreads(int limit) : limit_(limit) {}

  void enqueue(std::function<void()> fn) override {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [this] { return active_ < limit_; });
    ++active_;
    std::thread([this, fn = std::move(fn)] {
      fn();  // Serves the connection and closes it (within its timeouts).
      std::lock_guard<std::mutex> lock(mu_);
      --active_;
      cv_.notify_all();
    }).detach();
  }

  // httplib calls this when its accept loop ends: connections in progress
  // still use the httplib::Server, so wait for them.
  void shutdown() override {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [this] { return active_ == 0; });
  }

 private:
  const int limit_;
  std::mutex mu_;
  std::condition_variable cv_;
  int active_ = 0;
};

// httplib listens with a backlog of 5. Connections beyond
// `max_connections` wait in the backlog, and when it is full the kernel drops
// SYNs, which clients retry only after 1, 3, 7... seconds: a probe would be
// late. The listening socket is protected in httplib::Server, hence this
// subclass, which only re-listens with a deeper backlog.
class Listener : public httplib::Server {
 public:
  void DeepenBacklog(int backlog) {
    const int fd = svr_sock_.load();
    if (fd >= 0) ::listen(fd, backlog);
  }
};

std::string EscapeRegex(const std::string& path) {
  std::string out;
  for (char c : path) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '/' && c != '_' && c != '-') {
      out.push_back('\\');
    }
    out.push_back(c);
  }
  return out;
}

time_t WholeSeconds(absl::Duration d) {
  return std::max<time_t>(1, static_cast<time_t>(absl::ToInt64Seconds(d)));
}

}  // namespace

struct HttpServer::Impl {
  HttpServerOptions options;
  Listener http;
  std::thread thread;
  bool started = false;
};

HttpServer::HttpServer(HttpServerOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
  httplib::Server& http = impl_->http;
  const HttpServerOptions& o = impl_->options;
  const int limit = std::max(1, o.max_connections);
  http.new_task_queue = [limit] { return new ConnectionThreads(limit); };
  http.set_address_family(AF_INET);
  // httplib's default also sets SO_REUSEPORT, which would let a second
  // server bind the same port and take half its connections.
  http.set_socket_options([](int sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  http.set_keep_alive_timeout(WholeSeconds(o.idle_timeout));
  http.set_keep_alive_max_count(static_cast<size_t>(std::max(1, o.max_requests_per_connection)));
  http.set_read_timeout(WholeSeconds(o.io_timeout));
  http.set_write_timeout(WholeSeconds(o.io_timeout));
  http.set_payload_max_length(o.max_body_bytes);
  http.set_error_handler([](const httplib::Request&, httplib::Response& res) {
    if (res.body.empty()) {
      res.set_content(res.status == 404 ? "not found\n" : absl::StrCat("error ", res.status, "\n"),
                      "text/plain; charset=utf-8");
    }
  });
}

HttpServer::~HttpServer() {
  if (impl_->started) {
    impl_->http.stop();
    impl_->thread.join();
  }
}

namespace {

// Whether the client takes gzip (Accept-Encoding lists it without q=0).
bool AcceptsGzip(const httplib::Request& req) {
  for (absl::string_view coding : absl::StrSplit(req.get_header_value("Accept-Encoding"), ',')) {
    std::vector<absl::string_view> parts = absl::StrSplit(coding, ';');
    if (absl::StripAsciiWhitespace(parts[0]) != "gzip") continue;
    return parts.size() < 2 || absl::StripAsciiWhitespace(parts[1]) != "q=0";
  }
  return false;
}

// gzip at level 1: about 3x smaller for the dashboard's JSON, in ~10 ms per
// MB. nullopt when zlib fails (the body then goes as it is).
std::optional<std::string> Gzip(const std::string& in) {
  z_stream z{};
  // 15 window bits + 16: a gzip header, not a raw zlib stream.
  if (deflateInit2(&z, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) return std::nullopt;
  std::string out(deflateBound(&z, in.size()), '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  const int rc = deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  if (rc != Z_STREAM_END) return std::nullopt;
  return out;
}

bool Compressible(absl::string_view content_type) {
  return absl::StartsWith(content_type, "text/") ||
         absl::StartsWith(content_type, "application/json") ||
         absl::StartsWith(content_type, "image/svg+xml");
}

httplib::Server::Handler Adapt(HttpServer::Handler handler) {
  return [handler = std::move(handler)](const httplib::Request& req, httplib::Response& res) {
    const bool gzip = AcceptsGzip(req);
    // httplib (Debian's 0.11, built with Brotli) would otherwise compress
    // every text or JSON answer itself, with Brotli at quality 11 when the
    // client offers "br" as browsers do: about 8 s per MB, which held the
    // dashboard's 2.4 MB Pareto answer back for 10-15 s after its handler
    // had finished. Taking Accept-Encoding out of the request turns that
    // off; the answer is compressed here instead, fast. The request object
    // is httplib's own non-const local, so changing it is well defined.
    const_cast<httplib::Request&>(req).headers.erase("Accept-Encoding");
    HttpRequest r;
    r.method = req.method;
    r.path = req.path;
    r.params.insert(req.params.begin(), req.params.end());
    r.headers.insert(req.headers.begin(), req.headers.end());
    r.body = req.body;
    HttpResponse out = handler(r);
    res.status = out.status;
    for (auto& [name, value] : out.headers) res.set_header(name.c_str(), value);
    if (Compressible(out.content_type) && out.body.size() >= kGzipMinBytes) {
      res.set_header("Vary", "Accept-Encoding");
      if (gzip) {
        if (std::optional<std::string> packed = Gzip(out.body)) {
          res.set_header("Content-Encoding", "gzip");
          out.body = *std::move(packed);
        }
      }
    }
    res.set_content(std::move(out.body), out.content_type.c_str());
  };
}

}  // namespace

void HttpServer::Get(const std::string& path, Handler handler) {
  impl_->http.Get(EscapeRegex(path), Adapt(std::move(handler)));
}

void HttpServer::GetPrefix(const std::string& prefix, Handler handler) {
  impl_->http.Get(EscapeRegex(prefix) + ".*", Adapt(std::move(handler)));
}

void HttpServer::PostPrefix(const std::string& prefix, Handler handler) {
  impl_->http.Post(EscapeRegex(prefix) + ".*", Adapt(std::move(handler)));
}

absl::Status HttpServer::Start() {
  const std::string& address = impl_->options.address;
  std::vector<std::string> parts = absl::StrSplit(address, absl::MaxSplits(':', 1));
  int port = 0;
  if (parts.size() != 2 || !absl::SimpleAtoi(parts[1], &port) || port < 0 || port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("HTTP address '", address, "' is not host:port"));
  }
  const std::string host = parts[0].empty() || parts[0] == "localhost" ? "127.0.0.1" : parts[0];
  // IPv4 only, as documented for --metrics: no name lookups, no IPv6.
  std::vector<std::string> octets = absl::StrSplit(host, '.');
  bool ipv4 = octets.size() == 4;
  for (const std::string& o : octets) {
    int v = -1;
    ipv4 = ipv4 && !o.empty() && o.size() <= 3 && absl::SimpleAtoi(o, &v) && v >= 0 && v <= 255;
  }
  if (!ipv4) {
    return absl::InvalidArgumentError(
        absl::StrCat("HTTP address '", address, "': host must be an IPv4 address"));
  }
  Listener& http = impl_->http;
  if (port == 0) {
    port_ = http.bind_to_any_port(host);
    if (port_ <= 0) port_ = 0;
  } else if (http.bind_to_port(host, port)) {
    port_ = port;
  }
  if (port_ == 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", address, " (address in use?)"));
  }
  http.DeepenBacklog(1024);
  impl_->started = true;
  impl_->thread = std::thread([this] { impl_->http.listen_after_bind(); });
  // httplib's stop() does nothing until the accept loop runs: a server
  // destroyed before that would leave its thread in accept() for ever.
  while (!http.is_running()) absl::SleepFor(absl::Milliseconds(1));
  return absl::OkStatus();
}

}  // namespace hwnas::server
