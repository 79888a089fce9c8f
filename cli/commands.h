// The subcommands. Each returns the exit code on success (0, or 5 when a
// watched search ended FAILED/CANCELLED) or a Status that RunCli maps to one.
#ifndef HWNAS_CLI_COMMANDS_H_
#define HWNAS_CLI_COMMANDS_H_

#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "cli/app.h"
#include "cli/args.h"
#include "cli/client.h"

namespace hwnas::cli {

absl::StatusOr<int> RunSubmit(const ParsedArgs& args, CliContext& ctx, Client& client);
absl::StatusOr<int> RunList(const ParsedArgs& args, CliContext& ctx, Client& client);
absl::StatusOr<int> RunStatus(const ParsedArgs& args, CliContext& ctx, Client& client);
absl::StatusOr<int> RunCancel(const ParsedArgs& args, CliContext& ctx, Client& client);
absl::StatusOr<int> RunWatch(const ParsedArgs& args, CliContext& ctx, Client& client);
absl::StatusOr<int> RunTrials(const ParsedArgs& args, CliContext& ctx, Client& client);
absl::StatusOr<int> RunPareto(const ParsedArgs& args, CliContext& ctx, Client& client);
absl::StatusOr<int> RunTrial(const ParsedArgs& args, CliContext& ctx, Client& client);
absl::StatusOr<int> RunReport(const ParsedArgs& args, CliContext& ctx, Client& client);
absl::StatusOr<int> RunEnqueue(const ParsedArgs& args, CliContext& ctx, Client& client);
absl::StatusOr<int> RunImport(const ParsedArgs& args, CliContext& ctx, Client& client);

// Watches `search_id` until it ends, drawing the progress bar (tty) or one
// line per event; prints the summary. Returns 0 when COMPLETED with at least
// one successful trial, 5 otherwise. `give_up`, when set, sees the search of
// every event: a non-empty answer ends the watch with that message
// (FAILED_PRECONDITION), the search left running.
absl::StatusOr<int> WatchUntilDone(
    int64_t search_id, CliContext& ctx, Client& client,
    const std::function<std::string(const SearchRecord&)>& give_up = nullptr);

}  // namespace hwnas::cli

#endif  // HWNAS_CLI_COMMANDS_H_
