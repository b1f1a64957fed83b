// cuda.cpp - see cuda.h. The CUDA driver API and cuBLAS are declared here by
// hand (a dozen stable C entry points) and loaded with dlopen, so that the
// runtime builds without the CUDA toolkit and its executables start without a
// driver. Every call goes through CU_CHECK / BLAS_CHECK, which name the call,
// the file and the line.
#include "runtime/cuda.h"

#include "runtime/arena.h"
#include "runtime/blas_layout.h"
#include "runtime/safetensors.h"

#include <dlfcn.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <map>
#include <string>
#include <thread>
#include <vector>

namespace {
using CUresult = int;
using CUdevice = int;
using CUcontext = void *;
using CUmodule = void *;
using CUfunction = void *;
using CUstream = void *;
using CUgraph = void *;
using CUgraphExec = void *;
using CUdeviceptr = unsigned long long;

constexpr int kAttrMajor = 75, kAttrMinor = 76;  // CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_*
constexpr int kCaptureRelaxed = 2;                // CU_STREAM_CAPTURE_MODE_RELAXED
constexpr int kStreamNonBlocking = 1;
constexpr int kOpN = 0, kOpT = 1, kR32F = 0, kR16BF = 14;  // cublasOperation_t, CUDA_R_32F, CUDA_R_16BF
constexpr int kCompute32F = 68, kCompute32FFast16BF = 75, kCompute32FFastTF32 = 77;
constexpr int kGemmDefault = -1;
constexpr size_t kBlasWorkspace = 32 << 20;

struct Driver {
  void *lib = nullptr;
  CUresult (*cuInit)(unsigned);
  CUresult (*cuDeviceGetCount)(int *);
  CUresult (*cuDeviceGet)(CUdevice *, int);
  CUresult (*cuDeviceGetAttribute)(int *, int, CUdevice);
  CUresult (*cuDeviceGetName)(char *, int, CUdevice);
  CUresult (*cuDevicePrimaryCtxRetain)(CUcontext *, CUdevice);
  CUresult (*cuCtxSetCurrent)(CUcontext);
  CUresult (*cuMemAlloc)(CUdeviceptr *, size_t);
  CUresult (*cuMemFree)(CUdeviceptr);
  CUresult (*cuMemGetInfo)(size_t *, size_t *);
  CUresult (*cuMemcpyHtoD)(CUdeviceptr, const void *, size_t);
  CUresult (*cuMemcpyDtoH)(void *, CUdeviceptr, size_t);
  CUresult (*cuMemcpyDtoDAsync)(CUdeviceptr, CUdeviceptr, size_t, CUstream);
  CUresult (*cuStreamCreate)(CUstream *, unsigned);
  CUresult (*cuStreamSynchronize)(CUstream);
  CUresult (*cuStreamBeginCapture)(CUstream, int);
  CUresult (*cuStreamEndCapture)(CUstream, CUgraph *);
  CUresult (*cuGraphInstantiate)(CUgraphExec *, CUgraph, unsigned long long);
  CUresult (*cuGraphLaunch)(CUgraphExec, CUstream);
  CUresult (*cuGraphGetNodes)(CUgraph, void **, size_t *);
  CUresult (*cuGraphExecDestroy)(CUgraphExec);
  CUresult (*cuModuleLoadData)(CUmodule *, const void *);
  CUresult (*cuModuleGetFunction)(CUfunction *, CUmodule, const char *);
  CUresult (*cuLaunchKernel)(CUfunction, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned,
                             unsigned, CUstream, void **, void **);
  CUresult (*cuGetErrorString)(CUresult, const char **);
  CUresult (*cuEventCreate)(void **, unsigned);
  CUresult (*cuEventRecord)(void *, CUstream);
  CUresult (*cuEventElapsedTime)(float *, void *, void *);
  CUresult (*cuStreamWaitEvent)(CUstream, void *, unsigned);
  CUresult (*cuStreamQuery)(CUstream);
};

// NCCL, for data parallelism (comm.h).
struct NcclId {
  char internal[128];
};
struct Nccl {
  void *lib = nullptr, *comm = nullptr;
  int (*getUniqueId)(NcclId *);
  int (*commInitRank)(void **, int, NcclId, int);
  int (*allReduce)(const void *, void *, size_t, int, int, void *, CUstream);
  int (*groupStart)();
  int (*groupEnd)();
  int (*commGetAsyncError)(void *, int *);
  int (*commAbort)(void *);
  const char *(*errorString)(int);
};
constexpr int kNcclFloat32 = 7, kNcclFloat64 = 8, kNcclSum = 0, kNcclAvg = 4;
constexpr int kNotReady = 600;  // CUDA_ERROR_NOT_READY

struct Blas {
  void *lib = nullptr;
  int (*create)(void **);
  int (*setStream)(void *, CUstream);
  int (*setWorkspace)(void *, void *, size_t);
  int (*gemm)(void *, int, int, int, int, int, const void *, const void *, int, int, long long,
              const void *, int, int, long long, const void *, void *, int, int, long long, int, int,
              int);
  int (*gemmBatched)(void *, int, int, int, int, int, const void *, const void *const *, int, int,
                     const void *const *, int, int, const void *, void *const *, int, int, int, int,
                     int);
  const char *(*statusString)(int);
};

// cuBLASLt, for the bias epilogue (D = A B + bias, no pass of its own).
struct BlasLt {
  void *lib = nullptr, *handle = nullptr;
  int (*create)(void **);
  int (*descCreate)(void **, int, int);
  int (*descSet)(void *, int, const void *, size_t);
  int (*layoutCreate)(void **, int, uint64_t, uint64_t, int64_t);
  int (*prefCreate)(void **);
  int (*prefSet)(void *, int, const void *, size_t);
  int (*heuristic)(void *, void *, void *, void *, void *, void *, void *, int, void *, int *);
  int (*matmul)(void *, void *, const void *, const void *, void *, const void *, void *, const void *,
                const void *, void *, void *, void *, const void *, void *, size_t, CUstream);
};
constexpr int kLtTransA = 3, kLtTransB = 4, kLtEpilogue = 7, kLtBiasPointer = 8, kLtEpilogueBias = 4;
constexpr int kLtPrefMaxWorkspace = 1;
constexpr int kBlasNotSupported = 15;  // CUBLAS_STATUS_NOT_SUPPORTED
struct LtHeuristic {  // cublasLtMatmulHeuristicResult_t
  uint64_t algo[8];
  size_t workspaceSize;
  int state;
  float wavesCount;
  int reserved[4];
};

Driver cu;
Blas blas;
BlasLt lt;
Nccl nccl;

void *symbol(void *lib, const char *libName, const char *name) {
  void *s = dlsym(lib, name);
  if (!s)
    throw cmt::rt::Error(std::string(libName) + " has no symbol " + name +
                         " (a CUDA 13 driver and toolkit are needed)");
  return s;
}

template <typename F>
void load(F &f, void *lib, const char *libName, const char *name) {
  f = reinterpret_cast<F>(symbol(lib, libName, name));
}

[[noreturn]] void cuFail(CUresult r, const char *call, const char *file, int line) {
  const char *msg = nullptr;
  if (cu.cuGetErrorString) cu.cuGetErrorString(r, &msg);
  std::string text = std::string(file) + ":" + std::to_string(line) + ": " + call + " failed: " +
                     (msg ? msg : "CUDA error " + std::to_string(r));
  if (r == 2) text += " (out of GPU memory: try a smaller --batch)";  // CUDA_ERROR_OUT_OF_MEMORY
  throw cmt::rt::Error(text);
}

#define CU_CHECK(call)                                           \
  do {                                                           \
    CUresult r_ = (call);                                        \
    if (r_ != 0) cuFail(r_, #call, __FILE__, __LINE__);          \
  } while (0)

#define NCCL_CHECK(call)                                                                        \
  do {                                                                                          \
    int n_ = (call);                                                                            \
    if (n_ != 0)                                                                                \
      throw cmt::rt::Error(std::string(__FILE__) + ":" + std::to_string(__LINE__) + ": " +      \
                           #call + " failed: " + (nccl.errorString ? nccl.errorString(n_) :      \
                                                  "NCCL error " + std::to_string(n_)));          \
  } while (0)

#define BLAS_CHECK(call)                                                                       \
  do {                                                                                         \
    int s_ = (call);                                                                           \
    if (s_ != 0)                                                                               \
      throw cmt::rt::Error(std::string(__FILE__) + ":" + std::to_string(__LINE__) + ": " +     \
                           #call + " failed: " + (blas.statusString ? blas.statusString(s_) : \
                                                  std::to_string(s_)));                        \
  } while (0)

