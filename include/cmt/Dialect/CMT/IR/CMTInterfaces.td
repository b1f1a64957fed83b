//===- CMTInterfaces.td - cmt op interfaces ----------------*- tablegen -*-===//
#ifndef CMT_INTERFACES_TD
#define CMT_INTERFACES_TD

include "mlir/IR/OpBase.td"

def CMT_CostOpInterface : OpInterface<"CostOpInterface"> {
  let cppNamespace = "::cmt";
  let description = [{
    Arithmetic cost of one op, counted the way PyTorch's FlopCounterMode
    counts it divided by two: multiply-accumulates of convolutions, linears
    and matrix products. Elementwise ops, normalisations and softmax count 0,
    which is what the released numbers (and the paper's table, nearly) use.
  }];
  let methods = [
    InterfaceMethod<"Multiply-accumulates of the whole op (all batch items).",
                    "int64_t", "getMACs">,
  ];
}

#endif // CMT_INTERFACES_TD
