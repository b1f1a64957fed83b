// RUN: cmt-opt %s -split-input-file -canonicalize | FileCheck %s

// CHECK-LABEL: func.func @image_round_trip
// CHECK-SAME: (%[[X:.*]]: tensor<1x8x4x4xf32>)
// CHECK-NEXT: return %[[X]]
func.func @image_round_trip(%x: tensor<1x8x4x4xf32>) -> tensor<1x8x4x4xf32> {
  %t = cmt.image_to_tokens %x : tensor<1x8x4x4xf32> -> tensor<1x16x8xf32>
  %i = cmt.tokens_to_image %t height = 4 width = 4 : tensor<1x16x8xf32> -> tensor<1x8x4x4xf32>
  return %i : tensor<1x8x4x4xf32>
}

// -----

// CHECK-LABEL: func.func @token_round_trip
// CHECK-SAME: (%[[T:.*]]: tensor<1x16x8xf32>)
// CHECK-NEXT: return %[[T]]
func.func @token_round_trip(%t: tensor<1x16x8xf32>) -> tensor<1x16x8xf32> {
  %i = cmt.tokens_to_image %t height = 4 width = 4 : tensor<1x16x8xf32> -> tensor<1x8x4x4xf32>
  %u = cmt.image_to_tokens %i : tensor<1x8x4x4xf32> -> tensor<1x16x8xf32>
  return %u : tensor<1x16x8xf32>
}

// -----

// Folding 16 tokens into 2x8 and flattening back is also the identity, but a
// 4x4 image read as 2x8 is not: only the token round trip folds.
// CHECK-LABEL: func.func @different_image
// CHECK: cmt.image_to_tokens
// CHECK: cmt.tokens_to_image
func.func @different_image(%x: tensor<1x8x4x4xf32>) -> tensor<1x8x2x8xf32> {
  %t = cmt.image_to_tokens %x : tensor<1x8x4x4xf32> -> tensor<1x16x8xf32>
  %i = cmt.tokens_to_image %t height = 2 width = 8 : tensor<1x16x8xf32> -> tensor<1x8x2x8xf32>
  return %i : tensor<1x8x2x8xf32>
}
