#include "common/data_paths.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace hwnas {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

// Sets $HWNAS_SHARED_DATA for one test and puts back what was there.
class ScopedSharedDataEnv {
 public:
  explicit ScopedSharedDataEnv(const char* value) {
    if (const char* old = std::getenv(kSharedDataEnvVar)) old_ = old;
    if (value == nullptr) {
      unsetenv(kSharedDataEnvVar);
    } else {
      setenv(kSharedDataEnvVar, value, 1);
    }
  }
  ~ScopedSharedDataEnv() {
    if (old_) {
      setenv(kSharedDataEnvVar, old_->c_str(), 1);
    } else {
      unsetenv(kSharedDataEnvVar);
    }
  }

 private:
  std::optional<std::string> old_;
};

TEST(SharedDataDirTest, FlagThenEnvironmentThenAnErrorSayingHow) {
  {
    ScopedSharedDataEnv env("/from/env");
    EXPECT_EQ(*RequireSharedDataDir("/from/flag"), "/from/flag");
    EXPECT_EQ(*RequireSharedDataDir(""), "/from/env");
    EXPECT_EQ(SharedDataDirFromEnv(), "/from/env");
    EXPECT_EQ(DataLocations::FromFlagOrEnv("").shared_dir(), "/from/env");
  }
  {
    ScopedSharedDataEnv env("");  // Set but empty counts as unset.
    EXPECT_EQ(SharedDataDirFromEnv(), std::nullopt);
    absl::StatusOr<std::string> none = RequireSharedDataDir("");
    EXPECT_EQ(none.status().code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_THAT(std::string(none.status().message()),
                HasSubstr("pass --data-dir or set HWNAS_SHARED_DATA"));
    EXPECT_EQ(DataLocations::FromFlagOrEnv("").shared_dir(), "");
    EXPECT_EQ(DataLocations::FromFlagOrEnv("/f").shared_dir(), "/f");
  }
}

TEST(DataLocationsTest, FilesUnderBothRoots) {
  DataLocations data("/shared", "/sys");
  EXPECT_EQ(data.Nb201Table(), "/shared/nb201/nb201_acc_latency.csv");
  EXPECT_EQ(data.Ecg5000Train(), "/shared/ecg5000/ECG5000_TRAIN.txt");
  EXPECT_EQ(data.EegmmidbSubject("S001"), "/shared/eegmmidb_S001");
  EXPECT_EQ(data.FashionMnist(), "/sys/fashion-mnist");
  EXPECT_EQ(data.Mnist(), "/sys/mnist");
  EXPECT_EQ(DataLocations("").FashionMnist(), "/usr/share/datasets/fashion-mnist");
  // A trailing slash on the flag names the same folder.
  EXPECT_EQ(DataLocations("/shared/").EegmmidbSubject("S001"), "/shared/eegmmidb_S001");

  EXPECT_EQ(*data.DefaultPath("fashion_mnist"), "/sys/fashion-mnist");
  EXPECT_EQ(*data.DefaultPath("mnist"), "/sys/mnist");
  EXPECT_EQ(*data.DefaultPath("ecg5000"), "/shared/ecg5000/ECG5000_TRAIN.txt");
  EXPECT_EQ(*data.DefaultPath("eegmmidb", "S002"), "/shared/eegmmidb_S002");
  absl::StatusOr<std::string> unknown = data.DefaultPath("idx");
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(unknown.status().message(), "data.path: is required for dataset 'idx'");
}

TEST(DataLocationsTest, WithoutASharedDirectoryItsFilesAreUnknown) {
  // Whatever the environment says (CI and developers often set it).
  setenv(kSharedDataEnvVar, "/elsewhere", 1);
  DataLocations data("", "/sys");
  EXPECT_EQ(data.Nb201Table(), "");
  EXPECT_EQ(data.Ecg5000Train(), "");
  EXPECT_EQ(*data.DefaultPath("fashion_mnist"), "/sys/fashion-mnist");
  EXPECT_EQ(data.DefaultPath("ecg5000").status().code(), absl::StatusCode::kFailedPrecondition);
  unsetenv(kSharedDataEnvVar);
}

TEST(DataLocationsTest, PresentListsTheDataSetsWhoseFilesExist) {
  namespace fs = std::filesystem;
  const std::string root = ::testing::TempDir() + "/data_paths_test";
  fs::remove_all(root);
  const std::string shared = root + "/shared", sys = root + "/sys";
  fs::create_directories(shared);
  fs::create_directories(sys + "/fashion-mnist");
  DataLocations data(shared, sys);
  // A Fashion-MNIST folder without its training images does not count.
  EXPECT_THAT(data.Present(), IsEmpty());

  std::ofstream(sys + "/fashion-mnist/train-images-idx3-ubyte.gz") << "x";
  fs::create_directories(shared + "/ecg5000");
  std::ofstream(shared + "/ecg5000/ECG5000_TRAIN.txt") << "1 0.5\n";
  EXPECT_THAT(data.Present(), ElementsAre("fashion_mnist", "ecg5000"));

  fs::create_directories(sys + "/mnist");
  fs::create_directories(shared + "/eegmmidb_S001");
  EXPECT_THAT(data.Present(), ElementsAre("fashion_mnist", "mnist", "ecg5000", "eegmmidb"));
  EXPECT_THAT(DataLocations("", sys).Present(), ElementsAre("fashion_mnist", "mnist"));
  fs::remove_all(root);
}

}  // namespace
}  // namespace hwnas
