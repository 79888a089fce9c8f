// The server's HTTP listener on real sockets: routes, refusals, and probes
// answered while many clients stall (the listener used to serve one
// connection at a time, so stalled clients held every later request).
#include "server/http_server.h"

#include <atomic>

#include "gtest/gtest.h"
#include "tests/server/http_client.h"
#include "tests/testing/status_matchers.h"

namespace hwnas::server {
namespace {

using testing::HttpGet;
using testing::StalledConnections;

std::unique_ptr<HttpServer> StartServer(HttpServerOptions options = {}) {
  auto http = std::make_unique<HttpServer>(std::move(options));
  http->Get("/healthz", [](const HttpRequest&) { return HttpResponse{.body = "ok\n"}; });
  http->Get("/echo", [](const HttpRequest& r) {
    auto it = r.params.find("q");
    return HttpResponse{.status = 201, .body = it == r.params.end() ? "" : it->second};
  });
  EXPECT_OK(http->Start());
  return http;
}

TEST(HttpServerTest, ServesRoutesAndNotFound) {
  std::unique_ptr<HttpServer> http = StartServer();
  ASSERT_GT(http->port(), 0);
  absl::StatusOr<std::string> ok = HttpGet(http->port(), "/healthz");
  ASSERT_OK(ok);
  EXPECT_EQ(*ok, "200 ok\n");
  absl::StatusOr<std::string> echo = HttpGet(http->port(), "/echo?q=hello");
  ASSERT_OK(echo);
  EXPECT_EQ(*echo, "201 hello");
  absl::StatusOr<std::string> missing = HttpGet(http->port(), "/nothing");
  ASSERT_OK(missing);
  EXPECT_EQ(*missing, "404 not found\n");
  // A path is matched exactly, not as a regular expression or a prefix.
  absl::StatusOr<std::string> prefix = HttpGet(http->port(), "/healthzz");
  ASSERT_OK(prefix);
  EXPECT_EQ(prefix->substr(0, 3), "404");
}

TEST(HttpServerTest, RefusesAddressesThatAreNotIpv4HostPort) {
  for (const char* bad : {"[::1]:0", "::1", "example.org:80", "127.0.0.1", "1.2.3:80",
                          "127.0.0.1:70000", "http://127.0.0.1:0"}) {
    HttpServer http(HttpServerOptions{.address = bad});
    absl::Status s = http.Start();
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << bad << ": " << s;
  }
  // A port in use is UNAVAILABLE.
  std::unique_ptr<HttpServer> first = StartServer();
  HttpServer second(HttpServerOptions{.address = absl::StrCat("127.0.0.1:", first->port())});
  EXPECT_EQ(second.Start().code(), absl::StatusCode::kUnavailable);
  // "localhost" and an empty host mean 127.0.0.1.
  HttpServer local(HttpServerOptions{.address = "localhost:0"});
  EXPECT_OK(local.Start());
}

// 50 clients that connect and send nothing or half a request line: a probe
// is still answered (a generous deadline: the old listener took about 50 s).
TEST(HttpServerTest, AnswersWhileFiftyConnectionsStall) {
  std::unique_ptr<HttpServer> http = StartServer();
  StalledConnections silent(http->port(), 25, "");
  StalledConnections half(http->port(), 25, "GET /heal");
  absl::StatusOr<std::string> ok = HttpGet(http->port(), "/healthz", absl::Seconds(10));
  ASSERT_OK(ok);
  EXPECT_EQ(*ok, "200 ok\n");
}

// Four times the connection limit in stalled clients: the excess waits in the
// backlog until idle connections time out, and a probe is still answered.
TEST(HttpServerTest, AnswersWhenStalledConnectionsExceedTheLimit) {
  std::unique_ptr<HttpServer> http = StartServer(HttpServerOptions{.max_connections = 16});
  StalledConnections stalled(http->port(), 64, "");
  absl::StatusOr<std::string> ok = HttpGet(http->port(), "/healthz", absl::Seconds(60));
  ASSERT_OK(ok);
  EXPECT_EQ(*ok, "200 ok\n");
}

TEST(HttpServerTest, StopsWithConnectionsOpen) {
  std::unique_ptr<HttpServer> http = StartServer();
  StalledConnections stalled(http->port(), 10, "GET /");
  http.reset();  // Returns once the stalled connections time out.
}

}  // namespace
}  // namespace hwnas::server
