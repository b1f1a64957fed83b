//===- CMTDialect.td - the cmt dialect definition ----------*- tablegen -*-===//
#ifndef CMT_DIALECT_TD
#define CMT_DIALECT_TD

include "mlir/IR/OpBase.td"

def CMT_Dialect : Dialect {
  let name = "cmt";
  let cppNamespace = "::cmt";
  let summary = "The CMT family of vision networks, from the paper's table down to tensors";
  let description = [{
    The dialect has two levels.

    The *architecture level* is the paper's configuration table as IR: a
    `cmt.model` holding a `cmt.stem`, four `cmt.stage`s and a `cmt.head`.
    Every released variant (and any user configuration) is data at this level.

    The *graph level* is the computation of the authors' released code on
    tensors: convolutions, normalisations, activations, linears, attention
    with a relative position bias, pooling and the image <-> token reshapes.
    `cmt-expand-model` turns the first into the second; everything
    downstream (statistics, autodiff, lowering) works on the graph level.
  }];
  let dependentDialects = ["::mlir::func::FuncDialect"];
}

class CMT_Op<string mnemonic, list<Trait> traits = []>
    : Op<CMT_Dialect, mnemonic, traits>;

#endif // CMT_DIALECT_TD
