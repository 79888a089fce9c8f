// Output of the list and detail commands as an aligned text table, JSON or
// CSV. Tables are for people (humanized numbers, truncated architectures);
// JSON and CSV carry raw numbers (bytes, counts, fractions) for scripts.
#ifndef HWNAS_CLI_FORMAT_H_
#define HWNAS_CLI_FORMAT_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "cli/client.h"
#include "common/records.h"
#include "nlohmann/json.hpp"

namespace hwnas::cli {

enum class OutputFormat { kTable, kJson, kCsv };
absl::StatusOr<OutputFormat> ParseOutputFormat(absl::string_view name);

// A metric value for people: "0.8532" (accuracy, reward), "12.34" (ms),
// "312.5KiB" (bytes), "1.23M" (params, MACs); "-" when absent.
std::string FormatMetric(absl::string_view metric, std::optional<double> value);
// A trial's accuracy for people, with its standard error when it was
// cross-validated: "0.8123 ±0.0150"; FormatMetric's "0.8123" otherwise.
std::string FormatAccuracy(const TrialRecord& t);
// Whether `t`'s accuracy is within noise of `best`'s: the difference is at
// most their combined standard error, sqrt(se_t^2 + se_best^2). False when
// either has no standard error (a single validation split), since nothing
// then says how large the noise is.
bool WithinNoiseOf(const TrialRecord& t, const TrialRecord& best);
// A raw number for CSV: shortest form that round-trips ("0.1", "1234567").
std::string FormatRaw(double value);
// "2024-05-01 12:03:04Z" (UTC).
std::string FormatUtc(absl::Time t);
// RFC 3339 in UTC, for JSON.
std::string FormatTimeRfc3339(absl::Time t);
// "37s", "4m12s", "1h02m", "3d04h".
std::string FormatElapsed(absl::Duration d);

// RFC 4180: quoted when it holds a comma, quote, CR or LF.
std::string CsvField(absl::string_view field);

// A text table with a header row; columns are padded to the widest cell.
// Numeric-looking columns are right-aligned.
class TextTable {
 public:
  explicit TextTable(std::vector<std::string> header) : header_(std::move(header)) {}
  void AddRow(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  size_t size() const { return rows_.size(); }
  std::string Render() const;

 private:
  std::vector<std::string> header_;
  std::vector<std::vector<std::string>> rows_;
};

// Trials finished against the budget (every terminal state but CANCELLED).
int64_t FinishedTrials(const SearchRecord& s);

nlohmann::json SearchToJson(const SearchRecord& s);
nlohmann::json TrialToJson(const TrialRecord& t);

// `ls`: one row per search.
std::string FormatSearchList(const std::vector<SearchRecord>& searches, OutputFormat format);
// `status` / `cancel` / `submit`: one search in full. `least_violating`
// (when nothing is feasible): shown instead of "Best trial: none yet"; JSON
// carries it as "least_violating".
std::string FormatSearchDetail(const SearchRecord& s, OutputFormat format,
                               const std::vector<NearMiss>& least_violating = {});
// "Supernet:" line of `hwnas status` for a dnas search: the job's state and
// its last stored epoch (of how many, loss, expected latency, temperature).
std::string FormatDnasJobLine(const TrialRecord& job);
// The least-violating trials as a table: rank, trial, accuracy, what each
// misses and the architecture. JSON: LeastViolatingToJson.
std::string FormatLeastViolating(const std::vector<NearMiss>& least_violating);
nlohmann::json LeastViolatingToJson(const std::vector<NearMiss>& least_violating);

// The cost metrics shown for trials: latency, params, MACs, peak memory and
// flash, then `extra` (e.g. the spec's "latency_ms@cortex-m7"), dropping the
// ones no trial carries.
std::vector<std::string> TrialMetricColumns(const std::vector<TrialRecord>& trials,
                                            const std::vector<std::string>& extra);

// `trials`: one row per trial. Columns: number, state, reward, accuracy, then
// `metrics`, then the architecture. CSV adds attempts, loss, train_seconds,
// epochs, space, tokens and failure_reason; JSON is TrialToJson per trial.
std::string FormatTrialList(const std::vector<TrialRecord>& trials,
                            const std::vector<std::string>& metrics, OutputFormat format);
// `trial`: one trial in full with its per-epoch metrics (table mode adds a
// plot of the curve).
std::string FormatTrialDetail(const TrialRecord& t, OutputFormat format);
// `pareto`: the front's trials, in table mode followed by nothing else (the
// command adds the scatter plot). When nothing is feasible: the
// least-violating trials and their misses instead of an empty front (JSON:
// "least_violating" beside the empty "trials"; CSV: their trial rows).
std::string FormatPareto(const ParetoFront& front, OutputFormat format);

}  // namespace hwnas::cli

#endif  // HWNAS_CLI_FORMAT_H_
