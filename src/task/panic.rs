//! Panics as values: the message of a caught payload, and hints for messages with a known
//! cause. Shared by the task's `JoinError` and the loop's `LoopError`.

/// The panic message of a tokio API used without a tokio runtime.
const NO_REACTOR: &str = "there is no reactor running";

/// A hint for panic messages that have a known cause, or nothing.
pub(crate) fn hint(message: &str) -> &'static str {
    if message.contains(NO_REACTOR) {
        " (hint: a tokio API that needs tokio's own runtime ran on a simloop loop. Use \
         simloop's sleep and timeout, or run tokio code through the simloop-tokio drop-in \
         built with --cfg simloop; there, the one such method left is tokio's \
         mpsc::Sender::send_timeout: write tokio::time::timeout(d, tx.send(v)) instead)"
    } else {
        ""
    }
}

/// The text of a caught panic payload.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(a panic payload that is not a string)".to_string()
    }
}