void loadDriver() {
  if (cu.lib) return;
  void *lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!lib)
    throw cmt::rt::Error(std::string("this executable runs on an NVIDIA GPU, and the CUDA driver "
                                     "cannot be loaded here (") +
                         dlerror() + "); compile with --target=cpu to run on the CPU");
  const char *n = "libcuda.so.1";
  load(cu.cuInit, lib, n, "cuInit");
  load(cu.cuDeviceGetCount, lib, n, "cuDeviceGetCount");
  load(cu.cuDeviceGet, lib, n, "cuDeviceGet");
  load(cu.cuDeviceGetAttribute, lib, n, "cuDeviceGetAttribute");
  load(cu.cuDeviceGetName, lib, n, "cuDeviceGetName");
  load(cu.cuDevicePrimaryCtxRetain, lib, n, "cuDevicePrimaryCtxRetain");
  load(cu.cuCtxSetCurrent, lib, n, "cuCtxSetCurrent");
  load(cu.cuMemAlloc, lib, n, "cuMemAlloc_v2");
  load(cu.cuMemFree, lib, n, "cuMemFree_v2");
  load(cu.cuMemGetInfo, lib, n, "cuMemGetInfo_v2");
  load(cu.cuMemcpyHtoD, lib, n, "cuMemcpyHtoD_v2");
  load(cu.cuMemcpyDtoH, lib, n, "cuMemcpyDtoH_v2");
  load(cu.cuMemcpyDtoDAsync, lib, n, "cuMemcpyDtoDAsync_v2");
  load(cu.cuStreamCreate, lib, n, "cuStreamCreate");
  load(cu.cuStreamSynchronize, lib, n, "cuStreamSynchronize");
  load(cu.cuStreamBeginCapture, lib, n, "cuStreamBeginCapture_v2");
  load(cu.cuStreamEndCapture, lib, n, "cuStreamEndCapture");
  load(cu.cuGraphInstantiate, lib, n, "cuGraphInstantiateWithFlags");
  load(cu.cuGraphLaunch, lib, n, "cuGraphLaunch");
  load(cu.cuGraphGetNodes, lib, n, "cuGraphGetNodes");
  load(cu.cuGraphExecDestroy, lib, n, "cuGraphExecDestroy");
  load(cu.cuModuleLoadData, lib, n, "cuModuleLoadData");
  load(cu.cuModuleGetFunction, lib, n, "cuModuleGetFunction");
  load(cu.cuLaunchKernel, lib, n, "cuLaunchKernel");
  load(cu.cuGetErrorString, lib, n, "cuGetErrorString");
  load(cu.cuEventCreate, lib, n, "cuEventCreate");
  load(cu.cuEventRecord, lib, n, "cuEventRecord");
  load(cu.cuEventElapsedTime, lib, n, "cuEventElapsedTime_v2");
  load(cu.cuStreamWaitEvent, lib, n, "cuStreamWaitEvent");
  load(cu.cuStreamQuery, lib, n, "cuStreamQuery");
  cu.lib = lib;
}

