//! Human durations in config files: `250ms`, `10s`, `5m`, `1h`.

use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// Parses `<number><unit>` with unit `ms`, `s`, `m` or `h`.
pub fn parse(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("duration `{text}` has no unit: write e.g. `10s` or `250ms`"))?;
    let (number, unit) = text.split_at(split);
    let value: u64 = number
        .parse()
        .map_err(|_| format!("duration `{text}` must start with a whole number, e.g. `10s`"))?;
    let millis = match unit {
        "ms" => Some(value),
        "s" => value.checked_mul(1_000),
        "m" => value.checked_mul(60_000),
        "h" => value.checked_mul(3_600_000),
        _ => {
            return Err(format!(
                "duration `{text}` has unknown unit `{unit}`: use ms, s, m or h"
            ));
        }
    };
    millis
        .map(Duration::from_millis)
        .ok_or_else(|| format!("duration `{text}` is too large"))
}

/// serde adapter for optional durations.
pub fn de_opt<'de, D: Deserializer<'de>>(de: D) -> Result<Option<Duration>, D::Error> {
    let text = Option::<String>::deserialize(de)?;
    text.map(|t| parse(&t).map_err(serde::de::Error::custom))
        .transpose()
}
