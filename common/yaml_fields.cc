#include "common/yaml_fields.h"

#include <algorithm>
#include <cmath>
#include <exception>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace hwnas {
namespace {

absl::Status FieldError(absl::string_view path, absl::string_view problem) {
  return absl::InvalidArgumentError(absl::StrCat(path.empty() ? "spec" : path, ": ", problem));
}

// A quoted scalar ('1000' or "1000") carries the non-specific tag "!"; a
// plain one "?".
bool IsQuoted(const YAML::Node& node) { return node.Tag() == "!"; }

}  // namespace

std::string QuoteValue(absl::string_view value) {
  constexpr size_t kMaxQuoted = 64;
  if (value.size() <= kMaxQuoted) return absl::StrCat("'", value, "'");
  size_t cut = kMaxQuoted;
  // Back up over UTF-8 continuation bytes so the prefix stays valid text.
  while (cut > 0 && (static_cast<unsigned char>(value[cut]) & 0xC0) == 0x80) --cut;
  return absl::StrCat("'", value.substr(0, cut), "\xe2\x80\xa6' (", value.size(), " bytes)");
}

YamlSection::YamlSection(YAML::Node node, std::string path)
    : node_(std::move(node)), path_(std::move(path)) {}

std::optional<size_t> FirstInvalidUtf8(absl::string_view text) {
  size_t i = 0;
  while (i < text.size()) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    size_t length = 0;
    uint32_t code = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      length = 2;
      code = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      length = 3;
      code = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      length = 4;
      code = c & 0x07;
    } else {
      return i;
    }
    if (i + length > text.size()) return i;
    for (size_t k = 1; k < length; ++k) {
      const unsigned char next = static_cast<unsigned char>(text[i + k]);
      if ((next & 0xC0) != 0x80) return i;
      code = (code << 6) | (next & 0x3F);
    }
    // Overlong forms, UTF-16 surrogates and code points past U+10FFFF.
    static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    if (code < kMin[length] || (code >= 0xD800 && code <= 0xDFFF) || code > 0x10FFFF) return i;
    i += length;
  }
  return std::nullopt;
}

absl::Status CheckUtf8(absl::string_view text) {
  const std::optional<size_t> bad = FirstInvalidUtf8(text);
  // A NUL is valid UTF-8 but no YAML text has one, and PostgreSQL's text
  // would end there: the stored spec would lose the rest.
  const size_t nul = text.find('\0');
  const bool nul_first = nul != absl::string_view::npos && (!bad || nul < *bad);
  if (!bad && !nul_first) return absl::OkStatus();
  const size_t at = nul_first ? nul : *bad;
  const int64_t line = 1 + std::count(text.begin(), text.begin() + at, '\n');
  return absl::InvalidArgumentError(
      absl::StrCat(nul_first ? "not a text file: a NUL byte" : "not UTF-8 text: an invalid byte",
                   " at line ", line, " (byte ", at + 1, ")"));
}

absl::StatusOr<YamlSection> YamlSection::Parse(absl::string_view text) {
  if (absl::Status s = CheckUtf8(text); !s.ok()) return s;
  try {
    std::vector<YAML::Node> documents = YAML::LoadAll(std::string(text));
    if (documents.size() > 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("spec: holds ", documents.size(),
                       " YAML documents (separated by '---'); give exactly one"));
    }
    return YamlSection(documents.empty() ? YAML::Node() : documents[0], "");
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("malformed YAML at line ", e.mark.line + 1,
                                                   ", column ", e.mark.column + 1, ": ", e.msg));
  }
}

bool YamlSection::Has(absl::string_view key) const {
  if (!present() || !node_.IsMap()) return false;
  YAML::Node child = node_[std::string(key)];
  return child.IsDefined() && !child.IsNull();
}

std::string YamlSection::PathOf(absl::string_view key) const {
  return path_.empty() ? std::string(key) : absl::StrCat(path_, ".", key);
}

absl::Status YamlSection::CheckIsMap() const {
  if (!present() || node_.IsMap()) return absl::OkStatus();
  return FieldError(path_, "must be a mapping of key: value pairs");
}

absl::Status YamlSection::CheckKeys(std::initializer_list<absl::string_view> allowed) const {
  return CheckKeys(std::vector<std::string>(allowed.begin(), allowed.end()));
}

