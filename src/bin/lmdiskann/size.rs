//! Sizes on the command line: `512MiB`, `2GiB`, `1.5GB`, `300000000`.

/// Parses a size in bytes. Binary units (`KiB`, `MiB`, `GiB`, `TiB`, and the bare `K`,
/// `M`, `G`, `T` that `docker --memory` and `ulimit` read the same way) count in 1024s,
/// decimal ones (`KB`, `MB`, `GB`, `TB`) in 1000s; case does not matter; a number alone
/// is bytes.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let trimmed = text.trim();
    let split = trimmed.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(split);
    let unit = unit.trim().to_ascii_lowercase();
    let scale: f64 = match unit.as_str() {
        "" | "b" => 1.0,
        "k" | "kib" => 1024.0,
        "m" | "mib" => 1024.0 * 1024.0,
        "g" | "gib" => 1024.0 * 1024.0 * 1024.0,
        "t" | "tib" => 1024.0f64.powi(4),
        "kb" => 1e3,
        "mb" => 1e6,
        "gb" => 1e9,
        "tb" => 1e12,
        _ => return Err(format!("'{text}' has an unknown unit '{unit}': write a size such as 512MiB, 2GiB or 1.5GB")),
    };
    let value: f64 = number.parse().map_err(|_| format!("'{text}' is not a size: write one such as 512MiB, 2GiB or 1.5GB"))?;
    let bytes = value * scale;
    if !(bytes >= 1.0 && bytes < u64::MAX as f64) {
        return Err(format!("'{text}' is not a usable size: give at least 1 byte, such as 512MiB"));
    }
    Ok(bytes.round() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_in_binary_and_decimal_units() {
        assert_eq!(parse_size("512MiB"), Ok(512 << 20));
        assert_eq!(parse_size("2GiB"), Ok(2 << 30));
        assert_eq!(parse_size("2g"), Ok(2 << 30));
        assert_eq!(parse_size("1.5GB"), Ok(1_500_000_000));
        assert_eq!(parse_size("300000"), Ok(300_000));
        assert_eq!(parse_size(" 64 mib "), Ok(64 << 20));
        assert_eq!(parse_size("0.5KiB"), Ok(512));
        for bad in ["", "MiB", "12XB", "-5MiB", "0", "1.2.3G", "1e9"] {
            let err = parse_size(bad).unwrap_err();
            assert!(err.contains("512MiB"), "{bad}: {err}");
        }
    }
}
