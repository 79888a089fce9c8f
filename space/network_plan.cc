#include "space/network_plan.h"

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace hwnas::space {
namespace {

int64_t ConvOutput(int64_t in, int kernel, int stride, int pad, int dilation) {
  const int64_t span = in + 2 * pad - dilation * (kernel - 1) - 1;
  // A window larger than the padded input leaves no output position; integer
  // division would round -k/stride up to 0 and hide that.
  if (span < 0) return 0;
  return span / stride + 1;
}

}  // namespace

std::string ShapeToString(const Shape& shape) {
  return absl::StrCat("[", absl::StrJoin(shape, "x"), "]");
}

int64_t NumElements(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

absl::string_view OpTypeName(OpType type) {
  switch (type) {
    case OpType::kInput:
      return "input";
    case OpType::kConv:
      return "conv";
    case OpType::kBatchNorm:
      return "batchnorm";
    case OpType::kActivation:
      return "activation";
    case OpType::kAdd:
      return "add";
    case OpType::kMul:
      return "mul";
    case OpType::kPool:
      return "pool";
    case OpType::kGlobalAvgPool:
      return "global_avg_pool";
    case OpType::kFlatten:
      return "flatten";
    case OpType::kLinear:
      return "linear";
    case OpType::kRecurrent:
      return "recurrent";
    case OpType::kDropout:
      return "dropout";
    case OpType::kZero:
      return "zero";
  }
  return "unknown";
}

absl::string_view ActivationName(Activation act) {
  switch (act) {
    case Activation::kIdentity:
      return "identity";
    case Activation::kRelu:
      return "relu";
    case Activation::kRelu6:
      return "relu6";
    case Activation::kElu:
      return "elu";
    case Activation::kSigmoid:
      return "sigmoid";
    case Activation::kHardSwish:
      return "hswish";
    case Activation::kTanh:
      return "tanh";
  }
  return "unknown";
}

PlanBuilder::PlanBuilder(Shape input_shape) {
  Op input;
  input.type = OpType::kInput;
  input.output_shape = std::move(input_shape);
  input.name = "input";
  if (input.output_shape.empty()) Fail("input shape is empty");
  for (int64_t d : input.output_shape) {
    if (d <= 0)
      Fail(absl::StrCat("input shape ", ShapeToString(input.output_shape),
                        " has a non-positive dimension"));
  }
  plan_.ops.push_back(std::move(input));
}

void PlanBuilder::Fail(std::string message) {
  if (error_.empty()) error_ = std::move(message);
}

int PlanBuilder::Push(Op op) {
  op.name = scope_.empty() ? op.name : absl::StrCat(scope_, ".", op.name);
  for (int64_t d : op.output_shape) {
    if (d <= 0) {
      Fail(absl::StrCat(op.name, ": output shape ", ShapeToString(op.output_shape),
                        " has a non-positive dimension (input too small for this network)"));
      break;
    }
  }
  plan_.ops.push_back(std::move(op));
  return static_cast<int>(plan_.ops.size()) - 1;
}

int PlanBuilder::Conv(int in, int64_t out_channels, int kernel, int stride, int64_t groups,
                      int dilation, bool bias, absl::string_view name) {
  const Shape& s = shape(in);
  if (s.size() == 2) {
    Op op;
    op.type = OpType::kConv;
    op.dims = 1;
    op.inputs = {in};
    op.in_channels = s[0];
    op.out_channels = out_channels;
    op.kernel_w = kernel;
    op.stride_w = stride;
    op.dilation_w = dilation;
    op.pad_w = dilation * (kernel - 1) / 2;
    op.groups = groups;
    op.bias = bias;
    op.weight_bits = weight_bits_;
    op.name = std::string(name);
    op.output_shape = {out_channels, ConvOutput(s[1], kernel, stride, op.pad_w, dilation)};
    if (s[0] % groups != 0 || out_channels % groups != 0) {
      Fail(absl::StrCat(name, ": channels ", s[0], "->", out_channels,
                        " are not divisible by groups ", groups));
    }
    return Push(std::move(op));
  }
  const int pad = dilation * (kernel - 1) / 2;
  if (dilation != 1) {
    Fail(absl::StrCat(name, ": dilated 2-D convolution is not supported"));
  }
  return Conv2d(in, out_channels, kernel, kernel, stride, stride, pad, pad, groups, bias, name);
}

int PlanBuilder::Conv2d(int in, int64_t out_channels, int kernel_h, int kernel_w, int stride_h,
                        int stride_w, int pad_h, int pad_w, int64_t groups, bool bias,
                        absl::string_view name) {
  const Shape& s = shape(in);
  Op op;
  op.type = OpType::kConv;
  op.dims = 2;
  op.inputs = {in};
  op.out_channels = out_channels;
  op.kernel_h = kernel_h;
  op.kernel_w = kernel_w;
  op.stride_h = stride_h;
  op.stride_w = stride_w;
  op.pad_h = pad_h;
  op.pad_w = pad_w;
  op.groups = groups;
  op.bias = bias;
  op.weight_bits = weight_bits_;
  op.name = std::string(name);
  if (s.size() != 3) {
    Fail(absl::StrCat(name, ": 2-D convolution needs a {C, H, W} input, got ", ShapeToString(s)));
    op.output_shape = {out_channels, 1, 1};
    return Push(std::move(op));
  }
  op.in_channels = s[0];
  if (s[0] % groups != 0 || out_channels % groups != 0) {
    Fail(absl::StrCat(name, ": channels ", s[0], "->", out_channels,
                      " are not divisible by groups ", groups));
  }
  op.output_shape = {out_channels, ConvOutput(s[1], kernel_h, stride_h, pad_h, 1),
                     ConvOutput(s[2], kernel_w, stride_w, pad_w, 1)};
  return Push(std::move(op));
}

int PlanBuilder::BatchNorm(int in, absl::string_view name) {
  Op op;
  op.type = OpType::kBatchNorm;
  op.inputs = {in};
  op.in_channels = op.out_channels = shape(in)[0];
  op.output_shape = shape(in);
  op.name = std::string(name);
  return Push(std::move(op));
}

int PlanBuilder::Act(int in, Activation act, absl::string_view name) {
  Op op;
  op.type = OpType::kActivation;
  op.inputs = {in};
  op.activation = act;
  op.output_shape = shape(in);
  op.name = std::string(name);
  return Push(std::move(op));
}

int PlanBuilder::Add(std::vector<int> ins, absl::string_view name) {
  Op op;
  op.type = OpType::kAdd;
  if (ins.empty()) {
    Fail(absl::StrCat(name, ": add needs at least one input"));
    return 0;
  }
  for (int i : ins) {
    if (shape(i) != shape(ins[0])) {
      Fail(absl::StrCat(name, ": cannot add ", ShapeToString(shape(i)), " to ",
                        ShapeToString(shape(ins[0]))));
    }
  }
  op.output_shape = shape(ins[0]);
  op.inputs = std::move(ins);
  op.name = std::string(name);
  return Push(std::move(op));
}

int PlanBuilder::Mul(int in, int gate, absl::string_view name) {
  Op op;
  op.type = OpType::kMul;
  op.inputs = {in, gate};
  op.output_shape = shape(in);
  op.name = std::string(name);
  const Shape& g = shape(gate);
  if (g.size() != shape(in).size() || g[0] != shape(in)[0]) {
    Fail(absl::StrCat(name, ": gate ", ShapeToString(g), " does not broadcast to ",
                      ShapeToString(shape(in))));
  }
  return Push(std::move(op));
}

int PlanBuilder::Pool(int in, PoolKind kind, int kernel, int stride, int pad,
                      absl::string_view name) {
  const Shape& s = shape(in);
  Op op;
  op.type = OpType::kPool;
  op.pool = kind;
  op.inputs = {in};
  op.kernel_w = kernel;
  op.stride_w = stride;
  op.pad_w = pad;
  op.name = std::string(name);
  if (s.size() == 2) {
    op.dims = 1;
    op.output_shape = {s[0], ConvOutput(s[1], kernel, stride, pad, 1)};
  } else if (s.size() == 3) {
    op.kernel_h = kernel;
    op.stride_h = stride;
    op.pad_h = pad;
    op.output_shape = {s[0], ConvOutput(s[1], kernel, stride, pad, 1),
                       ConvOutput(s[2], kernel, stride, pad, 1)};
  } else {
    Fail(absl::StrCat(name, ": pooling needs a {C, T} or {C, H, W} input, got ", ShapeToString(s)));
    op.output_shape = s;
  }
  return Push(std::move(op));
}

int PlanBuilder::Pool2d(int in, PoolKind kind, int kernel_h, int kernel_w, int stride_h,
                        int stride_w, absl::string_view name) {
  const Shape& s = shape(in);
  Op op;
  op.type = OpType::kPool;
  op.pool = kind;
  op.inputs = {in};
  op.kernel_h = kernel_h;
  op.kernel_w = kernel_w;
  op.stride_h = stride_h;
  op.stride_w = stride_w;
  op.name = std::string(name);
  if (s.size() != 3) {
    Fail(absl::StrCat(name, ": 2-D pooling needs a {C, H, W} input, got ", ShapeToString(s)));
    op.output_shape = s;
  } else {
    op.output_shape = {s[0], ConvOutput(s[1], kernel_h, stride_h, 0, 1),
                       ConvOutput(s[2], kernel_w, stride_w, 0, 1)};
  }
  return Push(std::move(op));
}

int PlanBuilder::GlobalAvgPool(int in, absl::string_view name) {
  Op op;
  op.type = OpType::kGlobalAvgPool;
  op.inputs = {in};
  op.output_shape = Shape(shape(in).size(), 1);
  op.output_shape[0] = shape(in)[0];
  op.name = std::string(name);
  return Push(std::move(op));
}

int PlanBuilder::Flatten(int in, absl::string_view name) {
  Op op;
  op.type = OpType::kFlatten;
  op.inputs = {in};
  op.output_shape = {NumElements(shape(in))};
  op.name = std::string(name);
  return Push(std::move(op));
}

int PlanBuilder::Linear(int in, int64_t out_features, bool bias, absl::string_view name) {
  Op op;
  op.type = OpType::kLinear;
  op.inputs = {in};
  op.in_channels = NumElements(shape(in));
  op.out_channels = out_features;
  op.bias = bias;
  op.weight_bits = weight_bits_;
  op.output_shape = {out_features};
  op.name = std::string(name);
  if (shape(in).size() != 1) {
    Fail(absl::StrCat(name, ": linear needs a flat input, got ", ShapeToString(shape(in))));
  }
  return Push(std::move(op));
}

int PlanBuilder::Recurrent(int in, RecurrentCell cell, int64_t hidden, bool return_sequence,
                           absl::string_view name) {
  const Shape& s = shape(in);
  Op op;
  op.type = OpType::kRecurrent;
  op.inputs = {in};
  op.cell = cell;
  op.out_channels = hidden;
  op.return_sequence = return_sequence;
  op.weight_bits = weight_bits_;
  op.bias = true;
  op.name = std::string(name);
  if (s.size() != 2) {
    Fail(absl::StrCat(name, ": recurrent cells need a {C, T} input, got ", ShapeToString(s)));
    op.output_shape = {hidden};
    return Push(std::move(op));
  }
  op.in_channels = s[0];
  op.output_shape = return_sequence ? Shape{hidden, s[1]} : Shape{hidden};
  return Push(std::move(op));
}

int PlanBuilder::Dropout(int in, double p, absl::string_view name) {
  Op op;
  op.type = OpType::kDropout;
  op.inputs = {in};
  op.dropout = p;
  op.output_shape = shape(in);
  op.name = std::string(name);
  return Push(std::move(op));
}

int PlanBuilder::Zero(Shape shape, absl::string_view name) {
  Op op;
  op.type = OpType::kZero;
  op.output_shape = std::move(shape);
  op.name = std::string(name);
  return Push(std::move(op));
}

int PlanBuilder::ConvBnAct(int in, int64_t out_channels, int kernel, int stride, int64_t groups,
                           Activation act, absl::string_view name) {
  int x = Conv(in, out_channels, kernel, stride, groups, 1, false, absl::StrCat(name, ".conv"));
  x = BatchNorm(x, absl::StrCat(name, ".bn"));
  if (act != Activation::kIdentity) x = Act(x, act, absl::StrCat(name, ".act"));
  return x;
}

absl::StatusOr<NetworkPlan> PlanBuilder::Finish(int output) && {
  if (!error_.empty()) return absl::InvalidArgumentError(error_);
  if (output <= 0 || output >= static_cast<int>(plan_.ops.size())) {
    return absl::InvalidArgumentError("network plan has no output op");
  }
  plan_.output = output;
  return std::move(plan_);
}

}  // namespace hwnas::space
