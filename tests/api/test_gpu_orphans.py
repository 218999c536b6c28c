"""The orphan reaper runs in the background of the app, on the interval its setting gives."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable

import msgspec
from tests.api.conftest import BASE_ENV, providers_of, running_app
from tests.fakes.ionet import FakeIoNet
from tests.fakes.vastai import FakeVastAi

from gpuproxy.config import Settings
from gpuproxy.providers.ownership import ownership_tag
from gpuproxy.providers.params import RentConfig


async def test_the_app_reaps_orphans_in_the_background(
    make_settings: Callable[..., Settings],
    gpu_settings: Settings,
    fake_vast: FakeVastAi,
    fake_ionet: FakeIoNet,
) -> None:
    read = make_settings(GPU_ORPHAN_REAP_INTERVAL_SECONDS="0.1", GPU_ORPHAN_GRACE_SECONDS="0")
    assert (read.gpu_orphan_reap_interval_seconds, read.gpu_orphan_grace_seconds) == (0.1, 0.0)
    settings = msgspec.structs.replace(
        gpu_settings, gpu_orphan_reap_interval_seconds=0.1, gpu_orphan_grace_seconds=0.0
    )
    async with running_app(settings) as client:
        service = providers_of(client)
        assert "gpu-orphan-reaper" in client.app.state.services.supervisor.loops
        tag = ownership_tag(uuid.uuid4().hex)  # a rental record that does not exist
        vast = await service.providers["vast.ai"].create(
            "101", RentConfig(image="a/b:1", label=tag)
        )
        ionet = await service.providers["io.net"].create("12~1~US", RentConfig(label=tag))
        for _ in range(100):
            if fake_vast.destroyed and fake_ionet.destroyed:
                break
            await asyncio.sleep(0.05)
    assert fake_vast.destroyed == [int(vast.id)]
    assert fake_ionet.destroyed == [ionet.id]


async def test_an_interval_of_zero_turns_the_reaper_off_and_no_provider_is_no_error(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(
        **BASE_ENV, LOCAL_FLEET_ENABLED="false", GPU_ORPHAN_REAP_INTERVAL_SECONDS="0"
    )
    async with running_app(settings) as client:
        loops = set(client.app.state.services.supervisor.loops)
        await providers_of(client).poller.poll_once()  # no provider enabled: nothing to list
    assert "gpu-availability-poller" in loops
    assert "gpu-orphan-reaper" not in loops
