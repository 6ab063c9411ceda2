//! `#[tokio::main]` and `#[tokio::test]` for simloop-tokio's `--cfg simloop` builds.
//!
//! Both accept tokio's arguments (`flavor`, `worker_threads`, `start_paused`, `crate`,
//! `unhandled_panic`, `name`); every flavor runs on one simulated thread, and the clock is
//! always virtual, so only `crate` changes the expansion. A test expands to a plain
//! `#[test]` that hands a body factory to `<crate>::__simloop::run_test`, which builds a
//! simloop loop per run (one FIFO run, one replayed schedule under `SIMLOOP_REPLAY`, or an
//! exploration under `SIMLOOP_SEEDS`). `main` expands to `Runtime::block_on`, as tokio's does.

use proc_macro2::TokenStream;
use quote::{quote, ToTokens};
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::{Expr, ExprLit, ItemFn, Lit, Meta, ReturnType, Token};

/// What the attribute's arguments say that matters here.
struct Config {
    /// `crate = "path"`: where simloop-tokio is (default `tokio`, as the renamed dependency).
    krate: TokenStream,
}

const KNOWN: &str = "expected one of: `flavor`, `worker_threads`, `start_paused`, `crate`, \
                     `unhandled_panic`, `name`";

fn parse_config(args: TokenStream, macro_name: &str) -> syn::Result<Config> {
    let metas = Punctuated::<Meta, Token![,]>::parse_terminated.parse2(args)?;
    let mut krate = None;
    for meta in metas {
        match meta {
            Meta::NameValue(nv) => {
                let name = nv
                    .path
                    .get_ident()
                    .ok_or_else(|| syn::Error::new_spanned(&nv.path, "Must have specified ident"))?
                    .to_string();
                let lit = match &nv.value {
                    Expr::Lit(ExprLit { lit, .. }) => lit,
                    other => return Err(syn::Error::new_spanned(other, "Must be a literal")),
                };
                match name.as_str() {
                    "flavor" => match lit {
                        Lit::Str(s)
                            if matches!(
                                s.value().as_str(),
                                "current_thread" | "multi_thread" | "local"
                            ) => {}
                        _ => {
                            return Err(syn::Error::new_spanned(
                                lit,
                                "No such runtime flavor; the runtime flavors are: \
                                 `current_thread`, `multi_thread` and `local`",
                            ))
                        }
                    },
                    "worker_threads" => {
                        if !matches!(lit, Lit::Int(_)) {
                            return Err(syn::Error::new_spanned(
                                lit,
                                "Failed to parse value of `worker_threads` as integer.",
                            ));
                        }
                    }
                    "start_paused" => {
                        if !matches!(lit, Lit::Bool(_)) {
                            return Err(syn::Error::new_spanned(
                                lit,
                                "Failed to parse value of `start_paused` as bool.",
                            ));
                        }
                    }
                    "name" | "unhandled_panic" => {}
                    "crate" => match lit {
                        Lit::Str(s) => {
                            let path: syn::Path = s.parse()?;
                            krate = Some(path.into_token_stream());
                        }
                        _ => {
                            return Err(syn::Error::new_spanned(
                                lit,
                                "Failed to parse value of `crate` as path.",
                            ))
                        }
                    },
                    other => {
                        return Err(syn::Error::new_spanned(
                            &nv.path,
                            format!("Unknown attribute {other} is specified; {KNOWN}."),
                        ))
                    }
                }
            }
            Meta::Path(path) => {
                let name = path.to_token_stream().to_string();
                let msg = match name.as_str() {
                    "multi_thread" | "threaded_scheduler" => format!(
                        "Set the runtime flavor with #[{macro_name}(flavor = \"multi_thread\")]."
                    ),
                    "current_thread" | "basic_scheduler" | "single_threaded" => format!(
                        "Set the runtime flavor with #[{macro_name}(flavor = \"current_thread\")]."
                    ),
                    _ => format!("Unknown attribute {name} is specified; {KNOWN}."),
                };
                return Err(syn::Error::new_spanned(path, msg));
            }
            Meta::List(list) => {
                return Err(syn::Error::new_spanned(
                    list,
                    "Unknown attribute inside the macro",
                ))
            }
        }
    }
    Ok(Config {
        krate: krate.unwrap_or_else(|| quote!(tokio)),
    })
}

/// The attribute's arguments and the function it is on.
fn parse(args: TokenStream, item: TokenStream, macro_name: &str) -> syn::Result<(Config, ItemFn)> {
    Ok((parse_config(args, macro_name)?, parse_fn(item)?))
}

fn parse_fn(item: TokenStream) -> syn::Result<ItemFn> {
    let input: ItemFn = syn::parse2(item)?;
    if input.sig.asyncness.is_none() {
        return Err(syn::Error::new_spanned(
            input.sig.fn_token,
            "the `async` keyword is missing from the function declaration",
        ));
    }
    Ok(input)
}

/// `#[tokio::test]`.
pub(crate) fn test(args: TokenStream, item: TokenStream) -> TokenStream {
    let (config, input) = match parse(args, item, "tokio::test") {
        Ok(parsed) => parsed,
        Err(e) => return e.into_compile_error(),
    };
    if !input.sig.inputs.is_empty() {
        return syn::Error::new_spanned(
            &input.sig.inputs,
            "the test function cannot accept arguments",
        )
        .into_compile_error();
    }
    let ItemFn {
        attrs,
        vis,
        mut sig,
        block,
        ..
    } = input;
    sig.asyncness = None;
    let krate = config.krate;
    let output = match &sig.output {
        ReturnType::Default => quote!(()),
        ReturnType::Type(_, ty) => quote!(#ty),
    };
    let name = &sig.ident;
    quote! {
        #(#attrs)*
        #[::core::prelude::v1::test]
        #vis #sig {
            let body = || -> ::std::pin::Pin<::std::boxed::Box<dyn ::core::future::Future<Output = #output>>> {
                ::std::boxed::Box::pin(async move #block)
            };
            #krate::__simloop::run_test(
                ::core::concat!(::core::module_path!(), "::", ::core::stringify!(#name)),
                &body,
            )
        }
    }
}

/// `#[tokio::main]`.
pub(crate) fn main(args: TokenStream, item: TokenStream) -> TokenStream {
    let (config, input) = match parse(args, item, "tokio::main") {
        Ok(parsed) => parsed,
        Err(e) => return e.into_compile_error(),
    };
    if input.sig.ident == "main" && !input.sig.inputs.is_empty() {
        return syn::Error::new_spanned(
            &input.sig.ident,
            "the main function cannot accept arguments",
        )
        .into_compile_error();
    }
    let ItemFn {
        attrs,
        vis,
        mut sig,
        block,
        ..
    } = input;
    sig.asyncness = None;
    let krate = config.krate;
    quote! {
        #(#attrs)*
        #vis #sig {
            let body = async move #block;
            #krate::__simloop::run_main(body)
        }
    }
}
