#include "space/mnasnet_space.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/status_macros.h"
#include "space/space_options_internal.h"

namespace hwnas::space {
namespace {

constexpr std::array<absl::string_view, 5> kOpChoices = {"conv", "dwsep", "mbconv1", "mbconv3",
                                                         "mbconv6"};
constexpr std::array<int, 2> kKernels = {3, 5};
constexpr std::array<double, 2> kSeRatios = {0, 0.25};
constexpr std::array<double, 3> kWidths = {0.75, 1.0, 1.25};
constexpr std::array<int, 3> kLayerDeltas = {-1, 0, 1};
constexpr std::array<int, 3> kWeightBits = {32, 8, 4};
constexpr int kSkipNone = 0;
constexpr int kSkipIdentity = 1;

// MobileNet's make_divisible: round to the nearest multiple of `divisor`, never
// below it, and never more than 10% below the requested value.
int64_t MakeDivisible(double value, int divisor) {
  int64_t v = std::max<int64_t>(divisor, static_cast<int64_t>(value + divisor / 2.0) / divisor *
                                             static_cast<int64_t>(divisor));
  if (static_cast<double>(v) < 0.9 * value) v += divisor;
  return v;
}

int ExpandOf(MnasnetSpace::ConvOp op) {
  switch (op) {
    case MnasnetSpace::ConvOp::kMbConv3:
      return 3;
    case MnasnetSpace::ConvOp::kMbConv6:
      return 6;
    default:
      return 1;
  }
}

bool IsMbConv(MnasnetSpace::ConvOp op) {
  return op == MnasnetSpace::ConvOp::kMbConv1 || op == MnasnetSpace::ConvOp::kMbConv3 ||
         op == MnasnetSpace::ConvOp::kMbConv6;
}

std::string FormatRatio(double r) {
  // 0.25 -> "0.25"; keeps the block strings EfficientNet-compatible.
  return absl::StrCat(r);
}

// Squeeze-and-excitation on x (channels c), squeezing to
// max(1, int(layer_in * ratio)) as in the MnasNet/EfficientNet reference.
int SqueezeExcite(PlanBuilder& b, int x, int64_t layer_in, double ratio) {
  const int64_t c = b.shape(x)[0];
  const int64_t squeezed = std::max<int64_t>(1, static_cast<int64_t>(layer_in * ratio));
  int s = b.GlobalAvgPool(x, "se.pool");
  s = b.Conv(s, squeezed, 1, 1, 1, 1, true, "se.reduce");
  s = b.Act(s, Activation::kRelu, "se.relu");
  s = b.Conv(s, c, 1, 1, 1, 1, true, "se.expand");
  s = b.Act(s, Activation::kSigmoid, "se.sigmoid");
  return b.Mul(x, s, "se.scale");
}

}  // namespace

std::vector<MnasnetSpace::BlockBase> MnasnetSpace::DefaultBlocks() {
  return {{16, 1, 1}, {24, 2, 2}, {40, 3, 2}, {80, 4, 2}, {112, 2, 1}, {160, 3, 2}, {320, 1, 1}};
}

absl::string_view MnasnetSpace::ConvOpName(ConvOp op) { return kOpChoices[static_cast<int>(op)]; }

absl::StatusOr<std::unique_ptr<MnasnetSpace>> MnasnetSpace::Create(const YamlSection& section,
                                                                   DataShape data) {
  HWNAS_RETURN_IF_ERROR(section.CheckKeys(
      {"name", "blocks", "filters", "layers", "strides", "stem_filters", "stem_stride",
       "head_filters", "channel_divisor", "dropout", "quantize", "activation_bits"}));
  if (data.input_shape.size() != 2 && data.input_shape.size() != 3) {
    return absl::InvalidArgumentError(
        absl::StrCat("space.name: mnasnet needs images {C, H, W} or series {C, T}, the data set "
                     "gives ",
                     ShapeToString(data.input_shape)));
  }
  Options o;
  const std::vector<BlockBase> defaults = DefaultBlocks();
  std::vector<int64_t> def_filters, def_layers, def_strides;
  for (const BlockBase& bb : defaults) {
    def_filters.push_back(bb.filters);
    def_layers.push_back(bb.layers);
    def_strides.push_back(bb.stride);
  }
  // The block count defaults to the length of whichever list is given.
  int64_t default_blocks = static_cast<int64_t>(defaults.size());
  for (absl::string_view key : {"filters", "layers", "strides"}) {
    if (section.Has(key) && section.node()[std::string(key)].IsSequence()) {
      default_blocks = static_cast<int64_t>(section.node()[std::string(key)].size());
      break;
    }
  }
  HWNAS_ASSIGN_OR_RETURN(int64_t blocks, internal::IntOr(section, "blocks", default_blocks, 1, 12));
  auto prefix = [&](std::vector<int64_t> v) {
    v.resize(std::min<size_t>(v.size(), blocks));
    return v;
  };
  HWNAS_ASSIGN_OR_RETURN(std::vector<int64_t> filters,
                         section.IntList("filters", prefix(def_filters), 1, 4096));
  HWNAS_ASSIGN_OR_RETURN(std::vector<int64_t> layers,
                         section.IntList("layers", prefix(def_layers), 1, 8));
  HWNAS_ASSIGN_OR_RETURN(std::vector<int64_t> strides,
                         section.IntList("strides", prefix(def_strides), 1, 2));
  for (const auto& [key, list] :
       {std::pair<absl::string_view, const std::vector<int64_t>*>{"filters", &filters},
        {"layers", &layers},
        {"strides", &strides}}) {
    if (static_cast<int64_t>(list->size()) != blocks) {
      return absl::InvalidArgumentError(absl::StrCat(
          section.PathOf(key), ": has ", list->size(), " entries but blocks is ", blocks,
          blocks > static_cast<int64_t>(defaults.size())
              ? " (give filters, layers and strides for every block)"
              : ""));
    }
  }
  o.blocks.clear();
  for (int64_t b = 0; b < blocks; ++b) {
    o.blocks.push_back({filters[b], static_cast<int>(layers[b]), static_cast<int>(strides[b])});
  }
  HWNAS_ASSIGN_OR_RETURN(o.stem_filters, internal::IntOr(section, "stem_filters", 32, 1, 4096));
  HWNAS_ASSIGN_OR_RETURN(int64_t stem_stride, internal::IntOr(section, "stem_stride", 2, 1, 2));
  o.stem_stride = static_cast<int>(stem_stride);
  HWNAS_ASSIGN_OR_RETURN(o.head_filters, internal::IntOr(section, "head_filters", 1280, 0, 8192));
  HWNAS_ASSIGN_OR_RETURN(int64_t divisor, internal::IntOr(section, "channel_divisor", 8, 1, 64));
  o.channel_divisor = static_cast<int>(divisor);
  HWNAS_ASSIGN_OR_RETURN(o.dropout, internal::DoubleOr(section, "dropout", 0.2, 0, 0.9));
  HWNAS_ASSIGN_OR_RETURN(o.quantize, internal::BoolOr(section, "quantize", false));
  HWNAS_ASSIGN_OR_RETURN(o.activation_bits, internal::ActivationBits(section));
  return std::make_unique<MnasnetSpace>(std::move(o), std::move(data));
}

MnasnetSpace::MnasnetSpace(Options options, DataShape data)
    : SearchSpace(std::move(data)), options_(std::move(options)) {
  for (int b = 0; b < num_blocks(); ++b) {
    const std::string prefix = absl::StrCat("block", b + 1, ".");
    Decision op{prefix + "op", {}};
    for (absl::string_view c : kOpChoices) op.choices.emplace_back(c);
    Decision kernel{prefix + "kernel", {}};
    for (int k : kKernels) kernel.choices.push_back(absl::StrCat(k));
    Decision se{prefix + "se", {}};
    for (double r : kSeRatios) se.choices.push_back(FormatRatio(r));
    Decision skip{prefix + "skip", {"none", "identity"}};
    Decision width{prefix + "width", {}};
    for (double w : kWidths) width.choices.push_back(w == 1.0 ? "1.0" : absl::StrCat(w));
    Decision layers{prefix + "layers", {}};
    for (int t = 0; t < static_cast<int>(kLayerDeltas.size()); ++t) {
      layers.choices.push_back(absl::StrCat(LayerCount(b, t)));
    }
    for (Decision* d : {&op, &kernel, &se, &skip, &width, &layers}) {
      decisions_.push_back(std::move(*d));
    }
  }
  if (options_.quantize) {
    Decision bits{"weight_bits", {}};
    for (int w : kWeightBits) bits.choices.push_back(absl::StrCat(w));
    decisions_.push_back(std::move(bits));
  }
}

int64_t MnasnetSpace::Channels(int b, int width_token) const {
  return MakeDivisible(static_cast<double>(options_.blocks[b].filters) * kWidths[width_token],
                       options_.channel_divisor);
}

int MnasnetSpace::LayerCount(int b, int layers_token) const {
  return std::max(1, options_.blocks[b].layers + kLayerDeltas[layers_token]);
}

MnasnetSpace::Arch MnasnetSpace::DecodeUnchecked(absl::Span<const int> tokens) const {
  Arch arch;
  int64_t in = options_.stem_filters;
  for (int b = 0; b < num_blocks(); ++b) {
    const int* t = &tokens[b * kDecisionsPerBlock];
    Block block;
    block.op = static_cast<ConvOp>(t[kOp]);
    block.kernel = kKernels[t[kKernel]];
    block.se_ratio = kSeRatios[t[kSe]];
    block.skip = t[kSkip] == kSkipIdentity;
    block.in_channels = in;
    block.out_channels = Channels(b, t[kWidth]);
    block.layers = LayerCount(b, t[kLayers]);
    block.stride = options_.blocks[b].stride;
    block.expand = ExpandOf(block.op);
    in = block.out_channels;
    arch.blocks.push_back(block);
  }
  if (options_.quantize) arch.weight_bits = kWeightBits[tokens.back()];
  return arch;
}

absl::StatusOr<MnasnetSpace::Arch> MnasnetSpace::Decode(absl::Span<const int> tokens) const {
  HWNAS_RETURN_IF_ERROR(Validate(tokens));
  return DecodeUnchecked(tokens);
}

bool MnasnetSpace::UsesSkip(const Block& block, int layer) {
  if (!block.skip) return false;
  if (layer > 0) return true;  // Later layers keep stride 1 and width.
  return block.stride == 1 && block.in_channels == block.out_channels;
}

std::vector<int> MnasnetSpace::Canonicalize(absl::Span<const int> tokens) const {
  std::vector<int> out(tokens.begin(), tokens.end());
  if (!Validate(tokens).ok()) return out;
  for (int b = 0; b < num_blocks(); ++b) {
    int* t = &out[b * kDecisionsPerBlock];
    for (int w = 0; w < t[kWidth]; ++w) {
      if (Channels(b, w) == Channels(b, t[kWidth])) {
        t[kWidth] = w;
        break;
      }
    }
    for (int l = 0; l < t[kLayers]; ++l) {
      if (LayerCount(b, l) == LayerCount(b, t[kLayers])) {
        t[kLayers] = l;
        break;
      }
    }
  }
  const Arch arch = DecodeUnchecked(out);
  for (int b = 0; b < num_blocks(); ++b) {
    const Block& block = arch.blocks[b];
    bool any = false;
    for (int l = 0; l < block.layers; ++l) any = any || UsesSkip(block, l);
    if (!any) out[b * kDecisionsPerBlock + kSkip] = kSkipNone;
  }
  return out;
}

std::string MnasnetSpace::Readable(absl::Span<const int> tokens) const {
  const std::vector<int> canonical = Canonicalize(tokens);
  const Arch arch = DecodeUnchecked(canonical);
  const bool two_d = data_shape().input_shape.size() == 3;
  std::vector<std::string> parts;
  for (const Block& block : arch.blocks) {
    std::string s;
    if (!IsMbConv(block.op)) absl::StrAppend(&s, ConvOpName(block.op), "_");
    absl::StrAppend(&s, "r", block.layers, "_k", block.kernel, "_s", block.stride);
    if (two_d) absl::StrAppend(&s, block.stride);
    if (IsMbConv(block.op)) absl::StrAppend(&s, "_e", block.expand);
    absl::StrAppend(&s, "_i", block.in_channels, "_o", block.out_channels);
    if (block.se_ratio > 0) absl::StrAppend(&s, "_se", FormatRatio(block.se_ratio));
    if (!block.skip) absl::StrAppend(&s, "_noskip");
    parts.push_back(std::move(s));
  }
  if (options_.quantize) parts.push_back(absl::StrCat("w", arch.weight_bits));
  return absl::StrJoin(parts, " ");
}

absl::StatusOr<std::vector<int>> MnasnetSpace::ParseReadable(absl::string_view text) const {
  std::vector<absl::string_view> items =
      absl::StrSplit(text, absl::ByAnyChar(" \t\n,;[]'\""), absl::SkipEmpty());
  const size_t expected = num_blocks() + (options_.quantize ? 1 : 0);
  if (items.size() != expected) {
    return absl::InvalidArgumentError(absl::StrCat(
        "mnasnet architecture '", text, "' has ", items.size(), " items, expected ", num_blocks(),
        " block strings", options_.quantize ? " and a weight width (w32, w8 or w4)" : "",
        " such as r2_k3_s22_e6_i16_o24_se0.25"));
  }
  const bool two_d = data_shape().input_shape.size() == 3;
  std::vector<int> tokens;
  int64_t in = options_.stem_filters;
  for (int b = 0; b < num_blocks(); ++b) {
    const absl::string_view item = items[b];
    auto error = [&](absl::string_view problem) {
      return absl::InvalidArgumentError(
          absl::StrCat("block ", b + 1, " string '", item, "': ", problem));
    };
    std::vector<absl::string_view> parts = absl::StrSplit(item, '_');
    ConvOp op = ConvOp::kMbConv1;
    bool mbconv = true;
    int layers = -1, kernel = -1, stride = -1, expand = -1;
    int64_t i_ch = -1, o_ch = -1;
    double se = 0;
    bool skip = true;
    for (size_t p = 0; p < parts.size(); ++p) {
      absl::string_view part = parts[p];
      if (p == 0 && (part == "conv" || part == "dwsep")) {
        op = part == "conv" ? ConvOp::kConv : ConvOp::kDwSep;
        mbconv = false;
        continue;
      }
      if (part == "noskip") {
        skip = false;
        continue;
      }
      if (absl::StartsWith(part, "se")) {
        if (!absl::SimpleAtod(part.substr(2), &se)) return error("bad se ratio");
        continue;
      }
      if (part.size() < 2) return error(absl::StrCat("unknown field '", part, "'"));
      const char key = part[0];
      absl::string_view value = part.substr(1);
      int64_t v = 0;
      if (key == 's') {
        // "s22" (2-D) or "s2" (1-D); both digits must agree.
        if ((two_d && value.size() != 2) || (!two_d && value.size() != 1) ||
            (value.size() == 2 && value[0] != value[1]) ||
            !absl::SimpleAtoi(value.substr(0, 1), &v)) {
          return error(
              absl::StrCat("stride '", part, "' should be ", two_d ? "s11 or s22" : "s1 or s2"));
        }
        stride = static_cast<int>(v);
        continue;
      }
      if (!absl::SimpleAtoi(value, &v)) return error(absl::StrCat("bad field '", part, "'"));
      switch (key) {
        case 'r':
          layers = static_cast<int>(v);
          break;
        case 'k':
          kernel = static_cast<int>(v);
          break;
        case 'e':
          expand = static_cast<int>(v);
          break;
        case 'i':
          i_ch = v;
          break;
        case 'o':
          o_ch = v;
          break;
        default:
          return error(absl::StrCat("unknown field '", part, "'"));
      }
    }
    if (layers < 0 || kernel < 0 || stride < 0 || i_ch < 0 || o_ch < 0) {
      return error("needs r<layers>, k<kernel>, s<stride>, i<in> and o<out>");
    }
    if (mbconv) {
      if (expand == 1) {
        op = ConvOp::kMbConv1;
      } else if (expand == 3) {
        op = ConvOp::kMbConv3;
      } else if (expand == 6) {
        op = ConvOp::kMbConv6;
      } else {
        return error("mbconv needs e1, e3 or e6 (or a conv_/dwsep_ prefix)");
      }
    } else if (expand >= 0) {
      return error(absl::StrCat(ConvOpName(op), " blocks take no expansion (e) field"));
    }
    if (stride != options_.blocks[b].stride) {
      return error(absl::StrCat("stride is ", stride, " but this space fixes block ", b + 1,
                                "'s stride to ", options_.blocks[b].stride));
    }
    if (i_ch != in) {
      return error(
          absl::StrCat("input channels i", i_ch, " do not match the previous output ", in));
    }
    int kernel_token = -1, se_token = -1, width_token = -1, layers_token = -1;
    for (int k = 0; k < static_cast<int>(kKernels.size()); ++k) {
      if (kKernels[k] == kernel) kernel_token = k;
    }
    for (int s = 0; s < static_cast<int>(kSeRatios.size()); ++s) {
      if (kSeRatios[s] == se) se_token = s;
    }
    std::vector<std::string> widths, counts;
    for (int w = static_cast<int>(kWidths.size()) - 1; w >= 0; --w) {
      if (Channels(b, w) == o_ch) width_token = w;
    }
    for (int w = 0; w < static_cast<int>(kWidths.size()); ++w) {
      widths.push_back(absl::StrCat(Channels(b, w)));
    }
    for (int l = static_cast<int>(kLayerDeltas.size()) - 1; l >= 0; --l) {
      if (LayerCount(b, l) == layers) layers_token = l;
    }
    for (int l = 0; l < static_cast<int>(kLayerDeltas.size()); ++l) {
      counts.push_back(absl::StrCat(LayerCount(b, l)));
    }
    if (kernel_token < 0) return error("kernel must be k3 or k5");
    if (se_token < 0) return error("se ratio must be 0 or 0.25");
    if (width_token < 0) {
      return error(absl::StrCat("output channels o", o_ch, " are not a width choice (",
                                absl::StrJoin(widths, ", "), ")"));
    }
    if (layers_token < 0) {
      return error(
          absl::StrCat("r", layers, " is not a layer choice (", absl::StrJoin(counts, ", "), ")"));
    }
    int ops[kDecisionsPerBlock];
    ops[kOp] = static_cast<int>(op);
    ops[kKernel] = kernel_token;
    ops[kSe] = se_token;
    ops[kSkip] = skip ? kSkipIdentity : kSkipNone;
    ops[kWidth] = width_token;
    ops[kLayers] = layers_token;
    tokens.insert(tokens.end(), ops, ops + kDecisionsPerBlock);
    in = o_ch;
  }
  if (options_.quantize) {
    absl::string_view w = items.back();
    int bits_token = -1;
    for (int t = 0; t < static_cast<int>(kWeightBits.size()); ++t) {
      if (w == absl::StrCat("w", kWeightBits[t])) bits_token = t;
    }
    if (bits_token < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("weight width '", w, "' must be w32, w8 or w4"));
    }
    tokens.push_back(bits_token);
  }
  return tokens;
}

