#include "space/nb201_space.h"

#include <algorithm>
#include <array>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/status_macros.h"
#include "space/space_options_internal.h"

namespace hwnas::space {
namespace {

constexpr int kNone = 0;
constexpr int kSkip = 1;
constexpr int kConv1x1 = 2;
constexpr int kConv3x3 = 3;
constexpr int kAvgPool = 4;
constexpr int kNodes = 4;

// reach[n]: node n receives signal from the input; live[n]: node n feeds the
// output. An edge matters only if it is not "none", starts at a reached node
// and ends at a live node.
std::array<bool, Nb201Space::kNumEdges> UsefulEdges(absl::Span<const int> tokens) {
  std::array<bool, kNodes> reach = {true, false, false, false};
  for (int e = 0; e < Nb201Space::kNumEdges; ++e) {
    if (tokens[e] != kNone && reach[Nb201Space::kEdgeFrom[e]]) reach[Nb201Space::kEdgeTo[e]] = true;
  }
  std::array<bool, kNodes> live = {false, false, false, true};
  for (int e = Nb201Space::kNumEdges - 1; e >= 0; --e) {
    if (tokens[e] != kNone && live[Nb201Space::kEdgeTo[e]]) live[Nb201Space::kEdgeFrom[e]] = true;
  }
  std::array<bool, Nb201Space::kNumEdges> useful{};
  for (int e = 0; e < Nb201Space::kNumEdges; ++e) {
    useful[e] = tokens[e] != kNone && reach[Nb201Space::kEdgeFrom[e]] &&
                live[Nb201Space::kEdgeTo[e]] && reach[kNodes - 1];
  }
  return useful;
}

// NAS-Bench-201's ReLU -> Conv -> BN unit.
int ReluConvBn(PlanBuilder& b, int in, int64_t channels, int kernel, int stride,
               absl::string_view name) {
  int x = b.Act(in, Activation::kRelu, absl::StrCat(name, ".relu"));
  x = b.Conv(x, channels, kernel, stride, 1, 1, false, absl::StrCat(name, ".conv"));
  return b.BatchNorm(x, absl::StrCat(name, ".bn"));
}

}  // namespace

absl::StatusOr<std::unique_ptr<Nb201Space>> Nb201Space::Create(const YamlSection& section,
                                                               DataShape data) {
  HWNAS_RETURN_IF_ERROR(section.CheckKeys({"name", "channels", "cells_per_stage"}));
  Options options;
  HWNAS_ASSIGN_OR_RETURN(options.channels, internal::IntOr(section, "channels", 16, 1, 1024));
  HWNAS_ASSIGN_OR_RETURN(options.cells_per_stage,
                         internal::IntOr(section, "cells_per_stage", 5, 1, 32));
  if (data.input_shape.size() != 3) {
    return absl::InvalidArgumentError(
        absl::StrCat("space.name: nb201 needs image data {C, H, W}, the data set gives ",
                     ShapeToString(data.input_shape)));
  }
  return std::make_unique<Nb201Space>(options, std::move(data));
}

Nb201Space::Nb201Space(Options options, DataShape data)
    : SearchSpace(std::move(data)), options_(options) {
  for (int e = 0; e < kNumEdges; ++e) {
    Decision d;
    d.name = absl::StrCat("edge", kEdgeFrom[e], "->", kEdgeTo[e]);
    for (absl::string_view op : kOpNames) d.choices.emplace_back(op);
    decisions_.push_back(std::move(d));
  }
}

std::string Nb201Space::Readable(absl::Span<const int> tokens) const {
  // NAS-Bench-201 arch_str: nodes separated by '+', each lists its incoming
  // edges as op~source.
  std::string out = "|";
  for (int e = 0; e < kNumEdges; ++e) {
    if (e > 0 && kEdgeTo[e] != kEdgeTo[e - 1]) absl::StrAppend(&out, "+|");
    absl::StrAppend(&out, kOpNames[tokens[e]], "~", kEdgeFrom[e], "|");
  }
  return out;
}

absl::StatusOr<std::vector<int>> Nb201Space::ParseReadable(absl::string_view text) const {
  std::vector<int> tokens;
  for (absl::string_view edge : absl::StrSplit(text, absl::ByAnyChar("|+"), absl::SkipEmpty())) {
    std::vector<absl::string_view> parts = absl::StrSplit(edge, '~');
    const int e = static_cast<int>(tokens.size());
    if (parts.size() != 2 || e >= kNumEdges || parts[1] != absl::StrCat(kEdgeFrom[e])) {
      return absl::InvalidArgumentError(
          absl::StrCat("'", text, "' is not a NAS-Bench-201 arch string: edge '", edge,
                       "' should look like op~", e < kNumEdges ? kEdgeFrom[e] : 0,
                       " (e.g. |nor_conv_3x3~0|+|skip_connect~0|none~1|+|...|)"));
    }
    int op = -1;
    for (int k = 0; k < kNumOps; ++k) {
      if (kOpNames[k] == parts[0]) op = k;
    }
    if (op < 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "unknown NAS-Bench-201 op '", parts[0],
          "' (expected none, skip_connect, nor_conv_1x1, nor_conv_3x3 or avg_pool_3x3)"));
    }
    tokens.push_back(op);
  }
  if (tokens.size() != kNumEdges) {
    return absl::InvalidArgumentError(
        absl::StrCat("NAS-Bench-201 arch string has ", tokens.size(), " edges, expected 6"));
  }
  return tokens;
}

