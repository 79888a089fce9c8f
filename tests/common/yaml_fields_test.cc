#include "common/yaml_fields.h"

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

}  // namespace
}  // namespace hwnas
