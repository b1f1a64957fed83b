//===- PrintStats.cpp - parameters and MACs per stage -----------*- C++ -*-===//
#include "cmt/Dialect/CMT/Transforms/ExpandModel.h"
#include "cmt/Dialect/CMT/Transforms/Passes.h"

#include "mlir/IR/Builders.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/raw_ostream.h"

namespace cmt {
#define GEN_PASS_DEF_CMTPRINTSTATS
#include "cmt/Dialect/CMT/Transforms/Passes.h.inc"
} // namespace cmt

using namespace mlir;
using namespace cmt;

namespace {
/// The parts of the network a user reads the statistics by.
constexpr const char *kParts[] = {"stem", "stage a", "stage b", "stage c", "stage d", "head"};
constexpr unsigned kNumParts = std::size(kParts);

/// Which part an official module or parameter name belongs to: `stem_*`,
/// `*_a` / `*_a.*` for the stages (patch_embed, relative_pos, blocks), the rest
/// is the head.
unsigned partOf(StringRef name) {
  if (name.starts_with("stem_"))
    return 0;
  StringRef first = name.take_until([](char c) { return c == '.'; });
  for (StringRef stem : {"patch_embed_", "relative_pos_", "blocks_"})
    if (first.size() == stem.size() + 1 && first.starts_with(stem) && first.back() >= 'a' &&
        first.back() <= 'd')
      return 1 + (first.back() - 'a');
  return kNumParts - 1;
}

struct Stats {
  std::string model;
  int64_t resolution = 0, batch = 1;
  int64_t params[kNumParts] = {}, macs[kNumParts] = {};
  int64_t buffers = 0;

  static int64_t sum(const int64_t (&v)[kNumParts]) {
    int64_t s = 0;
    for (int64_t x : v)
      s += x;
    return s;
  }
};

/// The official name and the kind of argument `i`, null where absent.
std::pair<StringAttr, StringAttr> argInfo(func::FuncOp func, unsigned i) {
  return {func.getArgAttrOfType<StringAttr>(i, kNameAttr),
          func.getArgAttrOfType<StringAttr>(i, kKindAttr)};
}

Stats collect(func::FuncOp func) {
  Stats s;
  s.model = func.getSymName().str();
  if (auto config = func->getAttrOfType<DictionaryAttr>(kConfigAttr)) {
    if (auto m = config.getAs<StringAttr>("model"))
      s.model = m.str();
    if (auto r = config.getAs<IntegerAttr>("resolution"))
      s.resolution = r.getInt();
  }
  for (unsigned i = 0; i < func.getNumArguments(); ++i) {
    auto [name, kind] = argInfo(func, i);
    auto type = dyn_cast<RankedTensorType>(func.getArgument(i).getType());
    if (!name || !kind || !type)
      continue;
    if (kind.getValue() == kKindParameter)
      s.params[partOf(name.getValue())] += type.getNumElements();
    else if (kind.getValue() == kKindBuffer)
      s.buffers += type.getNumElements();
    else if (kind.getValue() == kKindInput && type.getRank() > 0)
      s.batch = type.getDimSize(0);
  }
  // An op belongs to the part of the named parameter it reads (its weight, or
  // the relative position bias of an attention); its location is the fallback
  // for graphs whose weights are not arguments.
  auto partOfOp = [&](Operation *op) -> unsigned {
    for (Value v : op->getOperands())
      if (auto arg = dyn_cast<BlockArgument>(v); arg && arg.getOwner()->isEntryBlock())
        if (auto [name, kind] = argInfo(func, arg.getArgNumber());
            name && kind && kind.getValue() == kKindParameter)
          return partOf(name.getValue());
    if (auto loc = dyn_cast<NameLoc>(op->getLoc()))
      return partOf(loc.getName().getValue());
    return kNumParts - 1;
  };
  func.walk([&](CostOpInterface op) { s.macs[partOfOp(op)] += op.getMACs(); });
  // Per image: the cost of an op scales with the batch.
  for (int64_t &m : s.macs)
    m /= s.batch;
  return s;
}

std::string withCommas(int64_t v) {
  std::string digits = std::to_string(v), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i && (digits.size() - i) % 3 == 0)
      out += ',';
    out += digits[i];
  }
  return out;
}

void printText(const Stats &s, raw_ostream &os) {
  os << "model " << s.model << ": resolution " << s.resolution << ", MACs per image\n";
  os << llvm::formatv("  {0,-10}{1,14}{2,18}\n", "part", "params", "MACs");
  for (unsigned i = 0; i < kNumParts; ++i)
    os << llvm::formatv("  {0,-10}{1,14}{2,18}\n", kParts[i], withCommas(s.params[i]),
                        withCommas(s.macs[i]));
  int64_t params = Stats::sum(s.params), macs = Stats::sum(s.macs);
  os << llvm::formatv("  {0,-10}{1,14}{2,18}   ({3:F2} M params, {4:F3} G MACs)\n", "total",
                      withCommas(params), withCommas(macs), params / 1e6, macs / 1e9);
  os << llvm::formatv("  {0,-10}{1,14}   (BN running statistics and counters, not parameters)\n", "buffers",
                      withCommas(s.buffers));
}

void printJson(const Stats &s, raw_ostream &os) {
  llvm::json::Array parts;
  for (unsigned i = 0; i < kNumParts; ++i)
    parts.push_back(
        llvm::json::Object{{"part", kParts[i]}, {"params", s.params[i]}, {"macs", s.macs[i]}});
  llvm::json::Object obj{{"model", s.model},
                         {"resolution", s.resolution},
                         {"params", Stats::sum(s.params)},
                         {"macs", Stats::sum(s.macs)},
                         {"buffers", s.buffers},
                         {"parts", std::move(parts)}};
  os << llvm::json::Value(std::move(obj)) << "\n";
}

struct PrintStatsPass : cmt::impl::CMTPrintStatsBase<PrintStatsPass> {
  using Base::Base;

  void runOnOperation() override {
    if (format != "text" && format != "json") {
      getOperation().emitError("cmt-print-stats: format must be 'text' or 'json', got '")
          << format << "'";
      return signalPassFailure();
    }
    SmallVector<Stats> all;
    for (Operation &op : getOperation().getBody()->getOperations()) {
      if (auto model = dyn_cast<ModelOp>(op)) {
        // Count on an expansion at batch 1 built on the side; the IR stays as it is.
        OwningOpRef<ModuleOp> scratch = ModuleOp::create(model.getLoc());
        OpBuilder b = OpBuilder::atBlockEnd(scratch->getBody());
        all.push_back(collect(buildForward(model, b, model.getSymName(), ForwardOptions{})));
      } else if (auto func = dyn_cast<func::FuncOp>(op)) {
        if (!func.isExternal() &&
            func.getBody().walk([](CostOpInterface) { return WalkResult::interrupt(); })
                .wasInterrupted())
          all.push_back(collect(func));
      }
    }
    for (const Stats &s : all)
      format == "json" ? printJson(s, llvm::outs()) : printText(s, llvm::outs());
    llvm::outs().flush();
    markAllAnalysesPreserved();
  }
};
} // namespace
