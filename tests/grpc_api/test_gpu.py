"""GPU RPCs over the providers service (local fleet): list, rent, show, destroy, reserve,
load info, strategy; another user's instance is NOT_FOUND, admin-only is PERMISSION_DENIED."""

from __future__ import annotations

import grpc
import pytest

from gpuproxy.grpc_api import gpuproxy_pb2 as pb

from .support import GrpcGateway, bearer


@pytest.fixture
def grpc_env() -> dict[str, str]:
    return {"GPU_POLL_INTERVAL_SECONDS": "3600", "GPU_OFFER_CACHE_SECONDS": "5"}


async def test_list_rent_show_destroy_with_tenant_isolation(grpc_gateway: GrpcGateway) -> None:
    stub = grpc_gateway.stub
    alice = bearer((await grpc_gateway.http.user()).key)
    bob = bearer((await grpc_gateway.http.user()).key)
    listing = await stub.ListGPUInstances(
        pb.ListGPUInstancesRequest(provider="local", min_vram=20, gpu_model="4090"),
        metadata=alice,
        timeout=10,
    )
    assert listing.total_count == len(listing.instances) > 0
    offer = listing.instances[0]
    assert offer.provider == "local"
    assert offer.vram_gb >= 20
    assert "4090" in offer.gpu_model
    assert offer.price_per_hour_micros > 0
    assert offer.price_per_hour == pytest.approx(offer.price_per_hour_micros / 1e6)

    created = await stub.CreateGPUInstance(
        pb.CreateGPUInstanceRequest(provider="local", instance_id=offer.id),
        metadata=alice,
        timeout=30,
    )
    instance = created.instance
    assert instance.status == "running"
    assert instance.metadata["contract_id"] == instance.id
    try:
        shown = await stub.GetGPUInstance(
            pb.GetGPUInstanceRequest(provider="local", instance_id=instance.id),
            metadata=alice,
            timeout=10,
        )
        assert shown.id == instance.id
        other_users = (
            stub.GetGPUInstance(
                pb.GetGPUInstanceRequest(provider="local", instance_id=instance.id), metadata=bob
            ),
            stub.DestroyGPUInstance(
                pb.DestroyGPUInstanceRequest(provider="local", instance_id=instance.id),
                metadata=bob,
            ),
        )
        for call in other_users:
            with pytest.raises(grpc.aio.AioRpcError) as hidden:
                await call
            assert hidden.value.code() == grpc.StatusCode.NOT_FOUND
        loads = await stub.GetLoadInfo(pb.GetLoadInfoRequest(type="server"), metadata=alice)
        assert instance.id in {load.instance_id for load in loads.server}
        others = await stub.GetLoadInfo(pb.GetLoadInfoRequest(type="server"), metadata=bob)
        assert instance.id not in {load.instance_id for load in others.server}
    finally:
        destroyed = await stub.DestroyGPUInstance(
            pb.DestroyGPUInstanceRequest(provider="local", instance_id=instance.id),
            metadata=alice,
            timeout=30,
        )
    assert destroyed.instance.status == "destroyed"


async def test_reserve_validation_and_not_enough_offers(grpc_gateway: GrpcGateway) -> None:
    stub = grpc_gateway.stub
    alice = bearer((await grpc_gateway.http.user()).key)
    with pytest.raises(grpc.aio.AioRpcError) as bad:
        await stub.ReserveGPUs(pb.ReserveGPUsRequest(count=17), metadata=alice, timeout=10)
    assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "count" in (bad.value.details() or "")
    with pytest.raises(grpc.aio.AioRpcError) as short:
        await stub.ReserveGPUs(
            pb.ReserveGPUsRequest(count=2, provider="local", gpu_model="no-such-gpu"),
            metadata=alice,
            timeout=10,
        )
    assert short.value.code() == grpc.StatusCode.FAILED_PRECONDITION


async def test_reserve_two_local_gpus(grpc_gateway: GrpcGateway) -> None:
    stub = grpc_gateway.stub
    alice = bearer((await grpc_gateway.http.user()).key)
    reserved = await stub.ReserveGPUs(
        pb.ReserveGPUsRequest(count=2, provider="local", gpu_model="4090"),
        metadata=alice,
        timeout=60,
    )
    assert reserved.reserved_count == 2
    assert reserved.reservation_id
    contracts = [i.metadata["contract_id"] for i in reserved.reserved_instances]
    assert len(set(contracts)) == 2
    for contract in contracts:
        await stub.DestroyGPUInstance(
            pb.DestroyGPUInstanceRequest(provider="local", instance_id=contract),
            metadata=alice,
            timeout=30,
        )


async def test_strategy_is_admin_only_and_validated(grpc_gateway: GrpcGateway) -> None:
    stub = grpc_gateway.stub
    user = bearer((await grpc_gateway.http.user()).key)
    admin = bearer((await grpc_gateway.http.user(admin=True)).key)
    request = pb.SetLoadBalancerStrategyRequest(strategy="least_connections")
    with pytest.raises(grpc.aio.AioRpcError) as denied:
        await stub.SetLoadBalancerStrategy(request, metadata=user, timeout=5)
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
    changed = await stub.SetLoadBalancerStrategy(request, metadata=admin, timeout=5)
    assert changed.strategy == "least_connections"
    assert "round_robin" in changed.available
    info = await stub.GetLoadInfo(pb.GetLoadInfoRequest(type="provider"), metadata=user)
    assert info.strategy == "least_connections"
    assert "local" in {p.provider for p in info.provider}
    with pytest.raises(grpc.aio.AioRpcError) as unknown:
        await stub.SetLoadBalancerStrategy(
            pb.SetLoadBalancerStrategyRequest(strategy="fastest"), metadata=admin, timeout=5
        )
    assert unknown.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "strategy" in (unknown.value.details() or "")
