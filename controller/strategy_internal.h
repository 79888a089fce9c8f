// Helpers shared by the strategy implementations. Internal to controller/.
#ifndef HWNAS_CONTROLLER_STRATEGY_INTERNAL_H_
#define HWNAS_CONTROLLER_STRATEGY_INTERNAL_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "controller/bytes_internal.h"
#include "controller/key_set.h"
#include "controller/rng.h"
#include "controller/strategy.h"
#include "space/search_space.h"

namespace hwnas::controller::internal {

// A key equal only for identical token lists: the mixed-radix index when the
// space has fewer than 2^63 token lists, else a 64-bit FNV-1a hash.
uint64_t ExactKey(const space::SearchSpace& space, absl::Span<const int> tokens);

// Uniform token list over the space's decisions (not yet validated).
std::vector<int> UniformTokens(const space::SearchSpace& space, Rng& rng);

// A uniformly random valid token list whose ExactKey is not in `seen`;
// nullopt when none is left (or none was found in a bounded search of a huge space).
std::optional<std::vector<int>> SampleUnseen(const space::SearchSpace& space, Rng& rng,
                                             const KeySet& seen);

// Moves decision `d` of `tokens` to one of its other choices, uniformly
// (nothing for a decision with one choice): the mutation of evolution and
// NSGA-II.
void MoveToOtherChoice(const space::SearchSpace& space, Rng& rng, std::vector<int>& tokens,
                       size_t d);

// The proposal loop of population strategies: up to n architectures, each
// new (added to `seen`) and numbered from `next_id`; uniform samples while
// the population is empty or fewer than `random_first` were issued
// (counted in `random_issued`), then child(); stops early when either
// finds nothing new.
std::vector<Proposal> ProposeFromPopulation(
    int n, const space::SearchSpace& space, Rng& rng, KeySet& seen, uint64_t& next_id,
    int& random_issued, int random_first, bool population_empty,
    const std::function<std::optional<std::vector<int>>()>& child);

// Checkpoint helpers for key sets, in insertion order (so a restored set
// saves the same bytes as the original). Older checkpoints wrote the keys
// sorted; they read back as the same set.
void WriteKeys(ByteWriter& w, const KeySet& keys);
absl::Status ReadKeys(ByteReader& r, KeySet& keys);

// Packages tokens as an Architecture of the space (they must be valid).
Architecture MakeArch(const space::SearchSpace& space, std::vector<int> tokens);

}  // namespace hwnas::controller::internal

#endif  // HWNAS_CONTROLLER_STRATEGY_INTERNAL_H_
