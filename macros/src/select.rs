//! `tokio::select!` for simloop-tokio's `--cfg simloop` builds.
//!
//! The syntax and semantics are tokio's (`biased;`, `pattern = future, if precondition =>
//! handler`, `else => ...`): preconditions are evaluated first, then every branch's future
//! (disabled ones too), then the futures are polled starting at one branch and going round;
//! a completed future whose output does not match its pattern disables its branch; when
//! every branch is disabled the `else` branch runs (or it panics without one). Where tokio
//! draws the starting branch from a thread-local random generator, this draws it with
//! `simloop::choose(branches)`, a choice of the loop's schedule: FIFO starts at the first
//! branch, exploration varies it, a replay token repeats it. `biased;` always starts at 0.
//!
//! The input is `<path of simloop-tokio> ; <select body>`: simloop-tokio's `select!` is a
//! `macro_rules!` that passes its `$crate` in front.

use proc_macro2::{Span, TokenStream, TokenTree};
use quote::{format_ident, quote};
use syn::parse::{Parse, ParseStream};
use syn::{Expr, Pat, Token};

struct Branch {
    pat: Pat,
    fut: Expr,
    cond: Option<Expr>,
    handler: Expr,
}

struct Select {
    krate: TokenStream,
    biased: bool,
    branches: Vec<Branch>,
    otherwise: Option<Expr>,
}

/// A handler: a block (no comma needed after it) or an expression (a comma before the next
/// branch).
fn parse_handler(input: ParseStream<'_>) -> syn::Result<(Expr, bool)> {
    if input.peek(syn::token::Brace) {
        let block: syn::Block = input.parse()?;
        let expr = Expr::Block(syn::ExprBlock {
            attrs: Vec::new(),
            label: None,
            block,
        });
        Ok((expr, true))
    } else {
        Ok((input.parse()?, false))
    }
}

impl Parse for Select {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let mut krate = TokenStream::new();
        while !input.peek(Token![;]) {
            let tt: TokenTree = input.parse()?;
            krate.extend([tt]);
        }
        input.parse::<Token![;]>()?;
        let biased = if input.peek(syn::Ident) && input.peek2(Token![;]) {
            let fork = input.fork();
            let ident: syn::Ident = fork.parse()?;
            if ident == "biased" {
                input.parse::<syn::Ident>()?;
                input.parse::<Token![;]>()?;
                true
            } else {
                false
            }
        } else {
            false
        };
        let mut branches = Vec::new();
        let mut otherwise = None;
        while !input.is_empty() {
            if input.peek(Token![else]) {
                input.parse::<Token![else]>()?;
                input.parse::<Token![=>]>()?;
                let (expr, _) = parse_handler(input)?;
                if input.peek(Token![,]) {
                    input.parse::<Token![,]>()?;
                }
                if !input.is_empty() {
                    return Err(input.error("the `else` branch of select! must come last"));
                }
                otherwise = Some(expr);
                break;
            }
            let pat = Pat::parse_multi_with_leading_vert(input)?;
            input.parse::<Token![=]>()?;
            let fut: Expr = input.parse()?;
            let cond = if input.peek(Token![,]) && input.peek2(Token![if]) {
                input.parse::<Token![,]>()?;
                input.parse::<Token![if]>()?;
                Some(input.parse::<Expr>()?)
            } else {
                None
            };
            input.parse::<Token![=>]>()?;
            let (handler, is_block) = parse_handler(input)?;
            if input.peek(Token![,]) {
                input.parse::<Token![,]>()?;
            } else if !input.is_empty() && !is_block {
                return Err(input.error("expected `,` after a select! branch's handler"));
            }
            branches.push(Branch {
                pat,
                fut,
                cond,
                handler,
            });
        }
        Ok(Select {
            krate,
            biased,
            branches,
            otherwise,
        })
    }
}

/// Removes `ref` and `mut` from a pattern's bindings, so that it can test a reference to
/// the output without moving out of it (as tokio's `select_priv_clean_pattern` does).
fn clean_pattern(pat: &mut Pat) {
    match pat {
        Pat::Ident(ident) => {
            ident.by_ref = None;
            ident.mutability = None;
            if let Some((_, sub)) = &mut ident.subpat {
                clean_pattern(sub);
            }
        }
        Pat::Or(or) => or.cases.iter_mut().for_each(clean_pattern),
        Pat::Slice(slice) => slice.elems.iter_mut().for_each(clean_pattern),
        Pat::Struct(s) => s
            .fields
            .iter_mut()
            .for_each(|field| clean_pattern(&mut field.pat)),
        Pat::Tuple(tuple) => tuple.elems.iter_mut().for_each(clean_pattern),
        Pat::TupleStruct(tuple) => tuple.elems.iter_mut().for_each(clean_pattern),
        Pat::Reference(reference) => {
            reference.mutability = None;
            clean_pattern(&mut reference.pat);
        }
        Pat::Type(typed) => clean_pattern(&mut typed.pat),
        Pat::Paren(paren) => clean_pattern(&mut paren.pat),
        _ => {}
    }
}

