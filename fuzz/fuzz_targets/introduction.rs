#![no_main]
// init restores Rust's default panic hook (libfuzzer-sys aborts on any panic, even a
// caught one): automerge panics that duo turns into errors stay caught, as in duo; a panic
// that escapes still aborts in libfuzzer-sys's wrapper and is saved as a crash.
libfuzzer_sys::fuzz_target!(init: { let _ = std::panic::take_hook(); }, |data: &[u8]| duo_device::fuzzing::introduction(data));
