// The screening rule of a search's `screen:` stage as a pure policy: a
// candidate's proxy score (higher is better) goes on to training when it is
// in the top `keep` fraction of every score screened so far, itself
// included. Asynchronous like an ASHA rung: nothing waits for a rung to
// fill, and the first `min_screened` candidates all pass (the threshold of
// one or two scores would be noise). No clock, no store: the server feeds
// scores in and acts on the decisions.
#ifndef HWNAS_SCHEDULER_SCREEN_H_
#define HWNAS_SCHEDULER_SCREEN_H_

#include <cstdint>
#include <map>
#include <string>

namespace hwnas::scheduler {

struct ScreenDecision {
  bool pass = true;
  // The lowest score that passes now (the k-th best of the n screened,
  // k = ceil(keep * n)); -inf while fewer than min_screened were screened.
  double threshold = 0;
  int64_t screened = 0;  // n, this candidate included.
  int64_t kept = 0;      // k.
};

class ScreenRule {
 public:
  ScreenRule(double keep, int min_screened);

  // Records `trial`'s score and decides. A repeated trial replaces its
  // earlier score. A score that is not finite never passes after
  // min_screened (it ranks below every finite one).
  ScreenDecision Decide(int64_t trial, double score);
  // Records a score decided earlier (a restarted server rebuilds the rule).
  void Restore(int64_t trial, double score);

  int64_t screened() const { return static_cast<int64_t>(scores_.size()); }

 private:
  const double keep_;
  const int min_screened_;
  std::map<int64_t, double> scores_;  // trial -> score.
};

// "synflow 1.2e+03 < threshold 4.5e+03 (top 2 of 8 screened, keep 0.25)":
// the reason a screened-out trial stores.
std::string ScreenedOutReason(const std::string& proxy, double score, const ScreenDecision& d,
                              double keep);

}  // namespace hwnas::scheduler

#endif  // HWNAS_SCHEDULER_SCREEN_H_
