//! The tokenizer's `expires` field: a cookie-style UTC time such as
//! `Fri, 22-Nov-2024 11:05:00 UTC` (Python `%a, %d-%b-%Y %H:%M:%S UTC`,
//! written with the C locale's English names).

use tessera_core::Timestamp;

const WEEKDAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// The instant `text` names, or `None` if it is not in the tokenizer's
/// format. The weekday is checked against the date: a mismatch means the
/// value was not written by the tokenizer.
pub(super) fn parse(text: &str) -> Option<Timestamp> {
    let (weekday, rest) = text.split_once(", ")?;
    let (date, rest) = rest.split_once(' ')?;
    let time = rest.strip_suffix(" UTC")?;

    let mut date_parts = date.split('-');
    let day = number(date_parts.next()?, 2)?;
    let month_name = date_parts.next()?;
    let month = MONTHS.iter().position(|m| *m == month_name)?;
    let year = number(date_parts.next()?, 4)?;
    if date_parts.next().is_some() {
        return None;
    }
    let mut time_parts = time.split(':');
    let hour = number(time_parts.next()?, 2)?;
    let minute = number(time_parts.next()?, 2)?;
    let second = number(time_parts.next()?, 2)?;
    if time_parts.next().is_some() || hour > 23 || minute > 59 || second > 59 {
        return None;
    }

    let month = i64::try_from(month).ok()? + 1;
    if day < 1 || day > days_in_month(year, month) {
        return None;
    }
    let days = days_from_civil(year, month, day);
    // 1970-01-01 was a Thursday.
    let weekday_index = usize::try_from((days + 3).rem_euclid(7)).ok()?;
    if WEEKDAYS[weekday_index] != weekday {
        return None;
    }
    Some(Timestamp::from_secs(
        days * 86_400 + hour * 3600 + minute * 60 + second,
    ))
}

/// Exactly `width` ASCII digits.
fn number(text: &str, width: usize) -> Option<i64> {
    if text.len() != width || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to the given Gregorian date, counting years from
/// March so that the leap day ends each year.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let march_month = (month + 9) % 12;
    let day_of_year = (153 * march_month + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_tokenizers_format() {
        // `date -u -d '2024-11-22 11:05:00' +%s`
        assert_eq!(
            parse("Fri, 22-Nov-2024 11:05:00 UTC"),
            Some(Timestamp::from_secs(1_732_273_500))
        );
        assert_eq!(
            parse("Thu, 01-Jan-1970 00:00:00 UTC"),
            Some(Timestamp::from_secs(0))
        );
        assert_eq!(
            parse("Thu, 29-Feb-2024 23:59:59 UTC"),
            Some(Timestamp::from_secs(1_709_251_199))
        );
        assert_eq!(
            parse("Tue, 01-Dec-2026 08:33:51 UTC"),
            Some(Timestamp::from_secs(1_796_114_031))
        );
    }

    #[test]
    fn refuses_anything_else() {
        for text in [
            "",
            "Fri, 22-Nov-2024 11:05:00",
            "Fri, 22-Nov-2024 11:05:00 GMT",
            "Sat, 22-Nov-2024 11:05:00 UTC",
            "Fri, 22-nov-2024 11:05:00 UTC",
            "Fri, 22-Nov-24 11:05:00 UTC",
            "Fri, 2-Nov-2024 11:05:00 UTC",
            "Fri, 22-Nov-2024 24:05:00 UTC",
            "Fri, 22-Nov-2024 11:05 UTC",
            "Thu, 29-Feb-2023 11:05:00 UTC",
            "Fri, 31-Nov-2024 11:05:00 UTC",
            "Fri, 22-Nov-2024 11:05:0a UTC",
            "2024-11-22T11:05:00Z",
        ] {
            assert_eq!(parse(text), None, "{text}");
        }
    }
}
