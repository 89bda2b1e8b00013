//! The numbered fields of the fixed headers as enums, each the one place where its
//! numbers (linux/rtnetlink.h, linux/neighbour.h, linux/socket.h) and the names
//! iproute2 gives them are written. A number without a name decodes to `Other(n)`, as
//! netlink-packet-route does, so that decoding never loses what was sent; whether a
//! handler accepts it is the handler's business. Route protocols are
//! [`crate::fib::Proto`] (the RIB keeps them as given).

/// Declares a numbered enum: its variants with their number and iproute2 name (the
/// first, number 0, is the default), an `Other(n)` for every other number, the
/// conversions both ways, and `Display` (the name, else the number).
macro_rules! numbered {
    ($(#[$doc:meta])* $name:ident: $int:ty {
        $($(#[$vdoc:meta])* $var:ident = $num:literal, $text:literal;)*
    }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
        pub enum $name {
            $($(#[$vdoc])* $var,)*
            /// A number without a name here.
            Other($int),
        }

        impl From<$int> for $name {
            fn from(n: $int) -> $name {
                match n {
                    $($num => $name::$var,)*
                    n => $name::Other(n),
                }
            }
        }

        impl From<$name> for $int {
            fn from(v: $name) -> $int {
                match v {
                    $($name::$var => $num,)*
                    $name::Other(n) => n,
                }
            }
        }

        impl $name {
            /// The name iproute2 prints and parses, if the number has one.
            pub fn name(self) -> Option<&'static str> {
                match <$int>::from(self) {
                    $($num => Some($text),)*
                    _ => None,
                }
            }

            /// The value of a name (as [`Self::name`] spells it).
            pub fn from_name(s: &str) -> Option<$name> {
                match s {
                    $($text => Some($name::$var),)*
                    _ => None,
                }
            }
        }

        /// The iproute2 name, or the number.
        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                match self.name() {
                    Some(n) => f.write_str(n),
                    None => write!(f, "{}", <$int>::from(*self)),
                }
            }
        }
    };
}

numbered! {
    /// Address family (`AF_*`) of a fixed header.
    Family: u8 {
        #[default]
        Unspec = 0, "unspec";
        Inet = 2, "inet";
    }
}

numbered! {
    /// Route type (`rtm_type`, RTN_*). In a delete, `Unspec` matches any type.
    RouteType: u8 {
        #[default]
        Unspec = 0, "unspec";
        Unicast = 1, "unicast";
        Local = 2, "local";
        Broadcast = 3, "broadcast";
        Blackhole = 6, "blackhole";
        Unreachable = 7, "unreachable";
        Prohibit = 8, "prohibit";
    }
}

numbered! {
    /// Route and address scope (`rtm_scope`, `ifa_scope`, RT_SCOPE_*).
    Scope: u8 {
        #[default]
        Universe = 0, "global";
        Link = 253, "link";
        Host = 254, "host";
    }
}

numbered! {
    /// Routing table (`rtm_table`, RT_TABLE_*). ferroute has one table; replies say
    /// `Main`, and a client shows local and broadcast routes in `Local` as Linux does.
    Table: u8 {
        #[default]
        Unspec = 0, "unspec";
        Main = 254, "main";
        Local = 255, "local";
    }
}

numbered! {
    /// Neighbour state (`ndm_state`, NUD_*), one state per entry as ferroute keeps them.
    Nud: u16 {
        #[default]
        None = 0x00, "none";
        Incomplete = 0x01, "incomplete";
        Reachable = 0x02, "reachable";
        Stale = 0x04, "stale";
        Delay = 0x08, "delay";
        Probe = 0x10, "probe";
        Failed = 0x20, "failed";
        Noarp = 0x40, "noarp";
        Permanent = 0x80, "permanent";
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_names_round_trip_and_others_are_kept() {
        for n in 0..=255u8 {
            assert_eq!(u8::from(RouteType::from(n)), n);
            assert_eq!(u8::from(Scope::from(n)), n);
            assert_eq!(u8::from(Table::from(n)), n);
            assert_eq!(u8::from(Family::from(n)), n);
        }
        for n in 0..=0x100u16 {
            assert_eq!(u16::from(Nud::from(n)), n);
        }
        assert_eq!(RouteType::from(6), RouteType::Blackhole);
        assert_eq!(RouteType::from(5), RouteType::Other(5));
        assert_eq!(RouteType::Other(5).name(), None);
        assert_eq!(RouteType::from_name("prohibit"), Some(RouteType::Prohibit));
        assert_eq!(Scope::from_name("global"), Some(Scope::Universe));
        assert_eq!(Scope::Host.name(), Some("host"));
        assert_eq!(Table::from(255).name(), Some("local"));
        assert_eq!(Nud::from(0x80), Nud::Permanent);
        assert_eq!(Nud::from_name("stale").map(u16::from), Some(0x04));
        assert_eq!(Nud::default(), Nud::from(0));
    }
}
