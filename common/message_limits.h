#ifndef HWNAS_COMMON_MESSAGE_LIMITS_H_
#define HWNAS_COMMON_MESSAGE_LIMITS_H_

#include <cstddef>

namespace hwnas {

// A trial's rung checkpoint or a dnas job's checkpoint travels in one gRPC
// message (a report to the server, an assignment back to a worker). The
// supernet of the DNAS benchmark's spec (bench/dnas/specs/fashion_m7.yaml:
// every candidate op of 7 layers up to 128 channels) is 62 MB with its
// optimizer state, so the limit is far above gRPC's 4 MiB default.
inline constexpr size_t kMaxCheckpointBytes = size_t{120} << 20;

// The receive limit of the server and of workers: a checkpoint plus the rest
// of its message.
inline constexpr int kMaxMessageBytes = 128 << 20;

}  // namespace hwnas

#endif  // HWNAS_COMMON_MESSAGE_LIMITS_H_
