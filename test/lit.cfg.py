# lit configuration for the cmt toolchain's FileCheck tests.
import os
import lit.formats

config.name = "CMT"
config.test_format = lit.formats.ShTest(not lit_config.params.get("no-execute"))
config.suffixes = [".mlir", ".test"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.cmt_obj_root, "test")
config.excludes = ["CMakeLists.txt", "lit.cfg.py", "lit.site.cfg.py.in", "unittests", "Inputs"]

config.environment["PATH"] = os.pathsep.join(
    [config.cmt_tools_dir, config.llvm_tools_dir, config.environment.get("PATH", "")])
config.substitutions.append(("%models", os.path.join(config.cmt_src_root, "models")))
config.substitutions.append(("%golden", config.cmt_golden_dir))
config.substitutions.append(("%python", "/usr/bin/python3"))
config.substitutions.append(("%pydir", os.path.join(config.cmt_src_root, "python")))

# Parity tests read the golden data where it lies; without it they report UNSUPPORTED.
if os.path.isdir(config.cmt_golden_dir):
    config.available_features.add("golden")

# Tests that run kernels need a CUDA device (and report UNSUPPORTED without one).
def _cuda_device():
    import subprocess
    script = os.path.join(config.cmt_src_root, "scripts", "has-cuda-device.sh")
    return subprocess.call([script]) == 0

if _cuda_device():
    config.available_features.add("cuda-device")

# Compiling kernels to cubin/PTX needs the CUDA toolkit (ptxas, libdevice); the
# compiler itself does not. Where it is missing those tests report UNSUPPORTED.
_toolkits = [os.environ.get(v) for v in ("CUDA_ROOT", "CUDA_HOME", "CUDA_PATH")] + ["/usr/local/cuda"]
if any(t and os.path.exists(os.path.join(t, "bin", "ptxas")) for t in _toolkits):
    config.available_features.add("cuda-toolkit")
config.substitutions.append(("%scripts", os.path.join(config.cmt_src_root, "scripts")))

# Data-parallel training runs its ranks under OpenMPI's mpirun (root allowed,
# as CI runs; more ranks than cores allowed, as CI has two).
import shutil
if shutil.which("mpirun"):
    config.available_features.add("mpi")
config.substitutions.append(
    ("%mpirun", "env OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 mpirun --oversubscribe"))
