#include "cli/errors.h"

#include "absl/strings/cord.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "proto/grpc_status.h"

namespace hwnas::cli {
namespace {

constexpr absl::string_view kKindPayload = "type.hwnas.dev/cli.error_kind";
constexpr absl::string_view kUsage = "usage";
constexpr absl::string_view kLocalIo = "local_io";

absl::Status WithKind(absl::Status status, absl::string_view kind) {
  status.SetPayload(kKindPayload, absl::Cord(kind));
  return status;
}

bool HasKind(const absl::Status& status, absl::string_view kind) {
  auto payload = status.GetPayload(kKindPayload);
  return payload.has_value() && *payload == kind;
}

}  // namespace

absl::Status UsageError(absl::string_view message) {
  return WithKind(absl::InvalidArgumentError(message), kUsage);
}

bool IsUsageError(const absl::Status& status) { return HasKind(status, kUsage); }

absl::Status LocalIoError(absl::string_view message) {
  return WithKind(absl::FailedPreconditionError(message), kLocalIo);
}

bool IsLocalIoError(const absl::Status& status) { return HasKind(status, kLocalIo); }

absl::Status InSearch(absl::Status status, int64_t search_id) {
  if (status.code() != absl::StatusCode::kNotFound) return status;
  // The server's own message may name the search already.
  const std::string prefix = absl::StrCat("search ", search_id);
  if (absl::StartsWith(status.message(), prefix)) return status;
  return absl::NotFoundError(absl::StrCat(prefix, ": ", status.message()));
}

absl::Status InTrial(absl::Status status, int64_t search_id, int64_t number) {
  if (status.code() != absl::StatusCode::kNotFound) return status;
  if (absl::StartsWith(status.message(), absl::StrCat("trial ", number))) return status;
  return absl::NotFoundError(
      absl::StrCat("trial ", number, " of search ", search_id, ": ", status.message()));
}

absl::Status FromGrpcStatus(const grpc::Status& status, absl::string_view server,
                            absl::string_view rpc) {
  const absl::Status plain = proto::FromGrpc(status);
  if (plain.ok()) return plain;
  const absl::string_view detail = plain.message();
  std::string message;
  switch (plain.code()) {
    case absl::StatusCode::kUnavailable:
      message = absl::StrCat("cannot reach the server at ", server, ": ", detail,
                             " (is hwnas-server running there? set --server, HWNAS_SERVER or "
                             "`server:` in the config file)");
      break;
    case absl::StatusCode::kDeadlineExceeded:
      message = absl::StrCat("the server at ", server, " did not answer ", rpc,
                             " before the deadline (raise it with --timeout): ", detail);
      break;
    case absl::StatusCode::kUnauthenticated:
      message = absl::StrCat("the server at ", server, " did not accept the credentials: ", detail,
                             " (set a valid API token with --token, HWNAS_TOKEN or `token:` in "
                             "the config file)");
      break;
    case absl::StatusCode::kPermissionDenied:
      message = absl::StrCat("permission denied: ", detail,
                             " (users see and cancel only their own searches unless admin)");
      break;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kNotFound:
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kOutOfRange:
      message = std::string(detail);
      break;
    default:
      message = absl::StrCat(rpc, " failed on the server at ", server, ": ", detail);
      break;
  }
  return absl::Status(plain.code(), message);
}

int ExitCodeFor(const absl::Status& status) {
  if (status.ok()) return kExitOk;
  if (IsUsageError(status)) return kExitUsage;
  if (IsLocalIoError(status)) return kExitLocalIo;
  switch (status.code()) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kNotFound:
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kOutOfRange:
      return kExitInvalid;
    case absl::StatusCode::kUnauthenticated:
    case absl::StatusCode::kPermissionDenied:
      return kExitAuth;
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded:
      return kExitUnreachable;
    case absl::StatusCode::kCancelled:
      return kExitInterrupted;
    default:
      return kExitServerError;
  }
}

std::string ExitCodeHelp() {
  return "Exit codes:\n"
         "  0    success\n"
         "  1    usage error (bad command, flag or value; nothing was sent)\n"
         "  2    not found, or the server rejected the input (e.g. a spec error)\n"
         "  3    authentication or permission error\n"
         "  4    server unreachable, or no answer before the deadline\n"
         "  5    watched search ended FAILED or CANCELLED, or no trial succeeded\n"
         "  6    local file error (spec, config, report output)\n"
         "  7    other server error\n"
         "  130  interrupted (Ctrl-C)\n";
}

}  // namespace hwnas::cli
