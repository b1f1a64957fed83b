//===- Passes.h - cmt dialect passes ----------------------------*- C++ -*-===//
#ifndef CMT_DIALECT_CMT_TRANSFORMS_PASSES_H
#define CMT_DIALECT_CMT_TRANSFORMS_PASSES_H

#include "cmt/Dialect/CMT/IR/CMTOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/Pass.h"

namespace cmt {
#define GEN_PASS_DECL
#include "cmt/Dialect/CMT/Transforms/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "cmt/Dialect/CMT/Transforms/Passes.h.inc"
} // namespace cmt

#endif
