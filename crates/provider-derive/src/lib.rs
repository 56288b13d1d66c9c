//! `#[derive(LayeredSettings)]`: a wildcert provider's settings struct and its spec from one
//! declaration, so a setting is written once (its field, doc comment and attributes).
//!
//! ```ignore
//! /// Settings of the example provider.
//! #[derive(Clone, Debug, Default, serde::Deserialize, LayeredSettings)]
//! #[serde(deny_unknown_fields)]
//! #[provider(kind = "example", summary = "Example DNS API (token)", env_prefix = "EXAMPLE",
//!            certbot = ["dns_example_"], hint_auth = "check the token's DNS permission")]
//! pub struct ExampleSettings {
//!     /// API token with DNS write access
//!     #[setting(required = "one of `token` / `token_file`", env = ["EXAMPLE_API_TOKEN"],
//!               certbot = "api_token", pair = "token_file")]
//!     pub token: Option<Secret>,
//!     /// Seconds to wait for one API answer
//!     #[setting(default = "30", env = ["EXAMPLE_HTTP_TIMEOUT"], ty = "seconds")]
//!     pub timeout: Option<u64>,
//! }
//! ```
//!
//! Struct attribute `#[provider(…)]`: `kind`, `summary`, `env_prefix` (required); `doc` (the
//! page, default `docs/providers/<kind>.md`); `certbot = [prefixes]`; `hint_auth`,
//! `hint_zone_not_found`, `hint_rejected`, `hint_rate_limited`, `hint_unreachable`;
//! `ignored(var = "…", reason = "…")`, repeatable; `env_only = "path"`: a
//! `fn(&mut Self, &HashMap<String, String>) -> Result<(), ProviderError>` reading what the
//! provider takes from the environment besides its settings (`LayeredSettings::read_env_only`).
//!
//! Field attribute `#[setting(…)]` (optional): `required` or `required = "condition"`,
//! `default = "…"`, `env = ["lego's name", "aliases"…]`, `certbot = "key"` (without the
//! plugin prefix), `pair = "other_key"`, `ty = "text|secret|path|bool|seconds|number|duration"`
//! (inferred from `Option<String|Secret|PathBuf|bool|u64…>`), `key = "…"` (the field name by
//! default). The field's doc comment is the setting's one-line doc and must be there.
//! `#[setting(skip)]` marks a field that is no setting (it must be `#[serde(skip)]` too): it is
//! left out of the spec, and the provider fills it (from `env_only`, say).

use proc_macro::TokenStream;
use proc_macro2::{Span, TokenStream as Tokens};
use quote::quote;
use syn::spanned::Spanned;
use syn::{Data, DeriveInput, Error, Expr, Fields, Lit, LitStr, Meta, Result, Type};

/// Derive `wildcert_provider::LayeredSettings` (the spec) and an inherent `KIND` constant.
#[proc_macro_derive(LayeredSettings, attributes(provider, setting))]
pub fn derive_layered_settings(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as DeriveInput);
    expand(&input)
        .unwrap_or_else(Error::into_compile_error)
        .into()
}

