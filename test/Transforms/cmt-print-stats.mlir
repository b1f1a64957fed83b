// The released code's parameter counts (exact) and MACs per image (PyTorch's
// FlopCounterMode / 2 over convolutions, linears and the attention products).
// RUN: cmt-opt %models/cmt-ti.mlir --cmt-print-stats=format=json -o /dev/null | FileCheck %s --check-prefix=TI
// RUN: cmt-opt %models/cmt-xs.mlir --cmt-print-stats=format=json -o /dev/null | FileCheck %s --check-prefix=XS
// RUN: cmt-opt %models/cmt-s.mlir --cmt-print-stats=format=json -o /dev/null | FileCheck %s --check-prefix=S
// RUN: cmt-opt %models/cmt-b.mlir --cmt-print-stats=format=json -o /dev/null | FileCheck %s --check-prefix=B
// RUN: cmt-opt %models/cmt-micro.mlir --cmt-print-stats=format=json -o /dev/null | FileCheck %s --check-prefix=MICRO
// TI: "macs":638904600,"model":"cmt_ti","params":9492426
// XS: "macs":1546873472,"model":"cmt_xs","params":15247208
// S: "macs":4031742464,"model":"cmt_s","params":26256160
// B: "macs":9317124096,"model":"cmt_b","params":45715076
// MICRO: "macs":5625072,"model":"cmt_micro","params":375734

// The same counts from an expanded graph, at another batch (MACs stay per image),
// and per part: the parts add up to the total.
// RUN: cmt-opt %models/cmt-ti.mlir -cmt-expand-model=batch=3 | cmt-opt --cmt-print-stats -o /dev/null | FileCheck %s --check-prefix=TEXT
// TEXT:      model cmt_ti: resolution 160, MACs per image
// TEXT-NEXT:   part              params              MACs
// TEXT-NEXT:   stem               5,184        32,256,000
// TEXT-NEXT:   stage a          103,416        80,624,400
// TEXT-NEXT:   stage b          244,014        76,682,400
// TEXT-NEXT:   stage c        4,019,484       352,025,200
// TEXT-NEXT:   stage d        3,364,448        84,260,600
// TEXT-NEXT:   head           1,755,880        13,056,000
// TEXT-NEXT:   total          9,492,426       638,904,600   (9.49 M params, 0.639 G MACs)

// RUN: not cmt-opt %models/cmt-ti.mlir --cmt-print-stats=format=xml -o /dev/null 2>&1 | FileCheck %s --check-prefix=BAD
// BAD: cmt-print-stats: format must be 'text' or 'json', got 'xml'
