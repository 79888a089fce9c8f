// Helpers shared by the strategy implementations. Internal to controller/.
#ifndef HWNAS_CONTROLLER_STRATEGY_INTERNAL_H_
#define HWNAS_CONTROLLER_STRATEGY_INTERNAL_H_

#include <cstdint>
#include <optional>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/types/span.h"
#include "controller/bytes_internal.h"
#include "controller/rng.h"
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
                                             const absl::flat_hash_set<uint64_t>& seen);

// Checkpoint helpers for key sets (written sorted, so equal sets give equal bytes).
void WriteKeys(ByteWriter& w, const absl::flat_hash_set<uint64_t>& keys);
absl::Status ReadKeys(ByteReader& r, absl::flat_hash_set<uint64_t>& keys);

// Packages tokens as an Architecture of the space (they must be valid).
Architecture MakeArch(const space::SearchSpace& space, std::vector<int> tokens);

}  // namespace hwnas::controller::internal

#endif  // HWNAS_CONTROLLER_STRATEGY_INTERNAL_H_
