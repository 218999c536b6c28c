"""Regenerates the performance tables in README.md (between the bench markers) from the
latest results file of each scenario in benchmarks/results/."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _tools import BENCH

__all__ = ["RESULTS", "labelled", "latest", "render", "update_readme"]

RESULTS = BENCH / "results"
README = BENCH.parent / "README.md"
START, END = "<!-- bench:start -->", "<!-- bench:end -->"
SCENARIOS = ("throughput", "streaming", "connections", "soak", "core", "gateway")


def latest(scenario: str) -> tuple[Path, dict[str, Any]] | None:
    files = sorted(RESULTS.glob(f"????-??-??-{scenario}.json"))
    if not files:
        return None
    return files[-1], json.loads(files[-1].read_text())


def labelled(scenario: str) -> list[tuple[Path, dict[str, Any]]]:
    """The latest result per --label (runs on other machines, shown separately)."""
    found: dict[str, tuple[Path, dict[str, Any]]] = {}
    for path in sorted(RESULTS.glob(f"????-??-??-{scenario}-*.json")):
        data = json.loads(path.read_text())
        if isinstance(data, dict) and data.get("label") and "result" in data:
            found[data["label"]] = (path, data)
    return list(found.values())


def _reason(peer: dict[str, Any]) -> str:
    """A table-safe one-line reason (tracebacks end with the useful line)."""
    text = str(peer.get("reason", "not measured")).strip()
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    short = lines[0] if len(lines) < 2 else f"{lines[0]} ... {lines[-1]}"
    return short.replace("|", "/")[:200]


def _fmt(value: Any, digits: int = 2) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:,.{digits}f}" if abs(value) < 100 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _source(path: Path, data: dict[str, Any]) -> str:
    m = data.get("machine", {})
    kind = "quick" if data.get("quick") else "full"
    return (
        f"`{path.name}` ({kind}; {m.get('cores_usable')} cores, {m.get('cpu_model')}, "
        f"load {_fmt((m.get('loadavg_at_start') or [None])[0])} at start)"
    )


def _throughput(path: Path, data: dict[str, Any]) -> list[str]:
    r = data["result"]
    lines = [
        f"#### Throughput: non-streaming chat completions ({_source(path, data)})",
        "",
        "| peer | RPS c=1 | c=16 | c=64 | c=256 | p50 / p99 ms at c=64 | max rate with "
        "p99 < 10 ms | added p99 at half max (ms) | vs nginx | vs LiteLLM | vs direct |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, p in r["peers"].items():
        if not p.get("available"):
            lines.append(f"| {name} | not available: {_reason(p)} |||||||||| ")
            continue
        c = p["closed_loop"]
        ratios = p.get("ratios", {})
        c64 = c.get("64", {})
        lines.append(
            f"| {name} | "
            + " | ".join(_fmt(c.get(k, {}).get("rps")) for k in ("1", "16", "64", "256"))
            + f" | {_fmt(c64.get('p50_ms'))} / {_fmt(c64.get('p99_ms'))}"
            + f" | {_fmt(p.get('open_loop_sweep', {}).get('max_rate_p99_under_limit'))}"
            + f" | {_fmt(p.get('added_p99_ms_at_half_max'), 3)}"
            + f" | {_fmt(ratios.get('throughput_vs_nginx'), 3)}"
            + f" | {_fmt(ratios.get('throughput_vs_litellm'), 1)}"
            + f" | {_fmt(ratios.get('throughput_vs_direct'), 3)} |"
        )
    return lines


def _streaming(path: Path, data: dict[str, Any]) -> list[str]:
    r = data["result"]
    lines = [
        f"#### Streaming: SSE chat completions ({_source(path, data)})",
        "",
        f"Stub: first event after {r['stub']['first_token_ms']:g} ms, then "
        f"{r['stub']['chunks']} events {r['stub']['interval_ms']:g} ms apart; "
        f"{r['concurrency']} concurrent streams.",
        "",
        "| peer | streams | TTFT p50 / p99 ms | added TTFT p50 / p99 ms | gap p50 / p99 ms "
        "| added gap p50 / p99 ms | errors |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, p in r["peers"].items():
        if not p.get("available"):
            lines.append(f"| {name} | not available: {_reason(p)} ||||||")
            continue

        def pair(d: dict[str, Any] | None) -> str:
            d = d or {}
            return f"{_fmt(d.get('p50'), 3)} / {_fmt(d.get('p99'), 3)}"

        lines.append(
            f"| {name} | {_fmt(p.get('streams'))} | {pair(p.get('ttft_ms'))} | "
            f"{pair(p.get('added_ttft_ms'))} | {pair(p.get('gap_ms'))} | "
            f"{pair(p.get('added_gap_ms'))} | {_fmt(p.get('errors'))} |"
        )
    return lines


def _connections(path: Path, data: dict[str, Any]) -> list[str]:
    r = data["result"]
    lines = [
        f"#### Connections: held trickling SSE streams ({_source(path, data)})",
        "",
        f"Each held stream gets one event every {_fmt(r.get('trickle_interval_ms'))} ms. "
        "Workers: the proxy's processes (one instance, one port), all on the SUT CPUs.",
        "",
        "| peer | target | workers | held | failed to open | RSS per stream (KiB) "
        "| CPU while held (% of a core) "
        "| other requests p99 ms (errors) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, p in r["peers"].items():
        if not p.get("available"):
            lines.append(f"| {name} | not available: {_reason(p)} ||||||")
            continue
        for run in p.get("runs", []):
            other = run.get("other_requests_while_held") or {}
            workers = run.get("proxy_workers")
            lines.append(
                f"| {name} | {_fmt(run.get('target'))} | {_fmt(workers) if workers else '—'} | "
                f"{_fmt(run.get('held'))} | "
                f"{_fmt((run.get('ramp') or {}).get('failed'))} | "
                f"{_fmt(run.get('rss_per_connection_kib'))} | "
                f"{_fmt(run.get('cpu_percent_of_one_core_while_held'), 1)} | "
                f"{_fmt(other.get('p99_ms'))} ({_fmt(other.get('errors'))}) |"
            )
    return lines


def _soak(path: Path, data: dict[str, Any]) -> list[str]:
    r = data["result"]
    lines = [
        f"#### Soak: steady load at half the maximum ({_source(path, data)})",
        "",
        "| peer | rate (req/s) | duration (s) | RSS growth (MiB/min) | errors "
        "| p99 first → last (max) ms |",
        "|---|---|---|---|---|---|",
    ]
    for name, p in r["peers"].items():
        if not p.get("segments"):
            lines.append(f"| {name} | not available: {_reason(p)} |||||")
            continue
        label = name + (f" (instead of {p['substitute_for']})" if p.get("substitute_for") else "")
        lines.append(
            f"| {label} | {_fmt(p['rate'])} | {_fmt(round(p['segments'][-1]['t_s']))} | "
            f"{_fmt(p.get('rss_growth_mib_per_min'), 3)} | {_fmt(p.get('errors'))} | "
            f"{_fmt(p.get('p99_first_ms'))} → {_fmt(p.get('p99_last_ms'))} "
            f"({_fmt(p.get('p99_max_ms'))}) |"
        )
    return lines


def _core(path: Path, data: dict[str, Any]) -> list[str]:
    r = data["result"]
    lines = [f"#### Core: criterion and binding calls ({_source(path, data)})", ""]
    crit = r.get("criterion", {})
    if crit.get("available"):
        lines += ["| criterion benchmark | mean | median |", "|---|---|---|"]
        for name, fig in crit.get("benchmarks", {}).items():
            lines.append(f"| {name} | {_fmt(fig['mean_ns'])} ns | {_fmt(fig['median_ns'])} ns |")
    else:
        lines.append(f"criterion: not available: {crit.get('reason')}")
    calls = r.get("binding_calls", {})
    figures = calls.get("figures")
    flat = {}
    if isinstance(figures, dict):
        source = figures.get("results", figures)  # core_calls.py: {"results": {call: ns}}
        flat = {k: v for k, v in source.items() if isinstance(v, int | float)}
    if flat:
        goal = figures.get("goal_ns") if isinstance(figures, dict) else None
        lines += [
            "",
            f"| binding call (Python -> _core) | ns per call (goal {_fmt(goal)}) |",
            "|---|---|",
        ]
        lines += [f"| {name} | {_fmt(float(value))} |" for name, value in flat.items()]
    else:
        state = (
            "see the JSON" if calls.get("available") else f"not available: {calls.get('reason')}"
        )
        lines += ["", f"binding calls: {state}"]
    return lines


def _gateway(path: Path, data: dict[str, Any]) -> list[str]:
    # benchmarks/gateway.py run on its own writes its figures at the top level.
    r = data.get("result") or {"available": data.get("available"), "figures": data}
    lines = [f"#### Gateway (issue 6's benchmarks/gateway.py) ({_source(path, data)})", ""]
    summary = (r.get("figures") or {}).get("summary")
    if not r.get("available") or not isinstance(summary, dict):
        return [*lines, f"not available: {r.get('reason')}"]
    lines += ["| figure | value |", "|---|---|"]

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                walk(f"{prefix}.{key}" if prefix else key, inner)
        else:
            lines.append(f"| {prefix} | {_fmt(value)} |")

    walk("", summary)
    return lines


def _keystorm(path: Path, data: dict[str, Any]) -> list[str]:
    r = data["result"]
    lines = [f"#### Key storm: unknown keys while a known key is served ({_source(path, data)})",
             ""]  # fmt: skip
    if not r.get("available"):
        return [*lines, f"not available: {r.get('reason')}"]
    alone, during, storm = r["known_key_alone"], r["known_key_during_storm"], r["storm"]
    dp = r.get("data_plane", {})
    lines += [
        "| figure | value |",
        "|---|---|",
        f"| known key RPS alone / during the storm | {_fmt(alone.get('rps'))} / "
        f"{_fmt(during.get('rps'))} ({_fmt(r.get('known_key_rps_ratio'), 3)}x) |",
        f"| known key p99 alone / during (ms) | {_fmt(alone.get('p99_ms'))} / "
        f"{_fmt(during.get('p99_ms'))} |",
        f"| storm: offered rate, sent, from addresses | {_fmt(storm.get('offered_rate'))}/s, "
        f"{_fmt(storm.get('sent'))}, {_fmt(storm.get('source_addresses'))} |",
        f"| storm answers | {', '.join(f'{k}: {v}' for k, v in storm['statuses'].items())} |",
        f"| questions to Python: asked / refused (queue full) / timed out | "
        f"{_fmt(dp.get('gpuproxy_control_callbacks_total_asked'))} / "
        f"{_fmt(dp.get('gpuproxy_control_callbacks_total_overflowed'))} / "
        f"{_fmt(dp.get('gpuproxy_control_callbacks_total_timed_out'))} |",
    ]
    return lines


def _per_target(runs: list[dict[str, Any]], pick: Callable[[dict[str, Any]], Any],
                unit: str) -> str:  # fmt: skip
    """One figure per connections target, smallest first: "39.7 KiB at 10,000; ..."."""
    if not runs:
        return f"— {unit}"
    ordered = sorted(runs, key=lambda run: run.get("target") or 0)
    return "; ".join(f"{_fmt(pick(run))} {unit} at {_fmt(run.get('target'))}" for run in ordered)


def _goal_figures(tp: dict[str, Any], st: dict[str, Any], cn: dict[str, Any],
                  sk: dict[str, Any]) -> dict[str, str]:  # fmt: skip
    """One machine's measured value for each goal row."""
    ours = tp.get("peers", {}).get("gpuproxy", {})
    why = "" if ours.get("available") or not tp else (
        f" (gpuproxy: {ours.get('reason', 'not measured')})")  # fmt: skip
    stream_ours = st.get("peers", {}).get("gpuproxy", {})
    conn_runs = cn.get("peers", {}).get("gpuproxy", {}).get("runs", [])
    top = max(conn_runs, key=lambda run: run.get("held", 0), default={})
    soak_ours = sk.get("peers", {}).get("gpuproxy", {})
    soak = (f"{_fmt(soak_ours.get('rss_growth_mib_per_min'), 3)} / "
            f"{_fmt(soak_ours.get('errors'))}") if sk else "—"  # fmt: skip
    return {
        "nginx": f"{_fmt(tp.get('throughput_vs_nginx'), 3)}{why}",
        "litellm": f"{_fmt(tp.get('throughput_vs_litellm'), 1)}{why}",
        "added_p99": f"{_fmt(ours.get('added_p99_ms_at_half_max'), 3)} ms",
        "ttft": f"{_fmt((stream_ours.get('added_ttft_ms') or {}).get('p99'), 3)} ms",
        "held": f"{_fmt(top.get('held'))} of {_fmt(top.get('target'))}" if top else "—",
        "rss": _per_target(conn_runs, lambda run: run.get("rss_per_connection_kib"), "KiB"),
        "other": _per_target(
            conn_runs,
            lambda run: (run.get("other_requests_while_held") or {}).get("p99_ms"),
            "ms",
        ),
        "soak": soak,
    }


