// Real hwnas processes for the CLI's integration tests: the binaries ctest
// built (found through $HWNAS_BINARY_DIR), a server on a free loopback port,
// table or training workers, and small file helpers.
#ifndef HWNAS_TESTS_CLI_PROCESSES_H_
#define HWNAS_TESTS_CLI_PROCESSES_H_

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/subprocess.h"

namespace hwnas::cli::testing {

// A training search on a tiny Fashion-MNIST subset: 4 trials of a few
// seconds each with one worker.
inline constexpr char kTinyFashionSpec[] =
    R"(# A few seconds per trial (256 training images, 1 epoch): tests only.
name: tiny-fashion-local
space:
  name: mnasnet
  blocks: 2
  filters: [8, 16]
  layers: [1, 1]
  strides: [2, 2]
  stem_filters: 8
  stem_stride: 2
  head_filters: 0
data:
  dataset: fashion_mnist
  train_subset: 256
  val_subset: 128
  seed: 1
training:
  epochs: 1
  batch_size: 32
  threads: 1
  time_limit_s: 120
hardware:
  measure_latency: false
  targets:
    - {name: m7, mcu_profile: cortex-m7}
objectives:
  reward: mnasnet
  constraints:
    - {metric: latency_ms@m7, target: 5, type: soft}
strategy: {name: random, seed: 3}
budget: {trials: 4}
)";

// $HWNAS_BINARY_DIR/<relative>, e.g. "server/hwnas-server".
std::string BinaryPath(absl::string_view relative);

// A fresh directory under /tmp (reachable by the postgres user when root).
std::string NewTempDir(absl::string_view prefix);

// Removes `path` and the files next to it whose names start with it (logs,
// specs) when the current test passed; kept for debugging when it failed.
void RemoveUnlessFailed(const std::string& path);

// The whole file, or "" when it cannot be read.
std::string ReadWholeFile(const std::string& path);

// Polls `done` every 50 ms until it holds or `timeout` passes.
bool WaitFor(const std::function<bool()>& done, absl::Duration timeout);

// hwnas-server serve on 127.0.0.1:0 with `database`; logs to DIR/server.log.
struct ServerProcess {
  ChildProcess process;
  int port = 0;
  std::string address() const;
};
absl::StatusOr<ServerProcess> StartServer(const std::string& database, const std::string& dir);

// `count` hwnas-worker serve processes with the worker token, the shared
// data directory and DIR/worker-N.log.
absl::StatusOr<std::vector<ChildProcess>> StartWorkers(const std::string& address,
                                                       const std::string& token, int count,
                                                       const std::string& dir);

}  // namespace hwnas::cli::testing

#endif  // HWNAS_TESTS_CLI_PROCESSES_H_
