//! Instants as insync writes them (`YYYY-MM-DDTHH:MI:SS.US+00`, what `to_char` of a
//! `timestamptz` at UTC gives with [`super::WatermarkKind::Timestamptz`]'s format), computed
//! without a statement: a run reads the clock several times, and each statement costs a parse
//! and a plan on a session's first run.

/// Microseconds since 2000-01-01 00:00:00 UTC (PostgreSQL's `TimestampTz`) as ISO UTC text.
pub fn utc_text(micros: i64) -> String {
    const DAY: i64 = 86_400_000_000;
    let days = micros.div_euclid(DAY);
    let of_day = micros.rem_euclid(DAY);
    let (year, month, day) = civil_from_days(days + 10_957); // 1970-01-01 → 2000-01-01
    let secs = of_day / 1_000_000;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:06}+00",
        secs / 3600,
        secs / 60 % 60,
        secs % 60,
        of_day % 1_000_000
    )
}

/// Year, month, day of a count of days since 1970-01-01 (proleptic Gregorian calendar;
/// H. Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::utc_text;

    #[test]
    fn instants_render_as_to_char_does() {
        assert_eq!(utc_text(0), "2000-01-01T00:00:00.000000+00");
        assert_eq!(utc_text(-1), "1999-12-31T23:59:59.999999+00");
        // 2000 is a leap year, 2100 is not.
        assert_eq!(
            utc_text(59 * 86_400_000_000),
            "2000-02-29T00:00:00.000000+00"
        );
        // SELECT extract(epoch FROM '2026-11-21 18:35:30.123456+00'::timestamptz
        //   - '2000-01-01 00:00:00+00') * 1e6  →  848601330123456
        assert_eq!(
            utc_text(848_601_330_123_456),
            "2026-11-21T18:35:30.123456+00"
        );
        assert_eq!(
            utc_text(3_187_296_000_000_000),
            "2101-01-01T00:00:00.000000+00"
        );
    }
}
