"""The worker agent (`aiserve-gpuproxy-worker`) that serves inference next to a GPU and
registers with the proxy; `protocol` defines the registration messages."""
