// comm.h - data parallelism: which rank this process is, and the collectives
// that compiled training steps call.
//
// One process per device. Launched by `mpirun -np N EXE ...` (OpenMPI: the
// OMPI_COMM_WORLD_* variables), ranks talk through MPI; launched the way
// torchrun does (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT), they
// meet over TCP at MASTER_ADDR:MASTER_PORT. GPUs reduce with NCCL (its unique
// id broadcast through MPI or that TCP rendezvous); the CPU with MPI.
// libmpi and libnccl are loaded at run time, so one executable runs alone
// anywhere and says plainly what is missing when asked to run in parallel.
//
// The compiled step calls cmt_all_reduce once per parameter gradient, as
// soon as it is final, and cmt_all_reduce_wait before the optimizer reads
// them: gradients are gathered into buckets of --bucket-mb and each full
// bucket is reduced at once (on a second CUDA stream, overlapping the rest of
// the backward); the wait reduces the last, partial bucket and joins.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace cmt::rt {

struct World {
  int rank = 0, size = 1, localRank = 0;
  // Launched by mpirun or torchrun, even as a world of one: the collectives
  // then run (MPI or NCCL at world size 1 is how their path is checked on
  // one machine).
  bool launched = false;
  std::string launcher = "single process";  // "mpirun", "torchrun (TCP rendezvous)"
};

// Finds out how this process was launched; initialises MPI when mpirun did.
// Throws Error when a parallel launch cannot be served (no libmpi, a
// rendezvous that times out).
World initWorld();
const World &world();

struct CollectiveOptions {
  bool syncBatchNorm = false;
  size_t bucketBytes = 25u << 20;  // PyTorch DDP's default bucket
  double timeoutSeconds = 600;     // a peer silent this long has died
};
// The collectives of the compiled step: on host memory through MPI (CPU
// executables), or on device memory through NCCL (CUDA; `stream` is the
// executor's). Throws Error when NCCL or MPI cannot be loaded.
void startCollectives(const CollectiveOptions &options, bool gpu, void *stream = nullptr);

// Host-side helpers for the driver (identity in one process): element-wise
// sums over the ranks, the same result on every rank.
void allReduceSum(double *values, int count);
// Ends the whole job with a message (a rank that cannot go on must not leave
// the others waiting in a collective).
[[noreturn]] void abortWorld(const std::string &why);
void finishWorld();

}  // namespace cmt::rt

extern "C" void cmt_all_reduce(int64_t data, int64_t count, int64_t kind);
extern "C" void cmt_all_reduce_wait();
