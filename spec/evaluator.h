// How a search's trials are evaluated: the spec's `evaluator:` section, the
// EvaluatorKind every module uses instead of spelling "train" / "table" /
// "proxy", and
// the NAS-Bench-201 names (data sets, device columns) the table evaluator
// accepts. Torch-free; the table itself is loaded by controller/nb201_table.h.
#ifndef HWNAS_SPEC_EVALUATOR_H_
#define HWNAS_SPEC_EVALUATOR_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/yaml_fields.h"

namespace hwnas::spec {

enum class EvaluatorKind {
  kTrain,  // Workers train each architecture (the training: section).
  kTable,  // Answered from the NAS-Bench-201 table (nb201 space only).
  kProxy,  // Scored untrained on one real batch by a training-free proxy.
};

// "train" | "table" | "proxy": the spelling in specs, in worker capabilities (on the
// wire) and in the stored scheduler requirements.
absl::string_view EvaluatorKindName(EvaluatorKind kind);
absl::StatusOr<EvaluatorKind> ParseEvaluatorKind(absl::string_view name);

// The data set name a worker advertises for the table evaluator.
inline constexpr char kTableDataset[] = "nb201-table";

enum class Nb201Dataset { kCifar10 = 0, kCifar100 = 1, kImageNet16 = 2 };

// "cifar10" | "cifar100" | "imagenet16" (also "imagenet16-120").
absl::StatusOr<Nb201Dataset> ParseNb201Dataset(absl::string_view name);
absl::string_view Nb201DatasetName(Nb201Dataset dataset);

// The device columns of the published table, without the "lat_" prefix
// ("raspi4", "pixel3", "gold_6226", "1080ti_1", ...).
const std::vector<std::string>& Nb201KnownDevices();
// Accepts "raspi4" or "lat_raspi4"; fails naming the known devices.
absl::StatusOr<std::string> CanonicalNb201Device(absl::string_view device);

// The proxies a `kind: proxy` evaluator takes, as worker/proxies.h spells
// them: synflow, naswot, gradnorm, snip, rmi.
const std::vector<std::string>& ProxyNames();

// `evaluator:` {kind: train} or
// {kind: table, path: <csv>, dataset: cifar10|cifar100|imagenet16, device: raspi4} or
// {kind: proxy, proxy: synflow|naswot|gradnorm|snip|rmi, reference: <model.pt>,
//  batch: 64, seed: 0}
struct EvaluatorOptions {
  EvaluatorKind kind = EvaluatorKind::kTrain;
  std::string path;  // Empty: controller::ResolveNb201TablePath("") at load time.
  Nb201Dataset dataset = Nb201Dataset::kCifar10;
  std::string device = "raspi4";  // A device column, without "lat_".
  // kind: proxy. `reference` (rmi only, required there) is a TorchScript file
  // that `hwnas-worker export` wrote from a trained architecture; it is read
  // on the worker: an absolute path, or relative to the shared data
  // directory. `batch` samples of the training split (seeded by `seed`) are
  // the one batch every proxy scores on.
  std::string proxy;
  std::string reference;
  int proxy_batch = 64;
  uint64_t proxy_seed = 0;
};
absl::StatusOr<EvaluatorOptions> ParseEvaluatorOptions(const YamlSection& evaluator);

// `screen: {proxy: synflow|naswot|gradnorm|snip|rmi, keep: 0.25,
// min_screened: 8, reference: <model.pt>, batch: 64, seed: 0}` in a training
// search: every candidate is first scored by the proxy on a worker (no
// training) and only those in the top `keep` fraction of the scores screened
// so far go on to training (scheduler/screen.h). Absent: enabled is false.
struct ScreenOptions {
  bool enabled = false;
  EvaluatorOptions proxy;  // kind kProxy: proxy, reference, batch, seed.
  double keep = 0.25;
  // Screened candidates before the rule cuts any: the first min_screened all
  // train, so that the threshold is not set by one or two scores.
  int min_screened = 8;
};
// Parses a present `screen:` section; `evaluator` is the spec's evaluator
// kind (only kind train is screened).
absl::StatusOr<ScreenOptions> ParseScreenOptions(const YamlSection& screen,
                                                 EvaluatorKind evaluator);

}  // namespace hwnas::spec

#endif  // HWNAS_SPEC_EVALUATOR_H_
