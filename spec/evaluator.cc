#include "spec/evaluator.h"

#include <algorithm>
#include <cstdint>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "common/status_macros.h"

namespace hwnas::spec {

absl::string_view EvaluatorKindName(EvaluatorKind kind) {
  switch (kind) {
    case EvaluatorKind::kTrain:
      return "train";
    case EvaluatorKind::kTable:
      return "table";
    case EvaluatorKind::kProxy:
      return "proxy";
  }
  return "train";
}

absl::StatusOr<EvaluatorKind> ParseEvaluatorKind(absl::string_view name) {
  for (EvaluatorKind kind : {EvaluatorKind::kTrain, EvaluatorKind::kTable, EvaluatorKind::kProxy}) {
    if (name == EvaluatorKindName(kind)) return kind;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown evaluator kind '", name, "' (expected one of: train, table, proxy)"));
}

absl::StatusOr<Nb201Dataset> ParseNb201Dataset(absl::string_view name) {
  if (name == "cifar10") return Nb201Dataset::kCifar10;
  if (name == "cifar100") return Nb201Dataset::kCifar100;
  if (name == "imagenet16" || name == "imagenet16-120") return Nb201Dataset::kImageNet16;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown NAS-Bench-201 data set '", name,
                   "' (expected one of: cifar10, cifar100, imagenet16)"));
}

absl::string_view Nb201DatasetName(Nb201Dataset dataset) {
  switch (dataset) {
    case Nb201Dataset::kCifar10:
      return "cifar10";
    case Nb201Dataset::kCifar100:
      return "cifar100";
    case Nb201Dataset::kImageNet16:
      return "imagenet16";
  }
  return "cifar10";
}

const std::vector<std::string>& Nb201KnownDevices() {
  static const std::vector<std::string>* const kDevices = new std::vector<std::string>{
      "1080ti_1",     "1080ti_256",     "1080ti_32",    "2080ti_1",    "2080ti_256",
      "2080ti_32",    "essential_ph_1", "eyeriss",      "fpga",        "gold_6226",
      "gold_6240",    "pixel2",         "pixel3",       "raspi4",      "samsung_a50",
      "samsung_s7",   "silver_4114",    "silver_4210r", "titan_rtx_1", "titan_rtx_256",
      "titan_rtx_32", "titanx_1",       "titanx_256",   "titanx_32",   "titanxp_1",
      "titanxp_256",  "titanxp_32"};
  return *kDevices;
}

absl::StatusOr<std::string> CanonicalNb201Device(absl::string_view device) {
  absl::string_view name = absl::StripPrefix(device, "lat_");
  for (const std::string& d : Nb201KnownDevices()) {
    if (d == name) return d;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown NAS-Bench-201 device column '", device,
                   "' (expected one of: ", absl::StrJoin(Nb201KnownDevices(), ", "), ")"));
}

const std::vector<std::string>& ProxyNames() {
  static const std::vector<std::string>* const kNames =
      new std::vector<std::string>{"synflow", "naswot", "gradnorm", "snip", "rmi"};
  return *kNames;
}

