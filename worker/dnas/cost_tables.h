// Per-block cost tables of the MnasNet space for differentiable search: the
// latency (per-op lookup table or MCU model), flash bytes and peak memory of
// every joint choice of one block's decisions, so that the expected cost
// under a factorized distribution over the decisions is a sum of dot
// products (worker/dnas/supernet.h computes it with autograd).
//
// Why per block and not per decision: a block's ops depend on all of its own
// decisions together (op x kernel x SE x skip x width x layers), on the
// previous block's width (its first layer's input channels) and on the global
// weight width; they do not depend on anything else. Attributing each plan op
// to its block by name ("block3.layer2.dw...") makes the network's latency
// the exact sum of the blocks' entries plus the rest (stem, head, base),
// which depends only on the last block's width and the weight width. So for a
// one-hot distribution the expected latency equals the model's latency of
// that architecture.
//
// Flash and SRAM follow the static cost model (hardware/costs.h) plus the
// profile's runtime overhead; a profile's `deployed` section (which prices
// whole exported networks, not ops) is not used for these expectations, and
// the final architectures are checked against the full estimate instead.
// Peak memory is not additive: the expectation of max over blocks is taken as
// max over blocks of each block's expected peak (documented approximation).
// Torch-free.
#ifndef HWNAS_WORKER_DNAS_COST_TABLES_H_
#define HWNAS_WORKER_DNAS_COST_TABLES_H_

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "hardware/latency_lut.h"
#include "hardware/mcu_model.h"
#include "space/mnasnet_space.h"

namespace hwnas::worker::dnas {

// Dimensions of one block's table, in row-major order.
inline constexpr std::array<int, 8> kBlockDims = {3 /*bits*/,  5 /*op*/,   2 /*kernel*/,
                                                  2 /*se*/,    2 /*skip*/, 3 /*prev width*/,
                                                  3 /*width*/, 3 /*layers*/};
inline constexpr int kBlockEntries = 3 * 5 * 2 * 2 * 2 * 3 * 3 * 3;

struct CostTables {
  // Per block, kBlockEntries values indexed as kBlockDims. The bits index is
  // the weight_bits token (always 0 when the space has no such decision); the
  // previous width of block 0 is always token 0 (the stem is fixed).
  std::vector<std::vector<double>> latency_ms, flash_bytes, peak_bytes;
  // Stem, head and per-network terms, indexed [bits][last block's width].
  std::array<std::array<double, 3>, 3> rest_latency_ms{}, rest_flash_bytes{}, rest_peak_bytes{};
  // Hard limits (0 = none): the MCU's SRAM and flash, and the runtime's share
  // (added to the expectations).
  int64_t sram_limit_bytes = 0, flash_limit_bytes = 0;
  int64_t runtime_sram_bytes = 0, runtime_flash_bytes = 0;
  std::string target;  // "latency_ms@<target>" is what LAT estimates.

  int blocks() const { return static_cast<int>(latency_ms.size()); }
};

// Where LAT comes from: exactly one of the two.
struct LatencySource {
  std::string target_name;
  std::optional<hardware::McuProfile> mcu;
  std::optional<hardware::LatencyLut> lut;
};

// Per-op costs of one plan (index = plan op), from the latency source and
// the static model. Latency per op: the MCU model's op formulas (callers
// drop a profile's `deployed` pricing first) or the lookup table's entry.
struct OpCosts {
  std::vector<double> latency_ms, flash, peak;  // peak = live + scratch.
  std::vector<double> live, scratch;            // As hardware::OpCost.
  double base_latency_ms = 0;                   // Per-network term (lookup table base).
};
// Errors: a lookup table that lacks an op's key (NotFound, naming it).
absl::StatusOr<OpCosts> PerOpCosts(const space::NetworkPlan& plan, const LatencySource& source);

// Index of one entry of a block's table.
int BlockIndex(int bits, int op, int kernel, int se, int skip, int prev_width, int width,
               int layers);

// Builds the tables by lowering, for each block and joint choice, one
// architecture of the space and attributing its ops. `activation_bits`
// overrides the space's when set (the spec's hardware.activation_bits).
// Errors: a lookup table that lacks an op's key (NotFound, naming it).
absl::StatusOr<CostTables> BuildCostTables(const space::MnasnetSpace& space,
                                           const LatencySource& source,
                                           std::optional<int> activation_bits);

// The model's latency / flash need / SRAM need of one architecture as the
// tables compute it for a one-hot distribution (for tests and reports).
struct OneHotCosts {
  double latency_ms = 0;
  double flash_bytes = 0;
  double peak_bytes = 0;
};
OneHotCosts CostsOf(const CostTables& tables, const space::MnasnetSpace& space,
                    absl::Span<const int> tokens);

}  // namespace hwnas::worker::dnas

#endif  // HWNAS_WORKER_DNAS_COST_TABLES_H_
