// The expansion of models/*.mlir names and shapes its arguments exactly as the
// official state dicts in the golden data: every parameter and buffer, nothing
// missing, nothing extra, the same shapes.
#include "cmt/Dialect/CMT/IR/CMTDialect.h"
#include "cmt/Dialect/CMT/IR/CMTOps.h"
#include "cmt/Dialect/CMT/Transforms/ExpandModel.h"
#include "runtime/safetensors.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Parser/Parser.h"

#include <gtest/gtest.h>
#include <map>
#include <sys/stat.h>

using namespace mlir;

namespace {
struct Expanded {
  MLIRContext context;
  OwningOpRef<ModuleOp> module;
  func::FuncOp forward;
  // name -> shape for every parameter and buffer
  std::map<std::string, std::vector<int64_t>> args;
};

void expand(const std::string &modelFile, int64_t batch, Expanded &out) {
  out.context.loadDialect<cmt::CMTDialect, func::FuncDialect>();
  out.module = parseSourceFile<ModuleOp>(modelFile, &out.context);
  ASSERT_TRUE(out.module) << "cannot parse " << modelFile;
  auto model = *out.module->getOps<cmt::ModelOp>().begin();
  OpBuilder b = OpBuilder::atBlockEnd(out.module->getBody());
  cmt::ForwardOptions options;
  options.batch = batch;
  out.forward = cmt::buildForward(model, b, "forward", options);
  ASSERT_TRUE(succeeded(verify(*out.module)));
  for (unsigned i = 0; i < out.forward.getNumArguments(); ++i) {
    auto kind = out.forward.getArgAttrOfType<StringAttr>(i, cmt::kKindAttr).getValue();
    if (kind == cmt::kKindInput)
      continue;
    auto name = out.forward.getArgAttrOfType<StringAttr>(i, cmt::kNameAttr).str();
    auto type = cast<RankedTensorType>(out.forward.getArgument(i).getType());
    EXPECT_TRUE(out.args.emplace(name, std::vector<int64_t>(type.getShape())).second)
        << "argument name used twice: " << name;
  }
}

void expectMatchesCheckpoint(const std::string &model, const std::string &weights) {
  struct stat st;
  if (stat(weights.c_str(), &st) != 0)
    GTEST_SKIP() << "no golden data at " << weights;
  Expanded e;
  expand(std::string(CMT_MODELS_DIR) + "/" + model, 2, e);
  cmt::rt::SafetensorsFile ckpt(weights);
  for (const auto &t : ckpt.tensors()) {
    auto it = e.args.find(t.name);
    if (it == e.args.end()) {
      ADD_FAILURE() << "checkpoint tensor not an argument of @forward: " << t.name;
      continue;
    }
    EXPECT_EQ(it->second, t.shape) << t.name;
  }
  for (const auto &[name, shape] : e.args)
    EXPECT_NE(ckpt.find(name), nullptr) << "@forward argument missing from the checkpoint: " << name;
  EXPECT_EQ(e.args.size(), ckpt.tensors().size());
}
}  // namespace

TEST(ExpandModel, MicroMatchesGoldenStateDict) {
  expectMatchesCheckpoint("cmt-micro.mlir",
                          std::string(CMT_GOLDEN_DIR) + "/cmt-micro.weights.safetensors");
}

TEST(ExpandModel, TiMatchesGoldenStateDict) {
  expectMatchesCheckpoint("cmt-ti.mlir",
                          std::string(CMT_GOLDEN_DIR) + "/cmt-ti-160.weights.safetensors");
}

TEST(ExpandModel, InputAndLogitsFollowTheBatch) {
  Expanded e;
  expand(std::string(CMT_MODELS_DIR) + "/cmt-xs.mlir", 5, e);
  auto in = cast<RankedTensorType>(e.forward.getArgument(0).getType());
  EXPECT_EQ(in.getShape(), ArrayRef<int64_t>({5, 3, 192, 192}));
  auto out = cast<RankedTensorType>(e.forward.getFunctionType().getResult(0));
  EXPECT_EQ(out.getShape(), ArrayRef<int64_t>({5, 1000}));
  // IRFFN width truncates as the released code does: int(52 * 3.77) = 196.
  EXPECT_EQ(e.args.at("blocks_a.0.mlp.conv1.0.weight"), (std::vector<int64_t>{196, 52, 1, 1}));
}
