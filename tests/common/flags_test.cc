#include "common/flags.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace hwnas {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

const std::vector<FlagSpec> kFlags = {
    {"threads", 0, "N", ""}, {"json", 0, "", ""}, {"output", 'o', "FORMAT", ""}};
const std::vector<FlagSpec> kGlobals = {{"log-level", 0, "LEVEL", ""}, {"json", 'j', "X", ""}};

TEST(ParseFlagsTest, EveryFormAndPositionalsAnywhere) {
  absl::StatusOr<ParsedFlags> f = ParseFlags(
      kFlags, kGlobals,
      {"a", "--threads", "4", "-ojson", "--log-level=debug", "-5", "--json", "--", "--b"},
      "tool cmd");
  ASSERT_OK(f);
  EXPECT_EQ(f->GetOr("threads", ""), "4");
  EXPECT_EQ(f->GetOr("output", ""), "json");
  EXPECT_EQ(f->GetOr("log-level", ""), "debug");
  EXPECT_TRUE(f->Has("json"));  // The command's boolean shadows the global valued flag.
  EXPECT_THAT(f->positionals, ElementsAre("a", "-5", "--b"));
  EXPECT_FALSE(f->help);
  absl::StatusOr<std::optional<int64_t>> threads = f->Int("threads", 1);
  ASSERT_OK(threads);
  EXPECT_EQ(**threads, 4);
  EXPECT_FALSE(f->Int("missing", 0)->has_value());
  EXPECT_EQ(f->GetOr("missing", "dflt"), "dflt");
}

TEST(ParseFlagsTest, ErrorsNameTheFlagAndTheCommand) {
  auto error = [](std::vector<std::string> args) {
    absl::StatusOr<ParsedFlags> f = ParseFlags(kFlags, kGlobals, args, "tool cmd");
    EXPECT_EQ(f.status().code(), absl::StatusCode::kInvalidArgument);
    return std::string(f.status().message());
  };
  EXPECT_EQ(error({"--thraeds", "4"}), "unknown flag --thraeds for 'tool cmd'");
  EXPECT_EQ(error({"-x"}), "unknown flag -x for 'tool cmd'");
  EXPECT_EQ(error({"--threads"}), "--threads needs a value (N)");
  EXPECT_THAT(error({"--json=yes"}), HasSubstr("--json takes no value"));
  absl::StatusOr<ParsedFlags> f = ParseFlags(kFlags, kGlobals, {"--threads", "0"}, "tool cmd");
  ASSERT_OK(f);
  EXPECT_EQ(f->Int("threads", 1).status().message(), "--threads must be an integer >= 1, got '0'");
}

TEST(ParseFlagsTest, RequireNamesTheFirstMissingOrEmptyFlag) {
  absl::StatusOr<ParsedFlags> f = ParseFlags(kFlags, {}, {"--threads", "2", "-o", ""}, "t");
  ASSERT_OK(f);
  EXPECT_OK(f->Require({"threads"}));
  EXPECT_EQ(f->Require({"threads", "output"}).message(), "--output is required");
  EXPECT_EQ(f->Require({"log-level", "output"}).message(), "--log-level is required");
}

TEST(ParseFlagsTest, HelpAndBooleanFalse) {
  absl::StatusOr<ParsedFlags> f = ParseFlags(kFlags, {}, {"--json", "--json=false", "-h"}, "t");
  ASSERT_OK(f);
  EXPECT_TRUE(f->help);
  EXPECT_FALSE(f->Has("json"));
}

// gRPC itself would wrap port 99999 to 34463 and read "abc" as port 0.
TEST(CheckHostPortTest, AcceptsHostPortAndSchemesRefusesBadPorts) {
  for (const char* ok : {"127.0.0.1:7470", "hwnas.lab.example.org:443", "[::1]:7470",
                         "unix:/run/hwnas.sock", "dns:///hwnas:7470"}) {
    EXPECT_TRUE(CheckHostPort(ok, 1, "--server").ok()) << ok;
  }
  EXPECT_OK(CheckHostPort("127.0.0.1:0", 0, "--listen"));
  EXPECT_EQ(CheckHostPort("127.0.0.1:0", 1, "--server").message(),
            "--server: '127.0.0.1:0' is not HOST:PORT (the port must be a number from 1 to 65535)");
  EXPECT_EQ(
      CheckHostPort("127.0.0.1:99999", 0, "--listen").message(),
      "--listen: '127.0.0.1:99999' is not HOST:PORT (the port must be a number from 0 to 65535)");
  EXPECT_THAT(std::string(CheckHostPort("127.0.0.1:abc", 0, "--listen").message()),
              HasSubstr("the port must be a number"));
  EXPECT_THAT(std::string(CheckHostPort("127.0.0.1:-1", 0, "--listen").message()),
              HasSubstr("the port must be a number"));
  EXPECT_THAT(std::string(CheckHostPort("localhost", 1, "--server").message()),
              HasSubstr("(no port)"));
  EXPECT_THAT(std::string(CheckHostPort(":7470", 1, "--server").message()), HasSubstr("(no host)"));
  EXPECT_THAT(std::string(CheckHostPort("::1:7470", 1, "--server").message()),
              HasSubstr("brackets"));
  EXPECT_THAT(std::string(CheckHostPort("dns:///localhost:99999", 1, "--server").message()),
              HasSubstr("'localhost:99999' is not HOST:PORT"));
  EXPECT_TRUE(CheckHostPort("dns:///localhost", 1, "--server").ok());
}

// gRPC aborts the process on a header value with a line break or a
// non-ASCII byte (a token from a YAML block scalar, a pasted character).
TEST(CheckTokenTest, OnlyPrintableAsciiGoesIntoTheHeader) {
  EXPECT_TRUE(CheckToken("hwn_AbC-123_x", "--token").ok());
  EXPECT_TRUE(CheckToken("", "--token").ok());  // No token: UNAUTHENTICATED later.
  EXPECT_EQ(CheckToken("hwn_abc\n", "--token").message(),
            "--token: the token has a line break at character 8; tokens are printable ASCII "
            "(hwn_...)");
  EXPECT_THAT(std::string(CheckToken("ab\xe9", "--token").message()),
              HasSubstr("the byte 0xe9 at character 3"));
  EXPECT_THAT(std::string(CheckToken("a b", "--token").message()), HasSubstr("a space"));
}

}  // namespace
}  // namespace hwnas
