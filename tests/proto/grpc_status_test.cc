// absl::Status <-> grpc::Status: codes cross unchanged both ways, messages
// are kept, and over-long messages are cut at a character boundary.
#include "proto/grpc_status.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace hwnas::proto {
namespace {

// Every canonical code, named on both sides (not by casting, which is what
// is under test).
const std::vector<std::pair<absl::StatusCode, grpc::StatusCode>>& AllCodes() {
  static const auto* const kCodes = new std::vector<std::pair<absl::StatusCode, grpc::StatusCode>>{
      {absl::StatusCode::kCancelled, grpc::StatusCode::CANCELLED},
      {absl::StatusCode::kUnknown, grpc::StatusCode::UNKNOWN},
      {absl::StatusCode::kInvalidArgument, grpc::StatusCode::INVALID_ARGUMENT},
      {absl::StatusCode::kDeadlineExceeded, grpc::StatusCode::DEADLINE_EXCEEDED},
      {absl::StatusCode::kNotFound, grpc::StatusCode::NOT_FOUND},
      {absl::StatusCode::kAlreadyExists, grpc::StatusCode::ALREADY_EXISTS},
      {absl::StatusCode::kPermissionDenied, grpc::StatusCode::PERMISSION_DENIED},
      {absl::StatusCode::kResourceExhausted, grpc::StatusCode::RESOURCE_EXHAUSTED},
      {absl::StatusCode::kFailedPrecondition, grpc::StatusCode::FAILED_PRECONDITION},
      {absl::StatusCode::kAborted, grpc::StatusCode::ABORTED},
      {absl::StatusCode::kOutOfRange, grpc::StatusCode::OUT_OF_RANGE},
      {absl::StatusCode::kUnimplemented, grpc::StatusCode::UNIMPLEMENTED},
      {absl::StatusCode::kInternal, grpc::StatusCode::INTERNAL},
      {absl::StatusCode::kUnavailable, grpc::StatusCode::UNAVAILABLE},
      {absl::StatusCode::kDataLoss, grpc::StatusCode::DATA_LOSS},
      {absl::StatusCode::kUnauthenticated, grpc::StatusCode::UNAUTHENTICATED},
  };
  return *kCodes;
}

TEST(GrpcStatusTest, OkCrossesAsOk) {
  EXPECT_TRUE(ToGrpc(absl::OkStatus()).ok());
  EXPECT_TRUE(FromGrpc(grpc::Status::OK).ok());
}

TEST(GrpcStatusTest, EveryCodeAndItsMessageCrossBothWays) {
  for (const auto& [absl_code, grpc_code] : AllCodes()) {
    const std::string message = absl::StrCat("trial 7: ", absl::StatusCodeToString(absl_code));
    grpc::Status out = ToGrpc(absl::Status(absl_code, message));
    EXPECT_EQ(out.error_code(), grpc_code) << message;
    EXPECT_EQ(out.error_message(), message);
    absl::Status in = FromGrpc(grpc::Status(grpc_code, message));
    EXPECT_EQ(in.code(), absl_code) << message;
    EXPECT_EQ(in.message(), message);
  }
}

TEST(GrpcStatusTest, MessageAtTheLimitIsKept) {
  const std::string message(kMaxGrpcMessageBytes, 'x');
  EXPECT_EQ(ToGrpc(absl::InvalidArgumentError(message)).error_message(), message);
}

TEST(GrpcStatusTest, LongMessageIsCutAndSaysItsLength) {
  const std::string message = absl::StrCat("spec.space: ", std::string(3000, 'y'));
  grpc::Status out = ToGrpc(absl::InvalidArgumentError(message));
  EXPECT_EQ(out.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(out.error_message(), absl::StrCat(message.substr(0, kMaxGrpcMessageBytes),
                                              "\xe2\x80\xa6 (", message.size(), " bytes)"));
}

TEST(GrpcStatusTest, CutNeverSplitsAUtf8Character) {
  // "é" is two bytes; an odd prefix puts a character across the limit.
  std::string message = "x";
  while (message.size() < kMaxGrpcMessageBytes + 100) message += "\xc3\xa9";
  const std::string text = ToGrpc(absl::InternalError(message)).error_message();
  const std::string suffix = absl::StrCat("\xe2\x80\xa6 (", message.size(), " bytes)");
  ASSERT_GT(text.size(), suffix.size());
  ASSERT_EQ(text.substr(text.size() - suffix.size()), suffix);
  const std::string kept = text.substr(0, text.size() - suffix.size());
  EXPECT_EQ(kept.size(), kMaxGrpcMessageBytes - 1);  // Backed up over half an "é".
  EXPECT_EQ(kept, message.substr(0, kept.size()));
}

}  // namespace
}  // namespace hwnas::proto
