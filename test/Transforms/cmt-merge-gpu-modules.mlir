// RUN: cmt-opt %s -cmt-merge-gpu-modules -split-input-file | FileCheck %s

// Two outlined kernels of the same name in two modules: one module, the
// second kernel renamed after its old module, its launch retargeted.
// CHECK-LABEL: func.func @f(
// CHECK:       gpu.launch_func @f_kernel::@f_kernel blocks
// CHECK:       gpu.launch_func @f_kernel::@f_kernel_0 blocks
// CHECK:       gpu.module @f_kernel {
// CHECK:         gpu.func @f_kernel(
// CHECK:         gpu.func @f_kernel_0(
// CHECK-NOT:   gpu.module @f_kernel_0
module attributes {gpu.container_module} {
  func.func @f(%a: memref<4xf32>) {
    %c1 = arith.constant 1 : index
    gpu.launch_func @f_kernel::@f_kernel blocks in (%c1, %c1, %c1) threads in (%c1, %c1, %c1) args(%a : memref<4xf32>)
    gpu.launch_func @f_kernel_0::@f_kernel blocks in (%c1, %c1, %c1) threads in (%c1, %c1, %c1) args(%a : memref<4xf32>)
    return
  }
  gpu.module @f_kernel {
    gpu.func @f_kernel(%a: memref<4xf32>) kernel {
      gpu.return
    }
  }
  gpu.module @f_kernel_0 {
    gpu.func @f_kernel(%a: memref<4xf32>) kernel {
      gpu.return
    }
  }
}

// -----

// One module: nothing to do.
// CHECK-LABEL: func.func @g(
// CHECK:       gpu.launch_func @g_kernel::@g_kernel
// CHECK:       gpu.module @g_kernel
module attributes {gpu.container_module} {
  func.func @g(%a: memref<4xf32>) {
    %c1 = arith.constant 1 : index
    gpu.launch_func @g_kernel::@g_kernel blocks in (%c1, %c1, %c1) threads in (%c1, %c1, %c1) args(%a : memref<4xf32>)
    return
  }
  gpu.module @g_kernel {
    gpu.func @g_kernel(%a: memref<4xf32>) kernel {
      gpu.return
    }
  }
}
