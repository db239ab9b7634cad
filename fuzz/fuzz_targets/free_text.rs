#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| aplomb::fuzzing::free_text(data));
