//! `#[simloop::test]`: parses the arguments and the function, checks them (every misuse is a
//! compile error on the offending tokens), and expands to a plain `#[test]` that hands a
//! `simloop::testing::TestConfig` and the body to `simloop::testing::run`. Everything the
//! test does at run time is there, in simloop; this file only translates.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, ToTokens};
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Expr, ExprLit, FnArg, ItemFn, Lit, LitInt, LitStr, Meta, Token, Type};

/// The arguments, as the attribute's users spell them, for the error messages.
const KNOWN: &str = "`seeds = N`, `strategy = random|pct(D)|mixed(D)` (or `search = ...`), \
                     `jitter = \"1ms\"`, `replay = \"S1:...\"`, `time_limit = \"1h\"`, \
                     `step_limit = N`, `trace`, `panic_policy = fail|report`, `exhaustive`, \
                     `max_delays = K`";

/// What the arguments say: each becomes one setter call on `TestConfig`.
#[derive(Default)]
struct Args {
    /// `TestConfig` setter calls, e.g. `.seeds(100)`.
    setters: Vec<TokenStream>,
    /// The arguments a pinned replay keeps (loop settings), as source text.
    pin_args: Vec<String>,
    /// Which arguments were given (for duplicates and combinations), with their spans.
    seen: Vec<(String, Span)>,
}

impl Args {
    fn given(&self, name: &str) -> Option<Span> {
        self.seen.iter().find(|(n, _)| n == name).map(|(_, s)| *s)
    }
}

fn err<T>(spanned: impl ToTokens, message: impl std::fmt::Display) -> syn::Result<T> {
    Err(syn::Error::new_spanned(spanned, message))
}

/// Parses a duration such as `1ms`, `250us`, `1.5s`, `2m`, `1h`, `1h30m` into nanoseconds.
pub(crate) fn parse_duration(text: &str) -> Result<u64, String> {
    const UNITS: &str = "`ns`, `us` (or `µs`), `ms`, `s`, `m` (or `min`), `h`";
    let malformed = || {
        format!(
            "`{text}` is not a duration: write a number and a unit, e.g. \"1ms\", \"1.5s\", \
             \"1h30m\" (units: {UNITS})"
        )
    };
    if text.trim().is_empty() {
        return Err(malformed());
    }
    let mut rest = text.trim();
    let mut total: u64 = 0;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (number, after) = rest.split_at(number_len);
        let unit_len = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, after) = after.split_at(unit_len);
        rest = after;
        let per_unit: u64 = match unit.trim() {
            "ns" => 1,
            "us" | "µs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" | "min" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            "" => {
                return Err(format!(
                    "`{text}` has no unit: durations say theirs, e.g. \"{number}ms\" or \
                     \"{number}s\" (units: {UNITS})"
                ))
            }
            other => {
                return Err(format!(
                    "`{other}` in `{text}` is not a unit of time (units: {UNITS})"
                ))
            }
        };
        let (whole, frac) = number.split_once('.').unwrap_or((number, ""));
        if whole.is_empty() && frac.is_empty() || frac.contains('.') {
            return Err(malformed());
        }
        let too_long = || format!("`{text}` is longer than simloop's clock goes (about 584 years)");
        let whole: u64 = if whole.is_empty() {
            0
        } else {
            whole.parse().map_err(|_| too_long())?
        };
        let mut nanos = whole.checked_mul(per_unit).ok_or_else(too_long)?;
        if !frac.is_empty() {
            // frac / 10^len of a unit, exactly, or an error.
            let digits: u128 = frac.parse().map_err(|_| malformed())?;
            let scale = 10u128
                .checked_pow(frac.len() as u32)
                .ok_or_else(|| format!("`{text}` has more digits than a nanosecond needs"))?;
            let scaled = digits * u128::from(per_unit);
            if scaled % scale != 0 {
                return Err(format!(
                    "`{text}` is not a whole number of nanoseconds (simloop's clock counts \
                     exact nanoseconds)"
                ));
            }
            let part = u64::try_from(scaled / scale).map_err(|_| too_long())?;
            nanos = nanos.checked_add(part).ok_or_else(too_long)?;
        }
        total = total.checked_add(nanos).ok_or_else(too_long)?;
    }
    Ok(total)
}

