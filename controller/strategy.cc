#include "controller/strategy.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "controller/evolution.h"
#include "controller/mnasnet_controller.h"
#include "controller/nsga2.h"
#include "controller/random_search.h"
#include "controller/surrogate.h"

namespace hwnas::controller {
namespace {

absl::Status FieldError(absl::string_view path, absl::string_view problem) {
  return absl::InvalidArgumentError(absl::StrCat(path, ": ", problem));
}

// A dnas search's strategy: its one proposal is the supernet job (the server
// stores it as a trial of origin dnas_job and a worker runs worker/dnas/);
// the architectures the job finds come back as enqueued trials of origin
// dnas, so nothing is learned here. The job's token list is the space's
// first choices, a placeholder that decodes (stores need one).
class DnasJob final : public Strategy {
 public:
  explicit DnasJob(const space::SearchSpace& space) : space_(space) {}
  absl::string_view name() const override { return "dnas"; }
  absl::StatusOr<std::vector<Proposal>> Propose(int n) override {
    if (proposed_ || n <= 0) return std::vector<Proposal>{};
    HWNAS_ASSIGN_OR_RETURN(Architecture arch,
                           space_.MakeArchitecture(std::vector<int>(space_.decisions().size(), 0)));
    arch.readable = "dnas supernet job";
    proposed_ = true;
    return std::vector<Proposal>{Proposal{1, std::move(arch)}};
  }
  absl::Status Observe(absl::Span<const Observation>) override { return absl::OkStatus(); }
  absl::Status WarmStart(absl::Span<const Observation>) override { return absl::OkStatus(); }
  absl::StatusOr<std::string> Save() const override {
    return std::string(proposed_ ? "dnas-job:1" : "dnas-job:0");
  }
  absl::Status Restore(absl::string_view bytes) override {
    if (bytes != "dnas-job:0" && bytes != "dnas-job:1") {
      return absl::InvalidArgumentError("dnas: not a dnas job checkpoint");
    }
    proposed_ = bytes == "dnas-job:1";
    return absl::OkStatus();
  }

 private:
  const space::SearchSpace& space_;
  bool proposed_ = false;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Strategy>> MakeStrategy(const StrategyOptions& options,
                                                       const space::SearchSpace& space,
                                                       uint64_t seed, const RewardOptions* reward) {
  HWNAS_RETURN_IF_ERROR(ValidateStrategyOptions(options));
  if (space.decisions().empty()) {
    return absl::InvalidArgumentError(absl::StrCat("space ", space.name(), " has no decisions"));
  }
  if (options.name == "dnas") {
    // A supernet job, not a propose/observe loop: worker/dnas/ runs it.
    if (space.name() != "mnasnet" && space.name() != "temporal") {
      return FieldError("strategy.name",
                        absl::StrCat("dnas needs a space whose decisions are per-layer op "
                                     "choices (mnasnet, temporal); space ",
                                     space.name(), " is not supported"));
    }
    return std::unique_ptr<Strategy>(std::make_unique<DnasJob>(space));
  }
  if (options.name == "random") return std::make_unique<RandomSearch>(space, seed);
  if (options.name == "evolution") {
    return std::make_unique<Evolution>(options.evolution, space, seed);
  }
  if (options.name == "nsga2") {
    return std::make_unique<Nsga2>(options.nsga2, space, seed, reward);
  }
  if (options.name == "surrogate") {
    // The one-hot features are the model's minimum.
    size_t onehot = 0;
    for (const space::Decision& d : space.decisions()) onehot += d.choices.size();
    if (onehot > static_cast<size_t>(options.surrogate.max_features)) {
      return FieldError("strategy.max_features",
                        absl::StrCat("space ", space.name(), " needs at least ", onehot,
                                     " (its one-hot token features)"));
    }
    return std::make_unique<Surrogate>(options.surrogate, space, seed, reward);
  }
  ControllerOptions c = options.controller;
  c.algorithm =
      options.name == "mnasnet-reinforce" ? PolicyGradient::kReinforce : PolicyGradient::kPpo;
  HWNAS_ASSIGN_OR_RETURN(std::unique_ptr<MnasNetController> controller,
                         MnasNetController::Create(c, space, seed, reward));
  return std::unique_ptr<Strategy>(std::move(controller));
}

}  // namespace hwnas::controller
