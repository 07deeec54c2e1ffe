//! Kubernetes resource quantities (`10m`, `32Mi`, `1.5`, `1e3`), checked here so a bad
//! annotation is refused with our message instead of the API server's.

use std::fmt;
use std::str::FromStr;

/// A non-negative quantity as written, with its value for comparisons.
#[derive(Clone, Debug, PartialEq)]
pub struct Quantity {
    text: String,
    value: f64,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a Kubernetes quantity (e.g. 100m, 0.5, 64Mi, 1Gi)")]
pub struct QuantityError(pub String);

const SUFFIXES: &[(&str, f64)] = &[
    ("Ki", 1024.0),
    ("Mi", 1_048_576.0),
    ("Gi", 1_073_741_824.0),
    ("Ti", 1_099_511_627_776.0),
    ("Pi", 1_125_899_906_842_624.0),
    ("Ei", 1_152_921_504_606_846_976.0),
    ("n", 1e-9),
    ("u", 1e-6),
    ("m", 1e-3),
    ("k", 1e3),
    ("M", 1e6),
    ("G", 1e9),
    ("T", 1e12),
    ("P", 1e15),
    ("E", 1e18),
];

// === impl Quantity ===

impl Quantity {
    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn value(&self) -> f64 {
        self.value
    }
}

impl FromStr for Quantity {
    type Err = QuantityError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || QuantityError(s.to_owned());
        let split = s
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(s.len());
        let (number, suffix) = s.split_at(split);
        let mantissa = parse_number(number).ok_or_else(err)?;
        let scale = parse_suffix(suffix).ok_or_else(err)?;
        Ok(Self {
            text: s.to_owned(),
            value: mantissa * scale,
        })
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Digits with at most one decimal point and at least one digit; no sign, because
/// resources are never negative.
fn parse_number(number: &str) -> Option<f64> {
    let digits = number.chars().filter(char::is_ascii_digit).count();
    let points = number.chars().filter(|c| *c == '.').count();
    if digits == 0 || points > 1 {
        return None;
    }
    number.parse().ok()
}

fn parse_suffix(suffix: &str) -> Option<f64> {
    if suffix.is_empty() {
        return Some(1.0);
    }
    if let Some((_, scale)) = SUFFIXES.iter().find(|(s, _)| *s == suffix) {
        return Some(*scale);
    }
    let exponent = suffix.strip_prefix(['e', 'E'])?;
    let unsigned = exponent.strip_prefix(['+', '-']).unwrap_or(exponent);
    if unsigned.is_empty() || !unsigned.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    exponent.parse::<i32>().ok().map(|e| 10f64.powi(e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_forms_kubernetes_accepts() {
        for (text, value) in [
            ("10m", 0.01),
            ("0.5", 0.5),
            ("1", 1.0),
            (".5", 0.5),
            ("2.", 2.0),
            ("64Mi", 67_108_864.0),
            ("1Gi", 1_073_741_824.0),
            ("1k", 1000.0),
            ("1e3", 1000.0),
            ("5E-1", 0.5),
            ("100n", 1e-7),
        ] {
            let q: Quantity = text.parse().unwrap();
            assert!((q.value() - value).abs() < 1e-12, "{text}: {}", q.value());
            assert_eq!(q.to_string(), text);
        }
    }

    #[test]
    fn rejects_malformed_or_negative_quantities() {
        for text in [
            "", "lots", "10 m", "-1", "+1", "1..5", "1MB", "1mi", "e3", "1e", "1e+", "Mi", ".",
        ] {
            assert_eq!(
                text.parse::<Quantity>(),
                Err(QuantityError(text.into())),
                "{text:?}"
            );
        }
    }

    #[test]
    fn compares_across_suffixes() {
        let small: Quantity = "500m".parse().unwrap();
        let big: Quantity = "1".parse().unwrap();
        assert!(small.value() < big.value());
        let mem: Quantity = "1Gi".parse().unwrap();
        let mem2: Quantity = "1000Mi".parse().unwrap();
        assert!(mem.value() > mem2.value());
    }
}
