//! Decimal text ↔ exact fixed-point integers (user input and report output, never protocol math).

use alloy_primitives::U256;
use serde::{Deserialize, Deserializer};

/// Parses a non-negative decimal such as `"1800.25"` into an integer with `decimals` decimals,
/// exactly (no float rounding). More fractional digits than `decimals` is an error.
pub fn parse_units(text: &str, decimals: u8) -> Result<U256, String> {
    let text = text.trim().replace('_', "");
    if text.is_empty() {
        return Err("empty number".into());
    }
    let (int_part, frac_part) = match text.split_once('.') {
        Some((i, f)) => (i.to_string(), f.to_string()),
        None => (text.clone(), String::new()),
    };
    if text.starts_with('-') {
        return Err(format!("{text} is negative"));
    }
    let all_digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
    if !all_digits(&int_part)
        || !all_digits(&frac_part)
        || (int_part.is_empty() && frac_part.is_empty())
    {
        return Err(format!("{text} is not a decimal number"));
    }
    let frac_trimmed = frac_part.trim_end_matches('0');
    if frac_trimmed.len() > decimals as usize {
        return Err(format!("{text} has more than {decimals} decimal places"));
    }
    let mut digits = if int_part.is_empty() {
        "0".to_string()
    } else {
        int_part
    };
    digits.push_str(frac_trimmed);
    digits.extend(std::iter::repeat_n(
        '0',
        decimals as usize - frac_trimmed.len(),
    ));
    U256::from_str_radix(&digits, 10).map_err(|e| format!("{text}: {e}"))
}

/// Formats an exact fixed-point integer as decimal text (trailing zeros trimmed).
pub fn format_units(value: U256, decimals: u8) -> String {
    let s = value.to_string();
    let d = decimals as usize;
    if d == 0 {
        return s;
    }
    let padded = format!("{s:0>width$}", width = d + 1);
    let (int_part, frac) = padded.split_at(padded.len() - d);
    let frac = frac.trim_end_matches('0');
    if frac.is_empty() {
        int_part.to_string()
    } else {
        format!("{int_part}.{frac}")
    }
}

/// A decimal written in TOML either as a string (`"1800.25"`, exact) or a number (`1800.25`).
/// Numbers are taken by their shortest decimal representation, so `0.1` means exactly 0.1.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(transparent)]
pub struct DecimalText(pub String);

impl<'de> Deserialize<'de> for DecimalText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Text(String),
            Int(i64),
            Float(f64),
        }
        Ok(Self(match Raw::deserialize(deserializer)? {
            Raw::Text(s) => s,
            Raw::Int(i) => i.to_string(),
            Raw::Float(f) => format!("{f}"),
        }))
    }
}

impl DecimalText {
    /// Exact value with `decimals` decimals.
    pub fn to_units(&self, decimals: u8) -> Result<U256, String> {
        parse_units(&self.0, decimals)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_exactly() {
        assert_eq!(
            parse_units("1800.25", 8).unwrap(),
            U256::from(180_025_000_000u64)
        );
        assert_eq!(parse_units("0.00000001", 8).unwrap(), U256::from(1));
        assert_eq!(parse_units("7", 0).unwrap(), U256::from(7));
        assert!(parse_units("0.000000001", 8).is_err());
        assert!(parse_units("-1", 8).is_err());
        assert!(parse_units("1e3", 8).is_err());
        assert!(parse_units("", 8).is_err());
    }

    #[test]
    fn formats_round_trip() {
        for s in ["1800.25", "0.00000001", "12", "0"] {
            assert_eq!(format_units(parse_units(s, 8).unwrap(), 8), s);
        }
    }
}
