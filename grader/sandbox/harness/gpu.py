"""What a GPU session needs to see: NVIDIA's device files, its user-space driver and what CUDA reads at
start."""

import os
from pathlib import Path

# Where NVIDIA's user-space driver (libcuda.so.1, loaded when CUDA starts) usually lives.
DRIVER_LIBRARY_FOLDERS = (
    "/usr/lib/x86_64-linux-gnu",
    "/usr/lib/aarch64-linux-gnu",
    "/usr/lib64",
    "/usr/lib",
    "/lib/x86_64-linux-gnu",
    "/usr/local/nvidia/lib64",
    "/usr/local/cuda/compat",
    "/usr/lib/wsl/lib",
)
DRIVER_LIBRARY_PREFIXES = ("libcuda.so", "libcudadebugger.so", "libnvidia-")
# The fork server gets these from the grader's environment and a GPU session keeps them: which GPUs
# to use, how CUDA loads its kernels, and where the dynamic loader finds the driver.
GPU_ENVIRONMENT = ("CUDA_VISIBLE_DEVICES", "NVIDIA_VISIBLE_DEVICES", "CUDA_MODULE_LOADING", "LD_LIBRARY_PATH")
# What the CUDA driver reads when it starts: its parameters, the PCI topology, NUMA nodes, the loader cache.
GPU_SYSTEM_READ_ONLY = [
    Path("/proc/driver/nvidia"),
    Path("/sys/module/nvidia"),
    Path("/sys/bus/pci"),
    Path("/sys/devices"),
    Path("/etc/ld.so.cache"),
]


def nvidia_device_files(dev: Path = Path("/dev")) -> list[Path]:
    """NVIDIA's device files (/dev/nvidiactl, /dev/nvidia0, /dev/nvidia-uvm, /dev/nvidia-caps …); [] without a
    GPU."""
    try:
        return sorted(Path(entry.path) for entry in os.scandir(dev) if entry.name.startswith("nvidia"))
    except OSError:
        return []


def driver_libraries(folders=DRIVER_LIBRARY_FOLDERS, extra: str = "") -> list[Path]:
    """The NVIDIA driver's own libraries in ``folders`` and the ``extra`` search path (LD_LIBRARY_PATH).

    Only these files are granted, not the folders: the rest of /usr/lib stays as hidden as before.
    """
    found = []
    for folder in dict.fromkeys([*folders, *filter(None, extra.split(":"))]):
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        found += [Path(e.path) for e in entries if e.name.startswith(DRIVER_LIBRARY_PREFIXES)]
    return sorted(found)
