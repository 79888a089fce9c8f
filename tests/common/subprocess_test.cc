#include "common/subprocess.h"

#include <signal.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace hwnas {
namespace {

TEST(RunCommandTest, CapturesOutputAndExitCode) {
  absl::StatusOr<CommandResult> r = RunCommand({"sh", "-c", "echo out; echo err >&2; exit 3"});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->exit_code, 3);
  EXPECT_THAT(r->output, ::testing::HasSubstr("out"));
  EXPECT_THAT(r->output, ::testing::HasSubstr("err"));
}

TEST(RunCommandTest, SeparateStderrAndEnvironment) {
  absl::StatusOr<CommandResult> r =
      RunCommand({"sh", "-c", "echo \"$HWNAS_X\"; echo err >&2; echo more"},
                 {.env = {"HWNAS_X=secret"}, .separate_stderr = true});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->exit_code, 0);
  EXPECT_EQ(r->output, "secret\nmore\n");
  EXPECT_EQ(r->errors, "err\n");
  // More than a pipe holds on both streams: neither may block the other.
  r = RunCommand({"sh", "-c", "head -c 200000 /dev/zero; head -c 200000 /dev/zero >&2"},
                 {.separate_stderr = true});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->output.size(), 200000u);
  EXPECT_EQ(r->errors.size(), 200000u);
}

TEST(RunCommandTest, MissingProgramAndTimeout) {
  EXPECT_EQ(RunCommand({"/nonexistent/program"}).status().code(), absl::StatusCode::kNotFound);
  absl::StatusOr<CommandResult> slow = RunCommand({"sleep", "10"}, absl::Milliseconds(200));
  EXPECT_EQ(slow.status().code(), absl::StatusCode::kDeadlineExceeded);
}

TEST(ChildProcessTest, StartsSignalsAndReaps) {
  absl::StatusOr<ChildProcess> child =
      ChildProcess::Start({.argv = {"sh", "-c", "echo $HWNAS_X; sleep 30"},
                           .env = {"HWNAS_X=hello"},
                           .log_path = ::testing::TempDir() + "/child.log"});
  ASSERT_TRUE(child.ok()) << child.status();
  EXPECT_TRUE(child->Running());
  EXPECT_EQ(child->Wait(absl::Milliseconds(50)), std::nullopt);
  EXPECT_EQ(child->Stop(absl::Seconds(5)), -SIGTERM);
  EXPECT_FALSE(child->Running());
}

TEST(PickFreePortTest, ReturnsAUsablePort) {
  absl::StatusOr<int> port = PickFreePort();
  ASSERT_TRUE(port.ok());
  EXPECT_GT(*port, 0);
}

}  // namespace
}  // namespace hwnas
