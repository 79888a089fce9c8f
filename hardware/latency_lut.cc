#include "hardware/latency_lut.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/files.h"
#include "common/status_macros.h"
#include "common/yaml_fields.h"
#include "hardware/mcu_model.h"
#include "nlohmann/json.hpp"

namespace hwnas::hardware {
namespace {

using space::Op;
using space::OpType;
using space::Shape;

constexpr absl::string_view kFormat = "hwnas-latency-lut";
constexpr int kVersion = 1;

std::string Dims(const Shape& s) { return absl::StrJoin(s, "x"); }

std::string Pair(int h, int w, bool two_d) {
  return two_d ? absl::StrCat(h, "x", w) : absl::StrCat(w);
}

absl::Status Malformed(absl::string_view source, absl::string_view field,
                       absl::string_view problem) {
  return absl::InvalidArgumentError(absl::StrCat(source, ": ", field, ": ", problem));
}

}  // namespace

std::string LutKey(const Op& op, const Shape& input_shape) {
  const std::string in = Dims(input_shape);
  std::string key;
  switch (op.type) {
    case OpType::kInput:
      return "";
    case OpType::kConv: {
      const bool two_d = op.dims == 2;
      key = absl::StrCat(two_d ? "conv2d" : "conv1d", " in=", in, " out=", op.out_channels,
                         " k=", Pair(op.kernel_h, op.kernel_w, two_d),
                         " s=", Pair(op.stride_h, op.stride_w, two_d),
                         " d=", Pair(op.dilation_h, op.dilation_w, two_d),
                         " p=", Pair(op.pad_h, op.pad_w, two_d), " g=", op.groups,
                         " bias=", op.bias ? 1 : 0);
      break;
    }
    case OpType::kLinear:
      key = absl::StrCat("linear in=", op.in_channels, " out=", op.out_channels,
                         " bias=", op.bias ? 1 : 0);
      break;
    case OpType::kRecurrent:
      key = absl::StrCat(op.cell == space::RecurrentCell::kLstm ? "lstm" : "gru", " in=", in,
                         " hidden=", op.out_channels, " seq=", op.return_sequence ? 1 : 0);
      break;
    case OpType::kBatchNorm:
      return absl::StrCat("batchnorm in=", in);
    case OpType::kActivation:
      return absl::StrCat(space::ActivationName(op.activation), " in=", in);
    case OpType::kPool: {
      const bool two_d = input_shape.size() == 3;
      return absl::StrCat(
          op.pool == space::PoolKind::kMax ? "maxpool" : "avgpool", two_d ? "2d" : "1d", " in=", in,
          " k=", Pair(op.kernel_h, op.kernel_w, two_d),
          " s=", Pair(op.stride_h, op.stride_w, two_d), " p=", Pair(op.pad_h, op.pad_w, two_d));
    }
    case OpType::kGlobalAvgPool:
      return absl::StrCat("global_avg_pool in=", in);
    case OpType::kAdd:
      return absl::StrCat("add in=", in, " n=", op.inputs.size());
    case OpType::kMul:
      // The gate is {C, 1[, 1]} by construction; its rank follows the input.
      return absl::StrCat("mul in=", in, " gate=", input_shape.empty() ? 0 : input_shape[0],
                          input_shape.size() >= 2 ? "x1" : "", input_shape.size() >= 3 ? "x1" : "");
    case OpType::kFlatten:
      return absl::StrCat("flatten in=", in);
    case OpType::kDropout:
      return absl::StrCat("dropout in=", in);
    case OpType::kZero:
      return absl::StrCat("zero out=", Dims(op.output_shape));
  }
  if (op.weight_bits < 32) absl::StrAppend(&key, " w=", op.weight_bits);
  return key;
}

std::vector<LutOp> CollectLutOps(const space::NetworkPlan& plan) {
  std::vector<LutOp> out;
  std::set<std::string> seen;
  for (const Op& op : plan.ops) {
    if (op.type == OpType::kInput) continue;
    Shape in;
    if (!op.inputs.empty()) in = plan.ops[op.inputs[0]].output_shape;
    std::string key = LutKey(op, in);
    if (!seen.insert(key).second) continue;
    LutOp l;
    l.key = std::move(key);
    l.op = op;
    l.op.inputs.clear();
    l.input_shape = in;
    for (size_t k = 1; k < op.inputs.size(); ++k) {
      l.extra_input_shapes.push_back(plan.ops[op.inputs[k]].output_shape);
    }
    out.push_back(std::move(l));
  }
  return out;
}

absl::StatusOr<double> PredictLatencyMs(const space::NetworkPlan& plan, const LatencyLut& lut) {
  double total = lut.base_ms;
  for (const Op& op : plan.ops) {
    if (op.type == OpType::kInput) continue;
    const Shape& in = op.inputs.empty() ? Shape{} : plan.ops[op.inputs[0]].output_shape;
    const std::string key = LutKey(op, in);
    auto it = lut.entries.find(key);
    if (it == lut.entries.end()) {
      return absl::NotFoundError(
          absl::StrCat("latency table", lut.device.empty() ? "" : absl::StrCat(" for ", lut.device),
                       " has no entry '", key, "' (needed by op ", op.name,
                       "); run hwnas-worker calibrate for this space on the target"));
    }
    total += it->second.median_ms;
  }
  return lut.scale * total;
}

std::vector<std::string> MissingLutKeys(const space::NetworkPlan& plan, const LatencyLut& lut) {
  std::vector<std::string> missing;
  for (const LutOp& l : CollectLutOps(plan)) {
    if (!lut.entries.contains(l.key)) missing.push_back(l.key);
  }
  return missing;
}

std::string LutToJson(const LatencyLut& lut) {
  nlohmann::ordered_json j;
  j["format"] = std::string(kFormat);
  j["version"] = kVersion;
  j["device"] = lut.device;
  j["threads"] = lut.threads;
  j["base_ms"] = lut.base_ms;
  j["scale"] = lut.scale;
  nlohmann::ordered_json entries = nlohmann::ordered_json::object();
  for (const auto& [key, e] : lut.entries) {
    entries[key] = {{"median_ms", e.median_ms}, {"p90_ms", e.p90_ms}, {"runs", e.runs}};
  }
  j["entries"] = std::move(entries);
  return j.dump(2) + "\n";
}

absl::StatusOr<LatencyLut> LutFromJson(absl::string_view text, absl::string_view source) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text.begin(), text.end());
  } catch (const nlohmann::json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": malformed JSON: ", e.what()));
  }
  if (!j.is_object()) return Malformed(source, "(root)", "must be a JSON object");
  if (!j.contains("format") || j["format"] != std::string(kFormat)) {
    return Malformed(source, "format", absl::StrCat("must be \"", kFormat, "\""));
  }
  if (!j.contains("version") || !j["version"].is_number_integer() || j["version"] != kVersion) {
    return Malformed(source, "version", absl::StrCat("must be ", kVersion));
  }
  LatencyLut lut;
  if (j.contains("device")) {
    if (!j["device"].is_string()) return Malformed(source, "device", "must be a string");
    lut.device = j["device"].get<std::string>();
  }
  if (j.contains("threads")) {
    if (!j["threads"].is_number_integer() || j["threads"].get<int64_t>() < 1 ||
        j["threads"].get<int64_t>() > 4096) {
      return Malformed(source, "threads", "must be a positive integer");
    }
    lut.threads = j["threads"].get<int>();
  }
  if (j.contains("base_ms")) {
    if (!j["base_ms"].is_number() || !std::isfinite(j["base_ms"].get<double>()) ||
        j["base_ms"].get<double>() < 0) {
      return Malformed(source, "base_ms", "must be a non-negative number");
    }
    lut.base_ms = j["base_ms"].get<double>();
  }
  if (j.contains("scale")) {
    if (!j["scale"].is_number() || !std::isfinite(j["scale"].get<double>()) ||
        j["scale"].get<double>() <= 0) {
      return Malformed(source, "scale", "must be a positive number");
    }
    lut.scale = j["scale"].get<double>();
  }
  if (!j.contains("entries") || !j["entries"].is_object()) {
    return Malformed(source, "entries", "must be an object of \"<key>\": {\"median_ms\": ...}");
  }
  for (const auto& [key, value] : j["entries"].items()) {
    const std::string field = absl::StrCat("entries[\"", key, "\"]");
    if (!value.is_object()) return Malformed(source, field, "must be an object");
    LutEntry e;
    auto number = [&](absl::string_view name, bool required, double* out) -> absl::Status {
      const std::string n(name);
      if (!value.contains(n)) {
        return required ? Malformed(source, absl::StrCat(field, ".", name), "is required")
                        : absl::OkStatus();
      }
      if (!value[n].is_number() || !std::isfinite(value[n].get<double>()) ||
          value[n].get<double>() < 0) {
        return Malformed(source, absl::StrCat(field, ".", name), "must be a non-negative number");
      }
      *out = value[n].get<double>();
      return absl::OkStatus();
    };
    HWNAS_RETURN_IF_ERROR(number("median_ms", true, &e.median_ms));
    HWNAS_RETURN_IF_ERROR(number("p90_ms", false, &e.p90_ms));
    double runs = 0;
    HWNAS_RETURN_IF_ERROR(number("runs", false, &runs));
    e.runs = static_cast<int>(runs);
    lut.entries[key] = e;
  }
  return lut;
}

