//! The procedural macros behind simloop's test attribute. Use them through the `simloop`
//! crate (`#[simloop::test]`, feature `macros`, on by default), which this crate's
//! expansions refer to as `::simloop`.

#![warn(missing_docs, missing_debug_implementations, rust_2018_idioms)]

// simloop-tokio's macros for `--cfg simloop` builds; their code is in `tokio_attr.rs` and
// `select.rs`. Use them through simloop-tokio (`#[tokio::main]`, `#[tokio::test]`,
// `tokio::select!`), whose `__simloop` module their expansions refer to.
mod select;
mod test_attr;
mod tokio_attr;

/// `#[simloop::test]`: a `#[test]` that runs the function on a fresh simloop loop, and fails
/// with the error and the tail of the trace if the run fails.
///
/// On an `async fn name()` (returning `()` or `Result<(), E: Debug>`), the body is the main
/// future of `run_until_complete`; on a `fn name(lp: &mut EventLoop)`, the function drives
/// the loop itself (`call_soon`, `call_later`, `run`, ...). A `LoopError`, an `Err` or a
/// panic fails the test. Arguments, all optional:
///
/// - `seeds = N`: explore the schedules of seeds `0..N` (`SIMLOOP_SEEDS=start..end`
///   overrides the range); a failure is shrunk and reported with its replay token and the
///   line that pins it, e.g. `#[simloop::test(replay = "S1:1")]`.
/// - `strategy = random | pct(D) | mixed(D)` (also `search = ...`): which schedules
///   (`simloop::Search`; default `mixed(3)`). Needs `seeds`.
/// - `jitter = "1ms"`: timers may fire up to this late, chosen by the schedule. Needs `seeds`.
/// - `replay = "S1:..."`: run only this schedule (a regression pinned from a report).
/// - `time_limit = "1h"`, `step_limit = N`, `panic_policy = fail | report`: the loop's
///   `Builder` settings.
/// - `trace`: record every run, print the trace, and report all of it on failure.
///
/// Durations are a number and a unit: `ns`, `us`, `ms`, `s`, `m`, `h` (`"1.5s"`, `"1h30m"`),
/// checked at compile time. `SIMLOOP_REPLAY=<token>` replays that one schedule in every
/// simloop test. The expansion is one call of `simloop::testing::run`, whose docs say what
/// each mode does.
///
/// ```ignore
/// #[simloop::test]
/// async fn times_out() {
///     let slow = simloop::sleep(std::time::Duration::from_secs(5));
///     assert!(simloop::timeout(std::time::Duration::from_secs(1), slow).await.is_err());
///     assert_eq!(simloop::now(), simloop::Instant::from_secs(1));
/// }
/// ```
#[proc_macro_attribute]
pub fn test(
    args: proc_macro::TokenStream,
    item: proc_macro::TokenStream,
) -> proc_macro::TokenStream {
    match test_attr::expand(args.into(), item.into()) {
        Ok(tokens) => tokens.into(),
        Err(e) => e.into_compile_error().into(),
    }
}

/// simloop-tokio's `#[tokio::main]` under `--cfg simloop`: the function body runs on a
/// simloop loop through simloop-tokio's `Runtime::block_on`.
#[doc(hidden)]
#[proc_macro_attribute]
pub fn tokio_main(
    args: proc_macro::TokenStream,
    item: proc_macro::TokenStream,
) -> proc_macro::TokenStream {
    tokio_attr::main(args.into(), item.into()).into()
}

/// simloop-tokio's `#[tokio::test]` under `--cfg simloop`: a `#[test]` that runs the body on
/// a fresh simloop loop (or explores schedules under `SIMLOOP_SEEDS`, replays one under
/// `SIMLOOP_REPLAY`).
#[doc(hidden)]
#[proc_macro_attribute]
pub fn tokio_test(
    args: proc_macro::TokenStream,
    item: proc_macro::TokenStream,
) -> proc_macro::TokenStream {
    tokio_attr::test(args.into(), item.into()).into()
}

/// simloop-tokio's `select!` under `--cfg simloop`; the input starts with simloop-tokio's
/// path and a `;`.
#[doc(hidden)]
#[proc_macro]
pub fn tokio_select(input: proc_macro::TokenStream) -> proc_macro::TokenStream {
    select::select(input.into()).into()
}
