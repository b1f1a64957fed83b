//===- BufferInit.h - what set a buffer before an op reads it ---*- C++ -*-===//
//
// After bufferization, passes that fold an op's initialisation into the op
// (a reduction kernel starting from a fill's value, a GEMM with beta = 0)
// need to know which op last set the buffer. Bufferization reuses buffers,
// so the first user of a buffer is not necessarily that op.
//
//===----------------------------------------------------------------------===//
#ifndef CMT_TRANSFORMS_UTILS_BUFFERINIT_H
#define CMT_TRANSFORMS_UTILS_BUFFERINIT_H

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"

#include <optional>

namespace cmt {
/// The op that last touched `buf`, or a view of it, before `op` in their
/// block; view-making ops do not count, nor, with `skipCopiesOut`, copies
/// that only read the buffer.
mlir::Operation *lastToucher(mlir::Value buf, mlir::Operation *op, bool skipCopiesOut = false);

/// Where a linalg.fill alone set what `reader` finds in the fresh buffer
/// `buf`: written straight into it, or into a buffer that `copy` then copied
/// whole into it (bufferization's way with one fill shared by several ops).
struct FillSource {
  mlir::linalg::FillOp fill;
  mlir::memref::CopyOp copy;  // null when the fill wrote `buf` itself
  /// Nothing but the folded copy (or `reader`) reads the fill's buffer
  /// (deallocation aside): folding the copy makes the fill dead too.
  bool fillDies = false;

  /// What goes once the reader starts from the fill's value itself: the
  /// copy, and the fill where nothing else reads its buffer.
  llvm::SmallVector<mlir::Operation *, 2> foldedOps() const {
    llvm::SmallVector<mlir::Operation *, 2> ops;
    if (copy)
      ops.push_back(copy);
    if (fillDies)
      ops.push_back(fill);
    return ops;
  }
};
std::optional<FillSource> fillSource(mlir::Value buf, mlir::Operation *reader);

/// The vector `g` copies into every row of a matrix (a bias broadcast: one
/// input read along the columns, (d0, d1) -> (d1), the output written whole),
/// on tensors or buffers alike; null if `g` is anything else.
mlir::Value rowBroadcastSource(mlir::linalg::GenericOp g);
} // namespace cmt

#endif