// A CUDA 13 library by its soname, else from the toolkit's usual place.
void *openToolkitLibrary(const char *soname, const char *what) {
  void *lib = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
  if (!lib) lib = dlopen((std::string("/usr/local/cuda/lib64/") + soname).c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!lib)
    throw cmt::rt::Error(std::string(what) + " (" + soname + ") cannot be loaded: " + dlerror() +
                         " (install the CUDA 13 toolkit's libraries or add them to LD_LIBRARY_PATH)");
  return lib;
}

void loadBlas() {
  if (blas.lib) return;
  const char *n = "libcublas.so.13";
  void *lib = openToolkitLibrary(n, "cuBLAS 13");
  load(blas.create, lib, n, "cublasCreate_v2");
  load(blas.setStream, lib, n, "cublasSetStream_v2");
  load(blas.setWorkspace, lib, n, "cublasSetWorkspace_v2");
  load(blas.gemm, lib, n, "cublasGemmStridedBatchedEx");
  load(blas.gemmBatched, lib, n, "cublasGemmBatchedEx");
  load(blas.statusString, lib, n, "cublasGetStatusString");
  blas.lib = lib;

  n = "libcublasLt.so.13";
  void *ltLib = openToolkitLibrary(n, "cuBLASLt 13");
  load(lt.create, ltLib, n, "cublasLtCreate");
  load(lt.descCreate, ltLib, n, "cublasLtMatmulDescCreate");
  load(lt.descSet, ltLib, n, "cublasLtMatmulDescSetAttribute");
  load(lt.layoutCreate, ltLib, n, "cublasLtMatrixLayoutCreate");
  load(lt.prefCreate, ltLib, n, "cublasLtMatmulPreferenceCreate");
  load(lt.prefSet, ltLib, n, "cublasLtMatmulPreferenceSetAttribute");
  load(lt.heuristic, ltLib, n, "cublasLtMatmulAlgoGetHeuristic");
  load(lt.matmul, ltLib, n, "cublasLtMatmul");
  lt.lib = ltLib;
}

// What the compiled code's calls act on, shared by the executors of a process
// (they capture one after the other; replays touch none of it but the stream).
struct State {
  bool planning = true;  // no GPU work, only sizes
  bool deviceless = false;  // planning without a driver (plannedGpuMemory): no module loads
  cmt::rt::Arena arena;
  CUstream stream = nullptr;
  void *blasHandle = nullptr;
  void *workspace = nullptr;
  int computeType = kCompute32F;
  std::map<std::pair<const void *, std::string>, CUfunction> functions;
  std::map<const void *, CUmodule> modules;
  CUdeviceptr ones = 0;  // `onesCount` 1.0f: a bias broadcast as a rank-1 product
  size_t onesCount = 0;
  // --profile: an event before every launch and one at the end, run eagerly.
  bool profiling = false;
  std::vector<void *> events;
  size_t launches = 0;

  void mark() {
    if (!profiling) return;
    if (launches == events.size()) {
      void *e;
      CU_CHECK(cu.cuEventCreate(&e, 0));
      events.push_back(e);
    }
    CU_CHECK(cu.cuEventRecord(events[launches++], stream));
  }
};
State state;

struct ModuleImage {
  const void *data;
  size_t size;
};
}  // namespace

extern "C" void cmt_forward_packed(void **args);

// ---- the functions compiled code calls (gpu-to-llvm's mgpu* ABI) ----------
extern "C" void *mgpuModuleLoad(void *data, size_t size) {
  // Called from a global constructor, before main: the module is loaded on
  // first use, once a context exists.
  return new ModuleImage{data, size};
}
extern "C" void mgpuModuleUnload(void *) {}
extern "C" void *mgpuModuleGetFunction(void *module, const char *name) {
  auto *image = static_cast<ModuleImage *>(module);
  auto key = std::make_pair(static_cast<const void *>(image), std::string(name));
  if (state.deviceless) return nullptr;  // nothing will be launched
  auto it = state.functions.find(key);
  if (it != state.functions.end()) return it->second;
  CUmodule &m = state.modules[image->data];
  if (!m) CU_CHECK(cu.cuModuleLoadData(&m, image->data));
  CUfunction f;
  CU_CHECK(cu.cuModuleGetFunction(&f, m, name));
  return state.functions[key] = f;
}
extern "C" void *mgpuStreamCreate() { return state.stream; }
extern "C" void mgpuStreamSynchronize(void *) {}  // the executor synchronises
extern "C" void mgpuStreamDestroy(void *) {}
extern "C" void mgpuLaunchKernel(void *f, int64_t gx, int64_t gy, int64_t gz, int64_t bx, int64_t by,
                                 int64_t bz, int32_t smem, void *stream, void **params, void **extra,
                                 size_t) {
  if (state.planning) return;
  state.mark();
  CU_CHECK(cu.cuLaunchKernel(f, gx, gy, gz, bx, by, bz, smem, stream, params, extra));
}
extern "C" void *_mlir_memref_to_llvm_alloc(size_t bytes) { return state.arena.alloc(bytes); }
extern "C" void *_mlir_memref_to_llvm_aligned_alloc(size_t, size_t bytes) {
  return state.arena.alloc(bytes);
}
extern "C" void _mlir_memref_to_llvm_free(void *p) { state.arena.release(p); }

