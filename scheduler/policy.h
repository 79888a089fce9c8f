// The scheduling policy: which searches a worker should take a trial from,
// in what order, and how deep each search's queue should be. A pure policy
// on plain structs (no gRPC, SQL or clocks), so it is unit-tested on its own
// and the server stays a thin loop around it.
#ifndef HWNAS_SCHEDULER_POLICY_H_
#define HWNAS_SCHEDULER_POLICY_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/types/span.h"

namespace hwnas::scheduler {

// What a search needs from a worker.
struct Requirements {
  std::string space;       // Search space name the worker must support.
  std::string evaluator;   // "train" or "table".
  std::string dataset;     // Data set the worker must have (train only).
  std::string device_tag;  // Non-empty: latency must be measured on this device.
  bool needs_gpu = false;
  // CPUs whose firmware the worker must build and run in QEMU (the spec's
  // `hardware.targets[].measure`), e.g. {"cortex-m7"}.
  std::vector<std::string> measure_mcus;
};

// One running search as the scheduler sees it.
struct SearchDemand {
  int64_t search_id = 0;
  std::string owner;
  double weight = 1;    // Share of the fleet relative to other searches.
  int64_t pending = 0;  // Trials waiting for a worker.
  int64_t running = 0;  // Trials leased or running now.
  int64_t granted = 0;  // Leases granted, counted from its level on joining (GrantsOnJoin).
  Requirements requirements;
};

// A worker's capabilities.
struct WorkerProfile {
  std::string device_tag;
  bool gpu = false;
  std::vector<std::string> datasets;
  std::vector<std::string> search_spaces;  // "name" or "name@version".
  std::vector<std::string> evaluators;
  std::vector<std::string> measure_mcus;  // serve --measure-mcu.
};

struct PolicyOptions {
  // Most trials one owner may have running at once across all their
  // searches; 0: no limit.
  int max_running_per_owner = 0;
};

// Whether `worker` can run trials of a search with `req`; on false, `why`
// (if given) says which capability is missing.
bool CanRun(const WorkerProfile& worker, const Requirements& req, std::string* why = nullptr);

// Searches `worker` may take a trial from, best first: searches it can run,
// with pending trials, whose owner is under the running limit, ordered by
// weighted fair share (fewest leases granted per unit of weight first —
// stride scheduling — so weights 1 and 3 get trials in about a 1:3 ratio;
// see GrantsOnJoin), ties broken by search id.
std::vector<int64_t> RankSearches(const WorkerProfile& worker,
                                  absl::Span<const SearchDemand> searches,
                                  const PolicyOptions& options);

// The `granted` count a search of `weight` starts with when it joins the
// running `others`: the furthest-ahead level among them (leases per unit of
// weight) times its weight, or `own` if higher. A newcomer is owed nothing:
// ranked from zero it would take the whole fleet until its count reached
// the others', stalling every older search (as it did). Searches behind the
// furthest-ahead one keep what they are owed, e.g. the trials others ran
// while their queues were briefly empty, so weights hold over time. (After
// a server restart every search rejoins this way: debts are forgiven then.)
int64_t GrantsOnJoin(double weight, int64_t own, absl::Span<const SearchDemand> others);

// How many proposals a search should keep queued (pending) given how many
// workers can run it and how many of its trials are in flight. The queue
// only needs to cover the workers that could take a trial right now, plus a
// little slack; a learning strategy (policy gradient) must not be asked for
// hundreds of proposals ahead of its feedback, so the depth is also capped
// by `max_ahead` (the strategy's batch size, say). Never more than
// `budget_left` (trials not yet proposed).
int64_t DesiredQueueDepth(int64_t capable_workers, int64_t in_flight, int64_t max_ahead,
                          int64_t budget_left);

}  // namespace hwnas::scheduler

#endif  // HWNAS_SCHEDULER_POLICY_H_
