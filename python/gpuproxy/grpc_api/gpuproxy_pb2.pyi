from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class LoginRequest(_message.Message):
    __slots__ = ("email", "password")
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_FIELD_NUMBER: _ClassVar[int]
    email: str
    password: str
    def __init__(self, email: _Optional[str] = ..., password: _Optional[str] = ...) -> None: ...

class LoginResponse(_message.Message):
    __slots__ = ("token", "user_id", "email", "refresh_token", "expires_at")
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    REFRESH_TOKEN_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    token: str
    user_id: str
    email: str
    refresh_token: str
    expires_at: int
    def __init__(self, token: _Optional[str] = ..., user_id: _Optional[str] = ..., email: _Optional[str] = ..., refresh_token: _Optional[str] = ..., expires_at: _Optional[int] = ...) -> None: ...

class CreateAPIKeyRequest(_message.Message):
    __slots__ = ("name", "token", "scopes")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    SCOPES_FIELD_NUMBER: _ClassVar[int]
    name: str
    token: str
    scopes: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, name: _Optional[str] = ..., token: _Optional[str] = ..., scopes: _Optional[_Iterable[str]] = ...) -> None: ...

class CreateAPIKeyResponse(_message.Message):
    __slots__ = ("api_key", "name", "created_at", "key_id", "scopes")
    API_KEY_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    SCOPES_FIELD_NUMBER: _ClassVar[int]
    api_key: str
    name: str
    created_at: int
    key_id: str
    scopes: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, api_key: _Optional[str] = ..., name: _Optional[str] = ..., created_at: _Optional[int] = ..., key_id: _Optional[str] = ..., scopes: _Optional[_Iterable[str]] = ...) -> None: ...

class ListGPUInstancesRequest(_message.Message):
    __slots__ = ("provider", "min_vram", "max_price", "gpu_model", "location", "limit")
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    MIN_VRAM_FIELD_NUMBER: _ClassVar[int]
    MAX_PRICE_FIELD_NUMBER: _ClassVar[int]
    GPU_MODEL_FIELD_NUMBER: _ClassVar[int]
    LOCATION_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    provider: str
    min_vram: float
    max_price: float
    gpu_model: str
    location: str
    limit: int
    def __init__(self, provider: _Optional[str] = ..., min_vram: _Optional[float] = ..., max_price: _Optional[float] = ..., gpu_model: _Optional[str] = ..., location: _Optional[str] = ..., limit: _Optional[int] = ...) -> None: ...

class ListGPUInstancesResponse(_message.Message):
    __slots__ = ("instances", "total_count", "errors")
    INSTANCES_FIELD_NUMBER: _ClassVar[int]
    TOTAL_COUNT_FIELD_NUMBER: _ClassVar[int]
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    instances: _containers.RepeatedCompositeFieldContainer[GPUInstance]
    total_count: int
    errors: _containers.RepeatedCompositeFieldContainer[ProviderError]
    def __init__(self, instances: _Optional[_Iterable[_Union[GPUInstance, _Mapping]]] = ..., total_count: _Optional[int] = ..., errors: _Optional[_Iterable[_Union[ProviderError, _Mapping]]] = ...) -> None: ...

class ProviderError(_message.Message):
    __slots__ = ("provider", "message", "type")
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    provider: str
    message: str
    type: str
    def __init__(self, provider: _Optional[str] = ..., message: _Optional[str] = ..., type: _Optional[str] = ...) -> None: ...

