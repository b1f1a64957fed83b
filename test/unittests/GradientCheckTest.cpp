// Finite-difference checks of every gradient rule (GradientOpInterface).
//
// For one op at a time, two functions are built at the graph level: @fwd
// (the op) and @vjp (its gradient rule applied to a cotangent r). Both go
// through the same pipelines as a compiled model (cmt-linalg, then
// cmt-cpu-lowering) and run in-process through MLIR's ExecutionEngine. With
// L(x) = <op(x), r>, the rule's <dL/dx, d> must match the central difference
// (L(x + e d) - L(x - e d)) / 2e for a random direction d, operand by operand.
#include "cmt/Dialect/CMT/IR/CMTDialect.h"
#include "cmt/Dialect/CMT/IR/CMTOps.h"
#include "cmt/Pipelines/Pipelines.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/ExecutionEngine/ExecutionEngine.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Verifier.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/InitAllPasses.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Target/LLVMIR/Dialect/All.h"
#include "llvm/ExecutionEngine/Orc/Mangling.h"
#include "llvm/Support/TargetSelect.h"

#include <gtest/gtest.h>
#include <cmath>
#include <functional>
#include <random>

extern "C" void cmt_ukernel_sgemm(int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,
                                  int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,
                                  int64_t, int64_t, int64_t, int64_t, int64_t, int64_t);

using namespace mlir;

namespace {
using Tensor = std::vector<float>;
/// Builds the op under test from the function's arguments; returns its results.
using BuildFn = std::function<Operation *(OpBuilder &, Location, ValueRange)>;

struct Case {
  std::vector<RankedTensorType> operands;
  std::vector<int> differentiated;  // operand indices whose gradient is checked
  BuildFn build;
  // Integer operands (labels) get this value range; float ones N(0, 1).
  int64_t labelRange = 1;
};

size_t numel(RankedTensorType t) { return static_cast<size_t>(t.getNumElements()); }

class GradientCheck : public ::testing::Test {
protected:
  static void SetUpTestSuite() {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
    // The pipelines name some upstream passes by their textual names.
    registerAllPasses();
  }

  GradientCheck() {
    DialectRegistry registry;
    registerAllDialects(registry);
    registerAllExtensions(registry);
    registerAllToLLVMIRTranslations(registry);
    registry.insert<cmt::CMTDialect>();
    ctx.appendDialectRegistry(registry);
    ctx.loadAllAvailableDialects();
  }

  /// @fwd(operands) -> result 0, and @vjp(operands, r) -> the checked operands' gradients.
  OwningOpRef<ModuleOp> buildModule(const Case &c, RankedTensorType &resultType) {
    Location loc = UnknownLoc::get(&ctx);
    OwningOpRef<ModuleOp> module = ModuleOp::create(loc);
    OpBuilder b = OpBuilder::atBlockEnd(module->getBody());
    SmallVector<Type> in(c.operands.begin(), c.operands.end());
    auto fwd = func::FuncOp::create(b, loc, "fwd", b.getFunctionType(in, {}));
    {
      OpBuilder::InsertionGuard g(b);
      b.setInsertionPointToStart(fwd.addEntryBlock());
      Operation *op = c.build(b, loc, fwd.getArguments());
      resultType = cast<RankedTensorType>(op->getResult(0).getType());
      func::ReturnOp::create(b, loc, op->getResult(0));
      fwd.setFunctionType(b.getFunctionType(in, {resultType}));
    }
    SmallVector<Type> vin = in;
    vin.push_back(resultType);
    auto vjp = func::FuncOp::create(b, loc, "vjp", b.getFunctionType(vin, {}));
    b.setInsertionPointToStart(vjp.addEntryBlock());
    Operation *op = c.build(b, loc, vjp.getArguments().drop_back());
    SmallVector<Value> resultGrads(op->getNumResults(), Value());
    resultGrads[0] = vjp.getArguments().back();
    SmallVector<Value> operandGrads;
    EXPECT_TRUE(succeeded(cast<cmt::GradientOpInterface>(op).buildGradients(b, resultGrads, operandGrads)));
    SmallVector<Value> outs;
    for (int i : c.differentiated) {
      EXPECT_TRUE(operandGrads[i]) << "no gradient for operand " << i;
      outs.push_back(operandGrads[i]);
    }
    func::ReturnOp::create(b, loc, outs);
    vjp.setFunctionType(b.getFunctionType(vin, ValueRange(outs).getTypes()));
    EXPECT_TRUE(succeeded(verify(*module)));
    return module;
  }

