// absl::Status <-> grpc::Status, in one place. Both use the canonical codes
// (google.rpc.Code), so a code crosses unchanged; messages are bounded on the
// way out because they travel in a trailer.
#ifndef HWNAS_PROTO_GRPC_STATUS_H_
#define HWNAS_PROTO_GRPC_STATUS_H_

#include <cstddef>

#include "absl/status/status.h"
#include "grpcpp/support/status.h"

namespace hwnas::proto {

// Longest message ToGrpc sends as it is (bytes). A client refuses metadata
// over 8 KiB with a transport error that would hide the real one.
inline constexpr size_t kMaxGrpcMessageBytes = 2048;

// Same code; the message cut to kMaxGrpcMessageBytes at a UTF-8 character
// boundary, with "… (N bytes)" saying how long it was. Payloads are dropped.
grpc::Status ToGrpc(const absl::Status& status);

// Same code and message.
absl::Status FromGrpc(const grpc::Status& status);

}  // namespace hwnas::proto

#endif  // HWNAS_PROTO_GRPC_STATUS_H_
