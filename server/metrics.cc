#include "server/metrics.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace hwnas::server {
namespace {

constexpr double kBucketBounds[] = {0.001, 0.005, 0.025, 0.1, 0.5};
constexpr const char* kBucketLabels[] = {"0.001", "0.005", "0.025", "0.1", "0.5", "+Inf"};

void Counter(std::string* out, const char* name, const char* help, int64_t value) {
  absl::StrAppend(out, "# HELP ", name, " ", help, "\n# TYPE ", name, " counter\n", name, " ",
                  value, "\n");
}

}  // namespace

void Metrics::ObserveStore(const std::string& op, absl::Duration d) {
  const double s = absl::ToDoubleSeconds(d);
  absl::MutexLock lock(&mu_);
  Latency& l = store_[op];
  l.sum_seconds += s;
  ++l.count;
  for (int i = 0; i < 6; ++i) {
    if (i == 5 || s <= kBucketBounds[i]) ++l.buckets[i];
  }
}

void Metrics::SetQueueDepth(int64_t search_id, int64_t pending, int64_t running) {
  absl::MutexLock lock(&mu_);
  queues_[search_id] = {pending, running};
}

void Metrics::ForgetSearch(int64_t search_id) {
  absl::MutexLock lock(&mu_);
  queues_.erase(search_id);
}

std::string Metrics::Render() const {
  std::string out;
  Counter(&out, "hwnas_trials_started_total", "Leases granted to workers.", trials_started);
  Counter(&out, "hwnas_trials_finished_total", "Trials that finished (any outcome).",
          trials_finished);
  Counter(&out, "hwnas_trials_failed_total", "Trials that failed for good.", trials_failed);
  Counter(&out, "hwnas_trials_infeasible_total", "Trials over a hard limit.", trials_infeasible);
  Counter(&out, "hwnas_lease_expiries_total", "Leases lost by workers that stopped heartbeating.",
          lease_expiries);
  Counter(&out, "hwnas_reports_duplicate_total", "Repeated reports answered from the store.",
          reports_duplicate);
  Counter(&out, "hwnas_completion_batches_total",
          "Transactions that stored completed trials (each for one or more reports).",
          completion_batches);
  Counter(&out, "hwnas_rpc_errors_total", "RPCs answered with an error.", rpc_errors);
  absl::StrAppend(&out,
                  "# HELP hwnas_workers_alive Workers heard from recently.\n"
                  "# TYPE hwnas_workers_alive gauge\nhwnas_workers_alive ",
                  workers_alive_.load(), "\n");
  absl::StrAppend(&out,
                  "# HELP hwnas_searches_running Searches the coordinator runs.\n"
                  "# TYPE hwnas_searches_running gauge\nhwnas_searches_running ",
                  running_searches_.load(), "\n",
                  "# HELP hwnas_search_objects Strategy objects alive in memory (should follow "
                  "hwnas_searches_running).\n"
                  "# TYPE hwnas_search_objects gauge\nhwnas_search_objects ",
                  search_objects_.load(), "\n",
                  "# HELP hwnas_leases_in_memory Leases the coordinator routes from memory.\n"
                  "# TYPE hwnas_leases_in_memory gauge\nhwnas_leases_in_memory ",
                  leases_in_memory_.load(), "\n");
  absl::MutexLock lock(&mu_);
  absl::StrAppend(&out,
                  "# HELP hwnas_queue_pending Pending trials per running search.\n"
                  "# TYPE hwnas_queue_pending gauge\n");
  for (const auto& [id, q] : queues_) {
    absl::StrAppend(&out, "hwnas_queue_pending{search=\"", id, "\"} ", q.first, "\n");
  }
  absl::StrAppend(&out,
                  "# HELP hwnas_queue_running Leased or running trials per running search.\n"
                  "# TYPE hwnas_queue_running gauge\n");
  for (const auto& [id, q] : queues_) {
    absl::StrAppend(&out, "hwnas_queue_running{search=\"", id, "\"} ", q.second, "\n");
  }
  absl::StrAppend(&out,
                  "# HELP hwnas_store_seconds Time spent in store calls.\n"
                  "# TYPE hwnas_store_seconds histogram\n");
  for (const auto& [op, l] : store_) {
    for (int i = 0; i < 6; ++i) {
      absl::StrAppend(&out, "hwnas_store_seconds_bucket{op=\"", op, "\",le=\"", kBucketLabels[i],
                      "\"} ", l.buckets[i], "\n");
    }
    absl::StrAppend(&out, "hwnas_store_seconds_sum{op=\"", op, "\"} ", l.sum_seconds, "\n",
                    "hwnas_store_seconds_count{op=\"", op, "\"} ", l.count, "\n");
  }
  return out;
}

absl::StatusOr<std::unique_ptr<MetricsHttpServer>> MetricsHttpServer::Start(
    const std::string& address, std::function<std::string()> render) {
  std::vector<std::string> parts = absl::StrSplit(address, absl::MaxSplits(':', 1));
  int port = 0;
  if (parts.size() != 2 || !absl::SimpleAtoi(parts[1], &port) || port < 0 || port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("metrics address '", address, "' is not host:port"));
  }
  std::string host = parts[0].empty() || parts[0] == "localhost" ? "127.0.0.1" : parts[0];
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("metrics address '", address, "': host must be an IPv4 address"));
  }
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 || listen(fd, 16) != 0) {
    const std::string error = std::strerror(errno);
    close(fd);
    return absl::UnavailableError(absl::StrCat("cannot listen on ", address, ": ", error));
  }
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  return std::unique_ptr<MetricsHttpServer>(
      new MetricsHttpServer(fd, ntohs(addr.sin_port), std::move(render)));
}

MetricsHttpServer::MetricsHttpServer(int fd, int port, std::function<std::string()> render)
    : fd_(fd), port_(port), render_(std::move(render)) {
  thread_ = std::thread([this] { Serve(); });
}

MetricsHttpServer::~MetricsHttpServer() {
  stopping_ = true;
  thread_.join();
  close(fd_);
}

void MetricsHttpServer::Serve() {
  while (!stopping_) {
    pollfd pfd{fd_, POLLIN, 0};
    if (poll(&pfd, 1, 200) <= 0) continue;
    int client = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) continue;
    // Read the request head (bounded; a scrape's request is tiny).
    std::string request;
    char buf[1024];
    while (request.find("\r\n\r\n") == std::string::npos && request.size() < 8192) {
      pollfd cfd{client, POLLIN, 0};
      if (poll(&cfd, 1, 1000) <= 0) break;
      ssize_t n = read(client, buf, sizeof(buf));
      if (n <= 0) break;
      request.append(buf, static_cast<size_t>(n));
    }
    std::string status = "404 Not Found";
    std::string body = "not found\n";
    if (request.rfind("GET /metrics", 0) == 0) {
      status = "200 OK";
      body = render_();
    } else if (request.rfind("GET /healthz", 0) == 0) {
      status = "200 OK";
      body = "ok\n";
    }
    std::string response =
        absl::StrCat("HTTP/1.1 ", status, "\r\nContent-Type: text/plain; version=0.0.4\r\n",
                     "Content-Length: ", body.size(), "\r\nConnection: close\r\n\r\n", body);
    size_t sent = 0;
    while (sent < response.size()) {
      ssize_t n = write(client, response.data() + sent, response.size() - sent);
      if (n <= 0) break;
      sent += static_cast<size_t>(n);
    }
    close(client);
  }
}

}  // namespace hwnas::server