bool Nb201Space::IsConnected(absl::Span<const int> tokens) {
  std::array<bool, kNumEdges> useful = UsefulEdges(tokens);
  for (bool u : useful) {
    if (u) return true;
  }
  return false;
}

std::vector<int> Nb201Space::Canonicalize(absl::Span<const int> tokens) const {
  std::array<bool, kNumEdges> useful = UsefulEdges(tokens);
  std::vector<int> out(tokens.begin(), tokens.end());
  for (int e = 0; e < kNumEdges; ++e) {
    if (!useful[e]) out[e] = kNone;
  }
  return out;
}

std::string Nb201Space::FunctionSignature(absl::Span<const int> tokens) const {
  static constexpr const char* kOpName[] = {"none", "skip", "conv1x1", "conv3x3", "avgpool3x3"};
  const std::vector<int> cell = Canonicalize(tokens);
  std::array<std::vector<std::string>, kNodes> terms;  // Per node: summands.
  terms[0] = {"x"};
  for (int to = 1; to < kNodes; ++to) {
    for (int e = 0; e < kNumEdges; ++e) {
      if (kEdgeTo[e] != to || cell[e] == kNone) continue;
      const std::vector<int>::size_type from = kEdgeFrom[e];
      if (cell[e] == kSkip) {
        terms[to].insert(terms[to].end(), terms[from].begin(), terms[from].end());
      } else {
        terms[to].push_back(
            absl::StrCat(kOpName[cell[e]], "(", absl::StrJoin(terms[from], "+"), ")"));
      }
    }
    std::sort(terms[to].begin(), terms[to].end());
  }
  return terms[kNodes - 1].empty() ? "0" : absl::StrJoin(terms[kNodes - 1], "+");
}

absl::StatusOr<NetworkPlan> Nb201Space::Lower(absl::Span<const int> tokens) const {
  HWNAS_RETURN_IF_ERROR(Validate(tokens));
  // Lower the canonical cell so dead edges cost nothing.
  const std::vector<int> cell = Canonicalize(tokens);
  PlanBuilder b(data_shape().input_shape);
  int64_t channels = options_.channels;
  b.set_scope("stem");
  int x = b.Conv(b.input(), channels, 3, 1, 1, 1, false, "conv");
  x = b.BatchNorm(x, "bn");
  for (int stage = 0; stage < 3; ++stage) {
    if (stage > 0) {
      // ResNet basic block with stride 2, as in NAS-Bench-201.
      b.set_scope(absl::StrCat("reduce", stage));
      channels *= 2;
      int a = ReluConvBn(b, x, channels, 3, 2, "a");
      a = ReluConvBn(b, a, channels, 3, 1, "b");
      int shortcut = b.Pool(x, PoolKind::kAverage, 2, 2, 0, "shortcut.pool");
      shortcut = b.Conv(shortcut, channels, 1, 1, 1, 1, false, "shortcut.conv");
      x = b.Add({a, shortcut}, "add");
    }
    for (int c = 0; c < options_.cells_per_stage; ++c) {
      b.set_scope(absl::StrCat("stage", stage, ".cell", c));
      std::array<int, kNodes> nodes = {x, -1, -1, -1};
      for (int to = 1; to < kNodes; ++to) {
        std::vector<int> inputs;
        for (int e = 0; e < kNumEdges; ++e) {
          if (kEdgeTo[e] != to || cell[e] == kNone) continue;
          const int from = nodes[kEdgeFrom[e]];
          const std::string edge = absl::StrCat("edge", kEdgeFrom[e], "_", to);
          switch (cell[e]) {
            case kSkip:
              inputs.push_back(from);
              break;
            case kConv1x1:
              inputs.push_back(ReluConvBn(b, from, channels, 1, 1, edge));
              break;
            case kConv3x3:
              inputs.push_back(ReluConvBn(b, from, channels, 3, 1, edge));
              break;
            case kAvgPool:
              inputs.push_back(b.Pool(from, PoolKind::kAverage, 3, 1, 1, edge + ".pool"));
              break;
          }
        }
        if (inputs.empty()) {
          nodes[to] = b.Zero(b.shape(x), absl::StrCat("node", to, ".zero"));
        } else if (inputs.size() == 1) {
          nodes[to] = inputs[0];
        } else {
          nodes[to] = b.Add(inputs, absl::StrCat("node", to));
        }
      }
      x = nodes[kNodes - 1];
    }
  }
  b.set_scope("head");
  x = b.BatchNorm(x, "bn");
  x = b.Act(x, Activation::kRelu, "relu");
  x = b.GlobalAvgPool(x, "gap");
  x = b.Flatten(x, "flatten");
  x = b.Linear(x, data_shape().num_classes, true, "classifier");
  return std::move(b).Finish(x);
}

}  // namespace hwnas::space
