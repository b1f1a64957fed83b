// RUN: cmt-opt %models/cmt-micro.mlir -cmt-graph=batch=2 | FileCheck %s
// RUN: cmt-opt %models/cmt-micro.mlir -cmt-graph=batch=2 | cmt-opt -cmt-print-stats=format=json -o /dev/null | FileCheck %s --check-prefix=STATS

// The architecture becomes one @forward at the requested batch; nothing of the
// architecture level is left.
// CHECK-NOT:  cmt.model
// CHECK-LABEL: func.func @forward(
// CHECK-SAME: tensor<2x3x64x64xf32> {cmt.kind = "input", cmt.name = "input"}
// CHECK-SAME: -> (tensor<2x10xf32> {cmt.name = "logits"})
// CHECK-COUNT-5: cmt.attention
// CHECK-NOT:  cmt.attention
// CHECK:      return
// CHECK-NOT:  cmt.model

// STATS: "macs":5625072,"model":"cmt_micro","params":375734
