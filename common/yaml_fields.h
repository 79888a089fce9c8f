// Typed reads from YAML with errors that name the field and the problem, e.g.
// "space.blocks: must be between 1 and 12, got 40". Every spec section parser
// uses these so users see the same style of message everywhere.
#ifndef HWNAS_COMMON_YAML_FIELDS_H_
#define HWNAS_COMMON_YAML_FIELDS_H_

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "yaml-cpp/yaml.h"

namespace hwnas {

// A view of one YAML mapping plus its dotted path for error messages.
class YamlSection {
 public:
  // `node` may be null/undefined (an absent section): every read then
  // returns its default. Anything other than a mapping is an error on use.
  YamlSection(YAML::Node node, std::string path);

  // Parses text into a section at path "" (the document root). Text that is
  // not UTF-8 is refused up front, naming the line (YAML is Unicode, and
  // protobuf strings that carry specs must be UTF-8), and so is text with
  // more than one YAML document (all but the first would be ignored).
  static absl::StatusOr<YamlSection> Parse(absl::string_view text);

  const std::string& path() const { return path_; }
  bool present() const { return node_.IsDefined() && !node_.IsNull(); }
  bool Has(absl::string_view key) const;
  // Dotted path of a child key, for messages: "space" + "blocks" -> "space.blocks".
  std::string PathOf(absl::string_view key) const;

  // Fails with the first key not in `allowed` (typos must not pass silently).
  absl::Status CheckKeys(std::initializer_list<absl::string_view> allowed) const;
  absl::Status CheckKeys(const std::vector<std::string>& allowed) const;
  // Fails unless the node is a mapping (or absent).
  absl::Status CheckIsMap() const;

  absl::StatusOr<YamlSection> Child(absl::string_view key) const;
  YAML::Node node() const { return node_; }

  // Scalar readers: an absent key takes `def` (an error when nullopt); a key
  // given with no value (null, ~ or nothing) is an error, not the default.
  // Int, Double and Bool refuse quoted strings ("1000"): a string is not a
  // number, and accepting it hides a mistake.
  absl::StatusOr<std::string> String(absl::string_view key, std::optional<std::string> def) const;
  absl::StatusOr<std::string> Enum(absl::string_view key,
                                   std::initializer_list<absl::string_view> allowed,
                                   std::optional<std::string> def) const;
  absl::StatusOr<int64_t> Int(absl::string_view key, std::optional<int64_t> def, int64_t min,
                              int64_t max) const;
  absl::StatusOr<double> Double(absl::string_view key, std::optional<double> def, double min,
                                double max) const;
  absl::StatusOr<bool> Bool(absl::string_view key, std::optional<bool> def) const;
  // A list of integers, each within [min, max].
  absl::StatusOr<std::vector<int64_t>> IntList(absl::string_view key,
                                               std::optional<std::vector<int64_t>> def, int64_t min,
                                               int64_t max) const;
  absl::StatusOr<std::vector<std::string>> StringList(
      absl::string_view key, std::optional<std::vector<std::string>> def) const;

 private:
  // Fails when `key` is present with a null value.
  absl::Status CheckNotNull(absl::string_view key) const;
  // The scalar at `key`; nullopt when the key is absent (null is an error).
  absl::StatusOr<std::optional<YAML::Node>> Scalar(absl::string_view key) const;

  YAML::Node node_;
  std::string path_;
};

// A value for an error message: quoted whole when short, else its first
// characters (never splitting a UTF-8 character) and its size, e.g.
// 'xxxx…' (9000 bytes). Errors travel in gRPC metadata (8 KiB at most) and
// in logs: an offending value must not make them unbounded.
std::string QuoteValue(absl::string_view value);

// Where `text` stops being valid UTF-8 (nullopt when it is valid).
std::optional<size_t> FirstInvalidUtf8(absl::string_view text);
// InvalidArgument naming the line and byte where `text` stops being UTF-8
// text (an invalid sequence, or a NUL byte).
absl::Status CheckUtf8(absl::string_view text);

}  // namespace hwnas

#endif  // HWNAS_COMMON_YAML_FIELDS_H_
