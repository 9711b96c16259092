"""What every benchmark script records about the machine it ran on."""

from __future__ import annotations

import json
import os
import platform
import sys
from typing import Any


def machine(with_torch: bool = False, with_load: bool = False) -> dict[str, Any]:
    """CPU model, cores, Python; with ``with_torch`` torch's version and threads; with ``with_load``
    the load average now (the machines are shared: a figure measured under load says so)."""
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    info: dict[str, Any] = {"arch": platform.machine(), "nproc": os.cpu_count(), "cpu": cpu,
                            "python": platform.python_version()}
    if with_torch:
        import torch

        info.update(torch=torch.__version__, torch_threads=torch.get_num_threads())
    if with_load:
        info["loadavg_at_start"] = list(os.getloadavg())
    return info


def command_line() -> str:
    """The command that ran this script, as recorded beside its figures."""
    return " ".join([os.path.basename(sys.executable)] + sys.argv)


def write_json(out: dict[str, Any], save: str | None, as_json: bool) -> None:
    """Write the JSON document to ``save`` (when given) and print it (when ``as_json``)."""
    if save:
        with open(save, "w") as fh:
            json.dump(out, fh, indent=2)
    if as_json:
        print(json.dumps(out, indent=2))