  /// `gatherWindows`: lower as for the GPU (its depthwise gathers run here too).
  void run(const Case &c, double tolerance = 2e-3, bool gatherWindows = false) {
    RankedTensorType resultType;
    OwningOpRef<ModuleOp> module = buildModule(c, resultType);
    PassManager pm(&ctx);
    cmt::LinalgPipelineOptions linalg;
    linalg.gatherWindows = gatherWindows;
    cmt::buildLinalgPipeline(pm, linalg);
    cmt::buildCPULoweringPipeline(pm);
    ASSERT_TRUE(succeeded(pm.run(*module)));
    ExecutionEngineOptions options;
    options.jitCodeGenOptLevel = llvm::CodeGenOptLevel::Default;
    auto engine = ExecutionEngine::create(*module, options);
    ASSERT_TRUE(bool(engine)) << llvm::toString(engine.takeError());
    (*engine)->registerSymbols([](llvm::orc::MangleAndInterner interner) {
      llvm::orc::SymbolMap map;
      map[interner("cmt_ukernel_sgemm")] = {llvm::orc::ExecutorAddr::fromPtr(&cmt_ukernel_sgemm),
                                            llvm::JITSymbolFlags::Exported};
      return map;
    });

    std::mt19937 rng(1234);
    std::normal_distribution<float> normal;
    std::vector<std::vector<char>> values;
    for (RankedTensorType t : c.operands) {
      std::vector<char> bytes(numel(t) * (t.getElementType().isInteger(64) ? 8 : 4));
      if (t.getElementType().isInteger(64)) {
        auto *p = reinterpret_cast<int64_t *>(bytes.data());
        for (size_t i = 0; i < numel(t); ++i) p[i] = static_cast<int64_t>(rng() % c.labelRange);
      } else {
        auto *p = reinterpret_cast<float *>(bytes.data());
        for (size_t i = 0; i < numel(t); ++i) p[i] = normal(rng);
      }
      values.push_back(std::move(bytes));
    }
    Tensor r(numel(resultType));
    for (float &v : r) v = normal(rng);

    // Bare-pointer convention: every argument (results as out-parameters) is one pointer.
    auto call = [&](const char *name, std::vector<void *> ptrs) {
      std::vector<void *> slots;
      for (void *&p : ptrs) slots.push_back(&p);
      llvm::Error err = (*engine)->invokePacked(name, slots);
      ASSERT_FALSE(bool(err)) << llvm::toString(std::move(err));
    };
    auto loss = [&]() {
      Tensor y(numel(resultType));
      std::vector<void *> ptrs;
      for (auto &v : values) ptrs.push_back(v.data());
      ptrs.push_back(y.data());
      call("fwd", ptrs);
      double l = 0;
      for (size_t i = 0; i < y.size(); ++i) l += static_cast<double>(y[i]) * r[i];
      return l;
    };
    std::vector<Tensor> grads;
    {
      std::vector<void *> ptrs;
      for (auto &v : values) ptrs.push_back(v.data());
      ptrs.push_back(r.data());
      for (int i : c.differentiated) grads.emplace_back(numel(c.operands[i]));
      for (Tensor &g : grads) ptrs.push_back(g.data());
      call("vjp", ptrs);
    }
    for (size_t k = 0; k < c.differentiated.size(); ++k) {
      int i = c.differentiated[k];
      auto *x = reinterpret_cast<float *>(values[i].data());
      Tensor saved(x, x + grads[k].size()), d(grads[k].size());
      for (float &v : d) v = normal(rng);
      const double e = 3e-3;
      auto shifted = [&](double s) {
        for (size_t j = 0; j < d.size(); ++j) x[j] = static_cast<float>(saved[j] + s * d[j]);
        return loss();
      };
      double fd = (shifted(e) - shifted(-e)) / (2 * e);
      std::copy(saved.begin(), saved.end(), x);
      double analytic = 0, scale = 0;
      for (size_t j = 0; j < d.size(); ++j) {
        analytic += static_cast<double>(grads[k][j]) * d[j];
        scale += std::fabs(static_cast<double>(grads[k][j]) * d[j]);
      }
      // Relative to the sum of magnitudes: a directional derivative near zero
      // by cancellation is not held to a relative bound it cannot meet.
      EXPECT_NEAR(analytic, fd, tolerance * std::max(scale, 1e-6))
          << "operand " << i << ": rule " << analytic << ", finite difference " << fd;
    }
  }

