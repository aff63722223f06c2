//! A date of birth, and what it makes a person on a given day: an adult (18+), a minor
//! (13–17) or a child (under 13), as COPPA and the compliance policy count.

use chrono::{Datelike, NaiveDate};

use crate::store::AgeStatus;

/// A date of birth as providers and people write it: `YYYY-MM-DD` (Veriff, ISO 8601),
/// or `MM/DD/YYYY` as people in the US type it. None for anything else.
pub fn parse(text: &str) -> Option<NaiveDate> {
    let text = text.trim();
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .or_else(|_| NaiveDate::parse_from_str(text, "%m/%d/%Y"))
        .ok()
}

/// Whole years from `birth` to `on`; None when `birth` is after `on`.
pub fn years(birth: NaiveDate, on: NaiveDate) -> Option<u32> {
    if birth > on {
        return None;
    }
    let mut years = on.year() - birth.year();
    if (on.month(), on.day()) < (birth.month(), birth.day()) {
        years -= 1;
    }
    u32::try_from(years).ok()
}

/// What a person born on `birth` is on `on`; None for a date no living person was born
/// on (in the future, or more than 130 years ago): such a date proves nothing.
pub fn status(birth: NaiveDate, on: NaiveDate) -> Option<AgeStatus> {
    match years(birth, on)? {
        0..13 => Some(AgeStatus::Child),
        13..18 => Some(AgeStatus::Minor),
        18..=130 => Some(AgeStatus::Adult),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        parse(s).unwrap()
    }

    #[test]
    fn birthdays_count_on_the_day() {
        let on = d("2026-12-01");
        assert_eq!(status(d("2008-12-01"), on), Some(AgeStatus::Adult));
        assert_eq!(status(d("2008-12-02"), on), Some(AgeStatus::Minor));
        assert_eq!(status(d("2013-12-01"), on), Some(AgeStatus::Minor));
        assert_eq!(status(d("2013-12-02"), on), Some(AgeStatus::Child));
        assert_eq!(status(d("2026-12-01"), on), Some(AgeStatus::Child));
    }

    #[test]
    fn leap_day_births_turn_a_year_older_on_the_first_of_march() {
        let birth = d("2008-02-29");
        assert_eq!(status(birth, d("2026-02-28")), Some(AgeStatus::Minor));
        assert_eq!(status(birth, d("2026-03-01")), Some(AgeStatus::Adult));
    }

    #[test]
    fn impossible_dates_prove_nothing() {
        let on = d("2026-12-01");
        assert_eq!(status(d("2027-01-01"), on), None);
        assert_eq!(status(d("1890-01-01"), on), None);
        assert_eq!(parse("2026-02-30"), None);
        assert_eq!(parse("soon"), None);
        assert_eq!(parse("12/31/2000"), Some(d("2000-12-31")));
        assert_eq!(parse(" 2000-12-31\n"), Some(d("2000-12-31")));
    }
}
