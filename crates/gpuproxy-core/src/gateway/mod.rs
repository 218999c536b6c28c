//! The OpenAI hot path served end to end in Rust: a hyper listener that owns the public
//! port, serves the inference routes without Python, and proxies everything else to the
//! Litestar control plane. The phases, in the order a request meets them:
//!
//! | phase | file | what |
//! |---|---|---|
//! | early | `early.rs` | route match, request id |
//! | filter | `filter.rs` | credential -> principal (key cache, JWTs verified in `jwt.rs` + session cache, or one callback), scope, GCRA, body limit, partial parse, spend hold |
//! | upstream | `upstream.rs` | model -> pools, admission queue, balancer select + guard, forward (one retry) |
//! | body filter | `body_filter.rs` | SSE framing, usage, first token, stall timeout |
//! | settle | `settle.rs` | RAII on every exit: charge, release, record into the usage ring |
//!
//! Python pushes keys, routes, prices and allowances in (`principal.rs`, `routes.rs`,
//! `allowance.rs`), answers the rare questions (`control.rs`) and drains `usage.rs`.

pub mod admission;
pub mod allowance;
pub mod body_filter;
pub mod config;
pub mod control;
pub mod early;
pub mod fallback;
pub mod filter;
pub mod jwt;
pub mod linger;
pub mod listener;
pub mod meter;
pub mod metrics;
pub mod models;
pub mod openai_request;
pub mod principal;
pub mod ratelimit;
pub mod respond;
pub mod routes;
pub mod service;
pub mod settle;
pub mod shared_limits;
pub mod sse;
pub mod state;
pub mod tokens;
pub mod upstream;
pub mod usage;
