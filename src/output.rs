//! Every text cf-run prints that came from a file or a session (paths,
//! link targets, registry fields, limit texts, claude's output) goes through
//! here: control characters are escaped, so none of it can drive the
//! terminal (move the cursor, retitle the window, hide a line).

/// `text` with control characters escaped (newlines kept): paths, link
/// targets and registry fields may come from elsewhere, and must not drive
/// the terminal.
pub fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(|c| c.is_control() && c != '\n') {
        return text.into();
    }
    let escape = |c: char| match c {
        '\n' => c.to_string(),
        c if c.is_control() => c.escape_default().to_string(),
        c => c.to_string(),
    };
    text.chars().map(escape).collect::<String>().into()
}

/// `n` and the word for that many: "1 file", "2 files".
pub fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// `at` in the local time zone, to the second, as the client shows times:
/// the date too when it is not today.
pub fn local(at: jiff::Timestamp) -> String {
    let zone = jiff::tz::TimeZone::system();
    let (at, today) = (
        at.to_zoned_datetime(zone.clone()),
        jiff::Timestamp::now().to_zoned_datetime(zone),
    );
    let format = if at.date() == today.date() {
        "%H:%M:%S %Z"
    } else {
        "%b %-d, %H:%M:%S %Z"
    };
    at.strftime(format).to_string()
}
