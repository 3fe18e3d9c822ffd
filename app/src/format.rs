//! Numbers, shares and durations as every page shows them.

/// `1234567` → `1,234,567`.
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A count with its noun, singular for one: `1 session`, `2,000 events`.
pub fn counted(n: u64, one: &str, many: &str) -> String {
    format!("{} {}", count(n), if n == 1 { one } else { many })
}

/// A share 0–1 as a percentage with no decimals, or one below 10 %: `0.6412` → `64%`,
/// `0.034` → `3.4%`.
pub fn percent(share: f64) -> String {
    let p = share * 100.0;
    if p > 0.0 && p < 10.0 {
        format!("{p:.1}%")
    } else {
        format!("{p:.0}%")
    }
}

/// Seconds in the largest sensible unit: `42 s`, `3 min`, `2.5 h`, `4 d`.
pub fn duration(seconds: f64) -> String {
    let s = seconds.max(0.0);
    if s < 60.0 {
        format!("{s:.0} s")
    } else if s < 3_600.0 {
        format!("{:.0} min", s / 60.0)
    } else if s < 86_400.0 {
        let h = s / 3_600.0;
        if h < 10.0 {
            format!("{h:.1} h")
        } else {
            format!("{h:.0} h")
        }
    } else {
        format!("{:.0} d", s / 86_400.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_of_a_thing_is_singular() {
        assert_eq!(counted(1, "session", "sessions"), "1 session");
        assert_eq!(counted(0, "day", "days"), "0 days");
        assert_eq!(counted(2_000, "event", "events"), "2,000 events");
    }

    #[test]
    fn counts_get_thousands_separators() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1_000), "1,000");
        assert_eq!(count(1_234_567), "1,234,567");
    }

    #[test]
    fn small_shares_keep_a_decimal() {
        assert_eq!(percent(0.6412), "64%");
        assert_eq!(percent(0.034), "3.4%");
        assert_eq!(percent(0.0), "0%");
        assert_eq!(percent(1.0), "100%");
    }

    #[test]
    fn durations_pick_their_unit() {
        assert_eq!(duration(42.4), "42 s");
        assert_eq!(duration(185.0), "3 min");
        assert_eq!(duration(9_000.0), "2.5 h");
        assert_eq!(duration(50_000.0), "14 h");
        assert_eq!(duration(400_000.0), "5 d");
        assert_eq!(duration(-3.0), "0 s");
    }
}
