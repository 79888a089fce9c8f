#include "proto/grpc_status.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace hwnas::proto {

grpc::Status ToGrpc(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  // Messages quote values by a prefix (QuoteValue); this bounds any that
  // still grew.
  absl::string_view message = status.message();
  std::string text;
  if (message.size() <= kMaxGrpcMessageBytes) {
    text = std::string(message);
  } else {
    size_t cut = kMaxGrpcMessageBytes;
    // Back up over UTF-8 continuation bytes so the cut keeps whole characters.
    while (cut > 0 && (static_cast<unsigned char>(message[cut]) & 0xC0) == 0x80) --cut;
    text = absl::StrCat(message.substr(0, cut), "\xe2\x80\xa6 (", message.size(), " bytes)");
  }
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::move(text));
}

absl::Status FromGrpc(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
}

}  // namespace hwnas::proto
