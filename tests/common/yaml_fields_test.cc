#include "common/yaml_fields.h"

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace hwnas {
namespace {

using ::testing::HasSubstr;

YamlSection Section(const std::string& text, absl::string_view key) {
  absl::StatusOr<YamlSection> root = YamlSection::Parse(text);
  EXPECT_TRUE(root.ok()) << root.status();
  absl::StatusOr<YamlSection> child = root->Child(key);
  EXPECT_TRUE(child.ok()) << child.status();
  return *child;
}

std::string Message(const absl::Status& s) { return std::string(s.message()); }

TEST(YamlSectionTest, AbsentKeysTakeTheirDefaults) {
  YamlSection s = Section("training: {epochs: 3}", "training");
  EXPECT_EQ(*s.Int("epochs", 1, 1, 100), 3);
  EXPECT_EQ(*s.Int("batch_size", 64, 1, 4096), 64);
  EXPECT_DOUBLE_EQ(*s.Double("lr", 0.1, 0, 10), 0.1);
  EXPECT_EQ(*s.String("optimizer", "sgd"), "sgd");
  EXPECT_TRUE(*s.Bool("shuffle", true));
  EXPECT_EQ(*s.IntList("sizes", std::vector<int64_t>{1, 2}, 0, 9), (std::vector<int64_t>{1, 2}));
  // A section that is absent altogether reads as defaults too.
  YamlSection missing = Section("name: x", "training");
  EXPECT_FALSE(missing.present());
  EXPECT_EQ(*missing.Int("epochs", 5, 1, 100), 5);
}

TEST(YamlSectionTest, ErrorsNameTheFieldAndTheProblem) {
  YamlSection s =
      Section("training: {epochs: 400, lr: fast, optimizer: rmsprop, sizes: [1, x], flag: maybe}",
              "training");
  EXPECT_EQ(Message(s.Int("epochs", 1, 1, 100).status()),
            "training.epochs: must be between 1 and 100, got 400");
  EXPECT_EQ(Message(s.Double("lr", 0.1, 0, 10).status()),
            "training.lr: must be a finite number, got 'fast'");
  EXPECT_EQ(Message(s.Enum("optimizer", {"sgd", "adam"}, "sgd").status()),
            "training.optimizer: unknown value 'rmsprop' (expected one of: sgd, adam)");
  EXPECT_EQ(Message(s.IntList("sizes", std::nullopt, 0, 9).status()),
            "training.sizes[1]: must be an integer");
  EXPECT_EQ(Message(s.Bool("flag", false).status()),
            "training.flag: must be true or false, got 'maybe'");
  EXPECT_EQ(Message(s.String("required", std::nullopt).status()), "training.required: is required");
  EXPECT_THAT(Message(s.CheckKeys({"epochs", "lr"})), HasSubstr("training.optimizer: unknown key"));
}

TEST(YamlSectionTest, StructureErrors) {
  absl::StatusOr<YamlSection> bad = YamlSection::Parse("a: [1, 2\nb: 3");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(Message(bad.status()), HasSubstr("malformed YAML at line"));
  absl::StatusOr<YamlSection> root = YamlSection::Parse("training: 5\nspace: {x: {y: 1}}");
  ASSERT_TRUE(root.ok());
  EXPECT_EQ(Message(root->Child("training").status()),
            "training: must be a mapping of key: value pairs");
  YamlSection space = *root->Child("space");
  EXPECT_EQ(Message(space.Int("x", 1, 0, 9).status()), "space.x: must be a single value");

  // A list or mapping as a key used to abort the process (an uncaught
  // yaml-cpp conversion); a repeated key used to lose its second value.
  YamlSection odd = Section("training:\n  ? [a, b]\n  : 2\n", "training");
  EXPECT_EQ(Message(odd.CheckKeys({"epochs"})),
            "training: keys must be plain names, not lists or mappings");
  YamlSection twice = Section("training:\n  epochs: 1\n  epochs: 2\n", "training");
  EXPECT_EQ(Message(twice.CheckKeys({"epochs"})), "training.epochs: appears twice");
}

// Specs travel in protobuf strings, which must be UTF-8: a Latin-1 file is
// refused where it is read, naming the line, instead of failing inside gRPC.
TEST(YamlSectionTest, TextThatIsNotUtf8IsRefusedNamingTheLine) {
  EXPECT_EQ(FirstInvalidUtf8("name: caf\xc3\xa9 \xe2\x9c\x93 \xf0\x9f\x98\x80"), std::nullopt);
  EXPECT_EQ(FirstInvalidUtf8("ab\xe9"), 2u);            // Latin-1 e-acute.
  EXPECT_EQ(FirstInvalidUtf8("\xc0\xaf"), 0u);          // Overlong '/'.
  EXPECT_EQ(FirstInvalidUtf8("x\xed\xa0\x80"), 1u);     // A UTF-16 surrogate.
  EXPECT_EQ(FirstInvalidUtf8("\xf4\x90\x80\x80"), 0u);  // Past U+10FFFF.
  EXPECT_EQ(FirstInvalidUtf8("ok\xe2\x9c"), 2u);        // Cut short.
  absl::StatusOr<YamlSection> latin1 = YamlSection::Parse("name: x\ndescription: caf\xe9\n");
  ASSERT_FALSE(latin1.ok());
  EXPECT_EQ(Message(latin1.status()), "not UTF-8 text: an invalid byte at line 2 (byte 25)");
}

// An offending value is quoted by a short prefix and its size: a value of
// 9,000 characters once made the error too large for gRPC's metadata.
TEST(YamlSectionTest, LongValuesAreQuotedByAShortPrefix) {
  const std::string big(9000, 'x');
  // A key over 1024 characters must be explicit ("? key") in YAML.
  YamlSection s =
      Section(absl::StrCat("training:\n  lr: ", big, "\n  optimizer: ", big, "\n  flag: ", big,
                           "\n  epochs: ", big, "\n  ? ", big, "\n  : 1\n"),
              "training");
  for (const absl::Status& st :
       {s.Double("lr", 0.1, 0, 10).status(), s.Enum("optimizer", {"sgd"}, "sgd").status(),
        s.Bool("flag", false).status(), s.Int("epochs", 1, 1, 100).status(),
        s.CheckKeys({"lr", "optimizer", "flag", "epochs"})}) {
    EXPECT_FALSE(st.ok());
    EXPECT_LT(st.message().size(), 300u) << st.message().substr(0, 200);
    EXPECT_THAT(Message(st), HasSubstr("(9000 bytes)"));
  }
  EXPECT_EQ(QuoteValue("short"), "'short'");
  // A cut never splits a UTF-8 character.
  const std::string accents(100, 'a');
  const std::string quoted = QuoteValue(absl::StrCat(accents.substr(0, 63), "\xc3\xa9", accents));
  EXPECT_EQ(FirstInvalidUtf8(quoted), std::nullopt) << quoted;
}

// Numbers written as quoted strings are strings: refused, not converted.
TEST(YamlSectionTest, QuotedNumbersAreRefused) {
  YamlSection s = Section("budget: {trials: \"1000\", lr: '0.5', on: 'true', plain: 7}", "budget");
  EXPECT_EQ(Message(s.Int("trials", 100, 1, 100000).status()),
            "budget.trials: must be an integer, got the quoted string '1000' (drop the quotes)");
  EXPECT_THAT(Message(s.Double("lr", 1, 0, 1).status()), HasSubstr("budget.lr: must be a"));
  EXPECT_THAT(Message(s.Bool("on", false).status()), HasSubstr("budget.on: must be"));
  EXPECT_EQ(*s.Int("plain", 1, 1, 10), 7);
}

// A key given with no value (null, ~ or nothing) is a mistake, not "use the
// default": leave the key out for that.
TEST(YamlSectionTest, NullValuesAreRefusedNotDefaulted) {
  YamlSection s = Section("budget: {trials: ~, lr: null, on:, sizes: ~, names: ~}", "budget");
  EXPECT_EQ(Message(s.Int("trials", 100, 1, 100000).status()),
            "budget.trials: has no value (null); give one, or leave the key out for the default");
  EXPECT_THAT(Message(s.Double("lr", 1, 0, 1).status()), HasSubstr("budget.lr: has no value"));
  EXPECT_THAT(Message(s.Bool("on", false).status()), HasSubstr("budget.on: has no value"));
  EXPECT_THAT(Message(s.String("on", "x").status()), HasSubstr("budget.on: has no value"));
  EXPECT_THAT(Message(s.IntList("sizes", std::vector<int64_t>{}, 0, 9).status()),
              HasSubstr("budget.sizes: has no value"));
  EXPECT_THAT(Message(s.StringList("names", std::vector<std::string>{}).status()),
              HasSubstr("budget.names: has no value"));
  EXPECT_EQ(*s.Int("absent", 100, 1, 100000), 100);
}

TEST(YamlSectionTest, MoreThanOneDocumentIsRefused) {
  absl::StatusOr<YamlSection> two = YamlSection::Parse("name: a\n---\nname: b\n");
  ASSERT_FALSE(two.ok());
  EXPECT_THAT(Message(two.status()), HasSubstr("2 YAML documents"));
  EXPECT_TRUE(YamlSection::Parse("---\nname: a\n").ok());
  EXPECT_TRUE(YamlSection::Parse("").ok());
}

}  // namespace
}  // namespace hwnas
