// The server's HTTP listener on real sockets: routes, refusals, and probes
// answered while many clients stall (the listener used to serve one
// connection at a time, so stalled clients held every later request).
#include "server/http_server.h"

#include <httplib.h>
#include <zlib.h>

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

std::string Gunzip(const std::string& in) {
  z_stream z{};
  EXPECT_EQ(inflateInit2(&z, 15 + 16), Z_OK);
  std::string out;
  char buf[1 << 16];
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  int rc = Z_OK;
  while (rc == Z_OK) {
    z.next_out = reinterpret_cast<Bytef*>(buf);
    z.avail_out = sizeof(buf);
    rc = inflate(&z, Z_NO_FLUSH);
    out.append(buf, sizeof(buf) - z.avail_out);
  }
  EXPECT_EQ(rc, Z_STREAM_END);
  inflateEnd(&z);
  return out;
}

// Large text answers are gzipped here when the client takes gzip, and never
// handed to httplib's own Brotli (quality 11: seconds per megabyte, which is
// what held the dashboard's Pareto answer back in a browser).
TEST(HttpServerTest, GzipsLargeAnswersAndNeverUsesBrotli) {
  std::string big = "[";
  for (int i = 0; i < 50000; ++i) absl::StrAppend(&big, i * 0.001, ",");
  big += "0]";
  HttpServer http({});
  http.Get("/big", [&](const HttpRequest&) {
    return HttpResponse{.content_type = "application/json", .body = big};
  });
  http.Get("/small", [](const HttpRequest&) { return HttpResponse{.body = "ok\n"}; });
  ASSERT_OK(http.Start());
  httplib::Client client("127.0.0.1", http.port());
  client.set_decompress(false);  // See the bytes as sent.

  httplib::Result browser = client.Get("/big", {{"Accept-Encoding", "gzip, deflate, br, zstd"}});
  ASSERT_TRUE(browser);
  EXPECT_EQ(browser->status, 200);
  EXPECT_EQ(browser->get_header_value("Content-Encoding"), "gzip");
  EXPECT_LT(browser->body.size(), big.size() / 2);
  EXPECT_EQ(Gunzip(browser->body), big);

  httplib::Result br_only = client.Get("/big", {{"Accept-Encoding", "br"}});
  ASSERT_TRUE(br_only);
  EXPECT_FALSE(br_only->has_header("Content-Encoding"));
  EXPECT_EQ(br_only->body, big);

  httplib::Result refused = client.Get("/big", {{"Accept-Encoding", "gzip;q=0"}});
  ASSERT_TRUE(refused);
  EXPECT_FALSE(refused->has_header("Content-Encoding"));

  httplib::Result small = client.Get("/small", {{"Accept-Encoding", "gzip, br"}});
  ASSERT_TRUE(small);
  EXPECT_FALSE(small->has_header("Content-Encoding"));
  EXPECT_EQ(small->body, "ok\n");
}

}  // namespace
}  // namespace hwnas::server