class GPUInstance(_message.Message):
    __slots__ = ("id", "provider", "status", "price_per_hour", "vram_gb", "gpu_model", "num_gpus", "location", "metadata", "price_per_hour_micros")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    PRICE_PER_HOUR_FIELD_NUMBER: _ClassVar[int]
    VRAM_GB_FIELD_NUMBER: _ClassVar[int]
    GPU_MODEL_FIELD_NUMBER: _ClassVar[int]
    NUM_GPUS_FIELD_NUMBER: _ClassVar[int]
    LOCATION_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    PRICE_PER_HOUR_MICROS_FIELD_NUMBER: _ClassVar[int]
    id: str
    provider: str
    status: str
    price_per_hour: float
    vram_gb: int
    gpu_model: str
    num_gpus: int
    location: str
    metadata: _containers.ScalarMap[str, str]
    price_per_hour_micros: int
    def __init__(self, id: _Optional[str] = ..., provider: _Optional[str] = ..., status: _Optional[str] = ..., price_per_hour: _Optional[float] = ..., vram_gb: _Optional[int] = ..., gpu_model: _Optional[str] = ..., num_gpus: _Optional[int] = ..., location: _Optional[str] = ..., metadata: _Optional[_Mapping[str, str]] = ..., price_per_hour_micros: _Optional[int] = ...) -> None: ...

class CreateGPUInstanceRequest(_message.Message):
    __slots__ = ("provider", "instance_id", "image", "env", "ports")
    class EnvEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    INSTANCE_ID_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    ENV_FIELD_NUMBER: _ClassVar[int]
    PORTS_FIELD_NUMBER: _ClassVar[int]
    provider: str
    instance_id: str
    image: str
    env: _containers.ScalarMap[str, str]
    ports: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, provider: _Optional[str] = ..., instance_id: _Optional[str] = ..., image: _Optional[str] = ..., env: _Optional[_Mapping[str, str]] = ..., ports: _Optional[_Iterable[int]] = ...) -> None: ...

class CreateGPUInstanceResponse(_message.Message):
    __slots__ = ("instance", "message")
    INSTANCE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    instance: GPUInstance
    message: str
    def __init__(self, instance: _Optional[_Union[GPUInstance, _Mapping]] = ..., message: _Optional[str] = ...) -> None: ...

class DestroyGPUInstanceRequest(_message.Message):
    __slots__ = ("provider", "instance_id")
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    INSTANCE_ID_FIELD_NUMBER: _ClassVar[int]
    provider: str
    instance_id: str
    def __init__(self, provider: _Optional[str] = ..., instance_id: _Optional[str] = ...) -> None: ...

class DestroyGPUInstanceResponse(_message.Message):
    __slots__ = ("instance", "message")
    INSTANCE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    instance: GPUInstance
    message: str
    def __init__(self, instance: _Optional[_Union[GPUInstance, _Mapping]] = ..., message: _Optional[str] = ...) -> None: ...

class GetGPUInstanceRequest(_message.Message):
    __slots__ = ("provider", "instance_id")
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    INSTANCE_ID_FIELD_NUMBER: _ClassVar[int]
    provider: str
    instance_id: str
    def __init__(self, provider: _Optional[str] = ..., instance_id: _Optional[str] = ...) -> None: ...

class ProxyRequestMessage(_message.Message):
    __slots__ = ("protocol", "target_url", "method", "headers", "body", "timeout")
    class HeadersEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    PROTOCOL_FIELD_NUMBER: _ClassVar[int]
    TARGET_URL_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    HEADERS_FIELD_NUMBER: _ClassVar[int]
    BODY_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    protocol: str
    target_url: str
    method: str
    headers: _containers.ScalarMap[str, str]
    body: bytes
    timeout: int
    def __init__(self, protocol: _Optional[str] = ..., target_url: _Optional[str] = ..., method: _Optional[str] = ..., headers: _Optional[_Mapping[str, str]] = ..., body: _Optional[bytes] = ..., timeout: _Optional[int] = ...) -> None: ...

class ProxyResponse(_message.Message):
    __slots__ = ("status_code", "headers", "body", "error", "done", "sequence")
    class HeadersEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    STATUS_CODE_FIELD_NUMBER: _ClassVar[int]
    HEADERS_FIELD_NUMBER: _ClassVar[int]
    BODY_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    DONE_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    status_code: int
    headers: _containers.ScalarMap[str, str]
    body: bytes
    error: str
    done: bool
    sequence: int
    def __init__(self, status_code: _Optional[int] = ..., headers: _Optional[_Mapping[str, str]] = ..., body: _Optional[bytes] = ..., error: _Optional[str] = ..., done: _Optional[bool] = ..., sequence: _Optional[int] = ...) -> None: ...

