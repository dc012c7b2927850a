#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| duo_sync::fuzzing::code(data));
