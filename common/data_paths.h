// Where the data sets are on this machine, in one place. Two roots:
// - the shared data directory (../shared/data beside a checkout, see its
//   README): the NAS-Bench-201 table, ECG5000, EEGMMIDB. Named by a
//   program's --data-dir flag, else $HWNAS_SHARED_DATA;
// - Debian's data set packages under /usr/share/datasets: Fashion-MNIST
//   (dataset-fashion-mnist) and MNIST.
// Every other file asks these functions for a data path instead of spelling
// one out, so a layout change is made here only.
#ifndef HWNAS_COMMON_DATA_PATHS_H_
#define HWNAS_COMMON_DATA_PATHS_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace hwnas {

inline constexpr char kSharedDataEnvVar[] = "HWNAS_SHARED_DATA";
// The shared data directory of a checkout, relative to its build or source
// folder (CI runs there): the fallback of tools that have no flag for it.
inline constexpr char kCheckoutSharedDataDir[] = "../shared/data";
inline constexpr char kSystemDatasetsDir[] = "/usr/share/datasets";

// $HWNAS_SHARED_DATA when set and not empty.
std::optional<std::string> SharedDataDirFromEnv();

// `flag_value` if not empty, else $HWNAS_SHARED_DATA, else an error
// (FailedPrecondition) that says how to set it.
absl::StatusOr<std::string> RequireSharedDataDir(absl::string_view flag_value);

// The data files under both roots. Plain path arithmetic: nothing here
// checks that a file exists except Present().
class DataLocations {
 public:
  // `shared_dir` may be empty (no shared directory: its files are "").
  explicit DataLocations(std::string shared_dir,
                         std::string system_dir = std::string(kSystemDatasetsDir));
  // The shared directory from `flag_value`, else $HWNAS_SHARED_DATA, else none.
  static DataLocations FromFlagOrEnv(absl::string_view flag_value);

  const std::string& shared_dir() const { return shared_dir_; }

  // Under the shared directory ("" when there is none).
  std::string Nb201Table() const;    // nb201/nb201_acc_latency.csv
  std::string Ecg5000Train() const;  // ecg5000/ECG5000_TRAIN.txt
  // The folder of one EEGMMIDB subject's EDF+ runs, e.g. "S001".
  std::string EegmmidbSubject(absl::string_view subject) const;

  // Debian's packages (the IDX files' folder).
  std::string FashionMnist() const;
  std::string Mnist() const;

  // Where a named data set ("fashion_mnist", "mnist", "ecg5000", "eegmmidb")
  // is by default: a folder for IDX and EEG sets, the training file for
  // ECG5000. FailedPrecondition for the shared ones when there is no shared
  // directory; InvalidArgument for other names (they need a path).
  absl::StatusOr<std::string> DefaultPath(absl::string_view dataset,
                                          absl::string_view eeg_subject = "S001") const;

  // The named data sets whose files are on this machine, in the order
  // above: what a worker advertises so it only gets trials it can run.
  std::vector<std::string> Present() const;

 private:
  std::string Shared(absl::string_view relative) const;

  std::string shared_dir_;
  std::string system_dir_;
};

}  // namespace hwnas

#endif  // HWNAS_COMMON_DATA_PATHS_H_