absl::Status CheckLutWritable(const std::string& path) {
  std::error_code ec;
  if (path.empty()) return absl::InvalidArgumentError("no latency table path given");
  if (std::filesystem::is_directory(path, ec)) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, " is a directory; give a file name such as ", path, "/lut.json"));
  }
  // SaveLut writes PATH.tmp beside it and renames it over PATH.
  return CheckCanWrite(absl::StrCat(path, ".tmp"));
}

absl::Status SaveLut(const LatencyLut& lut, const std::string& path) {
  // Write a sibling file and rename it, so readers never see half a table.
  const std::string tmp = absl::StrCat(path, ".tmp");
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) {
      return absl::PermissionDeniedError(
          absl::StrCat(tmp, ": cannot write latency table (", std::strerror(errno), ")"));
    }
    out << LutToJson(lut);
    out.flush();
    if (!out) {
      return absl::DataLossError(absl::StrCat(tmp, ": write failed (", std::strerror(errno), ")"));
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int error = errno;
    std::remove(tmp.c_str());
    return absl::PermissionDeniedError(
        absl::StrCat(path, ": cannot replace latency table (", std::strerror(error), ")"));
  }
  return absl::OkStatus();
}

absl::StatusOr<LatencyLut> LoadLut(const std::string& path) {
  absl::StatusOr<std::string> text = ReadRegularFile(path, kMaxLutBytes);
  if (!text.ok()) {
    return absl::Status(text.status().code(), absl::StrCat(path, ": cannot open latency table (",
                                                           text.status().message(), ")"));
  }
  return LutFromJson(*text, path);
}

absl::StatusOr<LatencyLut> FindLut(absl::string_view name,
                                   const std::vector<std::string>& search_path) {
  if (!IsDeviceFileName(name)) {
    return absl::InvalidArgumentError(
        absl::StrCat("must be the name of a latency lookup table (NAME.json in a profile "
                     "directory), got ",
                     QuoteValue(name), "; paths are not opened"));
  }
  for (const std::string& dir : search_path) {
    const std::string path = absl::StrCat(dir, "/", name, ".json");
    std::error_code ec;
    if (std::filesystem::is_regular_file(path, ec)) return LoadLut(path);
  }
  return absl::NotFoundError(
      absl::StrCat("no latency lookup table '", name, "' (looked for ", name, ".json in: ",
                   search_path.empty() ? "no directories" : absl::StrJoin(search_path, ", "), ")"));
}

}  // namespace hwnas::hardware
