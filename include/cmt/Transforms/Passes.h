//===- Passes.h - cmt transforms on upstream dialects -----------*- C++ -*-===//
#ifndef CMT_TRANSFORMS_PASSES_H
#define CMT_TRANSFORMS_PASSES_H

#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/Pass/Pass.h"

namespace cmt {
#define GEN_PASS_DECL
#include "cmt/Transforms/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "cmt/Transforms/Passes.h.inc"
} // namespace cmt

#endif
