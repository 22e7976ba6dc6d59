//! How many cases each property test of a decoder of outside input runs (frames, payloads, lines,
//! config text): 10 000 in the normal test run, `PROPTEST_CASES=100000` (or more) for the long run,
//! `benches/fuzz-long.sh`. Properties of engines and planners keep their own, smaller counts.

/// The case count for a decoder's property test: `PROPTEST_CASES` when set, else 10 000.
pub fn cases() -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000)
}
