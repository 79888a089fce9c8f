#include "worker/dnas/cost_tables.h"

#include <algorithm>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "hardware/costs.h"

namespace hwnas::worker::dnas {
namespace {

using space::MnasnetSpace;

// The block (0-based) an op belongs to, or -1 for stem and head.
int BlockOf(const std::string& name) {
  if (!absl::StartsWith(name, "block")) return -1;
  int b = 0;
  size_t i = 5;
  while (i < name.size() && name[i] >= '0' && name[i] <= '9') b = b * 10 + (name[i++] - '0');
  return b - 1;
}

}  // namespace

absl::StatusOr<OpCosts> PerOpCosts(const space::NetworkPlan& plan, const LatencySource& source) {
  HWNAS_ASSIGN_OR_RETURN(hardware::CostReport costs, hardware::ComputeCosts(plan));
  const size_t n = plan.ops.size();
  OpCosts c;
  c.latency_ms.assign(n, 0);
  c.flash.assign(n, 0);
  c.peak.assign(n, 0);
  c.live.assign(n, 0);
  c.scratch.assign(n, 0);
  for (size_t i = 0; i < n; ++i) {
    c.flash[i] = static_cast<double>(costs.ops[i].flash_bytes);
    c.live[i] = static_cast<double>(costs.ops[i].live_bytes);
    c.scratch[i] = static_cast<double>(costs.ops[i].scratch_bytes);
    c.peak[i] = c.live[i] + c.scratch[i];
  }
  if (source.mcu) {
    const hardware::McuEstimate e = hardware::EstimateMcu(plan, costs, *source.mcu);
    for (size_t i = 0; i < n; ++i) {
      c.latency_ms[i] = e.op_cycles[i] / (source.mcu->clock_mhz * 1000.0);
    }
  } else {
    const hardware::LatencyLut& lut = *source.lut;
    for (size_t i = 1; i < n; ++i) {
      const space::Op& op = plan.ops[i];
      const space::Shape& in =
          op.inputs.empty() ? space::Shape{} : plan.ops[op.inputs[0]].output_shape;
      const std::string key = hardware::LutKey(op, in);
      if (key.empty()) continue;
      auto it = lut.entries.find(key);
      if (it == lut.entries.end()) {
        return absl::NotFoundError(absl::StrCat("latency table of target ", source.target_name,
                                                " has no entry '", key, "' (op ", op.name,
                                                "); calibrate it on this space"));
      }
      c.latency_ms[i] = it->second.median_ms * lut.scale;
    }
    c.base_latency_ms = lut.base_ms * lut.scale;
  }
  return c;
}

int BlockIndex(int bits, int op, int kernel, int se, int skip, int prev_width, int width,
               int layers) {
  const int v[8] = {bits, op, kernel, se, skip, prev_width, width, layers};
  int index = 0;
  for (int d = 0; d < 8; ++d) index = index * kBlockDims[d] + v[d];
  return index;
}

absl::StatusOr<CostTables> BuildCostTables(const MnasnetSpace& space, const LatencySource& source,
                                           std::optional<int> activation_bits) {
  if (space.options().quantize && space.decisions().back().choices.size() != 3) {
    return absl::InternalError("mnasnet weight_bits decision has an unexpected size");
  }
  LatencySource src = source;
  // Per-op cycles: the `deployed` pricing replaces them by a whole-network
  // figure, so the op formulas are used here (see the header).
  if (src.mcu) src.mcu->deployed.present = false;
  const int blocks = static_cast<int>(space.options().blocks.size());
  const int n_bits = space.options().quantize ? 3 : 1;
  const int per_block = MnasnetSpace::kDecisionsPerBlock;
  CostTables t;
  t.target = src.target_name;
  t.latency_ms.assign(blocks, std::vector<double>(kBlockEntries, 0));
  t.flash_bytes = t.latency_ms;
  t.peak_bytes = t.latency_ms;
  if (source.mcu) {
    t.sram_limit_bytes = source.mcu->sram_bytes;
    t.flash_limit_bytes = source.mcu->flash_bytes;
    t.runtime_sram_bytes = source.mcu->runtime_sram_bytes;
    t.runtime_flash_bytes = source.mcu->runtime_flash_bytes;
  }
  const size_t n_tokens = space.decisions().size();
  for (int bits = 0; bits < n_bits; ++bits) {
    for (int b = 0; b < blocks; ++b) {
      for (int op = 0; op < 5; ++op)
        for (int k = 0; k < 2; ++k)
          for (int se = 0; se < 2; ++se)
            for (int skip = 0; skip < 2; ++skip)
              for (int pw = 0; pw < (b == 0 ? 1 : 3); ++pw)
                for (int w = 0; w < 3; ++w)
                  for (int l = 0; l < 3; ++l) {
                    std::vector<int> tokens(n_tokens, 0);
                    if (space.options().quantize) tokens.back() = bits;
                    int* tb = &tokens[b * per_block];
                    tb[MnasnetSpace::kOp] = op;
                    tb[MnasnetSpace::kKernel] = k;
                    tb[MnasnetSpace::kSe] = se;
                    tb[MnasnetSpace::kSkip] = skip;
                    tb[MnasnetSpace::kWidth] = w;
                    tb[MnasnetSpace::kLayers] = l;
                    if (b > 0) tokens[(b - 1) * per_block + MnasnetSpace::kWidth] = pw;
                    HWNAS_ASSIGN_OR_RETURN(space::NetworkPlan plan, space.Lower(tokens));
                    if (activation_bits) plan.activation_bits = *activation_bits;
                    HWNAS_ASSIGN_OR_RETURN(OpCosts c, PerOpCosts(plan, src));
                    double lat = 0, flash = 0, peak = 0;
                    for (size_t i = 0; i < plan.ops.size(); ++i) {
                      if (BlockOf(plan.ops[i].name) != b) continue;
                      lat += c.latency_ms[i];
                      flash += c.flash[i];
                      peak = std::max(peak, c.peak[i]);
                    }
                    for (int p = pw; p < (b == 0 ? 3 : pw + 1); ++p) {
                      const int idx = BlockIndex(bits, op, k, se, skip, p, w, l);
                      t.latency_ms[b][idx] = lat;
                      t.flash_bytes[b][idx] = flash;
                      t.peak_bytes[b][idx] = peak;
                    }
                  }
    }
    for (int w = 0; w < 3; ++w) {
      std::vector<int> tokens(n_tokens, 0);
      if (space.options().quantize) tokens.back() = bits;
      tokens[(blocks - 1) * per_block + MnasnetSpace::kWidth] = w;
      HWNAS_ASSIGN_OR_RETURN(space::NetworkPlan plan, space.Lower(tokens));
      if (activation_bits) plan.activation_bits = *activation_bits;
      HWNAS_ASSIGN_OR_RETURN(OpCosts c, PerOpCosts(plan, src));
      double lat = c.base_latency_ms, flash = 0, peak = 0;
      for (size_t i = 0; i < plan.ops.size(); ++i) {
        if (BlockOf(plan.ops[i].name) >= 0) continue;
        lat += c.latency_ms[i];
        flash += c.flash[i];
        peak = std::max(peak, c.peak[i]);
      }
      t.rest_latency_ms[bits][w] = lat;
      t.rest_flash_bytes[bits][w] = flash;
      t.rest_peak_bytes[bits][w] = peak;
    }
  }
  return t;
}

OneHotCosts CostsOf(const CostTables& tables, const MnasnetSpace& space,
                    absl::Span<const int> tokens) {
  const int per_block = MnasnetSpace::kDecisionsPerBlock;
  const int bits = space.options().quantize ? tokens.back() : 0;
  OneHotCosts c;
  double peak = 0;
  for (int b = 0; b < tables.blocks(); ++b) {
    const int* t = &tokens[b * per_block];
    const int pw = b == 0 ? 0 : tokens[(b - 1) * per_block + MnasnetSpace::kWidth];
    const int idx =
        BlockIndex(bits, t[MnasnetSpace::kOp], t[MnasnetSpace::kKernel], t[MnasnetSpace::kSe],
                   t[MnasnetSpace::kSkip], pw, t[MnasnetSpace::kWidth], t[MnasnetSpace::kLayers]);
    c.latency_ms += tables.latency_ms[b][idx];
    c.flash_bytes += tables.flash_bytes[b][idx];
    peak = std::max(peak, tables.peak_bytes[b][idx]);
  }
  const int last_w = tokens[(tables.blocks() - 1) * per_block + MnasnetSpace::kWidth];
  c.latency_ms += tables.rest_latency_ms[bits][last_w];
  c.flash_bytes += tables.rest_flash_bytes[bits][last_w] + tables.runtime_flash_bytes;
  c.peak_bytes = std::max(peak, tables.rest_peak_bytes[bits][last_w]) + tables.runtime_sram_bytes;
  return c;
}

}  // namespace hwnas::worker::dnas
