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

/// `text` cut to `chars` characters, an ellipsis marking the cut, so a label never spills
/// out of its room (Sankey labels, chart axes).
pub fn fit(text: &str, chars: usize) -> String {
    if text.chars().count() <= chars {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(chars.saturating_sub(1)).collect();
    cut.push('…');
    cut
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

/// Whole seconds exactly, in the largest unit that divides them: `90 s`, `5 min`, `1 h`,
/// `3 d` (how rules show their times, and the editor reads them back with [`parse_span`]).
pub fn span(seconds: i64) -> String {
    match seconds {
        0 => "0 s".to_string(),
        s if s % 86_400 == 0 => format!("{} d", s / 86_400),
        s if s % 3_600 == 0 => format!("{} h", s / 3_600),
        s if s % 60 == 0 => format!("{} min", s / 60),
        s => format!("{s} s"),
    }
}

/// A time typed with its unit (`90 s`, `5 min`, `1.5 h`, `3 d`, `2 weeks`) in seconds; the
/// error says how to write it. `0` alone is zero.
pub fn parse_span(text: &str) -> Result<i64, String> {
    let t = text.trim().to_lowercase();
    let how = "write a number and a unit, e.g. 90 s, 5 min, 2 h or 3 d";
    if t == "0" {
        return Ok(0);
    }
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (number, unit) = (t[..split].trim(), t[split..].trim());
    let value: f64 = number.parse().map_err(|_| format!("{text:?} is not a time; {how}"))?;
    let unit_seconds = match unit {
        "s" | "sec" | "secs" | "second" | "seconds" => 1.0,
        "m" | "min" | "mins" | "minute" | "minutes" => 60.0,
        "h" | "hr" | "hrs" | "hour" | "hours" => 3_600.0,
        "d" | "day" | "days" => 86_400.0,
        "w" | "week" | "weeks" => 7.0 * 86_400.0,
        "" => return Err(format!("{text:?} has no unit; {how}")),
        other => return Err(format!("{other:?} is not a unit of time; {how}")),
    };
    Ok((value * unit_seconds).round() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_span_is_shown_in_its_largest_whole_unit_and_read_back() {
        for (seconds, text) in [(90, "90 s"), (300, "5 min"), (3_600, "1 h"), (259_200, "3 d"), (0, "0 s")] {
            assert_eq!(span(seconds), text);
            assert_eq!(parse_span(text), Ok(seconds), "{text}");
        }
        assert_eq!(parse_span("1.5 h"), Ok(5_400));
        assert_eq!(parse_span("2 weeks"), Ok(1_209_600));
        assert_eq!(parse_span(" 10min "), Ok(600));
        assert_eq!(parse_span("0"), Ok(0));
        assert!(parse_span("300").unwrap_err().contains("has no unit"));
        assert!(parse_span("5 fortnights").unwrap_err().contains("not a unit of time"));
        assert!(parse_span("soon").unwrap_err().contains("not a time"));
    }

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
