#include "space/eegnet_space.h"

#include <array>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/status_macros.h"
#include "space/space_options_internal.h"

namespace hwnas::space {
namespace {

// Readable keys, in decision order.
constexpr std::array<absl::string_view, EegnetSpace::kNumDecisions> kKeys = {
    "K", "F1", "D", "F2", "P1", "S", "P2", "dropout"};

}  // namespace

absl::StatusOr<std::unique_ptr<EegnetSpace>> EegnetSpace::Create(const YamlSection& section,
                                                                 DataShape data) {
  HWNAS_RETURN_IF_ERROR(section.CheckKeys({"name", "temporal_kernels", "f1", "depth", "f2", "pool1",
                                           "sep_kernels", "pool2", "dropout", "activation_bits"}));
  const Shape& s = data.input_shape;
  if (!(s.size() == 2 || (s.size() == 3 && s[0] == 1))) {
    return absl::InvalidArgumentError(absl::StrCat(
        "space.name: eegnet needs EEG trials {channels, samples} (or {1, channels, samples}), "
        "the data set gives ",
        ShapeToString(s)));
  }
  Options o;
  using internal::ChoiceList;
  HWNAS_ASSIGN_OR_RETURN(o.temporal_kernels,
                         ChoiceList(section, "temporal_kernels", o.temporal_kernels, 1, 511, true));
  HWNAS_ASSIGN_OR_RETURN(o.f1, ChoiceList(section, "f1", o.f1, 1, 256));
  HWNAS_ASSIGN_OR_RETURN(o.depth, ChoiceList(section, "depth", o.depth, 1, 16));
  HWNAS_ASSIGN_OR_RETURN(o.f2, ChoiceList(section, "f2", o.f2, 1, 1024));
  HWNAS_ASSIGN_OR_RETURN(o.pool1, ChoiceList(section, "pool1", o.pool1, 1, 64));
  HWNAS_ASSIGN_OR_RETURN(o.sep_kernels,
                         ChoiceList(section, "sep_kernels", o.sep_kernels, 1, 255, true));
  HWNAS_ASSIGN_OR_RETURN(o.pool2, ChoiceList(section, "pool2", o.pool2, 1, 64));
  HWNAS_ASSIGN_OR_RETURN(o.dropout,
                         internal::DoubleChoiceList(section, "dropout", o.dropout, 0, 0.9));
  HWNAS_ASSIGN_OR_RETURN(o.activation_bits, internal::ActivationBits(section));
  auto space = std::make_unique<EegnetSpace>(std::move(o), std::move(data));
  // Reject a configuration no architecture of which fits the trial length.
  int min_pool1 = space->options_.pool1[0], min_pool2 = space->options_.pool2[0];
  for (int p : space->options_.pool1) min_pool1 = std::min(min_pool1, p);
  for (int p : space->options_.pool2) min_pool2 = std::min(min_pool2, p);
  if (space->samples() / min_pool1 / min_pool2 < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat(section.PathOf("pool1"), ": trials of ", space->samples(),
                     " samples are too short for any pool1 x pool2 choice (smallest ", min_pool1,
                     " x ", min_pool2, ")"));
  }
  return space;
}

EegnetSpace::EegnetSpace(Options options, DataShape data)
    : SearchSpace(std::move(data)), options_(std::move(options)) {
  using internal::ChoiceNames;
  decisions_ = {
      {"temporal_kernel", ChoiceNames(options_.temporal_kernels)},
      {"f1", ChoiceNames(options_.f1)},
      {"depth", ChoiceNames(options_.depth)},
      {"f2", ChoiceNames(options_.f2)},
      {"pool1", ChoiceNames(options_.pool1)},
      {"sep_kernel", ChoiceNames(options_.sep_kernels)},
      {"pool2", ChoiceNames(options_.pool2)},
      {"dropout", {}},
  };
  for (double p : options_.dropout) decisions_[kDropout].choices.push_back(absl::StrCat(p));
}

int64_t EegnetSpace::channels() const {
  const Shape& s = data_shape().input_shape;
  return s[s.size() - 2];
}

int64_t EegnetSpace::samples() const { return data_shape().input_shape.back(); }

EegnetSpace::Arch EegnetSpace::DecodeUnchecked(absl::Span<const int> t) const {
  Arch a;
  a.temporal_kernel = options_.temporal_kernels[t[kTemporalKernel]];
  a.f1 = options_.f1[t[kF1]];
  a.depth = options_.depth[t[kDepth]];
  a.f2 = options_.f2[t[kF2]];
  a.pool1 = options_.pool1[t[kPool1]];
  a.sep_kernel = options_.sep_kernels[t[kSepKernel]];
  a.pool2 = options_.pool2[t[kPool2]];
  a.dropout = options_.dropout[t[kDropout]];
  return a;
}

absl::StatusOr<EegnetSpace::Arch> EegnetSpace::Decode(absl::Span<const int> tokens) const {
  HWNAS_RETURN_IF_ERROR(Validate(tokens));
  return DecodeUnchecked(tokens);
}

