#include "space/temporal_space.h"

#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/status_macros.h"
#include "space/space_options_internal.h"

namespace hwnas::space {
namespace {

using internal::IndexOf;

constexpr int kOp = 0, kKernel = 1, kDilation = 2, kChannels = 3, kPool = 4;
constexpr int kCell = 0, kHidden = 1;

absl::string_view ConvKindName(TemporalSpace::ConvKind kind) {
  switch (kind) {
    case TemporalSpace::ConvKind::kNone:
      return "none";
    case TemporalSpace::ConvKind::kConv:
      return "conv";
    case TemporalSpace::ConvKind::kSep:
      return "sep";
  }
  return "none";
}

absl::string_view CellName(TemporalSpace::CellKind cell) {
  switch (cell) {
    case TemporalSpace::CellKind::kNone:
      return "none";
    case TemporalSpace::CellKind::kLstm:
      return "lstm";
    case TemporalSpace::CellKind::kGru:
      return "gru";
  }
  return "none";
}

}  // namespace

absl::StatusOr<std::unique_ptr<TemporalSpace>> TemporalSpace::Create(const YamlSection& section,
                                                                     DataShape data) {
  HWNAS_RETURN_IF_ERROR(
      section.CheckKeys({"name", "conv_layers", "rnn_layers", "kernels", "dilations", "channels",
                         "hidden_sizes", "dropout", "activation_bits"}));
  if (data.input_shape.size() != 2) {
    return absl::InvalidArgumentError(
        absl::StrCat("space.name: temporal needs time series {C, T}, the data set gives ",
                     ShapeToString(data.input_shape)));
  }
  Options o;
  HWNAS_ASSIGN_OR_RETURN(int64_t conv_layers, internal::IntOr(section, "conv_layers", 3, 0, 8));
  HWNAS_ASSIGN_OR_RETURN(int64_t rnn_layers, internal::IntOr(section, "rnn_layers", 1, 0, 3));
  o.conv_layers = static_cast<int>(conv_layers);
  o.rnn_layers = static_cast<int>(rnn_layers);
  HWNAS_ASSIGN_OR_RETURN(o.kernels,
                         internal::ChoiceList(section, "kernels", o.kernels, 1, 63, /*odd=*/true));
  HWNAS_ASSIGN_OR_RETURN(o.dilations,
                         internal::ChoiceList(section, "dilations", o.dilations, 1, 64));
  HWNAS_ASSIGN_OR_RETURN(o.channels,
                         internal::ChoiceList(section, "channels", o.channels, 1, 1024));
  HWNAS_ASSIGN_OR_RETURN(o.hidden_sizes,
                         internal::ChoiceList(section, "hidden_sizes", o.hidden_sizes, 1, 1024));
  HWNAS_ASSIGN_OR_RETURN(o.dropout, internal::DoubleOr(section, "dropout", 0, 0, 0.9));
  HWNAS_ASSIGN_OR_RETURN(o.activation_bits, internal::ActivationBits(section));
  return std::make_unique<TemporalSpace>(std::move(o), std::move(data));
}

TemporalSpace::TemporalSpace(Options options, DataShape data)
    : SearchSpace(std::move(data)), options_(std::move(options)) {
  for (int i = 1; i <= options_.conv_layers; ++i) {
    const std::string p = absl::StrCat("conv", i, ".");
    decisions_.push_back({p + "op", {"none", "conv", "sep"}});
    decisions_.push_back({p + "kernel", internal::ChoiceNames(options_.kernels)});
    decisions_.push_back({p + "dilation", internal::ChoiceNames(options_.dilations)});
    decisions_.push_back({p + "channels", internal::ChoiceNames(options_.channels)});
    decisions_.push_back({p + "pool", {"1", "2"}});
  }
  for (int j = 1; j <= options_.rnn_layers; ++j) {
    const std::string p = absl::StrCat("rnn", j, ".");
    decisions_.push_back({p + "cell", {"none", "lstm", "gru"}});
    decisions_.push_back({p + "hidden", internal::ChoiceNames(options_.hidden_sizes)});
  }
}

TemporalSpace::Arch TemporalSpace::DecodeUnchecked(absl::Span<const int> tokens) const {
  Arch arch;
  for (int i = 0; i < options_.conv_layers; ++i) {
    const int* t = &tokens[i * kConvDecisions];
    if (t[kOp] == 0) continue;
    arch.convs.push_back({static_cast<ConvKind>(t[kOp]), options_.kernels[t[kKernel]],
                          options_.dilations[t[kDilation]], options_.channels[t[kChannels]],
                          t[kPool] == 1});
  }
  for (int j = 0; j < options_.rnn_layers; ++j) {
    const int* t = &tokens[rnn_offset() + j * kRnnDecisions];
    if (t[kCell] == 0) continue;
    arch.rnns.push_back({static_cast<CellKind>(t[kCell]), options_.hidden_sizes[t[kHidden]]});
  }
  return arch;
}

absl::StatusOr<TemporalSpace::Arch> TemporalSpace::Decode(absl::Span<const int> tokens) const {
  HWNAS_RETURN_IF_ERROR(Validate(tokens));
  return DecodeUnchecked(tokens);
}

absl::Status TemporalSpace::ValidateSpecific(absl::Span<const int> tokens) const {
  // Pooling halves the sequence; a layer may only pool while 2+ steps remain.
  int64_t steps = data_shape().input_shape[1];
  for (int i = 0; i < options_.conv_layers; ++i) {
    const int* t = &tokens[i * kConvDecisions];
    if (t[kOp] == 0 || t[kPool] == 0) continue;
    if (steps < 2) {
      return absl::InvalidArgumentError(
          absl::StrCat("conv", i + 1, ".pool = 2: only ", steps,
                       " time step is left at this layer, nothing to pool"));
    }
    steps /= 2;
  }
  return absl::OkStatus();
}

std::vector<int> TemporalSpace::Canonicalize(absl::Span<const int> tokens) const {
  std::vector<int> out(tokens.size(), 0);
  if (!Validate(tokens).ok()) return std::vector<int>(tokens.begin(), tokens.end());
  const int dilation_one = IndexOf(options_.dilations, 1);
  int next = 0;
  for (int i = 0; i < options_.conv_layers; ++i) {
    const int* t = &tokens[i * kConvDecisions];
    if (t[kOp] == 0) continue;
    int* o = &out[next * kConvDecisions];
    std::copy(t, t + kConvDecisions, o);
    if (options_.kernels[t[kKernel]] == 1 && dilation_one >= 0) o[kDilation] = dilation_one;
    ++next;
  }
  next = 0;
  for (int j = 0; j < options_.rnn_layers; ++j) {
    const int* t = &tokens[rnn_offset() + j * kRnnDecisions];
    if (t[kCell] == 0) continue;
    std::copy(t, t + kRnnDecisions, &out[rnn_offset() + next * kRnnDecisions]);
    ++next;
  }
  return out;
}

std::string TemporalSpace::Readable(absl::Span<const int> tokens) const {
  const Arch arch = DecodeUnchecked(Canonicalize(tokens));
  std::vector<std::string> parts;
  for (const ConvLayer& c : arch.convs) {
    parts.push_back(absl::StrCat(ConvKindName(c.kind), "_k", c.kernel, "_d", c.dilation, "_c",
                                 c.channels, c.pool ? "_p2" : ""));
  }
  for (const RnnLayer& r : arch.rnns) {
    parts.push_back(absl::StrCat(CellName(r.cell), "_h", r.hidden));
  }
  if (parts.empty()) return "none";
  return absl::StrJoin(parts, " ");
}

absl::StatusOr<std::vector<int>> TemporalSpace::ParseReadable(absl::string_view text) const {
  std::vector<int> tokens(decisions_.size(), 0);
  std::vector<absl::string_view> items =
      absl::StrSplit(text, absl::ByAnyChar(" \t\n,;"), absl::SkipEmpty());
  if (items.size() == 1 && items[0] == "none") return tokens;
  int convs = 0, rnns = 0;
  for (absl::string_view item : items) {
    auto error = [&](absl::string_view problem) {
      return absl::InvalidArgumentError(absl::StrCat("temporal layer '", item, "': ", problem));
    };
    std::vector<absl::string_view> parts = absl::StrSplit(item, '_');
    const absl::string_view kind = parts[0];
    if (kind == "conv" || kind == "sep") {
      if (rnns > 0) return error("convolutions must come before recurrent cells");
      if (convs >= options_.conv_layers) {
        return error(absl::StrCat("this space has only ", options_.conv_layers, " conv layers"));
      }
      int* t = &tokens[convs * kConvDecisions];
      t[kOp] = kind == "conv" ? 1 : 2;
      int kernel = -1, dilation = -1, channels = -1;
      for (size_t p = 1; p < parts.size(); ++p) {
        int v = 0;
        if (parts[p].size() < 2 || !absl::SimpleAtoi(parts[p].substr(1), &v)) {
          return error(absl::StrCat("bad field '", parts[p], "'"));
        }
        switch (parts[p][0]) {
          case 'k':
            kernel = v;
            break;
          case 'd':
            dilation = v;
            break;
          case 'c':
            channels = v;
            break;
          case 'p':
            if (v != 1 && v != 2) return error("pool must be p1 or p2");
            t[kPool] = v == 2 ? 1 : 0;
            break;
          default:
            return error(absl::StrCat("unknown field '", parts[p], "' (expected k, d, c, p)"));
        }
      }
      t[kKernel] = IndexOf(options_.kernels, kernel);
      t[kDilation] = IndexOf(options_.dilations, dilation);
      t[kChannels] = IndexOf(options_.channels, channels);
      if (t[kKernel] < 0 || t[kDilation] < 0 || t[kChannels] < 0) {
        return error(absl::StrCat("kernel, dilation and channels must be among k{",
                                  absl::StrJoin(options_.kernels, ","), "} d{",
                                  absl::StrJoin(options_.dilations, ","), "} c{",
                                  absl::StrJoin(options_.channels, ","), "}"));
      }
      ++convs;
    } else if (kind == "lstm" || kind == "gru") {
      if (rnns >= options_.rnn_layers) {
        return error(
            absl::StrCat("this space has only ", options_.rnn_layers, " recurrent layers"));
      }
      int hidden = -1;
      if (parts.size() != 2 || parts[1].size() < 2 || parts[1][0] != 'h' ||
          !absl::SimpleAtoi(parts[1].substr(1), &hidden)) {
        return error("expected lstm_h<hidden> or gru_h<hidden>");
      }
      int* t = &tokens[rnn_offset() + rnns * kRnnDecisions];
      t[kCell] = kind == "lstm" ? 1 : 2;
      t[kHidden] = IndexOf(options_.hidden_sizes, hidden);
      if (t[kHidden] < 0) {
        return error(absl::StrCat("hidden size must be one of ",
                                  absl::StrJoin(options_.hidden_sizes, ", ")));
      }
      ++rnns;
    } else {
      return error("expected conv_..., sep_..., lstm_h<n>, gru_h<n> or none");
    }
  }
  return tokens;
}

absl::StatusOr<NetworkPlan> TemporalSpace::Lower(absl::Span<const int> tokens) const {
  HWNAS_RETURN_IF_ERROR(Validate(tokens));
  const Arch arch = DecodeUnchecked(Canonicalize(tokens));
  PlanBuilder b(data_shape().input_shape);
  b.set_activation_bits(options_.activation_bits);
  int x = b.input();
  for (size_t i = 0; i < arch.convs.size(); ++i) {
    const ConvLayer& c = arch.convs[i];
    b.set_scope(absl::StrCat("conv", i + 1));
    if (c.kind == ConvKind::kConv) {
      x = b.Conv(x, c.channels, c.kernel, 1, 1, c.dilation, false, "conv");
    } else {
      const int64_t in = b.shape(x)[0];
      x = b.Conv(x, in, c.kernel, 1, in, c.dilation, false, "dw");
      x = b.Conv(x, c.channels, 1, 1, 1, 1, false, "pw");
    }
    x = b.BatchNorm(x, "bn");
    x = b.Act(x, Activation::kRelu, "relu");
    if (c.pool) x = b.Pool(x, PoolKind::kMax, 2, 2, 0, "pool");
  }
  for (size_t j = 0; j < arch.rnns.size(); ++j) {
    const RnnLayer& r = arch.rnns[j];
    b.set_scope(absl::StrCat("rnn", j + 1));
    const bool last = j + 1 == arch.rnns.size();
    x = b.Recurrent(x, r.cell == CellKind::kLstm ? RecurrentCell::kLstm : RecurrentCell::kGru,
                    r.hidden, /*return_sequence=*/!last, CellName(r.cell));
  }
  b.set_scope("head");
  if (arch.rnns.empty()) {
    x = b.GlobalAvgPool(x, "gap");
    x = b.Flatten(x, "flatten");
  }
  if (options_.dropout > 0) x = b.Dropout(x, options_.dropout, "dropout");
  x = b.Linear(x, data_shape().num_classes, true, "classifier");
  return std::move(b).Finish(x);
}

}  // namespace hwnas::space
