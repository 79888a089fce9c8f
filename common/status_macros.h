// Status propagation helpers. Abseil in Debian 12 does not ship public
// RETURN_IF_ERROR / ASSIGN_OR_RETURN macros, so the project defines its own.
#ifndef HWNAS_COMMON_STATUS_MACROS_H_
#define HWNAS_COMMON_STATUS_MACROS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define HWNAS_CONCAT_INNER_(a, b) a##b
#define HWNAS_CONCAT_(a, b) HWNAS_CONCAT_INNER_(a, b)

// Returns the status of `expr` from the enclosing function if it is not OK.
#define HWNAS_RETURN_IF_ERROR(expr)                                 \
  do {                                                              \
    if (absl::Status hwnas_status_ = (expr); !hwnas_status_.ok()) { \
      return hwnas_status_;                                         \
    }                                                               \
  } while (false)

// Evaluates `rexpr` (a StatusOr), returns its status on error, otherwise
// moves its value into `lhs` (which may be a declaration such as `auto x`).
#define HWNAS_ASSIGN_OR_RETURN(lhs, rexpr) \
  HWNAS_ASSIGN_OR_RETURN_IMPL_(HWNAS_CONCAT_(hwnas_statusor_, __LINE__), lhs, rexpr)

#define HWNAS_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, rexpr) \
  auto statusor = (rexpr);                                 \
  if (!statusor.ok()) return std::move(statusor).status(); \
  lhs = std::move(statusor).value()

#endif  // HWNAS_COMMON_STATUS_MACROS_H_
