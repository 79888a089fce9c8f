// The input files of `hwnas enqueue --file` and `hwnas import`: formats,
// line numbers in errors, and all-or-nothing refusal of bad rows.
#include "cli/guided.h"

#include "absl/strings/match.h"
#include "gtest/gtest.h"

namespace hwnas::cli {
namespace {

constexpr char kArch[] =
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|skip_connect~1|+|skip_connect~0|nor_conv_3x3~1|"
    "nor_conv_3x3~2|";

TEST(ArchitectureList, SkipsCommentsAndBlankLinesKeepingLineNumbers) {
  std::vector<GuidedRow> rows =
      ParseArchitectureList(absl::StrCat("# cells\n\n", kArch, "\n  1,2,3,4,0,1  \n"));
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].architecture, kArch);
  EXPECT_EQ(rows[0].line, 3);
  EXPECT_EQ(rows[1].architecture, "1,2,3,4,0,1");
  EXPECT_EQ(rows[1].line, 4);
  EXPECT_FALSE(rows[0].result.has_value());
}

TEST(ImportFile, CsvRowsCarryTheirMetricsAndLines) {
  absl::StatusOr<std::vector<GuidedRow>> rows = ParseImportFile(
      absl::StrCat("architecture,accuracy,latency_ms,params,latency_ms@cortex-m7\n", kArch,
                   ",0.91,11.5,120000,40\r\n\n\"1,2,3,4,0,1\",0.5,3,1000,2\n"),
      "r.csv");
  ASSERT_TRUE(rows.ok()) << rows.status();
  ASSERT_EQ(rows->size(), 2u);
  const GuidedRow& a = (*rows)[0];
  EXPECT_EQ(a.line, 2);
  EXPECT_EQ(a.architecture, kArch);
  ASSERT_TRUE(a.result.has_value());
  EXPECT_DOUBLE_EQ(a.result->accuracy, 0.91);
  ASSERT_TRUE(a.result->latency.has_value());
  EXPECT_DOUBLE_EQ(a.result->latency->median_ms, 11.5);
  EXPECT_DOUBLE_EQ(a.result->latency->p90_ms, 11.5);
  EXPECT_EQ(a.result->costs.params, 120000);
  EXPECT_DOUBLE_EQ(a.result->estimates.at("latency_ms@cortex-m7"), 40);
  EXPECT_EQ((*rows)[1].line, 4);
  EXPECT_EQ((*rows)[1].architecture, "1,2,3,4,0,1");
}

TEST(ImportFile, JsonArrayOfObjects) {
  absl::StatusOr<std::vector<GuidedRow>> rows = ParseImportFile(
      absl::StrCat("[\n  {\"architecture\": \"", kArch,
                   "\", \"accuracy\": 0.9, \"flash_bytes\": 5000},\n  {\"architecture\": "
                   "\"1,2,3,4,0,1\", \"accuracy\": 0.4}\n]\n"),
      "r.json");
  ASSERT_TRUE(rows.ok()) << rows.status();
  ASSERT_EQ(rows->size(), 2u);
  EXPECT_EQ((*rows)[0].line, 2);
  EXPECT_EQ((*rows)[0].result->costs.flash_bytes, 5000);
  EXPECT_EQ((*rows)[1].line, 3);
  EXPECT_DOUBLE_EQ((*rows)[1].result->accuracy, 0.4);
  // Without an extension the first character decides.
  EXPECT_TRUE(ParseImportFile("[{\"architecture\": \"1,1,1,1,1,1\", \"accuracy\": 1}]", "-").ok());
}

// Each bad file is refused whole, with FILE:LINE and what is wrong.
TEST(ImportFile, BadRowsAreRefusedWithTheirLine) {
  const std::string header = "architecture,accuracy,latency_ms\n";
  const std::string good = absl::StrCat("\"", kArch, "\",0.9,10\n");
  struct Case {
    std::string text;
    std::string name;
    std::string error;
  };
  const std::vector<Case> cases = {
      {header + good + "\"1,1,1,1,1,1\",0.8,\n", "a.csv", "a.csv:3: missing latency_ms"},
      {header + good + "\"1,1,1,1,1,1\",high,3\n", "a.csv", "a.csv:3: accuracy 'high'"},
      {header + good + "\"1,1,1,1,1,1\",1.5,3\n", "a.csv", "a.csv:3: accuracy 1.5"},
      {header + good + "\"1,1,1,1,1,1\",nan,3\n", "a.csv", "a.csv:3: accuracy 'nan'"},
      {header + good + ",0.8,3\n", "a.csv", "a.csv:3: missing architecture"},
      {header + good + "1,1,1,1,1,1,0.8,3\n", "a.csv", "a.csv:3: 8 fields, the header has 3"},
      {"architecture,acuracy\nx,1\n", "a.csv", "a.csv:1: column 2: unknown metric 'acuracy'"},
      {"arch,accuracy\nx,1\n", "a.csv", "a.csv:1: column 1: unknown metric 'arch'"},
      {"architecture,latency_ms\nx,1\n", "a.csv", "no 'accuracy' column"},
      {header, "a.csv", "no result rows"},
      {"[{\"architecture\": \"x\", \"accuracy\": 0.5},\n {\"architecture\": \"y\"}]", "b.json",
       "b.json:2: missing accuracy"},
      {"[{\"architecture\": \"x\",\n \"accuracy\": \"0.5\"}]", "b.json",
       "b.json:2: accuracy: expected a number"},
      {"[{\"architecture\": \"x\", \"accuracy\": null}]", "b.json", "b.json:1: accuracy"},
      {"{\"architecture\": \"x\"}", "b.json", "expected a JSON array"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<std::vector<GuidedRow>> rows = ParseImportFile(c.text, c.name);
    ASSERT_FALSE(rows.ok()) << c.text;
    EXPECT_EQ(rows.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_TRUE(absl::StrContains(rows.status().message(), c.error))
        << "got: " << rows.status().message() << "\nwant: " << c.error;
  }
}

}  // namespace
}  // namespace hwnas::cli
