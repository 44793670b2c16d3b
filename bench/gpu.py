"""GPU functions on a host that has a GPU: cold start, warm invocation and isolation, each against
the same work done by a plain Python process in the same run (the baseline).

- Cold start: a function whose init imports torch and moves a tensor to the GPU; its first call's
  wall time and REPORT Init Duration, against `python -c "import torch; torch.ones(1).cuda()"`.
- Warm: the median of sequential calls each doing a small bf16 matmul (1024x1024, synchronised),
  against the same matmul timed in the baseline process (Lamina's overhead is the difference), and
  the TFLOP/s of a larger matmul (8192x8192) inside the function.
- Isolation: beside a GPU function holding its device, a function without a grant sees none
  (torch.cuda.device_count() == 0; in the namespaces tier no /dev/nvidia* at all).

Torch comes from the host: `--python` names an interpreter that has it (default: the first of
this one and `python3` on PATH that imports it); it becomes the runtime `pythonX.Y-gpu`
(`lamina server --runtime`). Nothing is installed from the network. Without a GPU or torch it
prints {"skipped": reason} and exits 0. Prints JSON and a table. Run:
`python bench/gpu.py [--calls 50] [--sandbox namespaces] [--quick] [--json-only]`.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.lambda_calls import create_function, report_line
from tests.support.server import running_server

COLD = """
import os, time
import torch
_ready = torch.ones(1, device="cuda")  # init: import and first CUDA context

def handler(event, context):
    return {"device": torch.cuda.get_device_name(0), "count": torch.cuda.device_count()}
"""
WARM = """
import time
import torch
_a = torch.randn(1024, 1024, device="cuda", dtype=torch.bfloat16)
_b = torch.randn(1024, 1024, device="cuda", dtype=torch.bfloat16)
_big = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)

def handler(event, context):
    if event.get("tflops"):
        torch.matmul(_big, _big); torch.cuda.synchronize()
        started = time.perf_counter()
        for _ in range(10):
            torch.matmul(_big, _big)
        torch.cuda.synchronize()
        return {"tflops": 10 * 2 * 8192**3 / (time.perf_counter() - started) / 1e12}
    torch.matmul(_a, _b)
    torch.cuda.synchronize()
    return {"ok": True}
"""
BLIND = """
import os
import torch

def handler(event, context):
    return {
        "count": torch.cuda.device_count(),
        "nodes": sorted(name for name in os.listdir("/dev") if name.startswith("nvidia")),
    }
"""
BASELINE = """
import json, statistics, sys, time
started = time.perf_counter()
import torch
torch.ones(1, device="cuda")
cold_ms = (time.perf_counter() - started) * 1000
a = torch.randn(1024, 1024, device="cuda", dtype=torch.bfloat16)
b = torch.randn(1024, 1024, device="cuda", dtype=torch.bfloat16)
samples = []
for _ in range(int(sys.argv[1])):
    started = time.perf_counter()
    torch.matmul(a, b)
    torch.cuda.synchronize()
    samples.append((time.perf_counter() - started) * 1000)
