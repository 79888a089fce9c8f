#include "common/data_paths.h"

#include <cstdlib>
#include <filesystem>
#include <system_error>
#include <utility>

#include "absl/strings/str_cat.h"

namespace hwnas {
namespace {

namespace fs = std::filesystem;

bool Exists(const std::string& path) {
  std::error_code ec;  // An unreadable folder counts as absent.
  return !path.empty() && fs::exists(path, ec);
}

}  // namespace

std::optional<std::string> SharedDataDirFromEnv() {
  const char* env = std::getenv(kSharedDataEnvVar);
  if (env == nullptr || *env == '\0') return std::nullopt;
  return std::string(env);
}

namespace {
absl::Status NoSharedDataDir() {
  return absl::FailedPreconditionError(
      absl::StrCat("no shared data directory: pass --data-dir or set ", kSharedDataEnvVar,
                   " (the folder with ecg5000/ and eegmmidb_S001/, see the data README)"));
}
}  // namespace

absl::StatusOr<std::string> RequireSharedDataDir(absl::string_view flag_value) {
  if (!flag_value.empty()) return std::string(flag_value);
  if (std::optional<std::string> env = SharedDataDirFromEnv()) return *env;
  return NoSharedDataDir();
}

DataLocations::DataLocations(std::string shared_dir, std::string system_dir)
    : shared_dir_(std::move(shared_dir)), system_dir_(std::move(system_dir)) {}

DataLocations DataLocations::FromFlagOrEnv(absl::string_view flag_value) {
  absl::StatusOr<std::string> dir = RequireSharedDataDir(flag_value);
  return DataLocations(dir.ok() ? *std::move(dir) : std::string());
}

std::string DataLocations::Shared(absl::string_view relative) const {
  if (shared_dir_.empty()) return "";
  // "--data-dir /data/" names the same folder as "/data".
  absl::string_view dir = shared_dir_;
  if (dir.size() > 1 && dir.back() == '/') dir.remove_suffix(1);
  return absl::StrCat(dir, "/", relative);
}

std::string DataLocations::Nb201Table() const { return Shared("nb201/nb201_acc_latency.csv"); }

std::string DataLocations::Ecg5000Train() const { return Shared("ecg5000/ECG5000_TRAIN.txt"); }

std::string DataLocations::EegmmidbSubject(absl::string_view subject) const {
  return Shared(absl::StrCat("eegmmidb_", subject));
}

std::string DataLocations::FashionMnist() const {
  return absl::StrCat(system_dir_, "/fashion-mnist");
}

std::string DataLocations::Mnist() const { return absl::StrCat(system_dir_, "/mnist"); }

absl::StatusOr<std::string> DataLocations::DefaultPath(absl::string_view dataset,
                                                       absl::string_view eeg_subject) const {
  if (dataset == "fashion_mnist") return FashionMnist();
  if (dataset == "mnist") return Mnist();
  if (dataset != "ecg5000" && dataset != "eegmmidb") {
    return absl::InvalidArgumentError(
        absl::StrCat("data.path: is required for dataset '", dataset, "'"));
  }
  // An empty shared directory is an error even when the environment names
  // one: whoever built this DataLocations already chose not to use it.
  if (shared_dir_.empty()) return NoSharedDataDir();
  return dataset == "ecg5000" ? Ecg5000Train() : EegmmidbSubject(eeg_subject);
}

std::vector<std::string> DataLocations::Present() const {
  std::vector<std::string> names;
  // A folder alone is not enough for Fashion-MNIST: the package may be half
  // removed; its training images are what a trial reads first.
  if (Exists(absl::StrCat(FashionMnist(), "/train-images-idx3-ubyte.gz"))) {
    names.push_back("fashion_mnist");
  }
  if (Exists(Mnist())) names.push_back("mnist");
  if (Exists(Ecg5000Train())) names.push_back("ecg5000");
  if (Exists(EegmmidbSubject("S001"))) names.push_back("eegmmidb");
  return names;
}

}  // namespace hwnas
