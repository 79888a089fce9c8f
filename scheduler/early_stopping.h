// The median stopping rule (Golovin et al., "Google Vizier", 2017): stop a
// trial whose best validation accuracy up to epoch e is below the median of
// the running averages up to e of the trials that already finished, once
// enough trials have finished to make the median meaningful. A pure policy:
// the server feeds it per-epoch curves from the store.
#ifndef HWNAS_SCHEDULER_EARLY_STOPPING_H_
#define HWNAS_SCHEDULER_EARLY_STOPPING_H_

#include <map>
#include <vector>

#include "absl/types/span.h"

namespace hwnas::scheduler {

struct MedianStoppingOptions {
  bool enabled = false;
  int min_trials = 5;    // Finished trials needed before stopping anything.
  int grace_epochs = 1;  // Never stop a trial before this many epochs.
};

// Validation accuracy per epoch (epoch -> value) of one trial.
using Curve = std::map<int, double>;

// True when the rule says `running` should stop at its latest epoch,
// compared with the curves of `finished` trials.
bool ShouldStopEarly(const MedianStoppingOptions& options, const Curve& running,
                     absl::Span<const Curve> finished);

}  // namespace hwnas::scheduler

#endif  // HWNAS_SCHEDULER_EARLY_STOPPING_H_