print(json.dumps({"cold_ms": cold_ms, "matmul_ms": statistics.median(samples)}))
"""


def _torch_python(wanted: str | None) -> str | None:
    candidates = [wanted] if wanted else [sys.executable, shutil.which("python3") or ""]
    for candidate in candidates:
        if (
            candidate
            and subprocess.run(
                [candidate, "-c", "import torch; assert torch.cuda.is_available()"],
                capture_output=True,
                timeout=120,
                check=False,
            ).returncode
            == 0
        ):
            return candidate
    return None


def _skip(reason: str) -> None:
    print(json.dumps({"skipped": reason}))
    sys.exit(0)


def _invoke(client: Any, name: str, event: dict[str, Any] | None = None) -> tuple[float, Any, str]:
    started = time.perf_counter()
    answer = client.invoke(FunctionName=name, Payload=json.dumps(event or {}).encode(), LogType="Tail")
    elapsed = (time.perf_counter() - started) * 1000
    payload = json.loads(answer["Payload"].read())
    if answer.get("FunctionError"):
        raise SystemExit(f"{name} failed: {payload}")
    return elapsed, payload, report_line(answer)


def _init_ms(report: str) -> float | None:
    for field in report.split("\t"):
        if field.startswith("Init Duration: "):
            return float(field.split()[2])
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--python", help="an interpreter with torch (CUDA) installed")
    parser.add_argument("--sandbox", default="auto", choices=("auto", "process", "namespaces"))
    parser.add_argument("--quick", action="store_true", help="5 warm calls: a smoke run")
    parser.add_argument("--json-only", action="store_true")
    options = parser.parse_args()
    if options.quick:
        options.calls = 5
    if shutil.which("nvidia-smi") is None:
        _skip("no GPU here (no nvidia-smi)")
    python = _torch_python(options.python)
    if python is None:
        _skip("no interpreter with a CUDA-enabled torch (give one with --python)")
    version = subprocess.run(
        [python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    runtime = f"python{version}-gpu"
    baseline = json.loads(
        subprocess.run(
            [python, "-c", BASELINE, str(options.calls)], capture_output=True, text=True, check=True
        ).stdout
    )
    with (
        tempfile.TemporaryDirectory(dir="/var/tmp") as scratch,
        running_server(
            Path(scratch) / "data",
            "--sandbox",
            options.sandbox,
            "--runtime",
            f"{runtime}={python}",
            "--max-timeout",
            "3600",
        ) as server,
    ):
        health = server.health()
        if not health["gpus"]["count"]:
            _skip(f"Lamina found no GPU: {health['gpus'].get('reason')}")
        client = server.client("lambda", read_timeout=900)
        gpu = {"Variables": {"LAMINA_GPUS": "1"}}
        for name, source in (("cold", COLD), ("warm", WARM)):
            create_function(
                client,
                name,
                {"app.py": source},
                Runtime=runtime,
                MemorySize=8192,
                Timeout=900,
                Environment=gpu,
            )
        create_function(client, "blind", {"app.py": BLIND}, Runtime=runtime, MemorySize=4096, Timeout=300)
        cold_ms, cold_answer, cold_report = _invoke(client, "cold")
        client.delete_function(FunctionName="cold")  # its GPU goes back for the next
        _invoke(client, "warm")
        warm = [_invoke(client, "warm")[0] for _ in range(options.calls)]
        tflops = _invoke(client, "warm", {"tflops": True})[1]["tflops"]
        gpu_memory = next(
            (f for f in _invoke(client, "warm")[2].split("\t") if f.startswith("GPU Memory")), None
        )
        blind = _invoke(client, "blind")[1]
        results: dict[str, Any] = {
            "device": cold_answer["device"],
            "sandbox": health["sandbox"],
            "cold_start_ms": round(cold_ms, 1),
            "cold_init_duration_ms": _init_ms(cold_report),
            "baseline_cold_ms": round(baseline["cold_ms"], 1),
            "cold_ratio_vs_baseline": round(cold_ms / baseline["cold_ms"], 3),
            "warm_median_ms": round(statistics.median(warm), 3),
            "baseline_matmul_ms": round(baseline["matmul_ms"], 3),
            "warm_overhead_ms": round(statistics.median(warm) - baseline["matmul_ms"], 3),
            "tflops_bf16_8192": round(tflops, 1),
            "report_gpu_memory": gpu_memory,
            "isolation": {
                "devices_seen_without_a_grant": blind["count"],
                "nvidia_nodes_seen_without_a_grant": blind["nodes"],
            },
        }
    print(json.dumps(results, indent=2))
    if options.json_only:
        return
    print()
    print(f"{'measure':<34}{'Lamina':>14}{'baseline':>14}{'ratio':>10}")
    print(
        f"{'cold start (ms)':<34}{results['cold_start_ms']:>14}{results['baseline_cold_ms']:>14}{results['cold_ratio_vs_baseline']:>10}"
    )
    print(
        f"{'warm 1024^2 bf16 matmul (ms)':<34}{results['warm_median_ms']:>14}{results['baseline_matmul_ms']:>14}"
    )
    print(f"{'8192^2 bf16 matmul (TFLOP/s)':<34}{results['tflops_bf16_8192']:>14}")
    print(f"{'devices seen without a grant':<34}{blind['count']:>14}")


if __name__ == "__main__":
    main()
