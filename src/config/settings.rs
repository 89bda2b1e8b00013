//! `settings!`: a section of single settings (`[datapath]`, `[icmp]`, ...) declared once.

/// Declares a section of single settings once: each key with its doc, its type, its
/// default and how the file gives it: `, LO..=HI` for an integer in that range (read as
/// [`Int`](super::Int), so that a value out of range gets `Builder::int`'s message),
/// `=> PARSER(TYPE)` for a value read as TYPE (e.g. `String`) and turned into the key's
/// by `Builder::PARSER(key, value)`, nothing for a value serde reads as the key's type
/// (`bool`). It generates the public struct (with the given attributes), its
/// `Default`, the private struct serde reads the file's section into
/// (`deny_unknown_fields`, every key optional), and the `Builder` method (`by NAME`)
/// that reads one into the other, naming each key `SECTION.KEY` (`datapath.burst`) in
/// its errors. `then CHECK` calls `Builder::CHECK(&section)` after, for rules across
/// keys.
///
/// ```text
/// settings! {
///     /// `[datapath]`: ...
///     #[derive(Debug, Clone, PartialEq, Eq)]
///     pub struct DatapathConfig as RawDatapath in "datapath" by datapath then check_datapath {
///         /// Packets per RX burst.
///         burst: usize = 32, 1..=32;
///     }
/// }
/// ```
macro_rules! settings {
    (
        $(#[$meta:meta])*
        pub struct $name:ident as $raw:ident in $section:literal by $method:ident
            $(then $check:ident)? {
            $(
                $(#[$fmeta:meta])*
                $field:ident: $ty:ty = $default:expr
                    $(, $range:expr)? $(=> $parser:ident($from:ty))?;
            )*
        }
    ) => {
        $(#[$meta])*
        pub struct $name {
            $($(#[$fmeta])* pub $field: $ty,)*
        }

        impl Default for $name {
            fn default() -> Self {
                $name {
                    $($field: $default,)*
                }
            }
        }

        /// The section as the file gives it (see `settings!`).
        #[derive(Debug, Default, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        pub(super) struct $raw {
            $($field: Option<settings!(@raw $ty, [$($range)?], [$($parser $from)?])>,)*
        }

        impl $crate::config::Builder<'_> {
            pub(super) fn $method(
                &self,
                raw: $raw,
            ) -> Result<$name, $crate::config::ConfigError> {
                let (b, d) = (self, $name::default());
                let section = $name {
                    $($field: settings!(
                        @read b, raw.$field, d.$field,
                        concat!($section, ".", stringify!($field)),
                        [$($range)?], [$($parser)?]
                    ),)*
                };
                $(self.$check(&section)?;)?
                Ok(section)
            }
        }
    };
    (@raw $ty:ty, [], []) => { $ty };
    (@raw $ty:ty, [$range:expr], []) => { $crate::config::Int };
    (@raw $ty:ty, [], [$parser:ident $from:ty]) => { $from };
    (@read $b:ident, $v:expr, $d:expr, $key:expr, [], []) => { $v.unwrap_or($d) };
    (@read $b:ident, $v:expr, $d:expr, $key:expr, [$range:expr], []) => {{
        let range: std::ops::RangeInclusive<i64> = $range;
        $b.int($key, $v, $d, *range.start(), *range.end())?
    }};
    (@read $b:ident, $v:expr, $d:expr, $key:expr, [], [$parser:ident]) => {
        match $v {
            Some(v) => $b.$parser($key, v)?,
            None => $d,
        }
    };
}
