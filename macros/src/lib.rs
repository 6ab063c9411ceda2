//! The procedural macros behind simloop's test attribute. Use them through the `simloop`
//! crate (`#[simloop::test]`, feature `macros`), which this crate's expansions refer to.
//!
//! This crate is a skeleton for now: the attribute arrives with the next release.

#![warn(missing_docs, missing_debug_implementations, rust_2018_idioms)]

// simloop-tokio's macros for `--cfg simloop` builds; their code is in `tokio_attr.rs` and
// `select.rs`. Use them through simloop-tokio (`#[tokio::main]`, `#[tokio::test]`,
// `tokio::select!`), whose `__simloop` module their expansions refer to.
mod select;
mod tokio_attr;

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
