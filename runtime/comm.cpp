// comm.cpp - see comm.h.
#include "runtime/comm.h"

#include "runtime/cuda.h"
#include "runtime/safetensors.h"

#include <arpa/inet.h>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dlfcn.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>
#include <utility>
#include <vector>

namespace cmt::rt {
namespace {

// ---- MPI, loaded at run time (OpenMPI's ABI: handles are global objects) ----
struct Mpi {
  void *lib = nullptr;
  void *commWorld = nullptr, *floatType = nullptr, *doubleType = nullptr, *byteType = nullptr, *sum = nullptr;
  int (*init)(int *, char ***) = nullptr;
  int (*commRank)(void *, int *) = nullptr;
  int (*commSize)(void *, int *) = nullptr;
  int (*reduce)(const void *, void *, int, void *, void *, int, void *) = nullptr;
  int (*bcast)(void *, int, void *, int, void *) = nullptr;
  int (*abort)(void *, int) = nullptr;
  int (*finalize)() = nullptr;
};
Mpi mpi;

#define MPI_CHECK(call)                                                                              \
  do {                                                                                               \
    int rc_ = (call);                                                                                \
    if (rc_ != 0) throw Error(std::string(__FILE__) + ":" + std::to_string(__LINE__) + ": " #call   \
                              " failed with MPI error " + std::to_string(rc_));                     \
  } while (0)

void loadMpi() {
  for (const char *name : {"libmpi.so.40", "libmpi.so"})
    if ((mpi.lib = dlopen(name, RTLD_NOW | RTLD_GLOBAL))) break;  // GLOBAL: OpenMPI's plugins need it
  if (!mpi.lib)
    throw Error("launched by mpirun, but libmpi.so.40 (OpenMPI) cannot be loaded: install openmpi-bin");
  auto sym = [](const char *name) {
    void *p = dlsym(mpi.lib, name);
    if (!p) throw Error(std::string("libmpi lacks ") + name + " (this runtime speaks OpenMPI's ABI)");
    return p;
  };
  mpi.commWorld = sym("ompi_mpi_comm_world");
  mpi.floatType = sym("ompi_mpi_float");
  mpi.doubleType = sym("ompi_mpi_double");
  mpi.byteType = sym("ompi_mpi_byte");
  mpi.sum = sym("ompi_mpi_op_sum");
  mpi.init = reinterpret_cast<decltype(mpi.init)>(sym("MPI_Init"));
  mpi.commRank = reinterpret_cast<decltype(mpi.commRank)>(sym("MPI_Comm_rank"));
  mpi.commSize = reinterpret_cast<decltype(mpi.commSize)>(sym("MPI_Comm_size"));
  mpi.reduce = reinterpret_cast<decltype(mpi.reduce)>(sym("MPI_Reduce"));
  mpi.bcast = reinterpret_cast<decltype(mpi.bcast)>(sym("MPI_Bcast"));
  mpi.abort = reinterpret_cast<decltype(mpi.abort)>(sym("MPI_Abort"));
  mpi.finalize = reinterpret_cast<decltype(mpi.finalize)>(sym("MPI_Finalize"));
}

// Sums to rank 0, then broadcasts: every rank gets the same bits (an
// allreduce may associate differently on different ranks, and ranks whose
// weights drift apart by rounding are no longer one model).
void mpiSum(void *data, int count, bool isDouble) {
  void *type = isDouble ? mpi.doubleType : mpi.floatType;
  void *const kInPlace = reinterpret_cast<void *>(1);  // OpenMPI's MPI_IN_PLACE
  World w = world();
  if (w.rank == 0) MPI_CHECK(mpi.reduce(kInPlace, data, count, type, mpi.sum, 0, mpi.commWorld));
  else MPI_CHECK(mpi.reduce(data, nullptr, count, type, mpi.sum, 0, mpi.commWorld));
  MPI_CHECK(mpi.bcast(data, count, type, 0, mpi.commWorld));
}

// ---- torchrun's rendezvous: rank 0 listens, the others connect ------------
// Only the NCCL unique id travels (128 bytes), rank 0 to everyone.
void tcpBroadcast(void *data, size_t bytes, const World &w, double timeout) {
  const char *addr = std::getenv("MASTER_ADDR"), *port = std::getenv("MASTER_PORT");
  if (!addr || !port) throw Error("RANK and WORLD_SIZE are set but MASTER_ADDR or MASTER_PORT is not");
  auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout);
  if (w.rank == 0) {
    int s = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(std::atoi(port)));
    a.sin_addr.s_addr = INADDR_ANY;
    if (bind(s, reinterpret_cast<sockaddr *>(&a), sizeof a) != 0 || listen(s, w.size) != 0)
      throw Error(std::string("rendezvous: cannot listen on port ") + port + ": " + std::strerror(errno));
    timeval tv{static_cast<long>(timeout), 0};
    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    for (int peer = 1; peer < w.size; ++peer) {
      int c = accept(s, nullptr, nullptr);
      if (c < 0) throw Error("rendezvous: " + std::to_string(w.size - peer) + " rank(s) did not connect in time");
      if (send(c, data, bytes, 0) != static_cast<ssize_t>(bytes)) throw Error("rendezvous: send failed");
      close(c);
    }
    close(s);
    return;
  }
  addrinfo hints{}, *res = nullptr;
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  if (getaddrinfo(addr, port, &hints, &res) != 0 || !res)
    throw Error(std::string("rendezvous: cannot resolve MASTER_ADDR ") + addr);
  for (;;) {  // rank 0 may not be listening yet
    int c = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(c, res->ai_addr, res->ai_addrlen) == 0) {
      size_t got = 0;
      while (got < bytes) {
        ssize_t n = recv(c, static_cast<char *>(data) + got, bytes - got, 0);
        if (n <= 0) throw Error("rendezvous: rank 0 closed the connection early");
        got += static_cast<size_t>(n);
      }
      close(c);
      freeaddrinfo(res);
      return;
    }
    close(c);
    if (std::chrono::steady_clock::now() > deadline)
      throw Error(std::string("rendezvous: no rank 0 at ") + addr + ":" + port);
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

World theWorld;
bool usingMpi = false;

int envInt(const char *name, int fallback) {
  const char *v = std::getenv(name);
  return v && *v ? std::atoi(v) : fallback;
}

// ---- the compiled step's collectives ---------------------------------------
struct Collectives {
  CollectiveOptions options;
  bool gpu = false, started = false;
  void *stream = nullptr;
  std::vector<std::pair<void *, size_t>> pending;  // the bucket being filled
  size_t pendingBytes = 0;
  std::vector<float> staging;  // CPU: one bucket, packed

