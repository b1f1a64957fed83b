// RUN: cmt-opt %s -split-input-file -cmt-lower-collectives | FileCheck %s

// A gradient's reduction: a copy of it handed to the runtime (kind 0), read
// back as a tensor; the wait is a call of its own.
// CHECK-LABEL: func.func private @cmt_all_reduce_wait()
// CHECK-LABEL: func.func private @cmt_all_reduce(index, index, index)
// CHECK-LABEL: func.func @gradient(
// CHECK:      %[[M:.*]] = bufferization.to_buffer %arg0 read_only : tensor<16xf32> to memref<16xf32>
// CHECK:      %[[C:.*]] = memref.alloc() {alignment = 64 : i64} : memref<16xf32>
// CHECK:      memref.copy %[[M]], %[[C]]
// CHECK:      %[[P:.*]] = memref.extract_aligned_pointer_as_index %[[C]]
// CHECK:      call @cmt_all_reduce(%[[P]], %c16, %c0)
// CHECK:      %[[T:.*]] = bufferization.to_tensor %[[C]] restrict writable
// CHECK:      call @cmt_all_reduce_wait() : () -> ()
// CHECK:      return %[[T]]
func.func @gradient(%g: tensor<16xf32>) -> tensor<16xf32> {
  %r = cmt.all_reduce %g : tensor<16xf32>
  %w = cmt.all_reduce_wait %r : tensor<16xf32>
  return %w : tensor<16xf32>
}

// -----

// A batch norm's statistic: kind 1, no wait.
// CHECK-LABEL: func.func @statistic(
// CHECK:      call @cmt_all_reduce(%{{.*}}, %c4, %c1)
// CHECK-NOT:  cmt_all_reduce_wait()
func.func @statistic(%s: tensor<4xf32>) -> tensor<4xf32> {
  %r = cmt.all_reduce batch_norm %s : tensor<4xf32>
  return %r : tensor<4xf32>
}