// ---- data parallelism (comm.h): NCCL on a second stream ---------------------
namespace {
struct Comms {
  CUstream side = nullptr;  // reductions overlap the backward on it
  void *fork = nullptr, *join = nullptr;
  bool outstanding = false;
  CUdeviceptr hostSum = 0;  // allReduceSum's staging
  double timeout = 600;
};
Comms comms;

void loadNccl() {
  if (nccl.lib) return;
  void *lib = dlopen("libnccl.so.2", RTLD_NOW | RTLD_LOCAL);
  if (!lib)
    throw cmt::rt::Error(std::string("data-parallel training on GPUs needs NCCL, and libnccl.so.2 cannot be loaded (") +
                         dlerror() + ")");
  const char *n = "libnccl.so.2";
  load(nccl.getUniqueId, lib, n, "ncclGetUniqueId");
  load(nccl.commInitRank, lib, n, "ncclCommInitRank");
  load(nccl.allReduce, lib, n, "ncclAllReduce");
  load(nccl.groupStart, lib, n, "ncclGroupStart");
  load(nccl.groupEnd, lib, n, "ncclGroupEnd");
  load(nccl.commGetAsyncError, lib, n, "ncclCommGetAsyncError");
  load(nccl.commAbort, lib, n, "ncclCommAbort");
  load(nccl.errorString, lib, n, "ncclGetErrorString");
  nccl.lib = lib;
}

// Waits for the stream; with peers, watches them too: a rank that died
// shows as an NCCL error or as silence past the timeout, not as a hang.
void syncStream() {
  if (!nccl.comm) {
    CU_CHECK(cu.cuStreamSynchronize(state.stream));
    return;
  }
  auto start = std::chrono::steady_clock::now();
  for (;;) {
    CUresult r = cu.cuStreamQuery(state.stream);
    if (r == 0) return;
    if (r != kNotReady) CU_CHECK(r);
    int async = 0;
    NCCL_CHECK(nccl.commGetAsyncError(nccl.comm, &async));
    double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (async != 0 || waited > comms.timeout) {
      nccl.commAbort(nccl.comm);
      throw cmt::rt::Error(async ? std::string("NCCL failed (a peer rank died?): ") + nccl.errorString(async)
                                 : "no progress for " + std::to_string(static_cast<int>(waited)) +
                                       " s: a peer rank died or hangs (--comm-timeout)");
    }
    std::this_thread::sleep_for(std::chrono::microseconds(50));
  }
}
}  // namespace

namespace cmt::rt {
bool gpuPlanning() { return state.planning; }

void gpuMakeNcclId(void *out) {
  loadNccl();
  NcclId id;
  NCCL_CHECK(nccl.getUniqueId(&id));
  std::memcpy(out, &id, sizeof id);
}

void gpuStartNccl(int rank, int size, const void *id, double timeoutSeconds) {
  loadNccl();
  NcclId nid;
  std::memcpy(&nid, id, sizeof nid);
  NCCL_CHECK(nccl.commInitRank(&nccl.comm, size, nid, rank));
  CU_CHECK(cu.cuStreamCreate(&comms.side, kStreamNonBlocking));
  CU_CHECK(cu.cuEventCreate(&comms.fork, 2));  // CU_EVENT_DISABLE_TIMING
  CU_CHECK(cu.cuEventCreate(&comms.join, 2));
  comms.timeout = timeoutSeconds;
}

void gpuReduceBucket(const std::vector<std::pair<void *, size_t>> &items) {
  // The side stream starts once the main stream has made the bucket.
  CU_CHECK(cu.cuEventRecord(comms.fork, state.stream));
  CU_CHECK(cu.cuStreamWaitEvent(comms.side, comms.fork, 0));
  NCCL_CHECK(nccl.groupStart());
  for (auto &[p, n] : items) NCCL_CHECK(nccl.allReduce(p, p, n, kNcclFloat32, kNcclAvg, nccl.comm, comms.side));
  NCCL_CHECK(nccl.groupEnd());
  comms.outstanding = true;
}

void gpuJoin() {
  if (!comms.outstanding) return;
  CU_CHECK(cu.cuEventRecord(comms.join, comms.side));
  CU_CHECK(cu.cuStreamWaitEvent(state.stream, comms.join, 0));
  comms.outstanding = false;
}

void gpuReduceSumNow(void *p, size_t n) {
  NCCL_CHECK(nccl.allReduce(p, p, n, kNcclFloat32, kNcclSum, nccl.comm, state.stream));
}

void gpuHostSum(double *values, int count) {
  size_t bytes = static_cast<size_t>(count) * sizeof(double);
  if (!comms.hostSum) CU_CHECK(cu.cuMemAlloc(&comms.hostSum, 4096));
  if (bytes > 4096) throw Error("gpuHostSum: at most 512 values");
  CU_CHECK(cu.cuMemcpyHtoD(comms.hostSum, values, bytes));
  void *p = reinterpret_cast<void *>(comms.hostSum);
  NCCL_CHECK(nccl.allReduce(p, p, static_cast<size_t>(count), kNcclFloat64, kNcclSum, nccl.comm, state.stream));
  syncStream();
  CU_CHECK(cu.cuMemcpyDtoH(values, comms.hostSum, bytes));
}
}  // namespace cmt::rt

