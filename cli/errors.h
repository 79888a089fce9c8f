// Exit codes of the `hwnas` CLI and the mapping from gRPC and local errors to
// them. Scripts can rely on these numbers; they are listed in `hwnas --help`
// and docs/cli.md.
#ifndef HWNAS_CLI_ERRORS_H_
#define HWNAS_CLI_ERRORS_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "grpcpp/support/status.h"

namespace hwnas::cli {

enum ExitCode : int {
  kExitOk = 0,
  kExitUsage = 1,        // Bad command line or flag value; nothing was sent.
  kExitInvalid = 2,      // Not found, or the server rejected the input (e.g. the spec).
  kExitAuth = 3,         // UNAUTHENTICATED or PERMISSION_DENIED.
  kExitUnreachable = 4,  // Server unreachable or it did not answer before the deadline.
  // watch / submit --watch / local: the search ended FAILED or CANCELLED, or
  // COMPLETED without a single successful trial.
  kExitSearchNotCompleted = 5,
  kExitLocalIo = 6,        // A local file could not be read or written (spec, config, report).
  kExitServerError = 7,    // Any other server-side error (INTERNAL, UNKNOWN, ...).
  kExitInterrupted = 130,  // Ctrl-C while watching.
};

// A usage error: exit code 1. The message is printed with a pointer to --help.
absl::Status UsageError(absl::string_view message);
bool IsUsageError(const absl::Status& status);

// A local file error (exit code 6), e.g. "cannot read spec.yaml: No such file".
absl::Status LocalIoError(absl::string_view message);
bool IsLocalIoError(const absl::Status& status);

// Turns a failed gRPC call into an absl::Status with the same canonical code
// and a message a user can act on, e.g. "cannot reach the server at
// 127.0.0.1:7470: failed to connect to all addresses". `rpc` names the call
// ("ListSearches"); `server` is the address the CLI dialed.
absl::Status FromGrpcStatus(const grpc::Status& status, absl::string_view server,
                            absl::string_view rpc);

// Add "search N" / "trial T of search N" context to a NOT_FOUND from the
// server; other statuses pass through unchanged.
absl::Status InSearch(absl::Status status, int64_t search_id);
absl::Status InTrial(absl::Status status, int64_t search_id, int64_t number);

// The process exit code for a status (kExitOk for OK).
int ExitCodeFor(const absl::Status& status);

// The exit code table as printed by --help.
std::string ExitCodeHelp();

}  // namespace hwnas::cli

#endif  // HWNAS_CLI_ERRORS_H_
