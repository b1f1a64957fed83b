//===- CMTOps.h - cmt operations --------------------------------*- C++ -*-===//
#ifndef CMT_DIALECT_CMT_IR_CMTOPS_H
#define CMT_DIALECT_CMT_IR_CMTOPS_H

#include "cmt/Dialect/CMT/IR/CMTDialect.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Interfaces/InferTypeOpInterface.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#include "cmt/Dialect/CMT/IR/CMTInterfaces.h.inc"

namespace cmt {
class StemOp;
class StageOp;
} // namespace cmt

#define GET_OP_CLASSES
#include "cmt/Dialect/CMT/IR/CMTOps.h.inc"

#endif