class CreatePaymentRequest(_message.Message):
    __slots__ = ("amount", "currency", "provider", "payment_method", "amount_micros", "idempotency_key")
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    PAYMENT_METHOD_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_MICROS_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    amount: float
    currency: str
    provider: str
    payment_method: str
    amount_micros: int
    idempotency_key: str
    def __init__(self, amount: _Optional[float] = ..., currency: _Optional[str] = ..., provider: _Optional[str] = ..., payment_method: _Optional[str] = ..., amount_micros: _Optional[int] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class CreatePaymentResponse(_message.Message):
    __slots__ = ("payment_id", "status", "provider", "amount_micros", "currency", "details")
    class DetailsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    PAYMENT_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_MICROS_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    DETAILS_FIELD_NUMBER: _ClassVar[int]
    payment_id: str
    status: str
    provider: str
    amount_micros: int
    currency: str
    details: _containers.ScalarMap[str, str]
    def __init__(self, payment_id: _Optional[str] = ..., status: _Optional[str] = ..., provider: _Optional[str] = ..., amount_micros: _Optional[int] = ..., currency: _Optional[str] = ..., details: _Optional[_Mapping[str, str]] = ...) -> None: ...

class GetTransactionsRequest(_message.Message):
    __slots__ = ("limit", "offset")
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    limit: int
    offset: int
    def __init__(self, limit: _Optional[int] = ..., offset: _Optional[int] = ...) -> None: ...

class Transaction(_message.Message):
    __slots__ = ("id", "type", "amount", "amount_micros", "currency", "status", "provider", "description", "created_at")
    ID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_MICROS_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    id: str
    type: str
    amount: float
    amount_micros: int
    currency: str
    status: str
    provider: str
    description: str
    created_at: int
    def __init__(self, id: _Optional[str] = ..., type: _Optional[str] = ..., amount: _Optional[float] = ..., amount_micros: _Optional[int] = ..., currency: _Optional[str] = ..., status: _Optional[str] = ..., provider: _Optional[str] = ..., description: _Optional[str] = ..., created_at: _Optional[int] = ...) -> None: ...

class GetTransactionsResponse(_message.Message):
    __slots__ = ("transactions", "total", "limit", "offset")
    TRANSACTIONS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    transactions: _containers.RepeatedCompositeFieldContainer[Transaction]
    total: int
    limit: int
    offset: int
    def __init__(self, transactions: _Optional[_Iterable[_Union[Transaction, _Mapping]]] = ..., total: _Optional[int] = ..., limit: _Optional[int] = ..., offset: _Optional[int] = ...) -> None: ...

class GetSpendingInfoRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetSpendingInfoResponse(_message.Message):
    __slots__ = ("windows", "guard_rails_enabled", "total_spent_24h", "total_spent_24h_micros")
    WINDOWS_FIELD_NUMBER: _ClassVar[int]
    GUARD_RAILS_ENABLED_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SPENT_24H_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SPENT_24H_MICROS_FIELD_NUMBER: _ClassVar[int]
    windows: _containers.RepeatedCompositeFieldContainer[SpendingWindow]
    guard_rails_enabled: bool
    total_spent_24h: float
    total_spent_24h_micros: int
    def __init__(self, windows: _Optional[_Iterable[_Union[SpendingWindow, _Mapping]]] = ..., guard_rails_enabled: _Optional[bool] = ..., total_spent_24h: _Optional[float] = ..., total_spent_24h_micros: _Optional[int] = ...) -> None: ...

class SpendingWindow(_message.Message):
    __slots__ = ("window", "spent", "limit", "remaining", "exceeded", "spent_micros", "limit_micros", "has_limit")
    WINDOW_FIELD_NUMBER: _ClassVar[int]
    SPENT_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    REMAINING_FIELD_NUMBER: _ClassVar[int]
    EXCEEDED_FIELD_NUMBER: _ClassVar[int]
    SPENT_MICROS_FIELD_NUMBER: _ClassVar[int]
    LIMIT_MICROS_FIELD_NUMBER: _ClassVar[int]
    HAS_LIMIT_FIELD_NUMBER: _ClassVar[int]
    window: str
    spent: float
    limit: float
    remaining: float
    exceeded: bool
    spent_micros: int
    limit_micros: int
    has_limit: bool
    def __init__(self, window: _Optional[str] = ..., spent: _Optional[float] = ..., limit: _Optional[float] = ..., remaining: _Optional[float] = ..., exceeded: _Optional[bool] = ..., spent_micros: _Optional[int] = ..., limit_micros: _Optional[int] = ..., has_limit: _Optional[bool] = ...) -> None: ...

class CheckSpendingLimitRequest(_message.Message):
    __slots__ = ("amount", "amount_micros")
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_MICROS_FIELD_NUMBER: _ClassVar[int]
    amount: float
    amount_micros: int
    def __init__(self, amount: _Optional[float] = ..., amount_micros: _Optional[int] = ...) -> None: ...

class CheckSpendingLimitResponse(_message.Message):
    __slots__ = ("allowed", "reason", "would_exceed")
    ALLOWED_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    WOULD_EXCEED_FIELD_NUMBER: _ClassVar[int]
    allowed: bool
    reason: str
    would_exceed: _containers.RepeatedCompositeFieldContainer[SpendingWindow]
    def __init__(self, allowed: _Optional[bool] = ..., reason: _Optional[str] = ..., would_exceed: _Optional[_Iterable[_Union[SpendingWindow, _Mapping]]] = ...) -> None: ...

class SetLoadBalancerStrategyRequest(_message.Message):
    __slots__ = ("strategy",)
    STRATEGY_FIELD_NUMBER: _ClassVar[int]
    strategy: str
    def __init__(self, strategy: _Optional[str] = ...) -> None: ...

class SetLoadBalancerStrategyResponse(_message.Message):
    __slots__ = ("strategy", "previous", "available")
    STRATEGY_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_FIELD_NUMBER: _ClassVar[int]
    AVAILABLE_FIELD_NUMBER: _ClassVar[int]
    strategy: str
    previous: str
    available: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, strategy: _Optional[str] = ..., previous: _Optional[str] = ..., available: _Optional[_Iterable[str]] = ...) -> None: ...

