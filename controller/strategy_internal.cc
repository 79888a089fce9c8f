#include "controller/strategy_internal.h"

#include <algorithm>
#include <limits>

#include "common/status_macros.h"

namespace hwnas::controller::internal {
namespace {

constexpr uint64_t kMixedRadixLimit = uint64_t{1} << 63;
// Spaces up to this size are enumerated when rejection sampling stalls.
constexpr uint64_t kEnumerateLimit = uint64_t{1} << 22;
constexpr int kRejectionTries = 256;

std::vector<int> DecodeIndex(const space::SearchSpace& space, uint64_t index) {
  const auto& ds = space.decisions();
  std::vector<int> tokens(ds.size());
  for (size_t i = ds.size(); i-- > 0;) {
    const uint64_t k = ds[i].choices.size();
    tokens[i] = static_cast<int>(index % k);
    index /= k;
  }
  return tokens;
}

}  // namespace

uint64_t ExactKey(const space::SearchSpace& space, absl::Span<const int> tokens) {
  const auto& ds = space.decisions();
  if (space.Cardinality() < kMixedRadixLimit && tokens.size() == ds.size()) {
    uint64_t key = 0;
    for (size_t i = 0; i < tokens.size(); ++i) {
      key = key * ds[i].choices.size() + static_cast<uint64_t>(tokens[i]);
    }
    return key;
  }
  uint64_t h = 1469598103934665603ull;
  for (int t : tokens) {
    for (int shift = 0; shift < 32; shift += 8) {
      h ^= (static_cast<uint32_t>(t) >> shift) & 0xff;
      h *= 1099511628211ull;
    }
  }
  return h;
}

std::vector<int> UniformTokens(const space::SearchSpace& space, Rng& rng) {
  const auto& ds = space.decisions();
  std::vector<int> tokens(ds.size());
  for (size_t i = 0; i < ds.size(); ++i) {
    tokens[i] = static_cast<int>(rng.Uniform(ds[i].choices.size()));
  }
  return tokens;
}

std::optional<std::vector<int>> SampleUnseen(const space::SearchSpace& space, Rng& rng,
                                             const KeySet& seen) {
  const uint64_t cardinality = space.Cardinality();
  if (seen.size() >= cardinality) return std::nullopt;
  for (int attempt = 0; attempt < kRejectionTries; ++attempt) {
    std::vector<int> tokens = UniformTokens(space, rng);
    if (!seen.contains(ExactKey(space, tokens)) && space.Validate(tokens).ok()) return tokens;
  }
  if (cardinality > kEnumerateLimit) return std::nullopt;
  // Dense: list what is left and pick uniformly among it.
  std::vector<uint64_t> left;
  for (uint64_t index = 0; index < cardinality; ++index) {
    if (seen.contains(index)) continue;
    if (space.Validate(DecodeIndex(space, index)).ok()) left.push_back(index);
  }
  if (left.empty()) return std::nullopt;
  return DecodeIndex(space, left[rng.Uniform(left.size())]);
}

void MoveToOtherChoice(const space::SearchSpace& space, Rng& rng, std::vector<int>& tokens,
                       size_t d) {
  const uint64_t choices = space.decisions()[d].choices.size();
  if (choices < 2) return;
  const int shift = 1 + static_cast<int>(rng.Uniform(choices - 1));
  tokens[d] = static_cast<int>((tokens[d] + shift) % choices);
}

std::vector<Proposal> ProposeFromPopulation(
    int n, const space::SearchSpace& space, Rng& rng, KeySet& seen, uint64_t& next_id,
    int& random_issued, int random_first, bool population_empty,
    const std::function<std::optional<std::vector<int>>()>& child) {
  std::vector<Proposal> out;
  for (int i = 0; i < n; ++i) {
    std::optional<std::vector<int>> tokens;
    if (population_empty || random_issued < random_first) {
      tokens = SampleUnseen(space, rng, seen);
      ++random_issued;
    } else {
      tokens = child();
    }
    if (!tokens) break;
    seen.insert(ExactKey(space, *tokens));
    out.push_back(Proposal{next_id++, MakeArch(space, *std::move(tokens))});
  }
  return out;
}

void WriteKeys(ByteWriter& w, const KeySet& keys) {
  w.U64(keys.size());
  for (uint64_t k : keys) w.U64(k);
}

absl::Status ReadKeys(ByteReader& r, KeySet& keys) {
  keys.clear();
  HWNAS_ASSIGN_OR_RETURN(uint64_t n, r.U64());
  // Bounded by what the bytes can hold: a corrupt count must not allocate.
  keys.reserve(std::min<uint64_t>(n, r.remaining() / 8));
  for (uint64_t i = 0; i < n; ++i) {
    HWNAS_ASSIGN_OR_RETURN(uint64_t k, r.U64());
    keys.insert(k);
  }
  return absl::OkStatus();
}

Architecture MakeArch(const space::SearchSpace& space, std::vector<int> tokens) {
  Architecture a;
  a.space = std::string(space.name());
  a.space_version = space.version();
  a.readable = space.Readable(tokens);
  a.tokens = std::move(tokens);
  return a;
}

}  // namespace hwnas::controller::internal
