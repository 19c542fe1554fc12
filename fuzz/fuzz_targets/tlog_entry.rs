#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sigward_policy::fuzz::tlog_entry(
    data,
    sigward_fuzz::production_root()
));