class GetLoadInfoRequest(_message.Message):
    __slots__ = ("type",)
    TYPE_FIELD_NUMBER: _ClassVar[int]
    type: str
    def __init__(self, type: _Optional[str] = ...) -> None: ...

class ServerLoad(_message.Message):
    __slots__ = ("instance_id", "provider", "record_id", "status", "gpu_model", "worker_id", "healthy", "connections", "total_requests", "errors", "avg_response_ms", "load_score")
    INSTANCE_ID_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    RECORD_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    GPU_MODEL_FIELD_NUMBER: _ClassVar[int]
    WORKER_ID_FIELD_NUMBER: _ClassVar[int]
    HEALTHY_FIELD_NUMBER: _ClassVar[int]
    CONNECTIONS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_REQUESTS_FIELD_NUMBER: _ClassVar[int]
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    AVG_RESPONSE_MS_FIELD_NUMBER: _ClassVar[int]
    LOAD_SCORE_FIELD_NUMBER: _ClassVar[int]
    instance_id: str
    provider: str
    record_id: str
    status: str
    gpu_model: str
    worker_id: str
    healthy: bool
    connections: int
    total_requests: int
    errors: int
    avg_response_ms: float
    load_score: float
    def __init__(self, instance_id: _Optional[str] = ..., provider: _Optional[str] = ..., record_id: _Optional[str] = ..., status: _Optional[str] = ..., gpu_model: _Optional[str] = ..., worker_id: _Optional[str] = ..., healthy: _Optional[bool] = ..., connections: _Optional[int] = ..., total_requests: _Optional[int] = ..., errors: _Optional[int] = ..., avg_response_ms: _Optional[float] = ..., load_score: _Optional[float] = ...) -> None: ...