  RankedTensorType f32(ArrayRef<int64_t> shape) {
    return RankedTensorType::get(shape, Float32Type::get(&ctx));
  }
  MLIRContext ctx;
};

Operation *conv(OpBuilder &b, Location l, ValueRange a, int64_t stride, int64_t pad, int64_t groups) {
  return cmt::Conv2DOp::create(b, l, a[0], a[1], a[2], b.getDenseI64ArrayAttr({stride, stride}),
                               b.getDenseI64ArrayAttr({pad, pad}), b.getI64IntegerAttr(groups));
}

TEST_F(GradientCheck, DenseConv3x3) {
  run({{f32({2, 3, 6, 6}), f32({4, 3, 3, 3}), f32({4})}, {0, 1, 2},
       [](OpBuilder &b, Location l, ValueRange a) { return conv(b, l, a, 1, 1, 1); }});
}
// Kernel 5, padding 1, more output than input channels: the input gradient
// reads the per-tap products padded by 3.
// The weight gradient reads the input's patches: from a padded copy on the
// CPU, gathered with bounds checks on the GPU; both lowerings run here.
TEST_F(GradientCheck, DenseConv5x5Pad1) {
  for (bool gather : {false, true})
    run({{f32({2, 3, 7, 6}), f32({4, 3, 5, 5}), f32({4})}, {0, 1, 2},
         [](OpBuilder &b, Location l, ValueRange a) { return conv(b, l, a, 1, 1, 1); }},
        2e-3, gather);
}
TEST_F(GradientCheck, DenseConvStride2NoInputGradient) {
  // The stem's first convolution: its input is the image, so no input gradient.
  for (bool gather : {false, true})
    run({{f32({2, 3, 8, 8}), f32({4, 3, 3, 3}), f32({4})}, {1, 2},
         [](OpBuilder &b, Location l, ValueRange a) { return conv(b, l, a, 2, 1, 1); }},
        2e-3, gather);
}
TEST_F(GradientCheck, PatchConv2x2) {
  run({{f32({2, 3, 9, 8}), f32({5, 3, 2, 2}), f32({5})}, {0, 1, 2},
       [](OpBuilder &b, Location l, ValueRange a) { return conv(b, l, a, 2, 0, 1); }});
}
TEST_F(GradientCheck, PointwiseConv) {
  run({{f32({2, 6, 4, 4}), f32({5, 6, 1, 1}), f32({5})}, {0, 1, 2},
       [](OpBuilder &b, Location l, ValueRange a) { return conv(b, l, a, 1, 0, 1); }});
}
TEST_F(GradientCheck, DepthwiseConv3x3) {
  run({{f32({2, 4, 5, 5}), f32({4, 1, 3, 3}), f32({4})}, {0, 1, 2},
       [](OpBuilder &b, Location l, ValueRange a) { return conv(b, l, a, 1, 1, 4); }});
}
TEST_F(GradientCheck, DepthwiseConv3x3Gather) {
  run({{f32({2, 4, 5, 5}), f32({4, 1, 3, 3}), f32({4})}, {0, 1, 2},
       [](OpBuilder &b, Location l, ValueRange a) { return conv(b, l, a, 1, 1, 4); }},
      2e-3, /*gatherWindows=*/true);
}
// Kernel 5, padding 1: the input gradient pads dy by 3, and the kernel is
// flipped across more than one tap.
TEST_F(GradientCheck, DepthwiseConv5x5Pad1) {
  for (bool gather : {false, true})
    run({{f32({2, 3, 7, 6}), f32({3, 1, 5, 5}), f32({3})}, {0, 1, 2},
         [](OpBuilder &b, Location l, ValueRange a) { return conv(b, l, a, 1, 1, 3); }},
        2e-3, gather);
}
TEST_F(GradientCheck, DepthwiseReduction) {
  run({{f32({2, 4, 8, 8}), f32({4, 1, 4, 4}), f32({4})}, {0, 1, 2},
       [](OpBuilder &b, Location l, ValueRange a) { return conv(b, l, a, 4, 0, 4); }});
}
TEST_F(GradientCheck, BatchNormTrain) {
  run({{f32({3, 4, 3, 3}), f32({4}), f32({4}), f32({4}), f32({4})}, {0, 1, 2},
       [](OpBuilder &b, Location l, ValueRange a) -> Operation * {
         return cmt::BatchNormTrainOp::create(b, l, a[0], a[1], a[2], a[3], a[4], b.getF64FloatAttr(1e-5),
                                              b.getF64FloatAttr(0.1));
       }});
}
TEST_F(GradientCheck, LayerNorm) {
  run({{f32({2, 5, 6}), f32({6}), f32({6})}, {0, 1, 2},
       [](OpBuilder &b, Location l, ValueRange a) -> Operation * {
         return cmt::LayerNormOp::create(b, l, a[0], a[1], a[2], b.getF64FloatAttr(1e-6));
       }});
}
TEST_F(GradientCheck, Gelu) {
  run({{f32({2, 3, 4, 4})}, {0},
       [](OpBuilder &b, Location l, ValueRange a) -> Operation * { return cmt::GeluOp::create(b, l, a[0]); }});
}
TEST_F(GradientCheck, Swish) {
  run({{f32({2, 3, 4, 4})}, {0},
       [](OpBuilder &b, Location l, ValueRange a) -> Operation * { return cmt::SwishOp::create(b, l, a[0]); }});
}
TEST_F(GradientCheck, Add) {
  run({{f32({2, 7, 3}), f32({2, 7, 3})}, {0, 1},
       [](OpBuilder &b, Location l, ValueRange a) -> Operation * { return cmt::AddOp::create(b, l, a[0], a[1]); }});
}
TEST_F(GradientCheck, Linear) {
  run({{f32({2, 5, 6}), f32({4, 6}), f32({4})}, {0, 1, 2},
       [](OpBuilder &b, Location l, ValueRange a) -> Operation * {
         return cmt::LinearOp::create(b, l, a[0], a[1], a[2]);
       }});
}
TEST_F(GradientCheck, Attention) {
  run({{f32({2, 6, 8}), f32({2, 3, 8}), f32({2, 3, 8}), f32({2, 6, 3})}, {0, 1, 2, 3},
       [](OpBuilder &b, Location l, ValueRange a) -> Operation * {
         return cmt::AttentionOp::create(b, l, a[0], a[1], a[2], a[3], b.getI64IntegerAttr(2),
                                         b.getF64FloatAttr(0.5));
       }});
}
TEST_F(GradientCheck, GlobalAvgPool) {
  run({{f32({2, 3, 4, 5})}, {0},
       [](OpBuilder &b, Location l, ValueRange a) -> Operation * {
         return cmt::GlobalAvgPoolOp::create(b, l, a[0]);
       }});
}
TEST_F(GradientCheck, ImageToTokens) {
  run({{f32({2, 3, 4, 5})}, {0},
       [](OpBuilder &b, Location l, ValueRange a) -> Operation * {
         return cmt::ImageToTokensOp::create(b, l, a[0]);
       }});
}
TEST_F(GradientCheck, TokensToImage) {
  run({{f32({2, 20, 3})}, {0},
       [](OpBuilder &b, Location l, ValueRange a) -> Operation * {
         return cmt::TokensToImageOp::create(b, l, a[0], b.getI64IntegerAttr(4), b.getI64IntegerAttr(5));
       }});
}
TEST_F(GradientCheck, DropPath) {
  // Images whose draw falls below rate * scale are dropped, the rest scaled up.
  run({{f32({4, 5, 3}), f32({4}), f32({})}, {0},
       [](OpBuilder &b, Location l, ValueRange a) -> Operation * {
         return cmt::DropPathOp::create(b, l, a[0], a[1], a[2], b.getF64FloatAttr(0.25));
       }});
}
TEST_F(GradientCheck, Dropout) {
  run({{f32({4, 6}), f32({4, 6})}, {0}, [](OpBuilder &b, Location l, ValueRange a) -> Operation * {
         return cmt::DropoutOp::create(b, l, a[0], a[1], b.getF64FloatAttr(0.3));
       }});
}
TEST_F(GradientCheck, CrossEntropy) {
  Case c{{f32({4, 7}), RankedTensorType::get({4}, IntegerType::get(&ctx, 64))}, {0},
         [](OpBuilder &b, Location l, ValueRange a) -> Operation * {
           Value s = arith::ConstantOp::create(
               b, l, DenseElementsAttr::get(RankedTensorType::get({}, b.getF32Type()), 0.1f));
           return cmt::CrossEntropyOp::create(b, l, a[0], a[1], s);
         }};
  c.labelRange = 7;
  run(c);
}
// Target distributions drawn N(0, 1): negative entries and a mass far from 1
// exercise the general form, not only what mixup makes.
TEST_F(GradientCheck, CrossEntropySoftTargets) {
  run({{f32({4, 7}), f32({4, 7})}, {0}, [](OpBuilder &b, Location l, ValueRange a) -> Operation * {
         Value s = arith::ConstantOp::create(
             b, l, DenseElementsAttr::get(RankedTensorType::get({}, b.getF32Type()), 0.1f));
         return cmt::CrossEntropyOp::create(b, l, a[0], a[1], s);
       }});
}
}  // namespace