#[derive(Default)]
struct ProviderAttr {
    kind: Option<LitStr>,
    summary: Option<LitStr>,
    doc: Option<LitStr>,
    env_prefix: Option<LitStr>,
    certbot: Vec<LitStr>,
    hints: Vec<(&'static str, LitStr)>,
    ignored: Vec<(LitStr, LitStr)>,
    env_only: Option<syn::Path>,
}

const HINTS: &[&str] = &[
    "auth",
    "zone_not_found",
    "rejected",
    "rate_limited",
    "unreachable",
];

fn expand(input: &DeriveInput) -> Result<Tokens> {
    let name = &input.ident;
    let attr = provider_attr(input)?;
    let missing = |what: &str| {
        Error::new(
            Span::call_site(),
            format!("#[provider({what} = \"…\")] is required"),
        )
    };
    let kind = attr.kind.clone().ok_or_else(|| missing("kind"))?;
    let summary = attr.summary.clone().ok_or_else(|| missing("summary"))?;
    let env_prefix = attr
        .env_prefix
        .clone()
        .ok_or_else(|| missing("env_prefix"))?;
    let doc = attr.doc.clone().unwrap_or_else(|| {
        LitStr::new(&format!("docs/providers/{}.md", kind.value()), kind.span())
    });
    let certbot = &attr.certbot;
    let hints = HINTS.iter().map(|h| {
        let field = syn::Ident::new(h, Span::call_site());
        match attr.hints.iter().find(|(k, _)| k == h) {
            Some((_, v)) => quote! { #field: ::core::option::Option::Some(#v) },
            None => quote! { #field: ::core::option::Option::None },
        }
    });
    let ignored = attr.ignored.iter().map(|(var, reason)| {
        quote! { ::wildcert_provider::spec::Ignored { var: #var, reason: #reason } }
    });
    let Data::Struct(data) = &input.data else {
        return Err(Error::new(
            input.span(),
            "LayeredSettings derives on a struct with named fields",
        ));
    };
    let Fields::Named(fields) = &data.fields else {
        return Err(Error::new(
            input.span(),
            "LayeredSettings derives on a struct with named fields",
        ));
    };
    let mut settings = Vec::new();
    for field in &fields.named {
        settings.extend(setting(field)?);
    }
    let env_only = attr.env_only.as_ref().map(|f| {
        quote! {
            fn read_env_only(
                &mut self,
                env: &::std::collections::HashMap<::std::string::String, ::std::string::String>,
            ) -> ::core::result::Result<(), ::wildcert_provider::ProviderError> {
                #f(self, env)
            }
        }
    });
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    let kind_doc = format!(
        "The `{}` kind as its errors carry it (name and hints).",
        kind.value()
    );
    Ok(quote! {
        impl #impl_generics ::wildcert_provider::LayeredSettings for #name #ty_generics #where_clause {
            const SPEC: &'static ::wildcert_provider::Spec = &::wildcert_provider::Spec {
                kind: #kind,
                summary: #summary,
                doc: #doc,
                env_prefix: #env_prefix,
                certbot_prefixes: &[#(#certbot),*],
                settings: &[#(#settings),*],
                ignored_env: &[#(#ignored),*],
                hints: ::wildcert_provider::Hints { #(#hints),* },
            };
            #env_only
        }

        impl #impl_generics #name #ty_generics #where_clause {
            #[doc = #kind_doc]
            pub const KIND: ::wildcert_provider::Kind =
                <Self as ::wildcert_provider::LayeredSettings>::SPEC.provider();
        }
    })
}

fn provider_attr(input: &DeriveInput) -> Result<ProviderAttr> {
    let mut out = ProviderAttr::default();
    let mut seen = false;
    for attr in input.attrs.iter().filter(|a| a.path().is_ident("provider")) {
        seen = true;
        attr.parse_nested_meta(|meta| {
            let key = meta
                .path
                .get_ident()
                .map(|i| i.to_string())
                .unwrap_or_default();
            match key.as_str() {
                "kind" => out.kind = Some(meta.value()?.parse()?),
                "summary" => out.summary = Some(meta.value()?.parse()?),
                "doc" => out.doc = Some(meta.value()?.parse()?),
                "env_prefix" => out.env_prefix = Some(meta.value()?.parse()?),
                "env_only" => out.env_only = Some(meta.value()?.parse::<LitStr>()?.parse()?),
                "certbot" => out.certbot = strings(&meta.value()?.parse::<Expr>()?)?,
                "ignored" => {
                    let (mut var, mut reason) = (None, None);
                    meta.parse_nested_meta(|inner| {
                        if inner.path.is_ident("var") {
                            var = Some(inner.value()?.parse()?);
                        } else if inner.path.is_ident("reason") {
                            reason = Some(inner.value()?.parse()?);
                        } else {
                            return Err(inner.error("expected `var` or `reason`"));
                        }
                        Ok(())
                    })?;
                    match (var, reason) {
                        (Some(v), Some(r)) => out.ignored.push((v, r)),
                        _ => return Err(meta.error("ignored(var = \"…\", reason = \"…\")")),
                    }
                }
                other => {
                    let Some(hint) = other
                        .strip_prefix("hint_")
                        .and_then(|h| HINTS.iter().find(|k| **k == h))
                    else {
                        return Err(meta.error(format!(
                            "unknown provider attribute `{other}` (kind, summary, doc, env_prefix, \
                             certbot, ignored, env_only, hint_{})",
                            HINTS.join("|hint_")
                        )));
                    };
                    out.hints.push((hint, meta.value()?.parse()?));
                }
            }
            Ok(())
        })?;
    }
    if !seen {
        return Err(Error::new(
            Span::call_site(),
            "LayeredSettings needs #[provider(kind = \"…\", summary = \"…\", env_prefix = \"…\")]",
        ));
    }
    Ok(out)
}

/// One field as a `Setting` expression; `None` for a `#[setting(skip)]` field.
fn setting(field: &syn::Field) -> Result<Option<Tokens>> {
    let ident = field
        .ident
        .as_ref()
        .ok_or_else(|| Error::new(field.span(), "a named field"))?;
    if skipped(field)? {
        return Ok(None);
    }
    let doc = doc_line(field)?;
    let mut key = LitStr::new(&ident.to_string(), ident.span());
    let mut required = LitStr::new("no", ident.span());
    let mut default = LitStr::new("", ident.span());
    let mut env = Vec::new();
    let mut certbot = quote! { ::core::option::Option::None };
    let mut pair = quote! { ::core::option::Option::None };
    let mut ty: Option<LitStr> = None;
    for attr in field.attrs.iter().filter(|a| a.path().is_ident("setting")) {
        attr.parse_nested_meta(|meta| {
            let name = meta
                .path
                .get_ident()
                .map(|i| i.to_string())
                .unwrap_or_default();
            match name.as_str() {
                "required" => {
                    required = if meta.input.peek(syn::Token![=]) {
                        meta.value()?.parse()?
                    } else {
                        LitStr::new("yes", meta.path.span())
                    }
                }
                "default" => default = meta.value()?.parse()?,
                "env" => env = strings(&meta.value()?.parse::<Expr>()?)?,
                "certbot" => {
                    let v: LitStr = meta.value()?.parse()?;
                    certbot = quote! { ::core::option::Option::Some(#v) };
                }
                "pair" => {
                    let v: LitStr = meta.value()?.parse()?;
                    pair = quote! { ::core::option::Option::Some(#v) };
                }
                "ty" => ty = Some(meta.value()?.parse()?),
                "key" => key = meta.value()?.parse()?,
                "skip" => return Err(meta.error("#[setting(skip)] stands alone")),
                other => {
                    return Err(meta.error(format!(
                        "unknown setting attribute `{other}` (required, default, env, certbot, \
                         pair, ty, key, skip)"
                    )));
                }
            }
            Ok(())
        })?;
    }
    let ty = match ty {
        Some(t) => type_variant(&t.value()).ok_or_else(|| {
            Error::new(
                t.span(),
                "ty is one of text, secret, path, bool, seconds, number, duration",
            )
        })?,
        None => infer_type(&field.ty).ok_or_else(|| {
            Error::new(
                field.ty.span(),
                "cannot tell the setting's type from this field type: add #[setting(ty = \"…\")]",
            )
        })?,
    };
    Ok(Some(quote! {
        ::wildcert_provider::Setting {
            key: #key,
            ty: ::wildcert_provider::Type::#ty,
            required: #required,
            default: #default,
            env: &[#(#env),*],
            certbot: #certbot,
            pair: #pair,
            doc: #doc,
        }
    }))
}

/// True for a `#[setting(skip)]` field, which must also be `#[serde(skip)]`: no key of the
/// section, so `deny_unknown_fields` refuses it.
fn skipped(field: &syn::Field) -> Result<bool> {
    let Some(attr) = field.attrs.iter().find(|a| {
        a.path().is_ident("setting") && a.parse_args::<syn::Ident>().is_ok_and(|i| i == "skip")
    }) else {
        return Ok(false);
    };
    let serde_skip = field.attrs.iter().any(|a| {
        a.path().is_ident("serde") && a.parse_args::<syn::Ident>().is_ok_and(|i| i == "skip")
    });
    if !serde_skip {
        return Err(Error::new(
            attr.span(),
            "a #[setting(skip)] field must be #[serde(skip)] too: it is no key of the section",
        ));
    }
    Ok(true)
}

/// The field's doc comment, joined into one line.
fn doc_line(field: &syn::Field) -> Result<String> {
    let mut lines = Vec::new();
    for attr in &field.attrs {
        if let Meta::NameValue(nv) = &attr.meta
            && nv.path.is_ident("doc")
            && let Expr::Lit(lit) = &nv.value
            && let Lit::Str(s) = &lit.lit
        {
            let line = s.value();
            let line = line.trim();
            if !line.is_empty() {
                lines.push(line.to_string());
            }
        }
    }
    if lines.is_empty() {
        return Err(Error::new(
            field.span(),
            "every setting needs a doc comment: it is the setting's description in \
             `wildcert providers` and the docs",
        ));
    }
    Ok(lines.join(" "))
}

fn type_variant(name: &str) -> Option<syn::Ident> {
    let v = match name {
        "text" => "Text",
        "secret" => "Secret",
        "path" => "Path",
        "bool" => "Bool",
        "seconds" => "Seconds",
        "number" => "Number",
        "duration" => "Duration",
        _ => return None,
    };
    Some(syn::Ident::new(v, Span::call_site()))
}

/// `Option<T>` (or `T`) to the setting type: String → text, Secret → secret, PathBuf → path,
/// bool → bool, unsigned integers → number.
fn infer_type(ty: &Type) -> Option<syn::Ident> {
    let Type::Path(p) = ty else { return None };
    let last = p.path.segments.last()?;
    if last.ident == "Option" {
        let syn::PathArguments::AngleBracketed(args) = &last.arguments else {
            return None;
        };
        let syn::GenericArgument::Type(inner) = args.args.first()? else {
            return None;
        };
        return infer_type(inner);
    }
    let name = match last.ident.to_string().as_str() {
        "String" => "text",
        "Secret" => "secret",
        "PathBuf" => "path",
        "bool" => "bool",
        "u64" | "u32" | "u16" | "u8" | "usize" => "number",
        _ => return None,
    };
    type_variant(name)
}

/// `"a"` or `["a", "b"]`.
fn strings(e: &Expr) -> Result<Vec<LitStr>> {
    match e {
        Expr::Lit(syn::ExprLit {
            lit: Lit::Str(s), ..
        }) => Ok(vec![s.clone()]),
        Expr::Array(a) => a
            .elems
            .iter()
            .map(|e| match e {
                Expr::Lit(syn::ExprLit {
                    lit: Lit::Str(s), ..
                }) => Ok(s.clone()),
                other => Err(Error::new(other.span(), "expected a string literal")),
            })
            .collect(),
        other => Err(Error::new(
            other.span(),
            "expected a string or a list of strings",
        )),
    }
}
