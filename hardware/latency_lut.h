// Per-op latency lookup tables (FBNet-style): one measured latency per op
// type x shape x attributes, built on the target device; a network's predicted
// latency is the table's base overhead plus the sum over its ops, times the
// table's scale.
//
// This header is torch-free. The worker's `calibrate` command measures the
// entries: for each plan of interest it calls CollectLutOps(plan), builds the
// single op (batch 1, eval mode) from the returned Op and input shape,
// measures it and stores the median under the returned key.
//
// Key format (LutKey): the op kind, then space-separated name=value
// attributes; shapes are per sample (no batch), dimensions joined by 'x'.
//   conv2d in=16x28x28 out=32 k=3x3 s=1x1 d=1x1 p=1x1 g=1 bias=0
//   conv1d in=16x140 out=32 k=5 s=1 d=2 p=4 g=16 bias=0
//   linear in=1280 out=10 bias=1
//   lstm in=16x140 hidden=32 seq=1      (gru likewise; seq=0: last step only)
//   batchnorm in=16x28x28
//   relu in=16x28x28                    (any activation name: relu6, elu,
//                                        sigmoid, hswish, tanh, identity)
//   avgpool2d in=8x14x14 k=2x2 s=2x2 p=0x0   (maxpool2d, avgpool1d k=2 s=2 p=0)
//   global_avg_pool in=32x7x7
//   add in=16x28x28 n=2
//   mul in=16x28x28 gate=16x1x1
//   flatten in=32x1x1
//   dropout in=1280
//   zero out=16x8x8
// Ops with weights stored below 32 bits append " w=<bits>" (e.g. " w=8"), so
// one file can hold float and quantized measurements of the same shape. The
// input op has no key and costs nothing.
//
// File format (JSON):
//   {
//     "format": "hwnas-latency-lut",
//     "version": 1,
//     "device": "x86_64 cpu (AMD EPYC 7B13)",   // free text
//     "threads": 1,
//     "base_ms": 0.012,      // per-network overhead (optional, default 0)
//     "scale": 0.95,         // whole-network correction (optional, default 1)
//     "entries": {
//       "<key>": {"median_ms": 0.031, "p90_ms": 0.034, "runs": 200},
//       ...
//     }
//   }
// "p90_ms" and "runs" are optional. Unknown top-level fields are ignored, so
// later versions may add metadata.
#ifndef HWNAS_HARDWARE_LATENCY_LUT_H_
#define HWNAS_HARDWARE_LATENCY_LUT_H_

#include <cstddef>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "space/network_plan.h"

namespace hwnas::hardware {

struct LutEntry {
  double median_ms = 0;
  double p90_ms = 0;
  int runs = 0;

  friend bool operator==(const LutEntry&, const LutEntry&) = default;
};

struct LatencyLut {
  std::string device;
  int threads = 1;
  double base_ms = 0;
  // Multiplies base + sum of ops. Ops timed one by one inside a network add
  // up to slightly more than the network takes as a whole (timer reads, no
  // overlap at the op boundaries); calibrate fits this factor on whole
  // networks measured the way the worker measures.
  double scale = 1;
  std::map<std::string, LutEntry> entries;

  friend bool operator==(const LatencyLut&, const LatencyLut&) = default;
};

// The table key of `op` applied to an input of `input_shape` (the shape of
// op.inputs[0]; ignored for ops without inputs). Empty for the input op.
std::string LutKey(const space::Op& op, const space::Shape& input_shape);

// One distinct op of a plan to measure.
struct LutOp {
  std::string key;
  space::Op op;                                  // A copy, with `inputs` cleared.
  space::Shape input_shape;                      // Shape of inputs[0] (empty for zero).
  std::vector<space::Shape> extra_input_shapes;  // inputs[1..] (add, mul).
};
// Distinct keys of a plan, in first-use order (the input op is skipped).
std::vector<LutOp> CollectLutOps(const space::NetworkPlan& plan);

// scale x (sum over the plan's ops + base_ms). NotFound names the first missing key
// and the op that needs it; no fallback, because a silent guess would skew
// the search.
absl::StatusOr<double> PredictLatencyMs(const space::NetworkPlan& plan, const LatencyLut& lut);
// The plan's keys the table lacks (empty when it can predict the plan).
std::vector<std::string> MissingLutKeys(const space::NetworkPlan& plan, const LatencyLut& lut);

std::string LutToJson(const LatencyLut& lut);
// `source` names the text in errors (a path, or "<string>").
absl::StatusOr<LatencyLut> LutFromJson(absl::string_view json, absl::string_view source);
// Whether SaveLut could write `path` (not a directory; PATH.tmp beside it
// can be created), checked before minutes of measuring.
absl::Status CheckLutWritable(const std::string& path);
// Writes PATH.tmp and renames it over PATH (readers never see half a table);
// the temporary file is removed when the rename fails (PATH a directory).
absl::Status SaveLut(const LatencyLut& lut, const std::string& path);
// Reads a table file (a regular file of at most kMaxLutBytes).
absl::StatusOr<LatencyLut> LoadLut(const std::string& path);
inline constexpr size_t kMaxLutBytes = 64 << 20;
// "<dir>/<name>.json" in each search-path directory in order (the MCU
// profile directories: see mcu_model.h). A `name` that is not
// IsDeviceFileName (a path) is InvalidArgument and nothing is opened.
absl::StatusOr<LatencyLut> FindLut(absl::string_view name,
                                   const std::vector<std::string>& search_path);

}  // namespace hwnas::hardware

#endif  // HWNAS_HARDWARE_LATENCY_LUT_H_