class ProviderLoad(_message.Message):
    __slots__ = ("provider", "available_offers", "available_gpus", "cheapest_price_per_gpu_hour_micros", "error")
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    AVAILABLE_OFFERS_FIELD_NUMBER: _ClassVar[int]
    AVAILABLE_GPUS_FIELD_NUMBER: _ClassVar[int]
    CHEAPEST_PRICE_PER_GPU_HOUR_MICROS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    provider: str
    available_offers: int
    available_gpus: int
    cheapest_price_per_gpu_hour_micros: int
    error: str
    def __init__(self, provider: _Optional[str] = ..., available_offers: _Optional[int] = ..., available_gpus: _Optional[int] = ..., cheapest_price_per_gpu_hour_micros: _Optional[int] = ..., error: _Optional[str] = ...) -> None: ...

class GetLoadInfoResponse(_message.Message):
    __slots__ = ("strategy", "server", "provider")
    STRATEGY_FIELD_NUMBER: _ClassVar[int]
    SERVER_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    strategy: str
    server: _containers.RepeatedCompositeFieldContainer[ServerLoad]
    provider: _containers.RepeatedCompositeFieldContainer[ProviderLoad]
    def __init__(self, strategy: _Optional[str] = ..., server: _Optional[_Iterable[_Union[ServerLoad, _Mapping]]] = ..., provider: _Optional[_Iterable[_Union[ProviderLoad, _Mapping]]] = ...) -> None: ...

class ReserveGPUsRequest(_message.Message):
    __slots__ = ("count", "provider", "min_vram", "max_price", "gpu_model", "image", "all_or_nothing")
    COUNT_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    MIN_VRAM_FIELD_NUMBER: _ClassVar[int]
    MAX_PRICE_FIELD_NUMBER: _ClassVar[int]
    GPU_MODEL_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    ALL_OR_NOTHING_FIELD_NUMBER: _ClassVar[int]
    count: int
    provider: str
    min_vram: float
    max_price: float
    gpu_model: str
    image: str
    all_or_nothing: bool
    def __init__(self, count: _Optional[int] = ..., provider: _Optional[str] = ..., min_vram: _Optional[float] = ..., max_price: _Optional[float] = ..., gpu_model: _Optional[str] = ..., image: _Optional[str] = ..., all_or_nothing: _Optional[bool] = ...) -> None: ...

class ReserveGPUsResponse(_message.Message):
    __slots__ = ("reserved_instances", "reserved_count", "message", "reservation_id")
    RESERVED_INSTANCES_FIELD_NUMBER: _ClassVar[int]
    RESERVED_COUNT_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    RESERVATION_ID_FIELD_NUMBER: _ClassVar[int]
    reserved_instances: _containers.RepeatedCompositeFieldContainer[GPUInstance]
    reserved_count: int
    message: str
    reservation_id: str
    def __init__(self, reserved_instances: _Optional[_Iterable[_Union[GPUInstance, _Mapping]]] = ..., reserved_count: _Optional[int] = ..., message: _Optional[str] = ..., reservation_id: _Optional[str] = ...) -> None: ...

class HealthCheckRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class HealthCheckResponse(_message.Message):
    __slots__ = ("status", "timestamp", "details")
    class DetailsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    STATUS_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    DETAILS_FIELD_NUMBER: _ClassVar[int]
    status: str
    timestamp: int
    details: _containers.ScalarMap[str, str]
    def __init__(self, status: _Optional[str] = ..., timestamp: _Optional[int] = ..., details: _Optional[_Mapping[str, str]] = ...) -> None: ...
