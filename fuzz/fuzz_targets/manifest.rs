#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sigward_policy::fuzz::manifest(data));