/// `N` of `name = N`: a positive integer literal.
fn positive(name: &str, value: &Expr) -> syn::Result<LitInt> {
    match value {
        Expr::Lit(ExprLit {
            lit: Lit::Int(int), ..
        }) => {
            let n: u64 = int.base10_parse()?;
            if n == 0 {
                return err(int, format!("`{name}` must be at least 1"));
            }
            Ok(LitInt::new(&n.to_string(), int.span()))
        }
        other => err(
            other,
            format!("`{name}` takes a whole number, e.g. `{name} = 100`"),
        ),
    }
}

/// `name = "1ms"`: a duration string, as `Duration::from_nanos(..)`.
fn duration(name: &str, value: &Expr) -> syn::Result<(TokenStream, String)> {
    match value {
        Expr::Lit(ExprLit {
            lit: Lit::Str(s), ..
        }) => {
            let nanos = parse_duration(&s.value()).map_err(|e| syn::Error::new_spanned(s, e))?;
            Ok((
                quote!(::core::time::Duration::from_nanos(#nanos)),
                format!("{name} = {}", s.to_token_stream()),
            ))
        }
        other => err(
            other,
            format!("`{name}` takes a duration in a string, e.g. `{name} = \"1ms\"`"),
        ),
    }
}

/// The last segment of a path expression, lower-cased (`report`, `PanicPolicy::Report`).
fn path_word(value: &Expr) -> Option<String> {
    match value {
        Expr::Path(p) if p.qself.is_none() => p
            .path
            .segments
            .last()
            .map(|s| s.ident.to_string().to_lowercase()),
        _ => None,
    }
}

/// `strategy = random | pct | pct(D) | pct(depth = D) | mixed | mixed(D)`.
fn search(value: &Expr) -> syn::Result<TokenStream> {
    const HOW: &str = "`strategy` is one of `random`, `pct(D)` and `mixed(D)` (D, the bug \
                       depth, defaults to 3: `pct` is `pct(3)`)";
    let (word, depth) = match value {
        Expr::Call(call) => {
            let word =
                path_word(&call.func).ok_or_else(|| syn::Error::new_spanned(&call.func, HOW))?;
            if call.args.len() != 1 {
                return err(&call.args, "give one bug depth, e.g. `pct(3)`");
            }
            let arg = &call.args[0];
            let arg = match arg {
                Expr::Assign(assign) if path_word(&assign.left).as_deref() == Some("depth") => {
                    &*assign.right
                }
                other => other,
            };
            (word, Some(positive("depth", arg)?))
        }
        other => (
            path_word(other).ok_or_else(|| syn::Error::new_spanned(other, HOW))?,
            None,
        ),
    };
    let depth = depth.unwrap_or_else(|| LitInt::new("3", Span::call_site()));
    match word.as_str() {
        "random" => Ok(quote!(::simloop::Search::Random)),
        "pct" => Ok(quote!(::simloop::Search::Pct { depth: #depth })),
        "mixed" => Ok(quote!(::simloop::Search::Mixed { depth: #depth })),
        _ => err(value, HOW),
    }
}

fn parse_args(args: TokenStream) -> syn::Result<Args> {
    let metas = Punctuated::<Meta, Token![,]>::parse_terminated.parse2(args)?;
    let mut out = Args::default();
    for meta in metas {
        let path = meta.path();
        let name = match path.get_ident() {
            Some(ident) => ident.to_string(),
            None => return err(path, format!("unknown argument; the arguments are {KNOWN}")),
        };
        let key = if name == "search" {
            "strategy"
        } else {
            name.as_str()
        };
        if let Some(_first) = out.given(key) {
            return err(path, format!("`{name}` is given twice"));
        }
        out.seen.push((key.to_string(), path.span()));
        match (&meta, name.as_str()) {
            (Meta::Path(_), "trace") => {
                out.setters.push(quote!(.trace(true)));
                out.pin_args.push("trace".into());
            }
            (Meta::Path(_), "exhaustive") => out.setters.push(quote!(.exhaustive())),
            (Meta::NameValue(nv), "max_delays") => match &nv.value {
                Expr::Lit(ExprLit {
                    lit: Lit::Int(int), ..
                }) => {
                    let k: u32 = int.base10_parse()?;
                    let k = LitInt::new(&k.to_string(), int.span());
                    out.setters.push(quote!(.max_delays(#k)));
                }
                other => {
                    return err(
                        other,
                        "`max_delays` takes a whole number, e.g. `max_delays = 2`",
                    )
                }
            },
            (Meta::NameValue(nv), _) => {
                let value = &nv.value;
                match name.as_str() {
                    "seeds" => {
                        let n = positive("seeds", value)?;
                        out.setters.push(quote!(.seeds(#n)));
                    }
                    "strategy" | "search" => {
                        let s = search(value)?;
                        out.setters.push(quote!(.search(#s)));
                    }
                    "jitter" => {
                        let (d, _) = duration("jitter", value)?;
                        out.setters.push(quote!(.jitter(#d)));
                    }
                    "time_limit" => {
                        let (d, text) = duration("time_limit", value)?;
                        out.setters.push(quote!(.time_limit(#d)));
                        out.pin_args.push(text);
                    }
                    "step_limit" => {
                        let n = positive("step_limit", value)?;
                        out.setters.push(quote!(.step_limit(#n)));
                        out.pin_args.push(format!("step_limit = {n}"));
                    }
                    "replay" => match value {
                        Expr::Lit(ExprLit {
                            lit: Lit::Str(s), ..
                        }) if !s.value().trim().is_empty() => {
                            let token = LitStr::new(s.value().trim(), s.span());
                            out.setters.push(quote!(.replay(#token)));
                        }
                        other => {
                            return err(
                                other,
                                "`replay` takes a replay token in a string, e.g. \
                                 `replay = \"S1:1\"`, from a failure report",
                            )
                        }
                    },
                    "panic_policy" => {
                        let policy = match path_word(value).as_deref() {
                            Some("fail") => quote!(::simloop::PanicPolicy::Fail),
                            Some("report") => quote!(::simloop::PanicPolicy::Report),
                            _ => {
                                return err(
                                    value,
                                    "`panic_policy` is `fail` (the default: a panic fails the \
                                     run) or `report` (asyncio's: reported, the loop goes on)",
                                )
                            }
                        };
                        out.setters.push(quote!(.panic_policy(#policy)));
                        let word = path_word(value).unwrap_or_default();
                        out.pin_args.push(format!("panic_policy = {word}"));
                    }
                    "trace" => match value {
                        Expr::Lit(ExprLit {
                            lit: Lit::Bool(b), ..
                        }) => {
                            let on = b.value;
                            out.setters.push(quote!(.trace(#on)));
                            if on {
                                out.pin_args.push("trace".into());
                            }
                        }
                        other => return err(other, "`trace` is a flag: write `trace`"),
                    },
                    _ => {
                        return err(
                            path,
                            format!("unknown argument `{name}`; the arguments are {KNOWN}"),
                        )
                    }
                }
            }
            (
                Meta::Path(_),
                "seeds" | "strategy" | "search" | "jitter" | "replay" | "time_limit" | "step_limit"
                | "panic_policy" | "max_delays",
            ) => return err(path, format!("`{name}` needs a value: `{name} = ...`")),
            (
                Meta::List(list),
                "trace" | "seeds" | "strategy" | "search" | "jitter" | "replay" | "time_limit"
                | "step_limit" | "panic_policy",
            ) => return err(list, format!("write `{name} = ...`, not `{name}(...)`")),
            _ => {
                return err(
                    path,
                    format!("unknown argument `{name}`; the arguments are {KNOWN}"),
                )
            }
        }
    }
    let explores = out.given("seeds");
    let exhaustive = out.given("exhaustive");
    if let (Some(span), None) = (out.given("max_delays"), exhaustive) {
        return Err(syn::Error::new(
            span,
            "`max_delays` bounds the systematic search: add `exhaustive`",
        ));
    }
    for (one, other) in [("seeds", explores), ("replay", out.given("replay"))] {
        if let (Some(span), Some(_)) = (exhaustive, other) {
            return Err(syn::Error::new(
                span,
                format!(
                    "`exhaustive` runs every schedule and `{one}` picks some: keep one of them"
                ),
            ));
        }
    }
    if let (Some(span), None, None) = (out.given("jitter"), explores, exhaustive) {
        return Err(syn::Error::new(
            span,
            "`jitter` applies to an exploration: add `seeds = N` (how many schedules to try) \
             or `exhaustive`",
        ));
    }
    for needs_seeds in ["strategy"] {
        if let (Some(span), None) = (out.given(needs_seeds), explores) {
            return Err(syn::Error::new(
                span,
                format!(
                    "`{needs_seeds}` applies to an exploration: add `seeds = N` (how many \
                     schedules to try)"
                ),
            ));
        }
    }
    if let (Some(span), Some(_)) = (out.given("replay"), explores) {
        return Err(syn::Error::new(
            span,
            "`replay` pins one schedule and `seeds` explores many: keep one of them",
        ));
    }
    Ok(out)
}

/// Whether `ty` is `&mut EventLoop` (any path ending in `EventLoop`).
fn is_loop_ref(ty: &Type) -> bool {
    match ty {
        Type::Reference(r) if r.mutability.is_some() => match &*r.elem {
            Type::Path(p) if p.qself.is_none() => p
                .path
                .segments
                .last()
                .is_some_and(|s| s.ident == "EventLoop" && s.arguments.is_none()),
            _ => false,
        },
        _ => false,
    }
}

const SHAPES: &str = "a #[simloop::test] is an `async fn name()`, or a `fn name(lp: &mut \
                      EventLoop)` that drives the loop itself";

pub(crate) fn expand(args: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let args = parse_args(args)?;
    let input: ItemFn = syn::parse2(item)?;
    let sig = &input.sig;
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        return err(
            &sig.generics,
            "a #[simloop::test] cannot be generic: it is called once, by the test harness",
        );
    }
    if let Some(c) = &sig.constness {
        return err(c, "a #[simloop::test] cannot be a `const fn`");
    }
    if let Some(v) = &sig.variadic {
        return err(v, SHAPES);
    }
    let is_async = sig.asyncness.is_some();
    if is_async && !sig.inputs.is_empty() {
        return err(
            &sig.inputs,
            "an async #[simloop::test] takes no arguments: it runs on a fresh loop (reach it \
             with `simloop::current()` or the free functions); a `fn name(lp: &mut EventLoop)` \
             gets the loop instead",
        );
    }
    if !is_async {
        match sig.inputs.len() {
            0 => {
                return err(
                    sig.fn_token,
                    format!("{SHAPES}: add `async`, or take the loop as the parameter"),
                )
            }
            1 => match &sig.inputs[0] {
                FnArg::Typed(pt) if is_loop_ref(&pt.ty) => {}
                other => {
                    return err(
                        other,
                        format!("{SHAPES}: the parameter must be `&mut EventLoop`"),
                    )
                }
            },
            _ => {
                return err(
                    &sig.inputs,
                    format!("{SHAPES}: one parameter, `&mut EventLoop`"),
                )
            }
        }
    }

    let ItemFn {
        attrs,
        vis,
        sig,
        block,
        ..
    } = input;
    let name = sig.ident.clone();
    let mut inner = sig.clone();
    inner.ident = format_ident!("__simloop_test_body", span = name.span());
    let inner_name = &inner.ident;
    let setters = &args.setters;
    let pin = args.pin_args.join(", ");
    let pin_setter = (!pin.is_empty()).then(|| quote!(.pin_args(#pin)));
    let body = if is_async {
        quote!(|lp: &mut ::simloop::EventLoop| lp.run_until_complete(#inner_name()))
    } else {
        quote!(|lp: &mut ::simloop::EventLoop| ::core::result::Result::Ok(#inner_name(lp)))
    };
    Ok(quote! {
        #(#attrs)*
        #[::core::prelude::v1::test]
        #vis fn #name() {
            #inner #block
            ::simloop::testing::run(
                &::simloop::testing::TestConfig::new(::core::concat!(
                    ::core::module_path!(), "::", ::core::stringify!(#name)
                ))
                #(#setters)*
                #pin_setter,
                #body,
            )
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The error `#[simloop::test(<args>)] <item>` gives, for an error in the arguments:
    /// its message and the source text of `args` it points at.
    fn error(args: &str, item: &str) -> (String, String) {
        let e = expand(args.parse().unwrap(), item.parse().unwrap()).expect_err(args);
        let text = args
            .get(e.span().byte_range())
            .map(str::to_string)
            .unwrap_or_default();
        (e.to_string(), text)
    }

    #[test]
    fn durations_parse_exactly() {
        assert_eq!(parse_duration("1ms"), Ok(1_000_000));
        assert_eq!(parse_duration("250us"), Ok(250_000));
        assert_eq!(parse_duration("250µs"), Ok(250_000));
        assert_eq!(parse_duration("1.5s"), Ok(1_500_000_000));
        assert_eq!(parse_duration(".5s"), Ok(500_000_000));
        assert_eq!(parse_duration("2m"), Ok(120_000_000_000));
        assert_eq!(parse_duration("2min"), Ok(120_000_000_000));
        assert_eq!(parse_duration("1h"), Ok(3_600_000_000_000));
        assert_eq!(parse_duration("1h30m"), Ok(5_400_000_000_000));
        assert_eq!(parse_duration("7ns"), Ok(7));
        assert_eq!(parse_duration("0s"), Ok(0));
        assert_eq!(parse_duration("0.000000001s"), Ok(1));
    }

    #[test]
    fn bad_durations_say_why() {
        assert!(parse_duration("1").unwrap_err().contains("has no unit"));
        assert!(parse_duration("1 sec")
            .unwrap_err()
            .contains("`sec` in `1 sec` is not a unit of time"));
        assert!(parse_duration("")
            .unwrap_err()
            .contains("is not a duration"));
        assert!(parse_duration("ms")
            .unwrap_err()
            .contains("is not a duration"));
        assert!(parse_duration("1.2.3s")
            .unwrap_err()
            .contains("is not a duration"));
        assert!(parse_duration("0.5ns")
            .unwrap_err()
            .contains("not a whole number of nanoseconds"));
        assert!(parse_duration("6000000h")
            .unwrap_err()
            .contains("longer than simloop's clock goes"));
    }

    #[test]
    fn misuse_is_an_error_on_the_offending_tokens() {
        let cases: &[(&str, &str, &str, &str)] = &[
            (
                "seed = 3",
                "async fn t() {}",
                "unknown argument `seed`",
                "seed",
            ),
            (
                "bogus",
                "async fn t() {}",
                "unknown argument `bogus`",
                "bogus",
            ),
            (
                "jitter = \"1 sec\", seeds = 2",
                "async fn t() {}",
                "`sec` in `1 sec` is not a unit of time",
                "\"1 sec\"",
            ),
            (
                "time_limit = \"1\"",
                "async fn t() {}",
                "has no unit",
                "\"1\"",
            ),
            (
                "time_limit = 5",
                "async fn t() {}",
                "takes a duration in a string",
                "5",
            ),
            (
                "seeds = 0",
                "async fn t() {}",
                "`seeds` must be at least 1",
                "0",
            ),
            (
                "seeds = \"10\"",
                "async fn t() {}",
                "takes a whole number",
                "\"10\"",
            ),
            (
                "seeds = 2, seeds = 3",
                "async fn t() {}",
                "`seeds` is given twice",
                "seeds",
            ),
            (
                "seeds = 2, strategy = dfs",
                "async fn t() {}",
                "`strategy` is one of `random`",
                "dfs",
            ),
            (
                "strategy = random",
                "async fn t() {}",
                "add `seeds = N`",
                "strategy",
            ),
            (
                "jitter = \"1ms\"",
                "async fn t() {}",
                "add `seeds = N`",
                "jitter",
            ),
            (
                "seeds = 5, replay = \"S1:1\"",
                "async fn t() {}",
                "keep one of them",
                "replay",
            ),
            (
                "replay = 1",
                "async fn t() {}",
                "replay token in a string",
                "1",
            ),
            (
                "panic_policy = ignore",
                "async fn t() {}",
                "`panic_policy` is `fail`",
                "ignore",
            ),
            (
                "max_delays = 2",
                "async fn t() {}",
                "`max_delays` bounds the systematic search: add `exhaustive`",
                "max_delays",
            ),
            (
                "exhaustive, seeds = 3",
                "async fn t() {}",
                "`exhaustive` runs every schedule and `seeds` picks some",
                "exhaustive",
            ),
            ("trace = 1", "async fn t() {}", "`trace` is a flag", "1"),
            ("seeds", "async fn t() {}", "`seeds` needs a value", "seeds"),
        ];
        for (args, item, message, at) in cases {
            let (got, text) = error(args, item);
            assert!(got.contains(message), "{args}: {got}");
            assert_eq!(&text, at, "{args}: the error points at the wrong tokens");
        }
    }

    #[test]
    fn bad_functions_are_errors_on_the_offending_tokens() {
        let cases: &[(&str, &str, &str)] = &[
            ("fn t() {}", "add `async`, or take the loop", "fn"),
            (
                "fn t(x: u32) {}",
                "the parameter must be `&mut EventLoop`",
                "x: u32",
            ),
            (
                "fn t(lp: &EventLoop) {}",
                "the parameter must be `&mut EventLoop`",
                "lp: &EventLoop",
            ),
            (
                "async fn t(lp: &mut EventLoop) {}",
                "an async #[simloop::test] takes no arguments",
                "lp: &mut EventLoop",
            ),
            ("async fn t<T>() {}", "cannot be generic", "<T>"),
            (
                "fn t<'a>(lp: &'a mut EventLoop) {}",
                "cannot be generic",
                "<'a>",
            ),
            ("struct S;", "expected `fn`", "struct"),
        ];
        for (item, message, at) in cases {
            let e = expand(TokenStream::new(), item.parse().unwrap()).expect_err(item);
            let text = item
                .get(e.span().byte_range())
                .map(str::to_string)
                .unwrap_or_default();
            assert!(e.to_string().contains(message), "{item}: {e}");
            assert_eq!(&text, at, "{item}: the error points at the wrong tokens");
        }
    }

    #[test]
    fn the_expansion_calls_the_runner_once() {
        let out = expand(
            "seeds = 100, strategy = pct(depth = 2), jitter = \"1ms\", time_limit = \"1h\", \
             step_limit = 50, trace, panic_policy = report"
                .parse()
                .unwrap(),
            "async fn t() -> Result<(), String> { Ok(()) }"
                .parse()
                .unwrap(),
        )
        .unwrap()
        .to_string();
        for part in [
            ". seeds (100)",
            ". search (:: simloop :: Search :: Pct { depth : 2 })",
            ". jitter (:: core :: time :: Duration :: from_nanos (1000000u64))",
            ". time_limit (:: core :: time :: Duration :: from_nanos (3600000000000u64))",
            ". step_limit (50)",
            ". trace (true)",
            ". panic_policy (:: simloop :: PanicPolicy :: Report)",
            ". pin_args (\"time_limit = \\\"1h\\\", step_limit = 50, trace, panic_policy = report\")",
            "async fn __simloop_test_body () -> Result < () , String >",
            "lp . run_until_complete (__simloop_test_body ())",
        ] {
            assert!(out.contains(part), "missing {part} in {out}");
        }
        assert_eq!(out.matches(":: simloop :: testing :: run (").count(), 1);
    }
}