def _goals() -> list[str]:
    def get(scenario: str) -> dict[str, Any]:
        found = latest(scenario)
        return found[1].get("result", {}) if found else {}

    machines = {"this machine": _goal_figures(get("throughput"), get("streaming"),
                                              get("connections"), get("soak"))}  # fmt: skip
    labels = {d["label"] for sc in ("throughput", "connections") for _, d in labelled(sc)}
    for label in sorted(labels):

        def of(scenario: str, label: str = label) -> dict[str, Any]:
            found = [d for _, d in labelled(scenario) if d["label"] == label]
            return found[-1].get("result", {}) if found else {}

        machines[label] = _goal_figures(of("throughput"), of("streaming"), of("connections"),
                                        of("soak"))  # fmt: skip
    rows = [
        ("throughput vs nginx, governance ON", "≥ 0.5x", "nginx"),
        ("throughput vs LiteLLM, governance ON", "≥ 100x", "litellm"),
        ("added p99 at half of gpuproxy's max rate", "≤ 1 ms", "added_p99"),
        ("added time to first token (p99)", "≤ 1 ms", "ttft"),
        ("concurrent streams held by one instance", "100,000", "held"),
        ("RSS per held stream", "≤ 16 KiB", "rss"),
        ("other requests while held, p99", "< 50 ms", "other"),
        ("soak memory growth (MiB/min) / errors", "~0 / 0", "soak"),
    ]
    names = list(machines)
    lines = ["| goal | target | " + " | ".join(names) + " |",
             "|---|---|" + "---|" * len(names)]  # fmt: skip
    for title, goal, key in rows:
        lines.append(f"| {title} | {goal} | " + " | ".join(machines[n][key] for n in names) + " |")
    return lines