  void flush() {
    if (pending.empty()) return;
    if (gpu) {
      gpuReduceBucket(pending);
    } else {
      size_t n = 0;
      for (auto &[p, c] : pending) n += c;
      staging.resize(n);
      size_t at = 0;
      for (auto &[p, c] : pending) std::memcpy(staging.data() + (at += c) - c, p, c * sizeof(float));
      mpiSum(staging.data(), static_cast<int>(n), false);
      float inv = 1.0f / static_cast<float>(theWorld.size);
      at = 0;
      for (auto &[p, c] : pending) {
        float *dst = static_cast<float *>(p);
        for (size_t i = 0; i < c; ++i) dst[i] = staging[at + i] * inv;
        at += c;
      }
    }
    pending.clear();
    pendingBytes = 0;
  }
};
Collectives coll;

}  // namespace

World initWorld() {
  if (std::getenv("OMPI_COMM_WORLD_SIZE")) {
    loadMpi();
    MPI_CHECK(mpi.init(nullptr, nullptr));
    MPI_CHECK(mpi.commRank(mpi.commWorld, &theWorld.rank));
    MPI_CHECK(mpi.commSize(mpi.commWorld, &theWorld.size));
    theWorld.localRank = envInt("OMPI_COMM_WORLD_LOCAL_RANK", 0);
    theWorld.launcher = "mpirun";
    theWorld.launched = usingMpi = true;
  } else if (std::getenv("WORLD_SIZE") && std::getenv("MASTER_ADDR")) {
    theWorld.size = envInt("WORLD_SIZE", 1);
    theWorld.rank = envInt("RANK", 0);
    theWorld.localRank = envInt("LOCAL_RANK", 0);
    theWorld.launcher = "torchrun (TCP rendezvous)";
    theWorld.launched = true;
    if (theWorld.size < 1) throw Error("WORLD_SIZE must be at least 1");
    if (theWorld.rank < 0 || theWorld.rank >= theWorld.size)
      throw Error("RANK=" + std::to_string(theWorld.rank) + " is not below WORLD_SIZE=" + std::to_string(theWorld.size));
  }
  return theWorld;
}

const World &world() { return theWorld; }

void startCollectives(const CollectiveOptions &options, bool gpu, void *stream) {
  coll.options = options;
  coll.gpu = gpu;
  coll.stream = stream;
  coll.started = true;
  if (!theWorld.launched) return;
  if (gpu) {
    char id[128] = {};
    if (theWorld.rank == 0) gpuMakeNcclId(id);
    if (usingMpi) MPI_CHECK(mpi.bcast(id, sizeof id, mpi.byteType, 0, mpi.commWorld));
    else tcpBroadcast(id, sizeof id, theWorld, options.timeoutSeconds);
    gpuStartNccl(theWorld.rank, theWorld.size, id, options.timeoutSeconds);
  } else if (!usingMpi) {
    throw Error("CPU executables run data-parallel under mpirun (MPI); torchrun-style launches need CUDA (NCCL)");
  }
}

void allReduceSum(double *values, int count) {
  if (!theWorld.launched) return;
  if (usingMpi) mpiSum(values, count, true);
  else gpuHostSum(values, count);
}

void abortWorld(const std::string &why) {
  std::fprintf(stderr, "error (rank %d of %d): %s\n", theWorld.rank, theWorld.size, why.c_str());
  std::fflush(stderr);
  if (usingMpi && theWorld.size > 1) mpi.abort(mpi.commWorld, 1);
  std::_Exit(1);
}

void finishWorld() {
  if (usingMpi) mpi.finalize();
}

}  // namespace cmt::rt

using namespace cmt::rt;

extern "C" void cmt_all_reduce(int64_t data, int64_t count, int64_t kind) {
  if (!theWorld.launched || (coll.gpu && gpuPlanning())) return;
  if (!coll.started) throw Error("cmt_all_reduce before the collectives were started");
  void *p = reinterpret_cast<void *>(data);
  size_t n = static_cast<size_t>(count);
  if (kind == 1) {  // a batch norm's statistics: summed now, or left local
    if (!coll.options.syncBatchNorm) return;
    if (coll.gpu) gpuReduceSumNow(p, n);
    else mpiSum(p, static_cast<int>(n), false);
    return;
  }
  coll.pending.push_back({p, n});
  coll.pendingBytes += n * sizeof(float);
  if (coll.pendingBytes >= coll.options.bucketBytes) coll.flush();
}

extern "C" void cmt_all_reduce_wait() {
  if (!theWorld.launched || (coll.gpu && gpuPlanning())) return;
  coll.flush();
  if (coll.gpu) gpuJoin();
}
