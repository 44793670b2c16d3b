"""The engine benchmark's targets (Lamina issue 3) and its human-readable table."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

MIB_KIB = 1024


@dataclass(frozen=True, slots=True)
class Target:
    name: str
    unit: str
    at_most: bool  # True: the measure must be <= limit; False: >= limit
    limit: float
    measure: Callable[[dict[str, Any]], float | None]
    digits: int = 2  # decimals shown in the table

    def evaluate(self, results: dict[str, Any]) -> dict[str, Any]:
        try:
            value = self.measure(results)
        except (KeyError, TypeError, IndexError):
            value = None
        passed = value is not None and (value <= self.limit if self.at_most else value >= self.limit)
        return {
            "name": self.name,
            "value": value,
            "unit": self.unit,
            "target": f"{'≤' if self.at_most else '≥'} {self.limit:g}{self.unit}",
            "pass": passed,
            "digits": self.digits,
        }


def _throughput(results: dict[str, Any], key: str) -> Any:
    return results["throughput"]["8"][key]


def _pss_mib(results: dict[str, Any]) -> float:
    return round(results["density"]["pss_per_environment_median_kib"] / MIB_KIB, 2)


def _burst_problems(results: dict[str, Any]) -> float:
    burst = results["burst"]
    return float(burst["errors"] + burst["timeouts"] + burst["throttled_429"])


def _scaling_ratio(results: dict[str, Any]) -> float | None:
    """The largest planned step against the first; None when the largest step was not measured."""
    steps = results["scaling"]["steps"]
    planned = max(results["plan"]["scaling_functions"])
    measured = [step for step in steps if "invoke" in step]
    if not measured or measured[-1]["functions"] < planned:
        return None
    return results["scaling"]["ratio_largest_vs_first"]


def _node_cold_ratio(results: dict[str, Any]) -> float | None:
    node = results.get("node", {})
    return node["cold_start"]["ratio_vs_spawn"] if "cold_start" in node else None


def targets(results: dict[str, Any]) -> list[Target]:
    largest = max(results["plan"]["scaling_functions"])
    return [
        Target("cold start, median", " ms", True, 30, lambda r: r["cold_start"]["median_ms"]),
        Target("cold start / interpreter spawn", "×", True, 1.0, lambda r: r["cold_start"]["ratio_vs_spawn"]),
        Target("warm invoke, median", " ms", True, 1, lambda r: r["warm_invoke"]["median_ms"]),
        Target("node cold start / node -e 0 spawn", "×", True, 1.0, _node_cold_ratio),
        Target("warm invoke / echo round trip", "×", True, 3, lambda r: r["warm_invoke"]["ratio_vs_echo"]),
        Target(
            "throughput, 8 clients",
            "/s",
            False,
            2500,
            lambda r: _throughput(r, "invoke")["per_second"],
            digits=0,
        ),
        Target("throughput / echo, 8 clients", "×", False, 0.35, lambda r: _throughput(r, "ratio_vs_echo")),
        Target("PSS per idle environment, median", " MiB", True, 3, _pss_mib),
        Target(
            "environments per GiB (marginal PSS)",
            "",
            False,
            300,
            lambda r: r["density"]["environments_per_gib"],
            digits=0,
        ),
        Target(
            "new environments/s per core (burst)",
            "",
            False,
            50,
            lambda r: r["burst"]["new_environments_per_second_per_core"],
            digits=1,
        ),
        Target("burst: errors + 429s + hangs", "", True, 0, _burst_problems, digits=0),
        Target(f"throughput {largest} functions / 1 function", "×", False, 0.5, _scaling_ratio),
        Target(
            "invocations/s, most workers / linear",
            "×",
            False,
            0.7,
            lambda r: r["workers"]["scaling_largest_vs_linear"],
        ),
        Target(
            "new environments/s per core, most workers",
            "",
            False,
            50,
            _workers_burst_per_core,
            digits=1,
        ),
    ]


def _workers_burst_per_core(results: dict[str, Any]) -> float | None:
    steps = results["workers"]["steps"]
    return round(steps[-1]["burst"]["per_second"] / results["machine"]["cores"], 1) if steps else None


def evaluate_targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    return [target.evaluate(results) for target in targets(results)]


# --- the table ------------------------------------------------------------------------------


def _number(value: Any, digits: int = 1) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.{digits}f}"
    return f"{int(value):,}"


def _times(value: Any) -> str:
    return "n/a" if value is None else f"{value:.2f}×"


def _latency(summary: dict[str, Any]) -> str:
    return f"{summary['median_ms']:.2f} / {summary['p99_ms']:.2f}"


def _row(cells: list[str], widths: list[int]) -> str:
    first, *rest = cells
    return f"{first:<{widths[0]}}" + "".join(
        f"{cell:>{width}}" for cell, width in zip(rest, widths[1:], strict=True)
    )


def _measurements(results: dict[str, Any]) -> list[list[str]]:
    rows = [["measure", "Lamina", "baseline", "ratio"]]
    cold, warm = results["cold_start"], results["warm_invoke"]
    rows.append(
        [
            "cold start ms, median / p99",
            _latency(cold),
            "spawn " + _latency(cold["spawn_baseline"]),
            _times(cold["ratio_vs_spawn"]),
        ]
    )
    rows.append(
        [
            "warm invoke ms, median / p99",
            _latency(warm),
            "echo " + _latency(warm["echo_baseline"]),
            _times(warm["ratio_vs_echo"]),
        ]
    )
    node = results.get("node", {})
    if "cold_start" in node:
        rows.append(
            [
                f"{node['runtime']} cold start ms",
                _latency(node["cold_start"]),
                "node -e 0 " + _latency(node["cold_start"]["spawn_baseline"]),
                _times(node["cold_start"]["ratio_vs_spawn"]),
            ]
        )
        rows.append(
            [
                f"{node['runtime']} warm invoke ms",
                _latency(node["warm_invoke"]),
                "python " + _latency(node["warm_invoke"]["python_baseline"]),
                _times(node["warm_invoke"]["ratio_vs_python"]),
            ]
        )
    else:
        rows.append(["Node.js", "n/a", node.get("note", "not measured"), ""])
    for clients, run in results["throughput"].items():
        invoke, echo = run["invoke"], run["echo"]
        rows.append(
            [
                f"invocations/s, {clients} client{'s' if clients != '1' else ''}",
                _number(invoke["per_second"], 0),
                "echo " + _number(echo["per_second"], 0),
                _times(run["ratio_vs_echo"]),
            ]
        )
    density = results["density"]
    if "pss_per_environment_median_kib" in density:
        rows.append(
            [
                f"idle env MiB, PSS / RSS (n={density['environments_found']})",
                f"{density['pss_per_environment_median_kib'] / MIB_KIB:.2f} / "
                f"{density['rss_per_environment_median_kib'] / MIB_KIB:.2f}",
                f"USS {density['uss_per_environment_median_kib'] / MIB_KIB:.2f}",
                "",
            ]
        )
        rows.append(
            [
                "environments per GiB (marginal PSS)",
                _number(density["environments_per_gib"], 0),
                f"by median PSS {_number(density['environments_per_gib_by_median_pss'], 0)}",
                "",
            ]
        )
    else:
        rows.append(["idle environments", "n/a", density.get("note", ""), ""])
    burst = results["burst"]
    rows.append(
        [
            f"burst: {burst['functions']} cold starts/s",
            f"{_number(burst['new_environments_per_second'])} "
            f"({_number(burst['new_environments_per_second_per_core'])}/core)",
            f"err {burst['errors']}, 429 {burst['throttled_429']}, hang {burst['timeouts']}",
            "",
        ]
    )
    scaling = results["scaling"]
    first_rate = None
    for step in scaling["steps"]:
        if "invoke" not in step:
            rows.append(
                [
                    f"{step['functions']} functions, {scaling['clients']} clients",
                    "n/a",
                    step.get("note", ""),
                    "",
                ]
            )
            continue
        rate = step["invoke"]["per_second"]
        first_rate = first_rate or rate
        problems = step["invoke"]["errors"] + step["invoke"]["throttled_429"] + step["invoke"]["timeouts"]
        rows.append(
            [
                f"invocations/s, {step['functions']} function{'s' if step['functions'] != 1 else ''}",
                _number(rate, 0),
                f"envs {_number(step.get('server_pool', {}).get('environments'))}, failed {problems}",
                _times(rate / first_rate if first_rate else None),
            ]
        )
    for step in results.get("workers", {}).get("steps", []):
        plural = "s" if step["workers"] != 1 else ""
        rows.append(
            [
                f"invocations/s, {step['workers']} worker{plural}, {step['clients']} clients",
                _number(step["invoke"]["per_second"], 0),
                f"ping {_number(step['echo']['per_second'], 0)}",
                f"{_times(step['ratio_vs_echo'])}; {_times(step['scaling_vs_linear'])} lin",
            ]
        )
        rows.append(
            [
                f"burst cold starts/s, {step['workers']} worker{plural}",
                _number(step["burst"]["per_second"], 0),
                f"err {step['burst']['errors']}, 429 {step['burst']['throttled_429']}",
                "",
            ]
        )
    return rows


def _notes(results: dict[str, Any]) -> list[str]:
    notes = []
    if results["density"].get("note"):
        notes.append(f"density: {results['density']['note']}")
    for step in results["scaling"]["steps"]:
        notes.extend(f"scaling, {step['functions']} functions: {note}" for note in step.get("notes", ()))
    return notes


def render_table(results: dict[str, Any]) -> str:
    machine = results["machine"]
    health = results.get("server", {}).get("health", {})
    lines = [
        f"Lamina execution engine benchmark: {machine['cores']} cores ({machine['cpu_model']}), "
        f"Python {machine['python']}, sandbox {health.get('sandbox')} "
        f"(memory: {health.get('memoryEnforcement')}), load clients as {results['client']['chosen']}, "
        f"{results['duration_s']} s",
        "",
    ]
    calibration = results["client"].get("echo_8_clients_rates")
    if calibration:
        lines[-1:-1] = [
            "load clients, echo from 8 clients: "
            + ", ".join(f"{mode} {max(rates):,.0f}/s" for mode, rates in calibration.items())
            + "; the faster is used throughout"
        ]
    rows = _measurements(results)
    widths = [40, 20, 30, 20]
    lines.extend(_row(row, widths) for row in rows)
    lines.append("")
    target_widths = [44, 14, 14, 8]
    lines.append(_row(["issue 3 target", "measured", "target", "result"], target_widths))
    for target in results["targets"]:
        value = target["value"]
        shown = "n/a" if value is None else f"{value:,.{target['digits']}f}{target['unit']}"
        lines.append(
            _row(
                [target["name"], shown, target["target"], "PASS" if target["pass"] else "FAIL"],
                target_widths,
            )
        )
    passed = sum(1 for target in results["targets"] if target["pass"])
    lines.append(f"{passed} of {len(results['targets'])} targets met")
    notes = _notes(results)
    if notes:
        lines.append("")
        lines.extend(f"note: {note}" for note in notes)
    return "\n".join(lines)
