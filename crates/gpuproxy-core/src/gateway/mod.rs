//! The OpenAI hot path served end to end in Rust (see the README's request-path chart).
//!
//! Pure parts (request parsing, SSE framing, usage metering, token estimates) and the
//! listener's phases live here; `gpuproxy-py` only wires the control plane to them.

pub mod meter;
pub mod openai_request;
pub mod sse;
pub mod tokens;