absl::Status EegnetSpace::ValidateSpecific(absl::Span<const int> tokens) const {
  const Arch a = DecodeUnchecked(tokens);
  const int64_t after1 = samples() / a.pool1;
  if (after1 < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("pool1 = ", a.pool1, " exceeds the ", samples(), " samples of a trial"));
  }
  if (after1 / a.pool2 < 1) {
    return absl::InvalidArgumentError(absl::StrCat("pool2 = ", a.pool2, ": only ", after1,
                                                   " samples are left after pool1 = ", a.pool1));
  }
  return absl::OkStatus();
}

std::string EegnetSpace::Readable(absl::Span<const int> tokens) const {
  const Arch a = DecodeUnchecked(tokens);
  return absl::StrCat("eegnet K=", a.temporal_kernel, " F1=", a.f1, " D=", a.depth, " F2=", a.f2,
                      " P1=", a.pool1, " S=", a.sep_kernel, " P2=", a.pool2,
                      " dropout=", a.dropout);
}

absl::StatusOr<std::vector<int>> EegnetSpace::ParseReadable(absl::string_view text) const {
  std::vector<int> tokens(kNumDecisions, -1);
  for (absl::string_view item :
       absl::StrSplit(text, absl::ByAnyChar(" \t\n,;"), absl::SkipEmpty())) {
    if (item == "eegnet") continue;
    std::vector<absl::string_view> kv = absl::StrSplit(item, absl::MaxSplits('=', 1));
    int d = -1;
    for (int k = 0; k < kNumDecisions; ++k) {
      if (kv.size() == 2 && kKeys[k] == kv[0]) d = k;
    }
    if (d < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("eegnet: '", item, "' is not one of ", absl::StrJoin(kKeys, "=, "),
                       "= (e.g. eegnet K=63 F1=8 D=2 F2=16 P1=4 S=15 P2=8 dropout=0.5)"));
    }
    const std::vector<std::string>& choices = decisions_[d].choices;
    int token = -1;
    if (d == kDropout) {
      double v = 0;
      if (absl::SimpleAtod(kv[1], &v)) {
        for (size_t c = 0; c < options_.dropout.size(); ++c) {
          if (options_.dropout[c] == v) token = static_cast<int>(c);
        }
      }
    } else {
      for (size_t c = 0; c < choices.size(); ++c) {
        if (choices[c] == kv[1]) token = static_cast<int>(c);
      }
    }
    if (token < 0) {
      return absl::InvalidArgumentError(absl::StrCat("eegnet: ", decisions_[d].name, " ", kv[0],
                                                     "=", kv[1], " is not one of ",
                                                     absl::StrJoin(choices, ", ")));
    }
    tokens[d] = token;
  }
  for (int d = 0; d < kNumDecisions; ++d) {
    if (tokens[d] < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("eegnet: '", text, "' lacks ", kKeys[d], "= (", decisions_[d].name, ")"));
    }
  }
  return tokens;
}

absl::StatusOr<NetworkPlan> EegnetSpace::Lower(absl::Span<const int> tokens) const {
  HWNAS_RETURN_IF_ERROR(Validate(tokens));
  const Arch a = DecodeUnchecked(tokens);
  const int64_t chans = channels();
  PlanBuilder b({1, chans, samples()});
  b.set_activation_bits(options_.activation_bits);
  b.set_scope("block1");
  int x = b.Conv2d(b.input(), a.f1, 1, a.temporal_kernel, 1, 1, 0, a.temporal_kernel / 2, 1, false,
                   "temporal_conv");
  x = b.BatchNorm(x, "bn1");
  const int64_t fd = static_cast<int64_t>(a.f1) * a.depth;
  x = b.Conv2d(x, fd, static_cast<int>(chans), 1, 1, 1, 0, 0, a.f1, false, "spatial_dw");
  x = b.BatchNorm(x, "bn2");
  x = b.Act(x, Activation::kElu, "elu");
  x = b.Pool2d(x, PoolKind::kAverage, 1, a.pool1, 1, a.pool1, "pool");
  x = b.Dropout(x, a.dropout, "dropout");
  b.set_scope("block2");
  x = b.Conv2d(x, fd, 1, a.sep_kernel, 1, 1, 0, a.sep_kernel / 2, fd, false, "sep_dw");
  x = b.Conv2d(x, a.f2, 1, 1, 1, 1, 0, 0, 1, false, "sep_pw");
  x = b.BatchNorm(x, "bn");
  x = b.Act(x, Activation::kElu, "elu");
  x = b.Pool2d(x, PoolKind::kAverage, 1, a.pool2, 1, a.pool2, "pool");
  x = b.Dropout(x, a.dropout, "dropout");
  b.set_scope("head");
  x = b.Flatten(x, "flatten");
  x = b.Linear(x, data_shape().num_classes, true, "classifier");
  return std::move(b).Finish(x);
}

}  // namespace hwnas::space
