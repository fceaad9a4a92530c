//! How the reports round the figures they compute.

/// Round to one decimal, writing −0 as 0 (every rate and score the rollups report).
pub fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0 + 0.0
}

/// `x` to 2 decimals: a mean of 6.333… reads 6.33.
pub fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0 + 0.0
}
