//! Time as the verifier sees it: Unix seconds passed in by the caller, never read from a clock.

/// Seconds since the Unix epoch.
pub type UnixTime = i64;

/// Why a timestamp could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an RFC 3339 timestamp")]
pub struct TimeError(pub String);

/// Parses an RFC 3339 timestamp (`2021-03-07T03:20:29Z`, fractions and offsets allowed) to
/// Unix seconds, rounding fractions down.
///
/// # Errors
///
/// [`TimeError`] for anything else.
pub fn parse_rfc3339(text: &str) -> Result<UnixTime, TimeError> {
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .map(time::OffsetDateTime::unix_timestamp)
        .map_err(|_| TimeError(text.to_owned()))
}

/// Formats Unix seconds as RFC 3339 UTC, for messages.
pub fn format_rfc3339(at: UnixTime) -> String {
    time::OffsetDateTime::from_unix_timestamp(at)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| format!("@{at}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_utc_fractions_and_offsets() {
        assert_eq!(parse_rfc3339("2021-01-12T11:53:27Z"), Ok(1_610_452_407));
        assert_eq!(parse_rfc3339("2022-10-31T23:59:59.999Z"), Ok(1_667_260_799));
        assert_eq!(
            parse_rfc3339("2021-01-12T12:53:27+01:00"),
            Ok(1_610_452_407)
        );
        assert!(parse_rfc3339("yesterday").is_err());
        assert_eq!(format_rfc3339(1_610_452_407), "2021-01-12T11:53:27Z");
    }
}