namespace {
// D (row-major M x N) = A B + bias (along N), one unbatched GEMM, through
// cuBLASLt's bias epilogue: as column-major D^T = B^T A^T, the bias runs
// along D^T's rows. Descriptors are made once, at capture. Returns false,
// having done nothing, where cuBLASLt has no algorithm for these shapes,
// types and alignments.
bool gemmBias(int64_t M, int64_t N, int64_t K, const void *A, cmt::rt::BlasLayout la, const void *B,
              cmt::rt::BlasLayout lb, float *D, cmt::rt::BlasLayout ld, const float *bias, int abType,
              int computeType) {
  if (!ld.rowMajor) throw cmt::rt::Error("cmt_blas_sgemm: a bias needs a row-major output");
  if (!lt.handle) BLAS_CHECK(lt.create(&lt.handle));
  void *desc, *aDesc, *bDesc, *dDesc, *pref;
  BLAS_CHECK(lt.descCreate(&desc, computeType, kR32F));
  int opA = lb.rowMajor ? kOpN : kOpT, opB = la.rowMajor ? kOpN : kOpT, epilogue = kLtEpilogueBias;
  BLAS_CHECK(lt.descSet(desc, kLtTransA, &opA, sizeof opA));
  BLAS_CHECK(lt.descSet(desc, kLtTransB, &opB, sizeof opB));
  BLAS_CHECK(lt.descSet(desc, kLtEpilogue, &epilogue, sizeof epilogue));
  BLAS_CHECK(lt.descSet(desc, kLtBiasPointer, &bias, sizeof bias));
  // The matrices as stored (before the ops): B^T is N x K when op N.
  BLAS_CHECK(lt.layoutCreate(&aDesc, abType, opA == kOpN ? N : K, opA == kOpN ? K : N, lb.ld));
  BLAS_CHECK(lt.layoutCreate(&bDesc, abType, opB == kOpN ? K : M, opB == kOpN ? M : K, la.ld));
  BLAS_CHECK(lt.layoutCreate(&dDesc, kR32F, N, M, ld.ld));
  BLAS_CHECK(lt.prefCreate(&pref));
  size_t workspace = kBlasWorkspace;
  BLAS_CHECK(lt.prefSet(pref, kLtPrefMaxWorkspace, &workspace, sizeof workspace));
  LtHeuristic h{};
  int found = 0;
  // CUBLAS_STATUS_NOT_SUPPORTED (or no result) means no algorithm; any other
  // failure is an error.
  int status = lt.heuristic(lt.handle, desc, aDesc, bDesc, dDesc, dDesc, pref, 1, &h, &found);
  if (status == kBlasNotSupported || (status == 0 && found < 1))
    return false;
  BLAS_CHECK(status);
  const float one = 1.f, zero = 0.f;
  BLAS_CHECK(lt.matmul(lt.handle, desc, &one, B, aDesc, A, bDesc, &zero, D, dDesc, D, dDesc, h.algo,
                       state.workspace, kBlasWorkspace, state.stream));
  return true;
}

// D (row-major M x N) = the bias in every row, as the rank-1 product of a
// column of ones and the bias (column-major D^T = bias ones^T): what precedes
// D += A B where cuBLASLt has no bias epilogue for a GEMM. The ones are
// uploaded at capture, outside the captured stream, like the batched
// pointer tables.
void broadcastBias(int64_t M, int64_t N, const float *bias, float *D, int64_t ldd) {
  if (state.onesCount < static_cast<size_t>(M)) {
    // A shorter column stays allocated: graphs captured before still read it.
    std::vector<float> ones(static_cast<size_t>(M), 1.f);
    CU_CHECK(cu.cuMemAlloc(&state.ones, ones.size() * sizeof(float)));
    CU_CHECK(cu.cuMemcpyHtoD(state.ones, ones.data(), ones.size() * sizeof(float)));
    state.onesCount = ones.size();
  }
  const float one = 1.f, zero = 0.f;
  BLAS_CHECK(blas.gemm(state.blasHandle, kOpN, kOpN, N, M, 1, &one, bias, kR32F, N, 0,
                       reinterpret_cast<const void *>(state.ones), kR32F, 1, 0, &zero, D, kR32F, ldd, 0, 1,
                       kCompute32F, kGemmDefault));
}
}  // namespace

// A BlasType argument of cmt_blas_sgemm as cuBLAS's cudaDataType.
static int cudaTypeOf(int64_t type, const char *operands) {
  if (type == static_cast<int64_t>(cmt::rt::BlasType::F32)) return kR32F;
  if (type == static_cast<int64_t>(cmt::rt::BlasType::BF16)) return kR16BF;
  throw cmt::rt::Error(std::string("cmt_blas_sgemm: unknown ") + operands + " type " + std::to_string(type));
}

