#include "common/flags.h"

#include <sstream>

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

TEST(ParseFlagsTest, DoubleNamesTheBadValue) {
  absl::StatusOr<ParsedFlags> f =
      ParseFlags({{"q", 0, "X", ""}, {"r", 0, "X", ""}}, {}, {"--q=-0.25", "--r", "abc"}, "t");
  ASSERT_OK(f);
  absl::StatusOr<std::optional<double>> q = f->Double("q");
  ASSERT_OK(q);
  EXPECT_EQ(**q, -0.25);
  EXPECT_FALSE(f->Double("missing")->has_value());
  EXPECT_EQ(f->Double("r").status().message(), "--r must be a number, got 'abc'");
}

// The benchmarks' entry: help on stdout (exit 0), errors on stderr (exit 2).
class ParseMainFlagsTest : public ::testing::Test {
 protected:
  std::optional<ParsedFlags> Parse(std::vector<std::string> args) {
    args.insert(args.begin(), "bench");
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    out_.str("");
    err_.str("");
    exit_code_ = -1;
    return ParseMainFlags(spec_, static_cast<int>(argv.size()), argv.data(), out_, err_,
                          &exit_code_);
  }
  MainFlagsSpec spec_{"bench", "usage: bench [flags]\n", {{"reps", 0, "N", "repetitions"}}, 1};
  std::ostringstream out_, err_;
  int exit_code_ = -1;
};

TEST_F(ParseMainFlagsTest, FlagsAndPositionals) {
  std::optional<ParsedFlags> f = Parse({"--reps=3", "overhead"});
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->GetOr("reps", ""), "3");
  EXPECT_THAT(f->positionals, ElementsAre("overhead"));
  EXPECT_EQ(out_.str() + err_.str(), "");
}

TEST_F(ParseMainFlagsTest, HelpGoesToStdout) {
  EXPECT_FALSE(Parse({"--help"}).has_value());
  EXPECT_EQ(exit_code_, 0);
  EXPECT_THAT(out_.str(), HasSubstr("usage: bench [flags]\n"));
  EXPECT_THAT(out_.str(), HasSubstr("--reps N"));
  EXPECT_THAT(out_.str(), HasSubstr("repetitions"));
  EXPECT_EQ(out_.str(), MainFlagsHelp(spec_));
  EXPECT_EQ(err_.str(), "");
}

TEST_F(ParseMainFlagsTest, ErrorsGoToStderrWithExitTwo) {
  EXPECT_FALSE(Parse({"--rpes", "3"}).has_value());
  EXPECT_EQ(exit_code_, 2);
  EXPECT_EQ(err_.str(), "bench: unknown flag --rpes for 'bench'\n(bench --help lists the flags)\n");
  EXPECT_FALSE(Parse({"a", "b"}).has_value());
  EXPECT_EQ(exit_code_, 2);
  EXPECT_THAT(err_.str(), HasSubstr("unexpected argument 'b'"));
  EXPECT_EQ(out_.str(), "");
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
