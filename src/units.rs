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

/// `(year, month, day, hour, minute, second)` of a unix timestamp, UTC (proleptic Gregorian).
pub fn utc_parts(timestamp: u64) -> (i64, u32, u32, u32, u32, u32) {
    let days = (timestamp / 86_400) as i64;
    let secs = timestamp % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (
        year,
        month,
        day,
        (secs / 3_600) as u32,
        (secs % 3_600 / 60) as u32,
        (secs % 60) as u32,
    )
}

/// A unix timestamp as `2021-05-19 04:00 UTC`.
pub fn utc_text(timestamp: u64) -> String {
    let (y, mo, d, h, mi, _) = utc_parts(timestamp);
    format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02} UTC")
}

/// A unix timestamp as `04:00` (UTC hours and minutes, for chart ticks).
pub fn utc_hm(timestamp: u64) -> String {
    let (_, _, _, h, mi, _) = utc_parts(timestamp);
    format!("{h:02}:{mi:02}")
}

/// `value` with `decimals` decimals and thousands separators: `1234567.891` → `1,234,567.89`.
pub fn thousands(value: f64, decimals: usize) -> String {
    if !value.is_finite() {
        return value.to_string();
    }
    let text = format!("{:.*}", decimals, value.abs());
    let (int, frac) = match text.split_once('.') {
        Some((i, f)) => (i.to_string(), format!(".{f}")),
        None => (text.clone(), String::new()),
    };
    let mut grouped = String::new();
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    let negative = value < 0.0 && text.chars().any(|c| c.is_ascii_digit() && c != '0');
    format!("{}{grouped}{frac}", if negative { "-" } else { "" })
}

#[cfg(test)]
mod report_format_tests {
    use super::*;

    #[test]
    fn utc_and_thousands() {
        assert_eq!(utc_text(1_621_396_800), "2021-05-19 04:00 UTC");
        assert_eq!(utc_text(0), "1970-01-01 00:00 UTC");
        assert_eq!(utc_text(951_782_400), "2000-02-29 00:00 UTC");
        assert_eq!(thousands(1_234_567.891, 2), "1,234,567.89");
        assert_eq!(thousands(-999.5, 0), "-1,000");
        assert_eq!(thousands(-0.001, 2), "0.00");
        assert_eq!(thousands(12.0, 0), "12");
    }
}