// C[b, m, n] = beta C[b, m, n] + sum_k A[b, m, k] B[b, k, n] (+ bias[n]) with
// cuBLAS or cuBLASLt, in a row-major view of every operand; the compiler only
// sends layouts blasLayout accepts (see LinalgToUKernels' blas-layouts).
extern "C" void cmt_blas_sgemm(int64_t batch0, int64_t batch1, int64_t M, int64_t N, int64_t K,  //
                               int64_t a, int64_t sAb0, int64_t sAb1, int64_t sAm, int64_t sAk,   //
                               int64_t b, int64_t sBb0, int64_t sBb1, int64_t sBk, int64_t sBn,   //
                               int64_t c, int64_t sCb0, int64_t sCb1, int64_t sCm, int64_t sCn,   //
                               int64_t betaFlag, int64_t bias, int64_t abType, int64_t cType) {
  using cmt::rt::blasLayout;
  if (state.planning) return;
  state.mark();
  // bf16 A and B: tensor-core products accumulated in f32 whatever --precision
  // says (its TF32 and BF16 modes are for f32 operands).
  int abT = cudaTypeOf(abType, "A and B"), cT = cudaTypeOf(cType, "C");
  bool bf16 = abT == kR16BF, bf16C = cT == kR16BF;
  int computeType = bf16 ? kCompute32F : state.computeType;
  int64_t eb = cmt::rt::blasTypeBytes(static_cast<cmt::rt::BlasType>(abType));
  int64_t ec = cmt::rt::blasTypeBytes(static_cast<cmt::rt::BlasType>(cType));
  if (bf16C && (bias || betaFlag || !bf16))
    throw cmt::rt::Error("cmt_blas_sgemm: a bf16 C is only written, from bf16 A and B, with no bias (the "
                         "compiler should not have sent this)");
  // A single batch dimension is cuBLAS's strided batch ("inner").
  int64_t outer = batch0, inner = batch1, sAo = sAb0, sBo = sBb0, sCo = sCb0, sAi = sAb1, sBi = sBb1,
          sCi = sCb1;
  if (inner == 1) {
    std::swap(outer, inner);
    std::swap(sAo, sAi);
    std::swap(sBo, sBi);
    std::swap(sCo, sCi);
  }
  auto la = blasLayout(M, K, sAm, sAk), lb = blasLayout(K, N, sBk, sBn), lc = blasLayout(M, N, sCm, sCn);
  if (!la.ok || !lb.ok || !lc.ok)
    throw cmt::rt::Error("cmt_blas_sgemm: a layout cuBLAS cannot take (the compiler should not have "
                         "sent it)");
  const float one = 1.f, zero = 0.f;
  const float *beta = betaFlag ? &one : &zero;  // 0: C is only written (no initial value)
  if (bias) {
    if (outer * inner != 1) throw cmt::rt::Error("cmt_blas_sgemm: a bias needs an unbatched GEMM");
    if (gemmBias(M, N, K, reinterpret_cast<const void *>(a), la, reinterpret_cast<const void *>(b), lb,
                 reinterpret_cast<float *>(c), lc, reinterpret_cast<const float *>(bias), abT, computeType))
      return;
    broadcastBias(M, N, reinterpret_cast<const float *>(bias), reinterpret_cast<float *>(c), lc.ld);
    beta = &one;  // then C += A B below
  }
  if (outer > 1) {
    // Two batch dimensions (images x heads): one batched call over pointer
    // arrays. The arrays depend only on the arena's addresses, so they are
    // built once, at capture, on a copy that is not on the captured stream.
    int64_t count = outer * inner;
    std::vector<const void *> ptrs(3 * count);
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t i = 0; i < inner; ++i) {
        int64_t j = o * inner + i;
        ptrs[j] = reinterpret_cast<const char *>(a) + (o * sAo + i * sAi) * eb;
        ptrs[count + j] = reinterpret_cast<const char *>(b) + (o * sBo + i * sBi) * eb;
        ptrs[2 * count + j] = reinterpret_cast<const char *>(c) + (o * sCo + i * sCi) * ec;
      }
    CUdeviceptr table;
    CU_CHECK(cu.cuMemAlloc(&table, ptrs.size() * sizeof(void *)));
    CU_CHECK(cu.cuMemcpyHtoD(table, ptrs.data(), ptrs.size() * sizeof(void *)));
    auto *A = reinterpret_cast<const void *const *>(table);
    auto *B = A + count;
    auto *C = reinterpret_cast<void *const *>(table) + 2 * count;
    if (lc.rowMajor)
      BLAS_CHECK(blas.gemmBatched(state.blasHandle, lb.rowMajor ? kOpN : kOpT, la.rowMajor ? kOpN : kOpT, N, M,
                                  K, &one, B, abT, lb.ld, A, abT, la.ld, beta, C, cT, lc.ld, count,
                                  computeType, kGemmDefault));
    else
      BLAS_CHECK(blas.gemmBatched(state.blasHandle, la.rowMajor ? kOpT : kOpN, lb.rowMajor ? kOpT : kOpN, M, N,
                                  K, &one, A, abT, la.ld, B, abT, lb.ld, beta, C, cT, lc.ld, count,
                                  computeType, kGemmDefault));
    return;
  }
  // One batch dimension at most: a strided-batched call.
  const void *A = reinterpret_cast<const void *>(a), *B = reinterpret_cast<const void *>(b);
  void *C = reinterpret_cast<void *>(c);
  if (lc.rowMajor)  // column-major C^T (N x M) = B^T A^T
    BLAS_CHECK(blas.gemm(state.blasHandle, lb.rowMajor ? kOpN : kOpT, la.rowMajor ? kOpN : kOpT, N, M, K, &one,
                         B, abT, lb.ld, sBi, A, abT, la.ld, sAi, beta, C, cT, lc.ld, sCi, inner,
                         computeType, kGemmDefault));
  else
    BLAS_CHECK(blas.gemm(state.blasHandle, la.rowMajor ? kOpT : kOpN, lb.rowMajor ? kOpT : kOpN, M, N, K, &one,
                         A, abT, la.ld, sAi, B, abT, lb.ld, sBi, beta, C, cT, lc.ld, sCi, inner,
                         computeType, kGemmDefault));
}

