//! FR_GETCOUNTERS, answered with one FR_COUNTERS message of nested name/value
//! attributes (`api::counters`). Until this reply was typed, it was FR_TEXT with the
//! `ferroute counters` lines (pinned in status.rs as
//! `5c000000 05010000 02000000 00000000 4a000100 64726f70 ...`); the text is now the
//! client's rendering of the attributes, checked below to be the same lines.
use super::*;

#[test]
fn counters() {
    Api::new().exchange(
        "counters",
        (FR_GETCOUNTERS, 0, 2, Body::Empty),
        "10000000 03010100 02000000 00000000",
        "a4000000 07010000 02000000 00000000 \
         28000100 24000100 11000100 74746c5f \
         65786365 65646564 00000000 0c000200 \
         03000000 00000000 38000200 0a000100 \
         706f7274 30000000 24000200 20000100 \
         0f000100 72785f70 61636b65 74730000 \
         0c000200 07000000 00000000 04000300 \
         28000400 24000100 12000100 74696d65 \
         5f657863 65656465 64000000 0c000200 \
         03000000 00000000 04000500 04000600 \
         04000700",
    );
}

#[test]
fn the_reply_is_the_counters_and_prints_as_before() {
    let m = Api::new().reply(FR_GETCOUNTERS);
    assert_eq!(m.kind, FR_COUNTERS);
    let Body::Counters(c) = m.body else {
        panic!("{m:?}");
    };
    assert_eq!(c, super::counters());
    assert_eq!(ferroute::cli::counters_text(&c), COUNTERS);
}
