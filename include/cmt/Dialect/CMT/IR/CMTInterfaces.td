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

def CMT_GradientOpInterface : OpInterface<"GradientOpInterface"> {
  let cppNamespace = "::cmt";
  let description = [{
    The gradient rule of a graph-level op, as JAX and TVM Relax attach rules
    to primitives: given the gradients of the loss with respect to the op's
    results, builds the gradients with respect to its operands (a
    vector-Jacobian product) with graph-level cmt ops. `cmt-generate-backward`
    calls it on every op between the parameters and the loss, in reverse.

    Rules recompute what is cheap (normalisation statistics, softmax
    probabilities) from the op's saved inputs instead of returning extra
    forward results: the saved-activation policy is "keep every input of an
    op whose rule reads it", stated once here.
  }];
  let methods = [
    InterfaceMethod<[{
        Builds the operand gradients at the builder's insertion point.
        `resultGrads` has one value per result, null where no gradient
        flows into that result. Appends one value per operand to
        `operandGrads`, null where the operand gets none (integer operands,
        statistics, or operands not differentiated by this rule).
      }], "::mlir::LogicalResult", "buildGradients",
      (ins "::mlir::OpBuilder &":$b, "::mlir::ArrayRef<::mlir::Value>":$resultGrads,
           "::llvm::SmallVectorImpl<::mlir::Value> &":$operandGrads)>,
  ];
}

#endif // CMT_INTERFACES_TD
