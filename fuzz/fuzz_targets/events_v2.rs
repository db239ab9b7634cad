#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| aplomb::fuzzing::events_v2(data));
