// Input of `hwnas enqueue --file` and `hwnas import`: architecture lists and
// result files (CSV or JSON) read into GuidedRows with their line numbers.
// All or nothing: the first bad row fails the whole file, naming its line,
// so nothing of it is sent. Pure functions, tested without a server.
#ifndef HWNAS_CLI_GUIDED_H_
#define HWNAS_CLI_GUIDED_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "cli/client.h"

namespace hwnas::cli {

// One architecture per line (the space's readable form or a token list);
// blank lines and lines starting with '#' are skipped.
std::vector<GuidedRow> ParseArchitectureList(absl::string_view text);

// Results evaluated elsewhere. `name` picks the format by its extension
// (.csv or .json; otherwise by the first character: '[' is JSON) and names
// the file in errors.
//  - CSV: a header row naming `architecture` and `accuracy` plus any other
//    metric columns (loss, latency_ms, latency_p90_ms, params, macs,
//    peak_memory_bytes, flash_bytes, train_seconds, balanced_accuracy,
//    macro_f1, or METRIC@TARGET estimates); every cell filled; fields may be
//    quoted ("..." with "" for a quote), as NAS-Bench-201 arch strings need
//    no quotes.
//  - JSON: an array of objects with the same keys, numbers as values.
// A missing or non-numeric metric, an unknown column or an accuracy outside
// [0, 1] is refused as "FILE:LINE: ...".
absl::StatusOr<std::vector<GuidedRow>> ParseImportFile(absl::string_view text,
                                                       absl::string_view name);

// Sets one metric of `result` by its MetricValue name; INVALID_ARGUMENT for a
// name an import cannot carry.
absl::Status SetImportedMetric(TrialResult& result, absl::string_view name, double value);

}  // namespace hwnas::cli

#endif  // HWNAS_CLI_GUIDED_H_
