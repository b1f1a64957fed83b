//===- CMTDialect.cpp - the cmt dialect -------------------------*- C++ -*-===//
#include "cmt/Dialect/CMT/IR/CMTDialect.h"
#include "cmt/Dialect/CMT/IR/CMTOps.h"

using namespace mlir;
using namespace cmt;

#include "cmt/Dialect/CMT/IR/CMTOpsDialect.cpp.inc"

void CMTDialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "cmt/Dialect/CMT/IR/CMTOps.cpp.inc"
      >();
}
