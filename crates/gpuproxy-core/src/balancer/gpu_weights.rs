//! Default `weighted_round_robin` weights derived from GPU specs.
//!
//! A weight is a relative serving capacity. For a known model it is the model's
//! approximate dense FP16/BF16 tensor throughput in units of an NVIDIA T4 (65 TFLOPS),
//! times the GPU count. For an unknown model it falls back to the best signal the
//! labels carry: the rental price (markets price by performance; one unit per
//! $0.35/h, a T4's typical price) or else VRAM (one unit per 16 GB). Always >= 1.
//! Callers that know better pass an explicit weight.

use super::backend::BackendLabels;

/// (model name fragment, upper-case; relative throughput, T4 = 1). Checked in order,
/// so more specific names come first.
const MODEL_FACTORS: &[(&str, u32)] = &[
    ("B200", 35),
    ("H200", 15),
    ("H100 PCIE", 12),
    ("H100", 15),
    ("GH200", 15),
    ("MI300", 20),
    ("A100", 5),
    ("L40S", 6),
    ("L40", 3),
    ("RTX 6000 ADA", 6),
    ("A6000", 2),
    ("RTX 5090", 4),
    ("RTX 4090", 3),
    ("4090", 3),
    ("RTX 3090", 1),
    ("3090", 1),
    ("A10G", 2),
    ("A10", 2),
    ("L4", 2),
    ("V100", 2),
    ("A40", 2),
    ("T4", 1),
];

const T4_PRICE_MICROS_PER_HOUR: u64 = 350_000;
const VRAM_GB_PER_UNIT: u32 = 16;

/// The relative throughput of one GPU of `model`, if the model is known.
pub fn model_factor(model: &str) -> Option<u32> {
    let upper = model.to_ascii_uppercase();
    MODEL_FACTORS
        .iter()
        .find(|(frag, _)| upper.contains(frag))
        .map(|&(_, f)| f)
}

/// The default weight for a backend with these labels (see the module docs).
pub fn default_weight(labels: &BackendLabels) -> u32 {
    let count = labels.gpu_count.max(1);
    if let Some(f) = labels.gpu_model.as_deref().and_then(model_factor) {
        return f.saturating_mul(count).max(1);
    }
    if labels.price_per_hour_micros > 0 {
        // Price is for the whole backend already.
        let units = labels
            .price_per_hour_micros
            .div_ceil(T4_PRICE_MICROS_PER_HOUR);
        return u32::try_from(units).unwrap_or(u32::MAX).max(1);
    }
    (labels.vram_gb / VRAM_GB_PER_UNIT)
        .saturating_mul(count)
        .max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(model: Option<&str>, count: u32, vram: u32, price: u64) -> BackendLabels {
        BackendLabels {
            gpu_model: model.map(str::to_owned),
            gpu_count: count,
            vram_gb: vram,
            price_per_hour_micros: price,
            ..BackendLabels::default()
        }
    }

    #[test]
    fn known_models_rank_by_throughput() {
        let h100 = default_weight(&labels(Some("NVIDIA H100 80GB HBM3"), 1, 80, 0));
        let a100 = default_weight(&labels(Some("A100-SXM4-80GB"), 1, 80, 0));
        let t4 = default_weight(&labels(Some("Tesla T4"), 1, 16, 0));
        assert!(h100 > a100 && a100 > t4 && t4 == 1);
        assert_eq!(default_weight(&labels(Some("RTX 4090"), 2, 24, 0)), 6);
        assert_eq!(default_weight(&labels(Some("H100 PCIe"), 1, 80, 0)), 12);
    }

    #[test]
    fn unknown_models_fall_back_to_price_then_vram() {
        assert_eq!(
            default_weight(&labels(Some("Mystery"), 1, 48, 1_400_000)),
            4
        );
        assert_eq!(default_weight(&labels(None, 2, 48, 0)), 6);
        assert_eq!(default_weight(&labels(None, 0, 0, 0)), 1);
    }
}