pub(crate) fn select(input: TokenStream) -> TokenStream {
    let select: Select = match syn::parse2(input) {
        Ok(s) => s,
        Err(e) => return e.into_compile_error(),
    };
    let Select {
        krate,
        biased,
        branches,
        otherwise,
    } = select;
    if branches.is_empty() {
        // `select! { else => e }` is just `e`; nothing at all is an error, as in tokio.
        return match otherwise {
            Some(e) => quote!({ #e }),
            None => syn::Error::new(Span::call_site(), "select! requires at least one branch.")
                .into_compile_error(),
        };
    }
    if branches.len() > 64 {
        return syn::Error::new(Span::call_site(), "up to 64 branches supported")
            .into_compile_error();
    }
    let count = branches.len() as u32;
    let variants: Vec<_> = (0..branches.len())
        .map(|i| format_ident!("_{}", i))
        .collect();
    let futs: Vec<_> = (0..branches.len())
        .map(|i| format_ident!("__select_fut_{}", i))
        .collect();
    let pins: Vec<_> = (0..branches.len())
        .map(|i| format_ident!("__select_pin_{}", i))
        .collect();
    let conditions = branches.iter().enumerate().filter_map(|(i, b)| {
        let i = i as u32;
        b.cond.as_ref().map(|c| {
            quote! {
                if !(#c) {
                    __select_disabled |= 1u64 << #i;
                }
            }
        })
    });
    let fut_exprs = branches.iter().map(|b| &b.fut);
    let arms = branches.iter().enumerate().map(|(i, b)| {
        let index = i as u32;
        let pin = &pins[i];
        let variant = &variants[i];
        let mut clean = b.pat.clone();
        clean_pattern(&mut clean);
        quote! {
            #index => {
                let __select_mask: u64 = 1u64 << #index;
                if __select_disabled & __select_mask == __select_mask {
                    continue;
                }
                let __select_out = match ::core::future::Future::poll(#pin.as_mut(), __select_cx) {
                    ::core::task::Poll::Ready(out) => out,
                    ::core::task::Poll::Pending => {
                        __select_pending = true;
                        continue;
                    }
                };
                __select_disabled |= __select_mask;
                #[allow(unused_variables, unused_mut, clippy::match_single_binding)]
                match &__select_out {
                    #clean => {}
                    #[allow(unreachable_patterns)]
                    _ => continue,
                }
                return ::core::task::Poll::Ready(__SelectOut::#variant(__select_out));
            }
        }
    });
    let handlers = branches.iter().enumerate().map(|(i, b)| {
        let variant = &variants[i];
        let pat = &b.pat;
        let handler = &b.handler;
        quote!(__SelectOut::#variant(#pat) => #handler,)
    });
    let otherwise = match otherwise {
        Some(e) => quote!(#e),
        None => quote!(::core::panic!(
            "all branches are disabled and there is no else branch"
        )),
    };
    let start = if biased {
        quote!(0u32)
    } else {
        quote!(#krate::__simloop::select_start(#count))
    };
    quote! {{
        #[allow(non_camel_case_types, clippy::enum_variant_names)]
        enum __SelectOut<#(#variants),*> {
            #(#variants(#variants),)*
            Disabled,
        }
        let mut __select_disabled: u64 = 0;
        #(#conditions)*
        let __select_output = {
            // Stored first as they are, so that temporaries in the expressions live as long as
            // the select (temporary lifetime extension), then turned into futures and pinned.
            let __select_init = (#(#fut_exprs,)*);
            let (#(#futs,)*) = __select_init;
            #(
                let mut #pins = ::core::pin::pin!(::core::future::IntoFuture::into_future(#futs));
            )*
            ::core::future::poll_fn(|__select_cx| {
                let mut __select_pending = false;
                let __select_start: u32 = #start;
                for __select_i in 0..#count {
                    #[allow(clippy::modulo_one)]
                    let __select_branch = (__select_start + __select_i) % #count;
                    match __select_branch {
                        #(#arms)*
                        _ => ::core::unreachable!("select! polled a branch that does not exist"),
                    }
                }
                if __select_pending {
                    ::core::task::Poll::Pending
                } else {
                    ::core::task::Poll::Ready(__SelectOut::Disabled)
                }
            })
            .await
        };
        match __select_output {
            #(#handlers)*
            __SelectOut::Disabled => #otherwise,
            #[allow(unreachable_patterns)]
            _ => ::core::unreachable!("failed to match bind"),
        }
    }}
}