absl::Status YamlSection::CheckKeys(const std::vector<std::string>& allowed) const {
  if (absl::Status s = CheckIsMap(); !s.ok()) return s;
  if (!present()) return absl::OkStatus();
  std::vector<std::string> seen;
  for (const auto& kv : node_) {
    if (!kv.first.IsScalar()) {
      return FieldError(path_, "keys must be plain names, not lists or mappings");
    }
    const std::string& key = kv.first.Scalar();
    // A long key is named by a quoted prefix, not a path that carries it whole.
    const std::string where =
        key.size() <= 64 ? PathOf(key)
                         : absl::StrCat(path_.empty() ? "spec" : path_, ": key ", QuoteValue(key));
    // yaml-cpp keeps both entries of a repeated key and lookups see only the
    // first: refuse it rather than silently ignore the second value.
    if (std::find(seen.begin(), seen.end(), key) != seen.end()) {
      return FieldError(where, "appears twice");
    }
    seen.push_back(key);
    bool known = false;
    for (const std::string& a : allowed) known = known || a == key;
    if (!known) {
      return FieldError(
          where, absl::StrCat("unknown key (expected one of: ", absl::StrJoin(allowed, ", "), ")"));
    }
    if (kv.second.IsNull()) {
      // `key:` with nothing after it, or ~: a forgotten value, not a default.
      return FieldError(where,
                        "has no value (null); give one, or leave the key out for the default");
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<YamlSection> YamlSection::Child(absl::string_view key) const {
  if (absl::Status s = CheckIsMap(); !s.ok()) return s;
  // An absent key yields an invalid yaml-cpp node that throws on most uses;
  // a null node stands for "absent" instead.
  YAML::Node child = Has(key) ? node_[std::string(key)] : YAML::Node();
  YamlSection section(child, PathOf(key));
  if (absl::Status s = section.CheckIsMap(); !s.ok()) return s;
  return section;
}

absl::Status YamlSection::CheckNotNull(absl::string_view key) const {
  if (!present() || !node_.IsMap()) return absl::OkStatus();
  YAML::Node child = node_[std::string(key)];
  if (child.IsDefined() && child.IsNull()) {
    return FieldError(PathOf(key),
                      "has no value (null); give one, or leave the key out for the default");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::optional<YAML::Node>> YamlSection::Scalar(absl::string_view key) const {
  if (absl::Status s = CheckIsMap(); !s.ok()) return s;
  if (absl::Status s = CheckNotNull(key); !s.ok()) return s;
  // Note: a default-constructed YAML::Node is a *defined* null node, so
  // absence is signalled with nullopt rather than an empty node.
  if (!Has(key)) return std::optional<YAML::Node>();
  YAML::Node child = node_[std::string(key)];
  if (!child.IsScalar()) return FieldError(PathOf(key), "must be a single value");
  return std::optional<YAML::Node>(child);
}

absl::StatusOr<std::string> YamlSection::String(absl::string_view key,
                                                std::optional<std::string> def) const {
  absl::StatusOr<std::optional<YAML::Node>> n = Scalar(key);
  if (!n.ok()) return n.status();
  if (!n->has_value()) {
    if (!def) return FieldError(PathOf(key), "is required");
    return *def;
  }
  return (**n).as<std::string>();
}

absl::StatusOr<std::string> YamlSection::Enum(absl::string_view key,
                                              std::initializer_list<absl::string_view> allowed,
                                              std::optional<std::string> def) const {
  absl::StatusOr<std::string> v = String(key, std::move(def));
  if (!v.ok()) return v;
  for (absl::string_view a : allowed) {
    if (a == *v) return v;
  }
  return FieldError(PathOf(key),
                    absl::StrCat("unknown value ", QuoteValue(*v),
                                 " (expected one of: ", absl::StrJoin(allowed, ", "), ")"));
}

absl::StatusOr<int64_t> YamlSection::Int(absl::string_view key, std::optional<int64_t> def,
                                         int64_t min, int64_t max) const {
  absl::StatusOr<std::optional<YAML::Node>> n = Scalar(key);
  if (!n.ok()) return n.status();
  int64_t value = 0;
  if (!n->has_value()) {
    if (!def) return FieldError(PathOf(key), "is required");
    value = *def;
  } else if (IsQuoted(**n)) {
    return FieldError(PathOf(key), absl::StrCat("must be an integer, got the quoted string ",
                                                QuoteValue((**n).Scalar()), " (drop the quotes)"));
  } else if (!absl::SimpleAtoi((**n).Scalar(), &value)) {
    return FieldError(PathOf(key),
                      absl::StrCat("must be an integer, got ", QuoteValue((**n).Scalar())));
  }
  if (value < min || value > max) {
    return FieldError(PathOf(key),
                      absl::StrCat("must be between ", min, " and ", max, ", got ", value));
  }
  return value;
}

absl::StatusOr<double> YamlSection::Double(absl::string_view key, std::optional<double> def,
                                           double min, double max) const {
  absl::StatusOr<std::optional<YAML::Node>> n = Scalar(key);
  if (!n.ok()) return n.status();
  double value = 0;
  if (!n->has_value()) {
    if (!def) return FieldError(PathOf(key), "is required");
    value = *def;
  } else if (IsQuoted(**n)) {
    return FieldError(PathOf(key), absl::StrCat("must be a finite number, got the quoted string ",
                                                QuoteValue((**n).Scalar()), " (drop the quotes)"));
  } else if (!absl::SimpleAtod((**n).Scalar(), &value) || !std::isfinite(value)) {
    return FieldError(PathOf(key),
                      absl::StrCat("must be a finite number, got ", QuoteValue((**n).Scalar())));
  }
  if (value < min || value > max) {
    return FieldError(PathOf(key),
                      absl::StrCat("must be between ", min, " and ", max, ", got ", value));
  }
  return value;
}

absl::StatusOr<bool> YamlSection::Bool(absl::string_view key, std::optional<bool> def) const {
  absl::StatusOr<std::optional<YAML::Node>> n = Scalar(key);
  if (!n.ok()) return n.status();
  if (!n->has_value()) {
    if (!def) return FieldError(PathOf(key), "is required");
    return *def;
  }
  const std::string& s = (**n).Scalar();
  if (IsQuoted(**n)) {
    return FieldError(PathOf(key), absl::StrCat("must be true or false, got the quoted string ",
                                                QuoteValue(s), " (drop the quotes)"));
  }
  if (s == "true" || s == "yes" || s == "on") return true;
  if (s == "false" || s == "no" || s == "off") return false;
  return FieldError(PathOf(key), absl::StrCat("must be true or false, got ", QuoteValue(s)));
}

absl::StatusOr<std::vector<int64_t>> YamlSection::IntList(absl::string_view key,
                                                          std::optional<std::vector<int64_t>> def,
                                                          int64_t min, int64_t max) const {
  if (absl::Status s = CheckIsMap(); !s.ok()) return s;
  if (absl::Status s = CheckNotNull(key); !s.ok()) return s;
  if (!Has(key)) {
    if (!def) return FieldError(PathOf(key), "is required");
    return *def;
  }
  YAML::Node list = node_[std::string(key)];
  if (!list.IsSequence()) return FieldError(PathOf(key), "must be a list such as [1, 2, 3]");
  std::vector<int64_t> out;
  for (size_t i = 0; i < list.size(); ++i) {
    int64_t v = 0;
    std::string item_path = absl::StrCat(PathOf(key), "[", i, "]");
    if (!list[i].IsScalar() || IsQuoted(list[i]) || !absl::SimpleAtoi(list[i].Scalar(), &v)) {
      return FieldError(item_path, "must be an integer");
    }
    if (v < min || v > max) {
      return FieldError(item_path,
                        absl::StrCat("must be between ", min, " and ", max, ", got ", v));
    }
    out.push_back(v);
  }
  return out;
}

absl::StatusOr<std::vector<std::string>> YamlSection::StringList(
    absl::string_view key, std::optional<std::vector<std::string>> def) const {
  if (absl::Status s = CheckIsMap(); !s.ok()) return s;
  if (absl::Status s = CheckNotNull(key); !s.ok()) return s;
  if (!Has(key)) {
    if (!def) return FieldError(PathOf(key), "is required");
    return *def;
  }
  YAML::Node list = node_[std::string(key)];
  if (!list.IsSequence()) return FieldError(PathOf(key), "must be a list");
  std::vector<std::string> out;
  for (size_t i = 0; i < list.size(); ++i) {
    if (!list[i].IsScalar()) {
      return FieldError(absl::StrCat(PathOf(key), "[", i, "]"), "must be a single value");
    }
    out.push_back(list[i].Scalar());
  }
  return out;
}

}  // namespace hwnas
