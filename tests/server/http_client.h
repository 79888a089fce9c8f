// Plain HTTP/1.1 over raw sockets for tests of the server's HTTP endpoints:
// one GET with a deadline, and clients that connect and stall.
#ifndef HWNAS_TESTS_SERVER_HTTP_CLIENT_H_
#define HWNAS_TESTS_SERVER_HTTP_CLIENT_H_

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace hwnas::testing {

// GET `path` on 127.0.0.1:`port`: "<status code> <body>", or an error when
// nothing answered within `timeout`.
inline absl::StatusOr<std::string> HttpGet(int port, const std::string& path,
                                           absl::Duration timeout = absl::Seconds(10)) {
  const absl::Time deadline = absl::Now() + timeout;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return absl::UnavailableError(absl::StrCat("cannot connect to port ", port));
  }
  const std::string request =
      absl::StrCat("GET ", path, " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
  if (write(fd, request.data(), request.size()) != static_cast<ssize_t>(request.size())) {
    close(fd);
    return absl::UnavailableError("cannot send the request");
  }
  std::string response;
  char buf[4096];
  while (true) {
    const int64_t left = absl::ToInt64Milliseconds(deadline - absl::Now());
    pollfd p{fd, POLLIN, 0};
    if (left <= 0 || poll(&p, 1, static_cast<int>(left)) <= 0) {
      close(fd);
      return absl::DeadlineExceededError(absl::StrCat("no complete answer to GET ", path,
                                                      " within ", absl::FormatDuration(timeout),
                                                      " (got '", response, "')"));
    }
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n <= 0) break;
    response.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  // "HTTP/1.1 200 OK\r\n...\r\n\r\nbody"
  const size_t space = response.find(' ');
  const size_t body = response.find("\r\n\r\n");
  if (space == std::string::npos || body == std::string::npos) {
    return absl::DataLossError(absl::StrCat("not an HTTP response: '", response, "'"));
  }
  return absl::StrCat(response.substr(space + 1, 3), " ", response.substr(body + 4));
}

// TCP connections that connect and then send `prefix` (maybe nothing) and
// stall: what a slow or hostile client does to an HTTP listener.
class StalledConnections {
 public:
  StalledConnections(int port, int n, const std::string& prefix) {
    for (int i = 0; i < n; ++i) {
      int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
      sockaddr_in addr{};
      addr.sin_family = AF_INET;
      addr.sin_port = htons(static_cast<uint16_t>(port));
      inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
      // Non-blocking: a connection beyond the listen backlog stays pending
      // instead of holding up the test.
      connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
      if (!prefix.empty()) {
        pollfd p{fd, POLLOUT, 0};
        if (poll(&p, 1, 1000) > 0) (void)!write(fd, prefix.data(), prefix.size());
      }
      fds_.push_back(fd);
    }
  }
  ~StalledConnections() {
    for (int fd : fds_) close(fd);
  }

 private:
  std::vector<int> fds_;
};

}  // namespace hwnas::testing

#endif  // HWNAS_TESTS_SERVER_HTTP_CLIENT_H_