namespace {

absl::Status ParseProxyOptions(const YamlSection& evaluator, EvaluatorOptions& o) {
  if (!evaluator.Has("proxy")) {
    return absl::InvalidArgumentError(absl::StrCat(
        evaluator.PathOf("proxy"),
        ": is required for kind proxy (one of: ", absl::StrJoin(ProxyNames(), ", "), ")"));
  }
  HWNAS_ASSIGN_OR_RETURN(o.proxy, evaluator.String("proxy", std::nullopt));
  if (std::find(ProxyNames().begin(), ProxyNames().end(), o.proxy) == ProxyNames().end()) {
    return absl::InvalidArgumentError(
        absl::StrCat(evaluator.PathOf("proxy"), ": unknown proxy '", o.proxy,
                     "' (expected one of: ", absl::StrJoin(ProxyNames(), ", "), ")"));
  }
  HWNAS_ASSIGN_OR_RETURN(o.reference, evaluator.String("reference", ""));
  if (o.proxy == "rmi" && o.reference.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        evaluator.PathOf("reference"),
        ": proxy rmi needs a reference model, the TorchScript file `hwnas-worker export` writes "
        "for a trained architecture"));
  }
  if (o.proxy != "rmi" && !o.reference.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        evaluator.PathOf("reference"), ": only proxy rmi compares with a reference; proxy ",
        o.proxy, " scores the network alone"));
  }
  // RMI estimates covariances of up to 8 components per side from the
  // batch: below 32 samples the estimate is mostly noise.
  HWNAS_ASSIGN_OR_RETURN(int64_t batch, evaluator.Int("batch", 64, 8, 4096));
  if (o.proxy == "rmi" && batch < 32) {
    return absl::InvalidArgumentError(absl::StrCat(
        evaluator.PathOf("batch"), ": proxy rmi needs at least 32 samples, got ", batch));
  }
  o.proxy_batch = static_cast<int>(batch);
  HWNAS_ASSIGN_OR_RETURN(int64_t seed, evaluator.Int("seed", 0, 0, INT64_MAX));
  o.proxy_seed = static_cast<uint64_t>(seed);
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<EvaluatorOptions> ParseEvaluatorOptions(const YamlSection& evaluator) {
  HWNAS_RETURN_IF_ERROR(evaluator.CheckIsMap());
  EvaluatorOptions o;
  HWNAS_ASSIGN_OR_RETURN(std::string kind,
                         evaluator.Enum("kind",
                                        {EvaluatorKindName(EvaluatorKind::kTrain),
                                         EvaluatorKindName(EvaluatorKind::kTable),
                                         EvaluatorKindName(EvaluatorKind::kProxy)},
                                        std::string(EvaluatorKindName(EvaluatorKind::kTrain))));
  HWNAS_ASSIGN_OR_RETURN(o.kind, ParseEvaluatorKind(kind));
  if (o.kind == EvaluatorKind::kTrain) {
    HWNAS_RETURN_IF_ERROR(evaluator.CheckKeys({"kind"}));
    return o;
  }
  if (o.kind == EvaluatorKind::kProxy) {
    HWNAS_RETURN_IF_ERROR(evaluator.CheckKeys({"kind", "proxy", "reference", "batch", "seed"}));
    HWNAS_RETURN_IF_ERROR(ParseProxyOptions(evaluator, o));
    return o;
  }
  HWNAS_RETURN_IF_ERROR(evaluator.CheckKeys({"kind", "path", "dataset", "device"}));
  HWNAS_ASSIGN_OR_RETURN(o.path, evaluator.String("path", ""));
  HWNAS_ASSIGN_OR_RETURN(
      std::string dataset,
      evaluator.Enum("dataset", {"cifar10", "cifar100", "imagenet16"}, "cifar10"));
  HWNAS_ASSIGN_OR_RETURN(o.dataset, ParseNb201Dataset(dataset));
  HWNAS_ASSIGN_OR_RETURN(std::string device, evaluator.String("device", o.device));
  absl::StatusOr<std::string> canonical = CanonicalNb201Device(device);
  if (!canonical.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(evaluator.PathOf("device"), ": ", canonical.status().message()));
  }
  o.device = *canonical;
  return o;
}

absl::StatusOr<ScreenOptions> ParseScreenOptions(const YamlSection& screen,
                                                 EvaluatorKind evaluator) {
  HWNAS_RETURN_IF_ERROR(screen.CheckIsMap());
  if (evaluator != EvaluatorKind::kTrain) {
    // A table or proxy search trains nothing: there is nothing to save.
    return absl::InvalidArgumentError(absl::StrCat(
        "screen: screens candidates before training; the ", EvaluatorKindName(evaluator),
        " evaluator trains none (screen needs evaluator kind train)"));
  }
  HWNAS_RETURN_IF_ERROR(
      screen.CheckKeys({"proxy", "keep", "min_screened", "reference", "batch", "seed"}));
  ScreenOptions o;
  o.enabled = true;
  o.proxy.kind = EvaluatorKind::kProxy;
  HWNAS_RETURN_IF_ERROR(ParseProxyOptions(screen, o.proxy));
  if (screen.Has("keep")) {
    HWNAS_ASSIGN_OR_RETURN(o.keep, screen.Double("keep", std::nullopt, -1e300, 1e300));
  }
  if (!(o.keep > 0 && o.keep <= 1)) {
    return absl::InvalidArgumentError(
        absl::StrCat(screen.PathOf("keep"),
                     ": must be a fraction in (0, 1] of the screened candidates that "
                     "go on to training, got ",
                     o.keep));
  }
  HWNAS_ASSIGN_OR_RETURN(int64_t min_screened, screen.Int("min_screened", 8, 1, 1000000));
  o.min_screened = static_cast<int>(min_screened);
  return o;
}

}  // namespace hwnas::spec
