// plan.cpp - see plan.h. One record per line: `key value...`.
#include "runtime/plan.h"

#include <sstream>

namespace cmt::rt {

int64_t PlanArg::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

size_t PlanArg::bytes() const { return static_cast<size_t>(numel()) * dtypeSize(dtype); }

static const char *kKinds[] = {"input", "parameter", "buffer", "output", "state", "prepared"};

Plan Plan::parse(const std::string &text) {
  Plan p;
  std::istringstream in(text);
  std::string line;
  int lineNo = 0;
  while (std::getline(in, line)) {
    ++lineNo;
    if (line.empty()) continue;
    std::istringstream ls(line);
    std::string key;
    ls >> key;
    auto bad = [&](const std::string &why) {
      return Error("embedded plan, line " + std::to_string(lineNo) + ": " + why + ": " + line);
    };
    if (key == "model") ls >> p.model;
    else if (key == "target") ls >> p.target;
    else if (key == "mode") ls >> p.mode;
    else if (key == "batch") ls >> p.batch;
    else if (key == "kernel_batch") ls >> p.kernelBatch;
    else if (key == "resolution") ls >> p.resolution;
    else if (key == "gpu_arch") ls >> p.gpuArch;
    else if (key == "storage") {
      ls >> p.storage;
      if (p.storage != "f32" && p.storage != "bf16") throw bad("unknown storage");
    }
    else if (key == "launch") {
      std::string rest;
      std::getline(ls >> std::ws, rest);
      p.launches.push_back(rest);
      continue;  // the rest of the line is free text
    }
    else if (key == "arg") {
      PlanArg a;
      std::string kind, dtype, dims;
      ls >> kind >> a.name >> dtype >> dims;
      int k = -1;
      for (int i = 0; i < 6; ++i)
        if (kind == kKinds[i]) k = i;
      if (k < 0) throw bad("unknown argument kind");
      a.kind = static_cast<PlanArg::Kind>(k);
      if (dtype == "F32") a.dtype = DType::F32;
      else if (dtype == "I64") a.dtype = DType::I64;
      else if (dtype == "BF16") a.dtype = DType::BF16;
      else throw bad("unknown dtype");
      if (dims != "scalar") {
        std::istringstream ds(dims);
        std::string d;
        while (std::getline(ds, d, 'x')) a.shape.push_back(std::stoll(d));
      }
      p.args.push_back(std::move(a));
    } else {
      throw bad("unknown record");
    }
    if (ls.fail()) throw bad("malformed record");
  }
  if (p.args.empty() || p.batch <= 0 || p.kernelBatch <= 0 || p.batch % p.kernelBatch != 0)
    throw Error("embedded plan is incomplete or inconsistent");
  return p;
}

std::string Plan::serialize() const {
  std::ostringstream out;
  out << "model " << model << "\ntarget " << target << "\nmode " << mode << "\nbatch " << batch
      << "\nkernel_batch " << kernelBatch << "\nresolution " << resolution << "\nstorage " << storage
      << "\n";
  if (!gpuArch.empty()) out << "gpu_arch " << gpuArch << "\n";
  for (const std::string &l : launches) out << "launch " << l << "\n";
  for (const PlanArg &a : args) {
    out << "arg " << kKinds[a.kind] << " " << a.name << " " << dtypeName(a.dtype) << " ";
    if (a.shape.empty()) out << "scalar";
    for (size_t i = 0; i < a.shape.size(); ++i) out << (i ? "x" : "") << a.shape[i];
    out << "\n";
  }
  return out.str();
}

const PlanArg *Plan::find(const std::string &name) const {
  for (const PlanArg &a : args)
    if (a.name == name) return &a;
  return nullptr;
}

}  // namespace cmt::rt
