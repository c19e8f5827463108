//! Logging through the host: [`log`] and the [`trace!`](crate::trace),
//! [`debug!`](crate::debug), [`info!`](crate::info), [`warn!`](crate::warn)
//! and [`error!`](crate::error) macros, which format like `format!`.
//!
//! Inside a component each line goes to the host's policy log (which bounds
//! the output of one evaluation). Compiled for anything but wasm, as in a
//! policy's native unit tests, lines go to standard error.

pub use crate::bindings::base::plumbline::policy::host::Level;

/// Write one line to the policy log.
pub fn log(level: Level, message: &str) {
    #[cfg(target_arch = "wasm32")]
    crate::bindings::base::plumbline::policy::host::log(level, message);
    #[cfg(not(target_arch = "wasm32"))]
    eprintln!("[{level:?}] {message}");
}

/// Installs, once, a panic hook that logs the panic message (with its
/// location) at error level, on one line, so that the host's error for the
/// trap that follows comes with a reason.
pub(crate) fn install_panic_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            log(Level::Error, &panic_line(&info.to_string()));
        }));
    });
}

/// `panicked at src/lib.rs:3:5:\nmessage` as one log line:
/// `policy panicked at src/lib.rs:3:5: message`.
fn panic_line(panic: &str) -> String {
    format!("policy {}", panic.replace('\n', " "))
}

/// Log at [`Level::Trace`], formatting like `format!`.
#[macro_export]
macro_rules! trace {
    ($($arg:tt)+) => { $crate::log::log($crate::log::Level::Trace, &::std::format!($($arg)+)) };
}

/// Log at [`Level::Debug`], formatting like `format!`.
#[macro_export]
macro_rules! debug {
    ($($arg:tt)+) => { $crate::log::log($crate::log::Level::Debug, &::std::format!($($arg)+)) };
}

/// Log at [`Level::Info`], formatting like `format!`.
#[macro_export]
macro_rules! info {
    ($($arg:tt)+) => { $crate::log::log($crate::log::Level::Info, &::std::format!($($arg)+)) };
}

/// Log at [`Level::Warn`], formatting like `format!`.
#[macro_export]
macro_rules! warn {
    ($($arg:tt)+) => { $crate::log::log($crate::log::Level::Warn, &::std::format!($($arg)+)) };
}

/// Log at [`Level::Error`], formatting like `format!`.
#[macro_export]
macro_rules! error {
    ($($arg:tt)+) => { $crate::log::log($crate::log::Level::Error, &::std::format!($($arg)+)) };
}

#[cfg(test)]
mod tests {
    #[test]
    fn panic_messages_are_logged_on_one_line() {
        assert_eq!(
            super::panic_line("panicked at src/lib.rs:3:5:\nbad input\nsecond line"),
            "policy panicked at src/lib.rs:3:5: bad input second line"
        );
    }
}
