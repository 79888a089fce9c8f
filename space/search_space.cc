#include "space/search_space.h"

#include <limits>

#include "absl/hash/hash.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace hwnas::space {

absl::Status SearchSpace::Validate(absl::Span<const int> tokens) const {
  const std::vector<Decision>& ds = decisions();
  if (tokens.size() != ds.size()) {
    return absl::InvalidArgumentError(absl::StrCat("space ", name(), " v", version(), " expects ",
                                                   ds.size(), " tokens, got ", tokens.size()));
  }
  for (size_t i = 0; i < tokens.size(); ++i) {
    const int n = static_cast<int>(ds[i].choices.size());
    if (tokens[i] < 0 || tokens[i] >= n) {
      return absl::InvalidArgumentError(absl::StrCat(
          "token ", i, " (", ds[i].name, ") = ", tokens[i], " is out of range [0, ", n, ")"));
    }
  }
  return ValidateSpecific(tokens);
}

absl::Status SearchSpace::ValidateSpecific(absl::Span<const int>) const { return absl::OkStatus(); }

absl::StatusOr<std::vector<int>> SearchSpace::Parse(absl::string_view text) const {
  absl::string_view trimmed = absl::StripAsciiWhitespace(text);
  // A plain token list: "3,1,0,2" or "3 1 0 2".
  bool numeric = !trimmed.empty();
  for (char c : trimmed) {
    numeric = numeric && (absl::ascii_isdigit(static_cast<unsigned char>(c)) || c == ',' ||
                          c == ' ' || c == '[' || c == ']');
  }
  std::vector<int> tokens;
  if (numeric) {
    for (absl::string_view part :
         absl::StrSplit(trimmed, absl::ByAnyChar(", []"), absl::SkipEmpty())) {
      int v = 0;
      if (!absl::SimpleAtoi(part, &v)) {
        return absl::InvalidArgumentError(absl::StrCat("'", part, "' is not a token"));
      }
      tokens.push_back(v);
    }
  } else {
    absl::StatusOr<std::vector<int>> parsed = ParseReadable(trimmed);
    if (!parsed.ok()) return parsed.status();
    tokens = *std::move(parsed);
  }
  if (absl::Status s = Validate(tokens); !s.ok()) return s;
  return tokens;
}

std::vector<int> SearchSpace::Canonicalize(absl::Span<const int> tokens) const {
  return std::vector<int>(tokens.begin(), tokens.end());
}

std::string SearchSpace::FunctionSignature(absl::Span<const int> tokens) const {
  return absl::StrJoin(Canonicalize(tokens), ",");
}

uint64_t SearchSpace::CanonicalHash(absl::Span<const int> tokens) const {
  std::vector<int> canonical = Canonicalize(tokens);
  // FNV-1a over a fixed byte encoding: stable across processes and builds,
  // unlike absl::Hash, because it is persisted and compared between machines.
  uint64_t h = 1469598103934665603ull;
  auto mix = [&h](uint64_t byte) {
    h ^= byte;
    h *= 1099511628211ull;
  };
  for (char c : name()) mix(static_cast<unsigned char>(c));
  mix(0xff);
  for (int shift = 0; shift < 32; shift += 8)
    mix((static_cast<uint32_t>(version()) >> shift) & 0xff);
  for (int t : canonical) {
    for (int shift = 0; shift < 32; shift += 8) mix((static_cast<uint32_t>(t) >> shift) & 0xff);
  }
  return h;
}

absl::StatusOr<Architecture> SearchSpace::MakeArchitecture(std::vector<int> tokens) const {
  if (absl::Status s = Validate(tokens); !s.ok()) return s;
  Architecture arch;
  arch.space = std::string(name());
  arch.space_version = version();
  arch.readable = Readable(tokens);
  arch.tokens = std::move(tokens);
  return arch;
}

uint64_t SearchSpace::Cardinality() const {
  uint64_t n = 1;
  for (const Decision& d : decisions()) {
    const uint64_t k = d.choices.size();
    if (k != 0 && n > std::numeric_limits<uint64_t>::max() / k) {
      return std::numeric_limits<uint64_t>::max();
    }
    n *= k;
  }
  return n;
}

}  // namespace hwnas::space
