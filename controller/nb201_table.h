// The NAS-Bench-201 accuracy + latency table (../shared/data/nb201, see its
// README): every one of the 15,625 cells with its test accuracy on three data
// sets and its latency on 27 device settings. Rows are keyed on the `ops`
// column (the nb201 space's tokens), never on `idx`.
//
// TableEvaluator answers an nb201 architecture with a TrialResult (accuracy
// as a fraction, latency from one device column): a zero-cost evaluator for
// benchmarks, tests and table-backed workers.
#ifndef HWNAS_CONTROLLER_NB201_TABLE_H_
#define HWNAS_CONTROLLER_NB201_TABLE_H_

#include <array>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "common/trial.h"
#include "spec/evaluator.h"

namespace hwnas::controller {

// The data set and device names live with the spec's `evaluator:` section.
using spec::CanonicalNb201Device;
using spec::Nb201Dataset;
using spec::Nb201DatasetName;
using spec::Nb201KnownDevices;
using spec::ParseNb201Dataset;

// `configured` if non-empty, else $HWNAS_SHARED_DATA/nb201/nb201_acc_latency.csv,
// else ../shared/data/nb201/nb201_acc_latency.csv (relative to the working directory).
std::string ResolveNb201TablePath(absl::string_view configured);

// Immutable after Load: thread-safe.
class Nb201Table {
 public:
  static constexpr int kNumEdges = 6;
  static constexpr int kNumOps = 5;
  static constexpr int kNumArchitectures = 15625;  // 5^6

  // Parses the CSV (about 30 ms); fails on missing columns, malformed
  // numbers, or a missing or repeated `ops` row.
  static absl::StatusOr<std::shared_ptr<const Nb201Table>> Load(const std::string& path);

  // Dense index of a cell: its tokens (`ops` digits) read in base 5.
  static absl::StatusOr<int> IndexOf(absl::Span<const int> tokens);
  static std::vector<int> TokensOf(int index);

  // Devices present in the file (without "lat_").
  const std::vector<std::string>& devices() const { return devices_; }
  // Column number of a device ("raspi4" or "lat_raspi4").
  absl::StatusOr<int> DeviceColumn(absl::string_view device) const;

  // Test accuracy in percent, as in the file.
  double accuracy_percent(Nb201Dataset dataset, int index) const {
    return accuracy_[static_cast<int>(dataset)][index];
  }
  double latency_ms(int device_column, int index) const { return latency_[device_column][index]; }
  const std::vector<double>& latencies(int device_column) const { return latency_[device_column]; }
  const std::vector<double>& accuracies_percent(Nb201Dataset dataset) const {
    return accuracy_[static_cast<int>(dataset)];
  }
  const std::string& arch_str(int index) const { return arch_str_[index]; }
  int benchmark_idx(int index) const { return bench_idx_[index]; }

 private:
  Nb201Table() = default;

  std::vector<std::string> devices_;
  std::array<std::vector<double>, 3> accuracy_;
  std::vector<std::vector<double>> latency_;  // [device column][index]
  std::vector<std::string> arch_str_;
  std::vector<int> bench_idx_;
};

// Thread-safe (immutable).
class TableEvaluator {
 public:
  static absl::StatusOr<TableEvaluator> Create(std::shared_ptr<const Nb201Table> table,
                                               Nb201Dataset dataset, absl::string_view device);

  // accuracy = table accuracy / 100; latency.median_ms = p90_ms = the
  // device's latency (device "nb201:<device>"); estimates["latency_ms@<device>"]
  // carries it too; epochs = 200 (the benchmark's training). Fails for a
  // space other than nb201 or invalid tokens.
  absl::StatusOr<TrialResult> Evaluate(const Architecture& architecture) const;
  absl::StatusOr<TrialResult> EvaluateTokens(absl::Span<const int> tokens) const;
  // Same, from a dense index (no checks beyond the range).
  TrialResult EvaluateIndex(int index) const;

  const Nb201Table& table() const { return *table_; }
  Nb201Dataset dataset() const { return dataset_; }
  const std::string& device() const { return device_; }
  int device_column() const { return column_; }

 private:
  TableEvaluator(std::shared_ptr<const Nb201Table> table, Nb201Dataset dataset, std::string device,
                 int column)
      : table_(std::move(table)), dataset_(dataset), device_(std::move(device)), column_(column) {}

  std::shared_ptr<const Nb201Table> table_;
  Nb201Dataset dataset_;
  std::string device_;
  int column_;
};

}  // namespace hwnas::controller

#endif  // HWNAS_CONTROLLER_NB201_TABLE_H_
