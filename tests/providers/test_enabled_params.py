"""The enabled providers from settings, the concurrent search, and input validation."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from tests.fakes.vastai import FakeVastAi

from gpuproxy.config import Settings, load_settings
from gpuproxy.providers import InvalidRequest, OfferFilters, RentConfig, parse_rent_config
from gpuproxy.providers.base import Provider
from gpuproxy.providers.enabled import EnabledProviders, build_providers
from gpuproxy.providers.errors import ProviderUnavailable
from gpuproxy.providers.ionet import IoNetProvider
from gpuproxy.providers.params import OfferFilters as Filters
from gpuproxy.providers.records import Instance, Offer


class _Stub(Provider):
    def __init__(self, name: str, behaviour: str) -> None:
        super().__init__()
        self.name = name
        self.behaviour = behaviour

    async def _list_offers(self, filters: Filters) -> list[Offer]:
        if self.behaviour == "slow":
            await asyncio.sleep(5)
        if self.behaviour == "fail":
            raise ProviderUnavailable(self.name, "HTTP 503: down")
        return [
            Offer(
                id="1",
                provider=self.name,
                gpu_model="X",
                num_gpus=1,
                vram_gb=8,
                price_per_hour=5,
                price_per_gpu_hour=5,
            )
        ]

    async def _create(self, offer_id: str, config: RentConfig) -> Instance:
        raise NotImplementedError

    async def _get(self, instance_id: str) -> Instance:
        raise NotImplementedError

    async def _list_instances(self) -> list[Instance]:
        return []

    async def _destroy(self, instance_id: str) -> None:
        raise NotImplementedError


async def test_search_gives_partial_results_and_errors() -> None:
    providers = EnabledProviders(
        {"ok": _Stub("ok", "ok"), "down": _Stub("down", "fail"), "slow": _Stub("slow", "slow")}
    )
    result = await providers.search(OfferFilters(), timeout_s=0.2)
    assert [o.provider for o in result.offers] == ["ok"]
    assert set(result.errors) == {"down", "slow"}
    assert "503" in result.errors["down"]
    assert "timed out" in result.errors["slow"]
    with pytest.raises(InvalidRequest) as err:
        providers.resolve("nope")
    assert err.value.field == "provider"


async def test_build_from_settings(tmp_path: Path) -> None:
    async with FakeVastAi() as fake:
        settings = Settings(
            data_dir=tmp_path,
            vastai_api_key=fake.api_key,
            vastai_url=fake.base_url,
            ionet_api_key="",
            local_fleet_enabled=True,
        )
        providers = build_providers(settings)
        assert sorted(providers) == ["local", "vast.ai"]
        assert providers.resolve("vastai") is providers["vast.ai"]
        result = await providers.search(OfferFilters(gpu_model="4090", limit=10))
        assert result.errors == {}
        assert {o.provider for o in result.offers} == {"local", "vast.ai"}
        assert [o.price_per_hour for o in result.offers] == sorted(
            o.price_per_hour for o in result.offers
        )
        await providers.aclose()
    assert list(build_providers(Settings(data_dir=tmp_path, local_fleet_enabled=False))) == []


async def test_ionet_gets_the_operator_ssh_key(tmp_path: Path) -> None:
    key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGdwdXByb3h5 ops@example"
    settings = load_settings(
        env={
            "DATA_DIR": str(tmp_path),
            "LOCAL_FLEET_ENABLED": "false",
            "IONET_API_KEY": "k",
            "IONET_SSH_PUBLIC_KEY": f"  {key}  ",
        },
        env_file=None,
    )
    providers = build_providers(settings)
    provider = providers["io.net"]
    assert isinstance(provider, IoNetProvider)
    assert provider.ssh_public_keys == [key]
    await providers.aclose()


def test_filters_from_query_name_the_bad_field() -> None:
    filters = OfferFilters.from_query(
        {"min_vram": "24", "max_price": "1.50", "gpu_model": " 4090 ", "provider": "all"}
    )
    assert filters.min_vram_gb == 24
    assert filters.max_price_per_hour == 1_500_000
    assert filters.gpu_model == "4090"
    for query, field in (
        ({"min_vram": "lots"}, "min_vram"),
        ({"max_price": "cheap"}, "max_price"),
        ({"max_price": "-1"}, "max_price"),
        ({"min_vram": "-3"}, "min_vram"),
        ({"limit": "0"}, "limit"),
        ({"min_reliability": "2"}, "min_reliability"),
        ({"order": "random"}, "order"),
    ):
        with pytest.raises(InvalidRequest) as err:
            OfferFilters.from_query(query)
        assert err.value.field == field, query


def test_rent_config_validation() -> None:
    config = parse_rent_config(
        {
            "image": "ubuntu:22.04",
            "env": {"A": "1"},
            "ports": [8000],
            "disk": 20,
            "bid_price": "0.25",
        }
    )
    assert config.disk_gb == 20
    assert config.bid_price_per_hour == 250_000
    assert parse_rent_config({"worker_token": "x" * 30}).worker_token is None  # gateway-only
    for body, field in (
        ({"ports": [0]}, "ports"),
        ({"ports": ["x"]}, "ports"),
        ({"env": {"1BAD": "x"}}, "env"),
        ({"disk": 0}, "disk"),
        ({"image": "bad image"}, "image"),
        ({"duration_hours": 0}, "duration_hours"),
        ({"bid_price": "abc"}, "bid_price"),
    ):
        with pytest.raises(InvalidRequest) as err:
            parse_rent_config(body)
        assert err.value.field == field, body
    env = RentConfig(env={"A": "1"}, worker_token="t" * 20, proxy_url="https://p", models=["m"])
    assert env.worker_env() == {
        "A": "1",
        "GPUPROXY_WORKER_TOKEN": "t" * 20,
        "GPUPROXY_PROXY_URL": "https://p",
        "GPUPROXY_MODELS": "m",
    }
