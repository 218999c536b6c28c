//! `/v1/models` and `/v1/models/{id}` from the route table (OpenAI list / retrieve).

use std::sync::Arc;

use bytes::Bytes;
use serde_json::json;

use super::respond::ApiError;
use super::state::DataPlane;

/// model -> owned_by ("you" for the caller's own workers, else the shared pool's name).
fn visible(dp: &DataPlane, user_id: &str) -> Vec<(Arc<str>, String)> {
    let table = dp.routes.snapshot();
    table
        .models_for(user_id)
        .into_iter()
        .map(|model| {
            let owner = table
                .route(user_id, &model)
                .and_then(|r| {
                    r.pools
                        .iter()
                        .find(|p| p.pool.snapshot().routable > 0)
                        .map(|p| {
                            if &*p.owner_id == user_id {
                                "you".to_owned()
                            } else {
                                p.scope
                                    .strip_prefix("shared:")
                                    .unwrap_or(&p.scope)
                                    .to_owned()
                            }
                        })
                })
                .unwrap_or_else(|| "gpuproxy".to_owned());
            (model, owner)
        })
        .collect()
}

fn object(dp: &DataPlane, model: &str, owner: &str) -> serde_json::Value {
    json!({"id": model, "object": "model", "created": dp.started_unix, "owned_by": owner})
}

pub fn list(dp: &DataPlane, user_id: &str) -> Bytes {
    let data: Vec<_> = visible(dp, user_id)
        .iter()
        .map(|(m, o)| object(dp, m, o))
        .collect();
    Bytes::from(serde_json::to_vec(&json!({"object": "list", "data": data})).unwrap_or_default())
}

pub fn get(dp: &DataPlane, user_id: &str, model: &str) -> Result<Bytes, ApiError> {
    visible(dp, user_id)
        .iter()
        .find(|(m, _)| &**m == model)
        .map(|(m, o)| Bytes::from(serde_json::to_vec(&object(dp, m, o)).unwrap_or_default()))
        .ok_or_else(|| {
            ApiError::new(
                404,
                format!("The model `{model}` does not exist or you do not have access to it."),
            )
            .param("model")
            .code("model_not_found")
        })
}
