//! Any text: parsing never panics, and a parsed pattern prints back to
//! text that parses to the same syntax tree.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(same) = einplan::__private::print_round_trips(text) {
        assert!(same, "{text:?} does not print back to itself");
    }
    let _ = einplan::Rearrange::new(text);
    let _ = einplan::Reduce::new(text, einplan::Reduction::Sum);
    let _ = einplan::Repeat::new(text);
});
