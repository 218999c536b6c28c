"""Scenario `keystorm`: a storm of unknown API keys while a known key is served.

gpuproxy (governance ON) behind the static stub. First the known key alone (wrk, 32
connections); then the same load while `key_storm.py` sends unknown well-formed keys from
many loopback addresses at a fixed rate. Goal: the known key keeps its rate (the data plane
answers it from its cache, never waiting on Python), and the questions to Python stay
bounded (single-flight, a bounded queue, the failed-authentication throttle per address).
The data plane's counters come from its Prometheus exposition (admin key).
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import httpx

from _bench import Bench, static_stub
from _loadgen import Target, wrk_closed_loop
from _peers import Ctx, NotAvailable, open_peer
from _procs import pin
from _tools import BENCH, log

__all__ = ["run"]

CONNECTIONS = 32


def _data_plane_counters(base: str, admin_password: str) -> dict[str, float]:
    from prometheus_client.parser import text_string_to_metric_families

    with httpx.Client(base_url=base, timeout=30) as http:
        login = http.post(
            "/api/v1/auth/login",
            json={"email": "admin@gpucloud.local", "password": admin_password},
        ).json()
        text = http.get(
            "/api/monitoring/metrics/prometheus",
            headers={"Authorization": f"Bearer {login['access_token']}"},
        ).text
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = "_".join(sample.labels.values())
            out[f"{sample.name}_{labels}" if labels else sample.name] = sample.value
    return out


def run(bench: Bench) -> dict[str, Any]:
    with static_stub(bench) as upstream:
        ctx = Ctx(bench.group, bench.layout, upstream)
        try:
            with open_peer("gpuproxy", ctx) as peer:
                wrk = bench.tools["wrk"]
                assert wrk is not None
                target = Target(peer.chat_url, peer.api_key)
                duration = bench.secs(4, 10)
                common = {"connections": CONNECTIONS, "cpus": bench.layout.loadgen,
                          "workdir": bench.workdir}  # fmt: skip
                wrk_closed_loop(wrk, target, duration_s=2, **common)  # warm-up
                alone = wrk_closed_loop(wrk, target, duration_s=duration, **common)
                log(f"keystorm: known key alone {alone.get('rps')} rps")
                rate = bench.secs(1000, 2000)
                storm_argv = pin(bench.layout.loadgen, [
                    sys.executable, str(BENCH / "key_storm.py"), "--url", peer.chat_url,
                    "--rate", str(rate), "--duration", f"{duration:g}", "--sources", "200",
                ])  # fmt: skip
                storm = subprocess.Popen(storm_argv, stdout=subprocess.PIPE, text=True)
                during = wrk_closed_loop(wrk, target, duration_s=duration, **common)
                out, _ = storm.communicate(timeout=duration + 60)
                storm_result = json.loads(out.strip().splitlines()[-1])
                log(f"keystorm: known key during the storm {during.get('rps')} rps; "
                    f"storm {storm_result['statuses']}")  # fmt: skip
                password_file = bench.workdir / "gpuproxy-data" / "data" / "admin_password"
                if not password_file.exists():
                    password_file = bench.workdir / "gpuproxy-data" / "admin_password"
                counters = (
                    _data_plane_counters(peer.base_url, password_file.read_text().strip())
                    if password_file.exists()
                    else {}
                )
        except NotAvailable as exc:
            return {"available": False, "reason": str(exc)}
    ratio = (
        round(during["rps"] / alone["rps"], 3) if alone.get("rps") and during.get("rps") else None
    )
    return {
        "available": True,
        "known_key_alone": alone,
        "known_key_during_storm": during,
        "known_key_rps_ratio": ratio,
        "storm": storm_result,
        "data_plane": counters,
    }
