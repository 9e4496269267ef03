"""What a benchmark ran on, for its results file: CPU, cores, memory, OS, Python and the
versions of the packages it times (so a figure is never read without its machine)."""

from __future__ import annotations

import importlib
import os
import platform
from pathlib import Path


def machine(*packages: tuple[str, str]) -> str:
    """``CPU, N cores, M GiB RAM, OS; Python x, <label> <version>, ...`` for ``(label, module)``
    pairs."""
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    mem_kb = next(
        int(line.split()[1])
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal:")
    )
    versions = "".join(
        f", {label} {importlib.import_module(module).__version__}" for label, module in packages
    )
    return (
        f"{cpu}, {os.cpu_count()} cores, {mem_kb / 1024**2:.0f} GiB RAM, {platform.system()}; "
        f"Python {platform.python_version()}{versions}"
    )
