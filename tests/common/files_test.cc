#include "common/files.h"

#include <filesystem>
#include <fstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace hwnas {
namespace {

using ::testing::HasSubstr;

TEST(ReadWholeFileTest, ReadsFilesAndNamesWhatWentWrong) {
  const std::string dir = ::testing::TempDir() + "/files_test";
  std::filesystem::create_directories(dir);
  const std::string file = dir + "/spec.yaml";
  std::ofstream(file, std::ios::binary) << "name: x\n";
  absl::StatusOr<std::string> text = ReadWholeFile(file);
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_EQ(*text, "name: x\n");

  // A directory reads as an empty file through an ifstream alone.
  absl::StatusOr<std::string> folder = ReadWholeFile(dir);
  EXPECT_EQ(folder.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(folder.status().message(), "cannot read " + dir + ": it is a directory");

  absl::StatusOr<std::string> missing = ReadWholeFile(dir + "/missing.yaml");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr("No such file or directory"));
  std::filesystem::remove_all(dir);
}

// Outputs checked before long work (calibration) that ends in writing them.
TEST(CheckCanWriteTest, RefusesDirectoriesAndUnwritablePathsAndLeavesNothing) {
  const std::string dir = ::testing::TempDir() + "/can_write_test";
  std::filesystem::create_directories(dir);
  EXPECT_EQ(CheckCanWrite(dir).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(CheckCanWrite(dir + "/missing/out.csv").code(), absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(CheckCanWrite(dir + "/out.csv").ok());
  EXPECT_FALSE(std::filesystem::exists(dir + "/out.csv"));
  std::ofstream(dir + "/kept.csv") << "a,b\n";
  EXPECT_TRUE(CheckCanWrite(dir + "/kept.csv").ok());
  absl::StatusOr<std::string> kept = ReadWholeFile(dir + "/kept.csv");
  ASSERT_TRUE(kept.ok()) << kept.status();
  EXPECT_EQ(*kept, "a,b\n");
  std::filesystem::remove_all(dir);
}

// Files read on a user's behalf: bounded, and never a device or a pipe
// (/dev/zero once grew the server to 3 GB).
TEST(ReadRegularFileTest, RefusesDevicesAndFilesOverTheLimit) {
  const std::string dir = ::testing::TempDir() + "/read_regular_test";
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/small.txt") << "hello";
  absl::StatusOr<std::string> small = ReadRegularFile(dir + "/small.txt", 5);
  ASSERT_TRUE(small.ok()) << small.status();
  EXPECT_EQ(*small, "hello");
  EXPECT_EQ(ReadRegularFile(dir + "/small.txt", 4).status().code(),
            absl::StatusCode::kInvalidArgument);
  absl::StatusOr<std::string> zero = ReadRegularFile("/dev/zero", 1 << 20);
  EXPECT_EQ(zero.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(zero.status().message()), HasSubstr("not a regular file"));
  EXPECT_EQ(ReadRegularFile(dir, 10).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ReadRegularFile(dir + "/missing", 10).status().code(), absl::StatusCode::kNotFound);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace hwnas