absl::StatusOr<NetworkPlan> MnasnetSpace::Lower(absl::Span<const int> tokens) const {
  HWNAS_RETURN_IF_ERROR(Validate(tokens));
  const Arch arch = DecodeUnchecked(Canonicalize(tokens));
  PlanBuilder b(data_shape().input_shape);
  b.set_weight_bits(arch.weight_bits);
  b.set_activation_bits(options_.activation_bits);
  b.set_scope("stem");
  int x = b.ConvBnAct(b.input(), options_.stem_filters, 3, options_.stem_stride, 1,
                      Activation::kRelu, "conv");
  for (int bi = 0; bi < num_blocks(); ++bi) {
    const Block& block = arch.blocks[bi];
    for (int l = 0; l < block.layers; ++l) {
      b.set_scope(absl::StrCat("block", bi + 1, ".layer", l + 1));
      const int64_t in = l == 0 ? block.in_channels : block.out_channels;
      const int stride = l == 0 ? block.stride : 1;
      const int layer_in = x;
      switch (block.op) {
        case ConvOp::kConv:
          x = b.ConvBnAct(x, block.out_channels, block.kernel, stride, 1, Activation::kRelu,
                          "conv");
          if (block.se_ratio > 0) x = SqueezeExcite(b, x, in, block.se_ratio);
          break;
        case ConvOp::kDwSep:
          x = b.ConvBnAct(x, in, block.kernel, stride, in, Activation::kRelu, "dw");
          if (block.se_ratio > 0) x = SqueezeExcite(b, x, in, block.se_ratio);
          x = b.ConvBnAct(x, block.out_channels, 1, 1, 1, Activation::kRelu, "pw");
          break;
        case ConvOp::kMbConv1:
        case ConvOp::kMbConv3:
        case ConvOp::kMbConv6: {
          const int64_t mid = in * block.expand;
          if (block.expand != 1) x = b.ConvBnAct(x, mid, 1, 1, 1, Activation::kRelu, "expand");
          x = b.ConvBnAct(x, mid, block.kernel, stride, mid, Activation::kRelu, "dw");
          if (block.se_ratio > 0) x = SqueezeExcite(b, x, in, block.se_ratio);
          x = b.ConvBnAct(x, block.out_channels, 1, 1, 1, Activation::kIdentity, "project");
          break;
        }
      }
      if (UsesSkip(block, l)) x = b.Add({x, layer_in}, "skip");
    }
  }
  b.set_scope("head");
  if (options_.head_filters > 0) {
    x = b.ConvBnAct(x, options_.head_filters, 1, 1, 1, Activation::kRelu, "conv");
  }
  x = b.GlobalAvgPool(x, "gap");
  x = b.Flatten(x, "flatten");
  if (options_.dropout > 0) x = b.Dropout(x, options_.dropout, "dropout");
  x = b.Linear(x, data_shape().num_classes, true, "classifier");
  return std::move(b).Finish(x);
}

}  // namespace hwnas::space