namespace cmt::rt {

Precision parsePrecision(const std::string &name) {
  if (name == "fp32") return Precision::FP32;
  if (name == "tf32") return Precision::TF32;
  if (name == "bf16") return Precision::BF16;
  throw Error("--precision must be fp32, tf32 or bf16, got '" + name + "'");
}

PrecisionChoice choosePrecision(const Plan &plan, const std::string &requested, bool hasBF16Forward) {
  std::string name = !requested.empty() ? requested : plan.storage == "bf16" ? "bf16" : "fp32";
  Precision p = parsePrecision(name);
  bool cpu = plan.target != "cuda";
  if (plan.storage == "bf16" && p != Precision::BF16)
    throw Error("--precision " + name + ": this executable stores activations as bf16 (cmt-compile " +
                "--storage=bf16); compile with " +
                (plan.mode == "train" ? "--storage=f32" : "--storage=f32 or --storage=both") + " for " + name);
  if (cpu && p == Precision::TF32)
    throw Error("--precision tf32 is for CUDA executables; this one runs on the CPU");
  bool bf16Forward = p == Precision::BF16 && hasBF16Forward;
  // On the CPU bf16 is a storage; on the GPU, without a bf16 forward, it is
  // cuBLAS's bf16 tensor-core math on f32 activations.
  if (cpu && p == Precision::BF16 && plan.storage != "bf16" && !bf16Forward)
    throw Error("--precision bf16: this executable stores activations as f32 only; compile with "
                "cmt-compile --storage=bf16 or --storage=both");
  return {p, name, bf16Forward};
}

namespace {
int precisionCompute(Precision p) {
  return p == Precision::FP32 ? kCompute32F : p == Precision::TF32 ? kCompute32FFastTF32 : kCompute32FFast16BF;
}
}  // namespace

struct CudaExecutor::Impl {
  const Plan &plan;
  std::string name;
  std::vector<CUdeviceptr> device;  // per plan argument
  std::vector<void *> host;
  CUdeviceptr arena = 0, workspace = 0;
  size_t argBytes = 0, nodes = 0;
  CUgraphExec exec = nullptr;
  void (*entry)(void **) = nullptr;
  size_t arenaSize = 0;
  bool released = false;  // release(): nothing left to run

  void usable() const {
    if (released) throw Error("a CUDA executor was used after release()");
  }

  Impl(const Plan &p, void (*e)(void **)) : plan(p), entry(e ? e : cmt_forward_packed) {}


  std::vector<void *> kernelArgs() const {
    std::vector<void *> args(device.size());
    for (size_t i = 0; i < device.size(); ++i) args[i] = reinterpret_cast<void *>(device[i]);
    return args;
  }

