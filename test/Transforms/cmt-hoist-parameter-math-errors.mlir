// RUN: cmt-opt %s -cmt-hoist-parameter-math=functions=absent -verify-diagnostics

// expected-error @below {{cmt-hoist-parameter-math: no function @absent}}
module {
  func.func @forward() {
    return
  }
}