def render() -> str:
    lines = [
        START,
        "",
        "_Generated by `benchmarks/run.py` from the latest file of each scenario in "
        "`benchmarks/results/`; see [benchmarks/README.md](benchmarks/README.md). "
        "Quick runs are short harness validations on a shared machine: orders of "
        "magnitude, not verdicts._",
        "",
        *_goals(),
    ]
    render_one = {
        "throughput": _throughput,
        "streaming": _streaming,
        "connections": _connections,
        "soak": _soak,
        "core": _core,
        "gateway": _gateway,
        "keystorm": _keystorm,
    }
    for scenario, fn in render_one.items():
        found = latest(scenario)
        if found:
            try:
                lines += ["", *fn(*found)]
            except (KeyError, TypeError, ValueError) as exc:  # a file of another shape
                lines += ["", f"#### {scenario}: `{found[0].name}` not readable ({exc!r})"]
            lines += [f"- note: {note}" for note in found[1].get("notes", [])]
    for scenario in ("throughput", "connections", "streaming"):
        for path, data in labelled(scenario):
            lines += ["", f"##### On {data['label']}", "", *render_one[scenario](path, data)]
            lines += [f"- note: {note}" for note in data.get("notes", [])]
    return "\n".join([*lines, "", END])


def update_readme(readme: Path = README) -> bool:
    """Replace the marked block (re-reading the file right before writing)."""
    text = readme.read_text()
    start, end = text.find(START), text.find(END)
    if start < 0 or end < start:
        return False
    readme.write_text(text[:start] + render() + text[end + len(END) :])
    return True