  void capture() {
    // Sizes first: the host code runs with nothing launched.
    state.planning = true;
    state.arena.reset(0, SIZE_MAX / 4);
    std::vector<void *> args = kernelArgs();
    entry(args.data());
    size_t need = state.arena.peak + cmt::rt::Arena::kAlign, free = 0, total = 0;
    CU_CHECK(cu.cuMemGetInfo(&free, &total));
    if (need > free)
      throw Error("this executable needs " + std::to_string(need >> 20) + " MiB of GPU memory for " +
                  "intermediates, and the GPU has " + std::to_string(free >> 20) + " MiB free (of " +
                  std::to_string(total >> 20) + "): compile with a smaller --batch");
    CU_CHECK(cu.cuMemAlloc(&arena, need));
    arenaSize = need;
    state.arena.reset(arena, need);
    // Planning resolved every kernel: no module loads while capturing.
    state.planning = false;
    CU_CHECK(cu.cuStreamBeginCapture(state.stream, kCaptureRelaxed));
    try {
      entry(args.data());
    } catch (...) {
      CUgraph g;
      cu.cuStreamEndCapture(state.stream, &g);
      throw;
    }
    CUgraph graph;
    CU_CHECK(cu.cuStreamEndCapture(state.stream, &graph));
    CU_CHECK(cu.cuGraphGetNodes(graph, nullptr, &nodes));
    CU_CHECK(cu.cuGraphInstantiate(&exec, graph, 0));
  }
};

CudaExecutor::CudaExecutor(const Plan &plan, Precision precision, int ordinal, void (*entry)(void **))
    : impl_(new Impl(plan, entry)) {
  loadDriver();
  CU_CHECK(cu.cuInit(0));
  int count = 0;
  CU_CHECK(cu.cuDeviceGetCount(&count));
  if (count <= ordinal)
    throw Error("no CUDA device " + std::to_string(ordinal) + " (" + std::to_string(count) + " found)");
  CUdevice dev;
  CU_CHECK(cu.cuDeviceGet(&dev, ordinal));
  int major = 0, minor = 0;
  CU_CHECK(cu.cuDeviceGetAttribute(&major, kAttrMajor, dev));
  CU_CHECK(cu.cuDeviceGetAttribute(&minor, kAttrMinor, dev));
  char name[256] = {};
  CU_CHECK(cu.cuDeviceGetName(name, sizeof name - 1, dev));
  impl_->name = std::string(name) + " (sm_" + std::to_string(major * 10 + minor) + ")";
  std::string have = "sm_" + std::to_string(major * 10 + minor);
  if (!plan.gpuArch.empty() && plan.gpuArch != have)
    throw Error("this executable was compiled for " + plan.gpuArch + ", and " + name + " is " + have +
                ": recompile with --gpu-arch=" + have);
  CUcontext ctx;
  CU_CHECK(cu.cuDevicePrimaryCtxRetain(&ctx, dev));
  CU_CHECK(cu.cuCtxSetCurrent(ctx));
  // A second executor in the process (a training executable's evaluation)
  // shares the stream, the cuBLAS handle and its workspace with the first.
  if (state.stream) {
    if (state.computeType != precisionCompute(precision))
      throw Error("two CUDA executors of one process need the same --precision");
    return;
  }
  CU_CHECK(cu.cuStreamCreate(&state.stream, kStreamNonBlocking));
  loadBlas();
  BLAS_CHECK(blas.create(&state.blasHandle));
  BLAS_CHECK(blas.setStream(state.blasHandle, state.stream));
  // A fixed workspace: cuBLAS must not allocate while the graph is captured.
  CU_CHECK(cu.cuMemAlloc(&impl_->workspace, kBlasWorkspace));
  state.workspace = reinterpret_cast<void *>(impl_->workspace);
  BLAS_CHECK(blas.setWorkspace(state.blasHandle, state.workspace, kBlasWorkspace));
  state.computeType = precisionCompute(precision);
}

CudaExecutor::~CudaExecutor() = default;  // the process ends with it: the driver frees everything

void CudaExecutor::bind(const std::vector<void *> &host) {
  Impl &m = *impl_;
  m.usable();
  m.host = host;
  m.device.assign(host.size(), 0);
  for (size_t i = 0; i < host.size(); ++i) {
    const PlanArg &a = m.plan.args[i];
    size_t n = a.bytes();
    CU_CHECK(cu.cuMemAlloc(&m.device[i], std::max<size_t>(n, 1)));
    m.argBytes += n;
    if (a.kind == PlanArg::Parameter || a.kind == PlanArg::Buffer || a.kind == PlanArg::State ||
        a.kind == PlanArg::Prepared)
      CU_CHECK(cu.cuMemcpyHtoD(m.device[i], host[i], n));
  }
}

void CudaExecutor::run() {
  Impl &m = *impl_;
  m.usable();
  if (!m.exec) m.capture();  // first: a plan too big for the GPU fails before any upload
  for (size_t i = 0; i < m.host.size(); ++i)
    if (m.plan.args[i].kind == PlanArg::Input) CU_CHECK(cu.cuMemcpyHtoD(m.device[i], m.host[i], m.plan.args[i].bytes()));
  CU_CHECK(cu.cuGraphLaunch(m.exec, state.stream));
  CU_CHECK(cu.cuStreamSynchronize(state.stream));
  for (size_t i = 0; i < m.host.size(); ++i)
    if (m.plan.args[i].kind == PlanArg::Output) CU_CHECK(cu.cuMemcpyDtoH(m.host[i], m.device[i], m.plan.args[i].bytes()));
}

void CudaExecutor::release() {
  Impl &m = *impl_;
  m.released = true;
  CU_CHECK(cu.cuStreamSynchronize(state.stream));
  if (m.exec) CU_CHECK(cu.cuGraphExecDestroy(m.exec));
  m.exec = nullptr;
  for (CUdeviceptr &p : m.device) CU_CHECK(cu.cuMemFree(p));
  m.device.clear();
  if (m.arena) CU_CHECK(cu.cuMemFree(m.arena));
  m.arena = 0;
}

void CudaExecutor::upload(size_t arg) {
  Impl &m = *impl_;
  m.usable();
  CU_CHECK(cu.cuStreamSynchronize(state.stream));
  CU_CHECK(cu.cuMemcpyHtoD(m.device[arg], m.host[arg], m.plan.args[arg].bytes()));
}

void CudaExecutor::download(size_t arg) {
  Impl &m = *impl_;
  m.usable();
  CU_CHECK(cu.cuStreamSynchronize(state.stream));
  CU_CHECK(cu.cuMemcpyDtoH(m.host[arg], m.device[arg], m.plan.args[arg].bytes()));
}

void CudaExecutor::copy(size_t to, size_t from) {
  Impl &m = *impl_;
  m.usable();
  CU_CHECK(cu.cuMemcpyDtoDAsync(m.device[to], m.device[from], m.plan.args[to].bytes(), state.stream));
}

void CudaExecutor::launch() {
  Impl &m = *impl_;
  m.usable();
  if (!m.exec) m.capture();
  CU_CHECK(cu.cuGraphLaunch(m.exec, state.stream));
  syncStream();
}

void *CudaExecutor::stream() const { return state.stream; }

std::vector<double> CudaExecutor::replay(int iterations) {
  Impl &m = *impl_;
  m.usable();
  if (!m.exec) m.capture();
  std::vector<double> ms;
  for (int i = 0; i < iterations; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    CU_CHECK(cu.cuGraphLaunch(m.exec, state.stream));
    CU_CHECK(cu.cuStreamSynchronize(state.stream));
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  return ms;
}

std::vector<double> CudaExecutor::profile() {
  Impl &m = *impl_;
  m.usable();
  if (!m.exec) m.capture();
  std::vector<double> ms;
  for (int pass = 0; pass < 2; ++pass) {  // the first warms up
    state.profiling = true;
    state.launches = 0;
    std::vector<void *> args = m.kernelArgs();
    m.entry(args.data());
    state.mark();
    state.profiling = false;
    CU_CHECK(cu.cuStreamSynchronize(state.stream));
  }
  for (size_t i = 0; i + 1 < state.launches; ++i) {
    float t = 0;
    CU_CHECK(cu.cuEventElapsedTime(&t, state.events[i], state.events[i + 1]));
    ms.push_back(t);
  }
  return ms;
}

std::string CudaExecutor::deviceName() const { return impl_->name; }
size_t CudaExecutor::arenaBytes() const { return impl_->arenaSize; }

GpuMemory plannedGpuMemory(const Plan &plan, void (*entry)(void **)) {
  // The sizing pass of capture(), with no driver: the host code only passes
  // device pointers on, so null ones do.
  state.deviceless = state.planning = true;
  state.arena.reset(0, SIZE_MAX / 4);
  std::vector<void *> args(plan.args.size(), nullptr);
  (entry ? entry : cmt_forward_packed)(args.data());
  GpuMemory m;
  m.arena = state.arena.peak + cmt::rt::Arena::kAlign;
  for (const PlanArg &a : plan.args) m.arguments += a.bytes();
  m.workspace = kBlasWorkspace;
  state.deviceless = false;
  return m;
}

void printGpuMemory(const char *what, const GpuMemory &m) {
  auto mib = [](size_t b) { return b / 1048576.0; };
  std::printf("%s: %.1f MiB of GPU memory (intermediates %.1f, arguments %.1f, cuBLAS workspace %.1f)\n", what,
              mib(m.total()), mib(m.arena), mib(m.arguments), mib(m.workspace));
}
size_t CudaExecutor::residentBytes() const { return impl_->arenaSize + impl_->argBytes + kBlasWorkspace; }
size_t CudaExecutor::graphNodes() const { return impl_->nodes; }

}  // namespace cmt::rt
