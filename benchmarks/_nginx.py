"""nginx configurations generated into benchmarks/.work/: a static stub upstream answering a
fixed chat.completion JSON, and the `nginx` peer (reverse proxy with keep-alive upstreams)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from _procs import Proc, ProcGroup, wait_port
from stub_upstream import CHAT_JSON, MODELS_JSON

__all__ = ["proxy_config", "start_nginx", "stub_config"]

_COMMON = """\
daemon off;
master_process on;
user root;
worker_processes {workers};
worker_rlimit_nofile 1048576;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 262144; multi_accept on; use epoll; }}
http {{
  access_log off;
  client_body_temp_path {prefix}/body;
  proxy_temp_path {prefix}/proxy;
  fastcgi_temp_path {prefix}/fastcgi;
  uwsgi_temp_path {prefix}/uwsgi;
  scgi_temp_path {prefix}/scgi;
  keepalive_requests 1000000;
  keepalive_timeout 300s;
  tcp_nodelay on;
{body}
}}
"""


def _escape(data: bytes) -> str:
    return data.decode().replace("\\", "\\\\").replace("'", "\\'")


def stub_config(prefix: Path, port: int, workers: int) -> str:
    """nginx as the fast non-streaming upstream (what PERFORMANCE-NOTES measured)."""
    body = f"""\
  server {{
    listen 127.0.0.1:{port} reuseport backlog=65535;
    default_type application/json;
    location = /health {{ return 200 '{{"status":"ok","backend":"nginx-stub"}}'; }}
    location = /v1/models {{ return 200 '{_escape(MODELS_JSON)}'; }}
    location / {{ return 200 '{_escape(CHAT_JSON)}'; }}
  }}"""
    return _COMMON.format(workers=workers, prefix=prefix, body=body)


def proxy_config(prefix: Path, port: int, workers: int, upstreams: Sequence[str]) -> str:
    """The `nginx` peer: keep-alive upstream pool, no buffering (SSE passes chunk by chunk)."""
    servers = "\n".join(f"    server {u} max_fails=0;" for u in upstreams)
    body = f"""\
  upstream stub {{
{servers}
    keepalive 1024;
    keepalive_requests 1000000;
    keepalive_timeout 300s;
  }}
  server {{
    listen 127.0.0.1:{port} reuseport backlog=65535;
    location / {{
      proxy_pass http://stub;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
      proxy_request_buffering off;
      proxy_read_timeout 3600s;
    }}
  }}"""
    return _COMMON.format(workers=workers, prefix=prefix, body=body)


def start_nginx(
    group: ProcGroup, nginx: str, name: str, config: str, port: int, cpus: Sequence[int]
) -> Proc:
    prefix = group.workdir / name
    prefix.mkdir(parents=True, exist_ok=True)
    conf = prefix / "nginx.conf"
    conf.write_text(config)
    proc = group.start(
        name,
        [nginx, "-p", str(prefix), "-c", str(conf), "-e", str(prefix / "error.log")],
        cpus=cpus,
    )
    wait_port("127.0.0.1", port, 15, proc)
    return proc
